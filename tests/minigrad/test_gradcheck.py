"""minigrad.gradcheck: catches wrong gradients in every mode, passes right ones, restores inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Function, Tensor
from minigrad.gradcheck import DEFAULTS, ComplexStepError, evaluations_needed
from minigrad.gradcheck_report import relative_error

MODES = ("full", "sampled", "directional", "complex")


def _t(shape: tuple[int, ...], seed: int, scale: float = 1.0, shift: float = 0.0) -> Tensor:
    rng = np.random.default_rng(seed)
    return Tensor(shift + scale * rng.standard_normal(shape), requires_grad=True)


# ---- custom ops: a correct one and four bugs ---------------------------------------------------


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (2 * x * g,)


class SquareMissing2(Square):
    """d(x²)/dx written as x: the factor 2 is missing."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (x * g,)


class _Mul(Function):
    """a * b; the subclasses below get b's gradient wrong (a's is right)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b


class MulHalfB(_Mul):
    """a * b with the gradient of b scaled by 0.5."""

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, 0.5 * g * a


class MulNoB(_Mul):
    """a * b that forgets b's gradient (None: the tape sees zero)."""

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, None


class AddBiasMean(Function):
    """x (n, m) + b (n, 1), reducing b's gradient with a mean instead of a sum: the shape is
    right, so the engine's unbroadcast cannot notice."""

    @staticmethod
    def forward(ctx, x, b):
        return x + b

    @staticmethod
    def backward(ctx, g):
        return g, g.mean(axis=1, keepdims=True)


def _x() -> Tensor:
    return _t((4, 5), 1, shift=0.3)


def _b() -> Tensor:
    return _t((4, 1), 2)


