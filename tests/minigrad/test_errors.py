"""Guards and error messages: shape errors, backward misuse, anomaly mode, numerically
delicate ops (sigmoid at ±1000, BCE at ŷ ∈ {0, 1}), complex input (complex-step derivative
through analytic ops, TypeError from non-analytic ones) and the protection of saved arrays."""

from __future__ import annotations

import gc
import re
import runpy
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

# ---------------------------------------------------------------------------- shape errors


def test_matmul_inner_dimension_message_is_exact():
    a, b = Tensor(np.ones((100, 1100))), Tensor(np.ones((1000, 1)))
    with pytest.raises(ValueError) as info:
        a @ b
    want = "matmul: (100, 1100) @ (1000, 1): inner dimensions 1100 and 1000 differ"
    assert str(info.value) == want
    with pytest.raises(ValueError) as info:
        mg.matmul(np.ones(3), Tensor(np.ones(4)))
    assert str(info.value) == "matmul: (3,) @ (4,): inner dimensions 3 and 4 differ"
    with pytest.raises(ValueError, match=r"matmul: \(\) @ \(2,\).*use \*"):
        mg.matmul(Tensor(2.0), Tensor(np.ones(2)))


def test_matmul_batch_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError) as info:
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5)))
    msg = str(info.value)
    assert msg.startswith("matmul:") and "(2, 3, 4)" in msg and "(3, 4, 5)" in msg


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "where"])
def test_broadcasting_errors_name_the_op_and_both_shapes(name):
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.full(4, 2.0))
    call = {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
        "div": lambda: a / b, "pow": lambda: a**b, "maximum": lambda: mg.maximum(a, b),
        "where": lambda: mg.where(np.ones((2, 3), bool), a, b),
    }[name]
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(f"{name}:"), msg
    assert "(2, 3)" in msg and "(4,)" in msg, msg


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"concat: shapes \(2, 3\) and \(3, 2\) differ outside "
                                         r"axis 0"):
        mg.concat([Tensor(np.ones((2, 3))), Tensor(np.ones((3, 2)))])
    with pytest.raises(ValueError, match=r"stack: .*\(2, 3\) and \(3, 2\)"):
        mg.stack([Tensor(np.ones((2, 3))), Tensor(np.ones((3, 2)))])
    with pytest.raises(ValueError, match="concat: needs at least one"):
        mg.concat([])
    with pytest.raises(ValueError, match="stack: needs at least one"):
        mg.stack([])
    with pytest.raises(ValueError, match=r"split: axis 1 of shape \(2, 5\) has length 5.*3 equal"):
        mg.split(Tensor(np.ones((2, 5))), 3, axis=1)
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)


@pytest.mark.parametrize("loss", [mg.binary_cross_entropy, mg.cross_entropy, mg.mse])
def test_loss_errors(loss):
    name = loss.__name__
    with pytest.raises(ValueError, match=rf"{name}: prediction \(2, 3\) and target \(3, 2\)"):
        loss(Tensor(np.full((2, 3), 0.5)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of .*'avg'"):
        loss(Tensor(np.full((2, 3), 0.5)), np.ones((2, 3)), reduction="avg")


def test_where_condition_must_be_boolean():
    with pytest.raises(TypeError, match="where: cond must be a boolean array"):
        mg.where(np.ones(2), Tensor([1.0, 2.0]), 0.0)


# ---------------------------------------------------------------------- backward misuse


def test_backward_of_non_scalar_says_what_to_do():
    t = Tensor(np.ones((2, 3)), requires_grad=True).sum(axis=0)
    with pytest.raises(RuntimeError) as info:
        t.backward()
    msg = str(info.value)
    assert "(3,)" in msg and "not a scalar" in msg
    assert "backward(grad)" in msg and ".sum().backward()" in msg


def test_backward_of_tensor_without_grad_says_what_to_do():
    with pytest.raises(RuntimeError, match=r"does not require grad.*requires_grad=True"):
        (Tensor([1.0]) * 2).sum().backward()
    x = Tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


def test_backward_seed_shape_must_match():
    t = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"seed gradient has shape \(3, 2\).*\(2, 3\)"):
        t.backward(np.ones((3, 2)))


# ---------------------------------------------------------------------------- anomaly mode


def test_anomaly_forward_names_the_first_non_finite_op():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError) as info:
        mg.exp(mg.log(x) * 2.0)  # log(0) = -inf is the first non-finite value
    assert isinstance(info.value, RuntimeError)
    assert str(info.value).startswith("log produced a non-finite output (shape (2,))")
    with np.errstate(divide="ignore"):
        y = mg.log(x)  # outside anomaly mode: no error
    assert np.isneginf(y.data[0])


