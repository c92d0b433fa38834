"""gradcheck(order=2): second derivatives against differences of the first, in every mode.

Planted bugs: backwards whose numbers are right (so order 1 passes) but whose Tensor form,
the one create_graph records, treats a value as a constant, so a term of the second
derivative is lost. Order 2 must fail on them in every mode and pass correct functions.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import Function, Tensor
from minigrad.gradcheck import DEFAULTS, evaluations_needed

MODES = ("full", "sampled", "directional", "complex")


def _t(shape: tuple[int, ...], seed: int, scale: float = 1.0, shift: float = 0.0) -> Tensor:
    rng = np.random.default_rng(seed)
    return Tensor(shift + scale * rng.standard_normal(shape), requires_grad=True)


class Cube(Function):
    """y = x³, ∂y/∂x = 3x² (correct at every order)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (3 * x * x * g,)


class CubeConstFactor(Function):
    """y = x³ with 3x² written as 3·x·x₀, x₀ a copy of x kept as an attribute: right values,
    but on the recorded path x₀ is a constant, so ∂²y/∂x² comes out 3x instead of 6x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.x_value = x.copy()
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (3 * x * ctx.x_value * g,)


class MulConstPartner(Function):
    """y = a·b whose backward multiplies by copies of the partners: right values, but the
    mixed second derivative ∂²y/∂a∂b = 1 is lost on the recorded path."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a_value, ctx.b_value = a.copy(), b.copy()
        return a * b

    @staticmethod
    def backward(ctx, g):
        return g * ctx.b_value, g * ctx.a_value


class TanhDataOnGraph(Function):
    """y = tanh(x) whose backward is right on arrays, but on Tensors writes 1 − y² as
    1 − y·y.data: the second factor drops off the graph (half of ∂²y/∂x² is lost)."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        y_const = Tensor(y.data) if isinstance(y, Tensor) else y
        return ((1 - y * y_const) * g,)


class ArrayOnlyBackward(Function):
    """y = 2x whose backward goes through np.asarray: fine at order 1, refused at order 2."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return (2 * np.asarray(g),)


def _x() -> Tensor:
    return _t((3, 4), 1, scale=0.7, shift=0.2)


def _b() -> Tensor:
    return _t((3, 1), 2, scale=0.7)


BUGS = {  # name -> (f of x, b; the inputs whose second derivatives are wrong)
    "constant factor": (lambda x, b: mg.tanh(CubeConstFactor.apply(x) + b), ["x"]),
    "constant partners": (lambda x, b: mg.sigmoid(MulConstPartner.apply(x, b)), ["x", "b"]),
    ".data on the graph": (lambda x, b: TanhDataOnGraph.apply(x * b) * 2.0, ["x", "b"]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bug", list(BUGS))
def test_wrong_second_derivatives_fail_in_every_mode(bug: str, mode: str) -> None:
    build, must_fail = BUGS[bug]
    x, b = _x(), _b()
    inputs = {"x": x, "b": b}
    kw = {"samples": 5} if mode == "sampled" else {}
    assert mg.gradcheck(lambda: build(x, b), inputs, mode=mode, seed=3, **kw).ok  # order 1 ok
    report = mg.gradcheck(lambda: build(x, b), inputs, mode=mode, seed=3, order=2, **kw)
    assert not report.ok, str(report)
    for name in must_fail:
        assert not report[name].passed, str(report)
        assert report[name].rel_error > 1e-4  # far above rtol = 1e-6
    assert "gradcheck order=2" in str(report) and "FAIL" in str(report)
    with pytest.raises(AssertionError, match="FAIL"):
        mg.assert_gradcheck(lambda: build(x, b), inputs, mode=mode, seed=3, order=2, **kw)


@pytest.mark.parametrize("mode", MODES)
def test_correct_custom_and_builtin_ops_pass_in_every_mode(mode: str) -> None:
    x, b = _x(), _b()
    w = _t((2, 3), 4, scale=0.5)

    def f() -> Tensor:
        h = mg.tanh(w @ Cube.apply(x) + 0.1)                # (2, 4)
        z = mg.concat([h, mg.sigmoid(b.T @ x)], axis=0)      # (3, 4)
        return mg.log(mg.exp(z).sum(axis=0)) * 2.0 - (z * z * b[:1]).mean()

    kw = {"samples": 5} if mode == "sampled" else {}
    report = mg.assert_gradcheck(f, {"x": x, "b": b, "w": w}, mode=mode, order=2, **kw)
    assert report.ok and report.order == 2
    assert report.max_rel_error <= DEFAULTS[mode].rtol
    assert report.max_rel_error <= (1e-14 if mode == "complex" else 1e-8)


def test_order2_checks_the_hessian_times_w() -> None:
    """The analytic side is H w, w the seeded cotangent of the gradient (drawn after v_out,
    which is ones for a scalar f): compare the reported entry with the explicit Hessian."""
    x = _t((5,), 7)
    report = mg.gradcheck(lambda: (mg.tanh(x) * x).sum(), x, order=2, seed=4)
    c = report["input0"]
    assert c.passed and c.entries == 5
    H = mg.hessian(lambda x: (mg.tanh(x) * x).sum(), x)
    w = np.random.default_rng(np.random.SeedSequence(4).spawn(2)[0]).standard_normal(5)
    assert c.analytic == pytest.approx((H @ w)[c.worst_index], rel=1e-13)
    assert c.numeric == pytest.approx((H @ w)[c.worst_index], rel=1e-8)


def test_linear_function_has_zero_second_derivatives() -> None:
    x, w = _x(), _t((4,), 5)
    report = mg.gradcheck(lambda: (x @ w) * 3.0, {"x": x, "w": w}, order=2)
    assert report.ok
    # the cross term ∂²/∂x∂w is not zero; a constant-in-x function has H = 0 exactly
    report = mg.gradcheck(lambda: x.sum() * 3.0, x, order=2, mode="full")
    assert report.ok and report["input0"].max_abs_error == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_evaluation_counts_and_inputs_restored(mode: str) -> None:
    calls = []
    x, b = _x(), _b()
    before = (x.data, x.data.copy(), b.data, b.data.copy())

    def f() -> Tensor:
        calls.append(1)
        return mg.tanh(CubeConstFactor.apply(x) * 2.0 + b)

    kwargs = {"samples": 5} if mode == "sampled" else {}
    report = mg.gradcheck(f, {"x": x, "b": b}, mode=mode, order=2, **kwargs)
    assert len(calls) == report.evaluations == evaluations_needed(mode, [12, 3], **kwargs)
    assert x.data is before[0] and b.data is before[2]
    np.testing.assert_array_equal(x.data, before[1])
    np.testing.assert_array_equal(b.data, before[3])
    assert x.grad is None and b.grad is None
    assert "order=2" in repr(report)


def test_runs_inside_no_grad() -> None:
    x = _x()
    with mg.no_grad():
        assert mg.gradcheck(lambda: mg.sigmoid(x * x), x, order=2).ok


def test_a_backward_on_arrays_only_is_named() -> None:
    x = _x()
    assert mg.gradcheck(lambda: mg.tanh(ArrayOnlyBackward.apply(x)), x).ok
    with pytest.raises(RuntimeError, match="arrayonlybackward"):
        mg.gradcheck(lambda: mg.tanh(ArrayOnlyBackward.apply(x)), x, order=2)


@pytest.mark.parametrize("order", [0, 3, True, "2"])
def test_order_must_be_1_or_2(order) -> None:
    x = _x()
    with pytest.raises(ValueError, match=r"gradcheck: order must be 1 or 2"):
        mg.gradcheck(lambda: x * 2.0, x, order=order)