BUGS = {  # name -> (f builder, inputs builder, names that must fail, names that must pass)
    "missing factor 2": (lambda x, b: mg.tanh(SquareMissing2.apply(x)), ["x"], []),
    "b scaled by 0.5": (lambda x, b: mg.sigmoid(MulHalfB.apply(x, b)), ["b"], ["x"]),
    "zero gradient for b": (lambda x, b: mg.tanh(MulNoB.apply(x, b)), ["b"], ["x"]),
    "mean instead of sum": (lambda x, b: mg.tanh(AddBiasMean.apply(x, b)), ["b"], ["x"]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bug", list(BUGS))
def test_wrong_gradients_fail_in_every_mode(bug: str, mode: str) -> None:
    build, must_fail, must_pass = BUGS[bug]
    x, b = _x(), _b()
    report = mg.gradcheck(lambda: build(x, b), {"x": x, "b": b}, mode=mode, seed=3)
    assert not report.ok and not bool(report)
    for name in must_fail:
        assert not report[name].passed, str(report)
        assert report[name].rel_error > 1e-2
    for name in must_pass:
        assert report[name].passed, str(report)
    with pytest.raises(AssertionError, match="FAIL"):
        mg.assert_gradcheck(lambda: build(x, b), {"x": x, "b": b}, mode=mode, seed=3)


@pytest.mark.parametrize("mode", MODES)
def test_correct_custom_and_builtin_ops_pass_in_every_mode(mode: str) -> None:
    x, b = _x(), _b()
    w = _t((3, 4), 4, scale=0.5)

    def f() -> Tensor:
        h = mg.tanh(w @ Square.apply(x) + 0.1)          # (3, 5)
        z = mg.concat([h, mg.sigmoid(b.T @ x)], axis=0)   # (4, 5)
        return mg.log(mg.exp(z).sum(axis=0)) * 2.0 - (z * z).mean()

    report = mg.assert_gradcheck(f, {"x": x, "b": b, "w": w}, mode=mode)
    assert report.ok and bool(report)
    assert all(c.passed for c in report)
    assert report.max_rel_error <= DEFAULTS[mode].rtol


@pytest.mark.parametrize("chain", ["tanh", "sigmoid", "log", "matmul", "concat"])
def test_complex_step_agrees_with_tape_to_1e_13(chain: str) -> None:
    a, b = _t((3, 4), 5), _t((4, 2), 6)
    fs = {
        "tanh": lambda: mg.tanh(mg.tanh(a) * 1.5 + a),
        "sigmoid": lambda: mg.sigmoid(mg.sigmoid(a) @ b),
        "log": lambda: mg.log(a * a + 1.0).sum() + mg.log(mg.sigmoid(b)).sum(),
        "matmul": lambda: (a @ b).T @ mg.tanh(a),
        "concat": lambda: mg.tanh(mg.concat([a @ b, a[:, 1:3] * b[0]], axis=1)),
    }
    report = mg.gradcheck(fs[chain], [a, b], mode="complex")
    assert report.ok, str(report)
    assert report.max_rel_error <= 1e-13
    assert [c.name for c in report] == ["input0", "input1"]


def test_complex_mode_explains_non_analytic_ops() -> None:
    x = _x()
    with pytest.raises(ComplexStepError, match=r"analytic.*mode='full'") as info:
        mg.gradcheck(lambda: mg.relu(x).sum(), x, mode="complex")
    assert isinstance(info.value, TypeError)
    assert "relu" in str(info.value)
    assert mg.gradcheck(lambda: mg.relu(x).sum(), x, mode="full").ok  # the suggested fix works


def test_report_contents_and_table() -> None:
    x, b = _x(), _b()
    report = mg.gradcheck(lambda: mg.tanh(MulHalfB.apply(x, b)), {"x": x, "b": b})
    assert [c.name for c in report] == ["x", "b"] and len(report) == 2
    cx, cb = report["x"], report[1]
    assert cx is report[0] and cb.name == "b"
    assert (cx.mode, cx.entries, cx.shape, cx.dtype) == ("full", 20, (4, 5), "float64")
    assert cb.worst_index is not None and len(cb.worst_index) == 2
    # the worst entry is where |analytic − numeric| is largest, and analytic ≈ numeric / 2
    assert abs(cb.analytic - cb.numeric) == pytest.approx(cb.max_abs_error)
    assert cb.analytic == pytest.approx(0.5 * cb.numeric, rel=1e-5)
    assert cb.rel_error == pytest.approx(1 / 3, rel=1e-4)   # ‖g − 2g‖ / (‖g‖ + ‖2g‖)
    assert report.failures == [cb]
    text = str(report)
    for word in ("x", "b", "(4, 5)", "(4, 1)", "rel err", "pass", "FAIL", "FAILED"):
        assert word in text
    with pytest.raises(AssertionError) as info:
        mg.assert_gradcheck(lambda: mg.tanh(MulHalfB.apply(x, b)), {"x": x, "b": b})
    assert report.table() in str(info.value)
    with pytest.raises(KeyError):
        report["nope"]


def test_relative_error_definition() -> None:
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.ones(3), np.zeros(3)) == 1.0
    assert relative_error(np.array([3.0, 4.0]), np.array([6.0, 8.0])) == pytest.approx(1 / 3)


@pytest.mark.parametrize("mode", MODES)
def test_evaluation_counts(mode: str) -> None:
    calls = []
    x, b = _x(), _b()

    def f() -> Tensor:
        calls.append(1)
        return mg.tanh(x * 2.0 + b)

    kwargs = {"samples": 7} if mode == "sampled" else {}
    report = mg.gradcheck(f, [x, b], mode=mode, **kwargs)
    expected = {"full": 1 + 2 * 24, "sampled": 1 + 2 * 7 + 2 * 4, "directional": 1 + 4 * 2,
                "complex": 1 + 24}[mode]
    assert len(calls) == report.evaluations == expected
    assert evaluations_needed(mode, [20, 4], kwargs.get("samples")) == expected
    if mode == "sampled":
        assert [c.entries for c in report] == [7, 4]


@pytest.mark.parametrize("mode", MODES)
def test_inputs_restored_exactly_even_when_f_raises(mode: str) -> None:
    x, b = _x(), _b()
    ids, before = (id(x.data), id(b.data)), (x.data.copy(), b.data.copy())
    n = {"calls": 0}

    def f() -> Tensor:
        n["calls"] += 1
        if n["calls"] == 4:
            raise RuntimeError("boom")
        return mg.tanh(x * b)

    with pytest.raises(RuntimeError, match="boom"):
        mg.gradcheck(f, [x, b], mode=mode)
    assert (id(x.data), id(b.data)) == ids
    assert np.array_equal(x.data, before[0]) and np.array_equal(b.data, before[1])
    assert x.data.flags.writeable and x.dtype == np.float64
    mg.gradcheck(lambda: mg.tanh(x * b), [x, b], mode=mode)
    assert (id(x.data), id(b.data)) == ids
    assert x.data.tobytes() == before[0].tobytes() and b.data.tobytes() == before[1].tobytes()
    assert x.grad is None and b.grad is None  # gradcheck leaves .grad alone


def test_works_while_the_caller_holds_a_graph_and_leaves_it_intact() -> None:
    x, w = _x(), _t((3, 4), 7)
    held = (mg.tanh(w @ x) * 3.0).sum()      # w.data and x.data are saved
    report = mg.gradcheck(lambda: mg.sigmoid(w @ x), {"w": w, "x": x}, mode="full")
    assert report.ok, str(report)
    held.backward()                          # the caller's graph still gives the right gradient
    expected = 3.0 * (1 - np.tanh(w.data @ x.data) ** 2) @ x.data.T
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


def test_float32_inputs_warn_and_are_checked_in_float64() -> None:
    x = Tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    orig = x.data
    seen = []

    def f() -> Tensor:
        seen.append(x.dtype)
        return mg.tanh(x * x * 3.0)

    with pytest.warns(UserWarning, match="float64"):
        report = mg.gradcheck(f, {"x": x})
    assert set(seen) == {np.dtype(np.float64)}   # never evaluated in float32
    assert report.ok and report.max_rel_error < 1e-8
    assert report["x"].dtype == "float32"
    assert x.data is orig and x.dtype == np.float32


def test_directional_and_sampled_are_repeatable_with_seed() -> None:
    x, b = _x(), _b()

    def f() -> Tensor:
        return mg.tanh(x * b)

    for mode in ("directional", "sampled"):
        kw = {"samples": 5} if mode == "sampled" else {}
        r1, r2 = (mg.gradcheck(f, [x, b], mode=mode, seed=11, **kw) for _ in range(2))
        r3 = mg.gradcheck(f, [x, b], mode=mode, seed=12, **kw)
        assert [(c.analytic, c.numeric, c.worst_index) for c in r1] == \
            [(c.analytic, c.numeric, c.worst_index) for c in r2]
        assert [c.analytic for c in r1] != [c.analytic for c in r3]


def test_validation_errors() -> None:
    x = _x()
    const = Tensor(np.ones((2, 2)))
    with pytest.raises(ValueError, match="requires_grad=True"):
        mg.gradcheck(lambda: mg.tanh(const), const)
    with pytest.raises(TypeError, match="minigrad.Tensor"):
        mg.gradcheck(lambda: 3.0, x)
    with pytest.raises(ValueError, match="does not depend on the inputs"):
        mg.gradcheck(lambda: mg.tanh(const), x)
    with pytest.raises(ValueError, match="mode must be one of"):
        mg.gradcheck(lambda: mg.tanh(x), x, mode="central")
    with pytest.raises(ValueError, match="samples"):
        mg.gradcheck(lambda: mg.tanh(x), x, mode="full", samples=3)
    with pytest.raises(TypeError, match="Tensor"):
        mg.gradcheck(lambda: mg.tanh(x), [x, np.ones(3)])
    with pytest.raises(ValueError, match="twice"):
        mg.gradcheck(lambda: mg.tanh(x), [x, x])
    with pytest.raises(ValueError, match=r"eps must be a finite number > 0; got 0.0"):
        mg.gradcheck(lambda: mg.tanh(x), x, eps=0.0)


@pytest.mark.parametrize(("arg", "value", "want"), [
    ("eps", np.inf, "> 0"), ("eps", np.nan, "> 0"), ("eps", -1e-6, "> 0"), ("eps", "big", "> 0"),
    ("rtol", -1e-6, "≥ 0"), ("rtol", np.nan, "≥ 0"), ("rtol", np.inf, "≥ 0"),
    ("atol", -1.0, "≥ 0"), ("atol", np.nan, "≥ 0"), ("atol", np.inf, "≥ 0"),
])
def test_steps_and_tolerances_must_be_finite(arg: str, value: object, want: str) -> None:
    """eps=inf made every numeric derivative 0 or NaN; rtol/atol = NaN or inf passed anything."""
    x = _x()
    with pytest.raises(ValueError, match=rf"gradcheck: {arg} must be a finite number {want}"):
        mg.gradcheck(lambda: mg.tanh(x), x, **{arg: value})


@pytest.mark.parametrize("mode", ["full", "sampled", "directional", "complex"])
def test_empty_inputs_and_outputs_are_refused(mode: str) -> None:
    x, empty = _x(), Tensor(np.zeros((0, 3)), requires_grad=True)
    msg = r"gradcheck: input 'e' has no elements \(shape \(0, 3\)\)"
    with pytest.raises(ValueError, match=msg):
        mg.gradcheck(lambda: mg.tanh(empty), {"e": empty}, mode=mode)
    with pytest.raises(ValueError, match=r"f\(\) returned an empty Tensor \(shape \(0,\)\)"):
        mg.gradcheck(lambda: mg.tanh(x).reshape(-1)[:0], x, mode=mode)


def test_unused_input_has_zero_gradient_and_passes() -> None:
    x, unused = _x(), _b()
    report = mg.gradcheck(lambda: mg.tanh(x), {"x": x, "unused": unused})
    assert report.ok
    assert report["unused"].max_abs_error == 0.0 and report["unused"].rel_error == 0.0


def test_default_thresholds_are_ordered() -> None:
    assert DEFAULTS["complex"].rtol < DEFAULTS["full"].rtol <= DEFAULTS["directional"].rtol
    assert DEFAULTS["complex"].eps == 1e-20


@given(
    n=st.integers(1, 4), m=st.integers(1, 3), seed=st.integers(0, 2**16),
    mode=st.sampled_from(MODES),
)
def test_random_chains_pass(n: int, m: int, seed: int, mode: str) -> None:
    w, x = _t((n, n), seed, scale=0.7), _t((n, m), seed + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = mg.gradcheck(lambda: mg.sigmoid(w @ mg.tanh(w @ x) + x), [w, x], mode=mode,
                              seed=seed)
    assert report.ok, str(report)