def test_anomaly_backward_names_the_op_with_a_non_finite_gradient():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with mg.detect_anomaly():
        y = (x**0.5).sum()  # finite forward, infinite ∂/∂x at 0
        with pytest.raises(mg.AnomalyError, match="^pow produced a non-finite gradient"):
            y.backward()


def test_anomaly_reports_the_source_line_of_user_code(tmp_path):
    # User code in a file outside the package: the report quotes that file and line.
    src = "import minigrad as mg\nx = mg.Tensor([-1.0], requires_grad=True)\ny = mg.log(x)\n"
    path = tmp_path / "user_script.py"
    path.write_text(src)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError) as info:
        runpy.run_path(str(path))
    assert f'File "{path}", line 3' in str(info.value)
    assert "y = mg.log(x)" in str(info.value)


def test_anomaly_reports_the_line_in_this_test_file():
    x = Tensor([0.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError) as info:
        _ = (line := sys._getframe().f_lineno, mg.log(x))
    assert re.search(rf'File "{re.escape(__file__)}", line {line}\b', str(info.value)), (
        str(info.value))


def test_anomaly_mode_is_restored():
    assert not mg.modes.STATE.anomaly
    with pytest.raises(mg.AnomalyError), mg.detect_anomaly():
        mg.exp(Tensor([1e4]))
    assert not mg.modes.STATE.anomaly


# ------------------------------------------------------------- numerically delicate ops


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [4, 6000])  # Numba kernel and the NumPy twin
def test_sigmoid_is_stable_at_plus_minus_1000(dtype, size):
    v = np.resize(np.array([1000.0, -1000.0, 800.0, -800.0]), size).astype(dtype)
    x = Tensor(v, requires_grad=True)
    s = mg.sigmoid(x)
    assert s.dtype == dtype
    np.testing.assert_array_equal(s.data, (v > 0).astype(dtype))
    s.backward(np.ones(size, dtype))
    np.testing.assert_array_equal(x.grad, np.zeros(size, dtype))
    assert mg.sigmoid(Tensor(np.array([-40.0]))).item() == pytest.approx(4.248354255291589e-18,
                                                                           rel=1e-14)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("reduction", ["notes", "sum", "mean"])
def test_bce_is_exact_and_warning_free_at_0_and_1(reduction):
    y = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    y_hat = Tensor(y.copy(), requires_grad=True)  # perfect predictions, exactly 0 and 1
    loss = mg.binary_cross_entropy(y_hat, y, reduction=reduction)
    assert loss.item() == 0.0
    loss.backward()
    scale = {"notes": 1 / 3, "sum": 1.0, "mean": 1 / 6}[reduction]
    # ∂L/∂ŷ = (1 − y)/(1 − ŷ) − y/ŷ = +1 at ŷ = y = 0 and −1 at ŷ = y = 1
    np.testing.assert_array_equal(y_hat.grad, np.where(y == 1, -1.0, 1.0) * scale)


@pytest.mark.filterwarnings("error")
def test_bce_wrong_certain_prediction_is_finite_without_warnings():
    loss = mg.binary_cross_entropy(Tensor([[0.0, 1.0]]), np.array([[1.0, 0.0]]), reduction="sum")
    assert loss.item() == 200.0           # each log term clamped at -100, as in PyTorch
    yh = Tensor([[0.0, 0.5]], requires_grad=True)
    mg.binary_cross_entropy(yh, np.array([[0.0, 1.0]]), reduction="sum").backward()
    np.testing.assert_array_equal(yh.grad, [[1.0, -2.0]])


@pytest.mark.filterwarnings("error")
def test_softmax_and_cross_entropy_are_stable_for_huge_logits():
    z = Tensor([[1000.0], [-1000.0], [0.0]], requires_grad=True)
    np.testing.assert_array_equal(mg.softmax(z).data, [[1.0], [0.0], [0.0]])
    np.testing.assert_array_equal(mg.log_softmax(z).data, [[0.0], [-2000.0], [-1000.0]])
    loss = mg.cross_entropy(z, np.array([[0.0], [1.0], [0.0]]))
    assert loss.item() == 2000.0
    loss.backward()
    np.testing.assert_array_equal(z.grad, [[1.0], [-1.0], [0.0]])


@pytest.mark.filterwarnings("error")
def test_pow_with_constant_array_exponent_on_negative_base():
    x = Tensor([-2.0, 3.0], requires_grad=True)
    (x ** np.array(3.0)).sum().backward()
    np.testing.assert_array_equal(x.grad, [12.0, 27.0])


@pytest.mark.filterwarnings("error")
def test_pow_zero_exponent_at_zero():
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


# ---------------------------------------------------------- complex input, non-analytic ops


@pytest.mark.parametrize("call", [
    lambda z: mg.relu(z),
    lambda z: mg.maximum(z, 1.0),
    lambda z: mg.maximum(np.ones(2), z),
    lambda z: mg.where(np.array([True, False]), z, 0.0),
    lambda z: mg.where(np.array([True, False]), 0.0, z),
], ids=["relu", "maximum-a", "maximum-b", "where-a", "where-b"])
def test_non_analytic_ops_refuse_complex(call):
    z = Tensor(np.array([1.0 + 1e-20j, -1.0]), requires_grad=True)
    with pytest.raises(TypeError, match="not analytic"):
        call(z)


def test_analytic_ops_accept_complex():
    z = Tensor(np.array([[0.5 + 1e-20j, 1.0]]), requires_grad=True)
    for f in [mg.tanh, mg.sigmoid, mg.exp, mg.log, mg.softmax, mg.log_softmax, lambda t: t @ t.T,
              lambda t: mg.concat([t, t]), lambda t: t.sum(), lambda t: t / (t + 1) ** 2]:
        assert f(z).dtype == np.complex128


# ------------------------------------------------------------------- complex-step check


def test_complex_step_matches_tape_gradient():
    """Im f(x + ih)/h (exact to rounding for analytic f) equals the tape's ∂f/∂x to 1e-13."""
    rng = np.random.default_rng(11)
    w, c = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    x0 = rng.uniform(0.5, 1.5, size=(4, 3))

    def f(x):
        h = mg.tanh(Tensor(w) @ x)
        z = mg.concat([mg.log(mg.exp(mg.sigmoid(h) * 0.7) + 1.0), Tensor(c)], axis=0)
        return (z * z).sum() + (mg.log_softmax(z, axis=0) * 0.3).mean() + mg.softmax(z)[0].sum()

    x = Tensor(x0, requires_grad=True)
    f(x).backward()
    step = 1e-20
    cs = np.empty_like(x0)
    for i in np.ndindex(x0.shape):
        xc = x0.astype(np.complex128)
        xc[i] += 1j * step
        out = f(Tensor(xc))
        assert out.dtype == np.complex128
        cs[i] = out.data.imag / step
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, cs, rtol=1e-13, atol=1e-13 * np.abs(cs).max())
    # and the tape itself runs in complex128 (gradients at a complex point)
    xc = Tensor(x0.astype(np.complex128), requires_grad=True)
    f(xc).backward()
    assert xc.grad.dtype == np.complex128
    np.testing.assert_allclose(xc.grad.real, x.grad, rtol=1e-12, atol=1e-15)


# ------------------------------------------------- writes after forward: allowed, then caught


def test_writing_a_saved_leaf_is_allowed_and_backward_then_refuses():
    x = Tensor(np.ones(3), requires_grad=True, name="w")
    y = (x * x).sum()
    x.data[0] = 2.0                       # allowed: no read-only arrays in a learner's way
    with pytest.raises(RuntimeError, match=r"mul .*parameter 'w' was changed after the forward"
                                           r".*Run the forward pass again"):
        y.backward()
    y = (x * x).sum()                     # forward again: fine
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 2.0, 2.0])


def test_view_taken_before_forward_and_written_after_it_is_caught():
    W = Tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True, name="W_a")
    v = W.data[:]                          # a view, taken before the forward pass
    x = np.array([[1.0], [0.9]])
    J = mg.tanh(W @ x).sum()
    v[...] = 0.0                           # written after it: W_a's saved content changed
    with pytest.raises(RuntimeError, match="W_a"):
        J.backward()


def test_write_through_a_raw_buffer_is_caught():
    buf = bytearray(np.ones(4).tobytes())
    w = Tensor(np.frombuffer(buf, dtype=np.float64), requires_grad=True)
    y = (w * 3.0 * w).sum()
    buf[0:8] = np.float64(5.0).tobytes()
    with pytest.raises(RuntimeError, match="changed after the forward"):
        y.backward()


VIEWS = {
    "T": lambda x: x.T,
    "reshape": lambda x: x.reshape(4),
    "slice": lambda x: x[1:],
    "split": lambda x: mg.split(x, 2)[1],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_write_to_a_leaf_while_a_view_of_it_is_saved_is_caught(view):
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    v = VIEWS[view](x)
    y = (v * v).sum()  # mul saves the view, whose base is x.data
    x.data[1, 1] = 5.0
    with pytest.raises(RuntimeError, match="changed after the forward"):
        y.backward()


def test_user_constant_is_never_made_read_only_and_a_change_is_caught():
    c = np.arange(3.0)
    w = Tensor(np.ones(3), requires_grad=True)
    y = (w * c).sum()                     # mul saves c (the user's own array)
    assert c.flags.writeable
    c[0] = 10.0
    with pytest.raises(RuntimeError, match=r"an array of shape \(3,\)"):
        y.backward()


def test_retain_graph_then_a_write_makes_the_second_backward_refuse():
    x = Tensor(np.ones(2), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    x.data[0] = 3.0
    with pytest.raises(RuntimeError, match="changed after the forward"):
        y.backward()


def test_a_graph_kept_alive_elsewhere_does_not_stop_a_fresh_forward():
    """Jupyter keeps a cell's last value in Out[n]: that graph must not get in the way."""
    W = Tensor(np.ones((2, 2)), requires_grad=True, name="W")
    x = np.array([[1.0], [2.0]])
    kept = mg.tanh(W @ x)                 # e.g. Out[3]
    W.data -= 0.1                         # an optimizer step or a hand edit
    J = mg.tanh(W @ x).sum()              # a fresh forward
    J.backward()
    np.testing.assert_allclose(W.grad, (1 - np.tanh(W.data @ x) ** 2) @ x.T, rtol=1e-13)
    with pytest.raises(RuntimeError, match="'W' was changed"):
        kept.sum().backward()             # the old graph did see the old W


def test_results_of_recorded_ops_are_immutable_and_numpy_gives_a_writable_copy():
    x = Tensor(np.ones(2), requires_grad=True)
    h = mg.tanh(x)
    with pytest.raises(ValueError, match="read-only"):
        h.data[0] = 0.0
    a = h.numpy()
    a[0] = 5.0                            # the user's copy
    assert h.data[0] == np.tanh(1.0)
    assert x.numpy() is x.data            # a leaf shares its array, as in PyTorch


def test_leaf_that_is_a_view_is_writable():
    flat = np.ones(6)
    w = Tensor(flat[:4].reshape(2, 2), requires_grad=True)  # parameters viewing one buffer
    y = (w * w).sum()
    w.data[0, 0] = 1.0                    # same value: nothing changed, backward is fine
    y.backward()
    w.data -= 0.5 * w.grad  # the optimizer step
    np.testing.assert_array_equal(flat, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0])


def test_identity_function_does_not_lock_its_input_forever():
    class Identity(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return (g,)

    x = Tensor(np.ones(2), requires_grad=True)
    y = Identity.apply(x)
    y.sum().backward()
    del y
    gc.collect()
    x.data[0] = 2.0  # raises "assignment destination is read-only" if the lock leaked
    assert x.data[0] == 2.0 and x.data.flags.writeable
