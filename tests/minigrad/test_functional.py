"""minigrad.functional: hvp, hessian, jvp, jacobian, vjp against analytic results, finite
differences (float64, 1e-8 relative), each other, and PyTorch when it is installed."""

from __future__ import annotations

import _fd as fd
import numpy as np
import pytest
import strategies as S
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Tensor

TOL = 1e-8


def fd_jacobian(F, arrays: list[np.ndarray], h: float = 1e-3) -> list[np.ndarray]:
    """d F(*arrays)/d arrays[i] (F returns an array), by the four-point central stencil:
    one block of shape F.shape + arrays[i].shape per input."""
    offsets, weights = fd.STENCILS[4]
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out_shape = np.shape(F(*arrays))
    blocks = []
    for i, a in enumerate(arrays):
        cols = []
        for k in range(a.size):
            acc = np.zeros(out_shape)
            for off, w in zip(offsets, weights):
                moved = [b.copy() for b in arrays]
                moved[i].reshape(-1)[k] += off * h
                acc += w * np.asarray(F(*moved)) / h
            cols.append(acc)
        blocks.append(np.stack(cols, axis=-1).reshape(out_shape + a.shape))
    return blocks


def tape_grad(f, i: int):
    """x ↦ ∂f/∂x_i by the first-order tape, as a function of arrays (for fd_jacobian)."""
    def G(*arrays):
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        return mg.grad(f(*ts), ts, allow_unused=True)[i]
    return G


def close(a, b, tol: float = TOL) -> None:
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    assert fd.rel_error(a, b) < tol, f"relative error {fd.rel_error(a, b):.3e}\n{a}\n{b}"


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x[i]
    return H


def layer(W, x, b):
    """A scalar of three inputs, with broadcasting: b (n, 1) across the m columns."""
    return (mg.tanh(W @ x + b) ** 2).sum() + (mg.exp(0.3 * x) * x).sum()


RNG = np.random.default_rng(0)
W0, X0, B0 = RNG.normal(size=(3, 2)), RNG.normal(size=(2, 4)), RNG.normal(size=(3, 1))


# ---- analytic results -------------------------------------------------------------------------


def test_hessian_of_rosenbrock_is_analytic() -> None:
    x = np.array([0.3, -1.2, 0.8, 1.5])
    H = mg.hessian(rosenbrock, x)
    np.testing.assert_allclose(H, rosenbrock_hessian(x), rtol=1e-13, atol=1e-12)
    v = RNG.normal(size=4)
    np.testing.assert_allclose(mg.hvp(rosenbrock, x, v), rosenbrock_hessian(x) @ v, rtol=1e-12)


def test_jacobian_and_jvp_of_elementwise_and_linear_maps() -> None:
    A = RNG.normal(size=(5, 3))
    x = RNG.normal(size=3)
    for mode in ("rev", "fwd", "auto"):
        np.testing.assert_allclose(mg.jacobian(lambda x: A @ x, x, mode=mode), A, rtol=1e-14)
        np.testing.assert_allclose(mg.jacobian(mg.tanh, x, mode=mode), np.diag(1 - np.tanh(x) ** 2),
                                   rtol=1e-14)
    t = RNG.normal(size=3)
    y, jt = mg.jvp(lambda x: mg.tanh(A @ x), x, t)
    np.testing.assert_allclose(y, np.tanh(A @ x), rtol=1e-14)
    np.testing.assert_allclose(jt, (1 - np.tanh(A @ x) ** 2) * (A @ t), rtol=1e-13)
    u = RNG.normal(size=5)
    y, ju = mg.vjp(lambda x: mg.tanh(A @ x), x, u)
    np.testing.assert_allclose(ju, A.T @ ((1 - np.tanh(A @ x) ** 2) * u), rtol=1e-13)


def test_grad_of_grad_classic() -> None:
    """d/dx[x · d/dy(x·y)] = d/dx[x²] = 2x: the recorded gradient keeps its dependence on x."""
    def inner(x):
        y = Tensor(1.0, requires_grad=True)
        (gy,) = mg.grad(x * y, [y], create_graph=True)
        return x * gy

    _, d = mg.vjp(inner, 1.5)
    assert float(d) == pytest.approx(3.0, rel=1e-15)


# ---- finite differences, tuples and broadcasting ----------------------------------------------


def test_hessian_blocks_of_a_tuple_against_finite_differences() -> None:
    H = mg.hessian(layer, (W0, X0, B0))
    arrays = [W0, X0, B0]
    for i, a in enumerate(arrays):
        fd_blocks = fd_jacobian(tape_grad(layer, i), arrays)
        for j, b in enumerate(arrays):
            assert H[i][j].shape == a.shape + b.shape
            close(H[i][j], fd_blocks[j])
            close(H[i][j], np.moveaxis(H[j][i].reshape(b.shape + (a.size,)), -1, 0).reshape(
                a.shape + b.shape))  # symmetric: H_ij = H_jiᵀ


def test_hvp_of_a_tuple_is_the_hessian_times_v() -> None:
    arrays = [W0, X0, B0]
    vs = [RNG.normal(size=a.shape) for a in arrays]
    hv = mg.hvp(layer, tuple(arrays), tuple(vs))
    H = mg.hessian(layer, tuple(arrays))
    for i in range(3):
        want = sum(np.tensordot(H[i][j], vs[j], axes=vs[j].ndim) for j in range(3))
        close(hv[i], want)


@settings(max_examples=15)
@given(st.data())
def test_hvp_and_jvp_with_broadcasting_against_finite_differences(data) -> None:
    sa, sb = data.draw(S.broadcast_pair(max_dims=3))
    a = data.draw(S.arrays(sa, -1.5, 1.5))
    b = data.draw(S.arrays(sb, -1.5, 1.5))

    def f(a, b):
        return (mg.tanh(a * b) + mg.sigmoid(a + b) * b).sum()

    va, vb = RNG.normal(size=sa), RNG.normal(size=sb)
    hv = mg.hvp(f, (a, b), (va, vb))
    # H v = d/dt ∇f(x + t v) at t = 0, one directional stencil on the first-order gradient
    for i in range(2):
        G = tape_grad(f, i)
        along = fd_jacobian(lambda t, G=G: G(a + t * va, b + t * vb), [np.zeros(())])[0]
        close(hv[i], along)

    def g(a, b):
        return mg.exp(a * 0.5) * mg.tanh(b)

    y, jt = mg.jvp(g, (a, b), (va, vb))
    Ja, Jb = fd_jacobian(lambda a, b: np.exp(a * 0.5) * np.tanh(b), [a, b])
    want = (np.tensordot(Ja, va, axes=va.ndim) + np.tensordot(Jb, vb, axes=vb.ndim))
    close(jt, want)
    close(y, np.exp(a * 0.5) * np.tanh(b))


def test_jacobian_modes_agree_on_wide_and_tall_maps() -> None:
    A = RNG.normal(size=(2, 6))

    def wide(x, b):  # 2 outputs, 6 + 2 inputs
        return mg.tanh(A @ x + b)

    def tall(z):  # 8 outputs, 2 inputs
        return mg.tanh(A.T @ z) * 2

    x, b, z = RNG.normal(size=6), RNG.normal(size=2), RNG.normal(size=2)
    rev, fwd = mg.jacobian(wide, (x, b), mode="rev"), mg.jacobian(wide, (x, b), mode="fwd")
    for r, f_, n in zip(rev, fwd, fd_jacobian(lambda x, b: np.tanh(A @ x + b), [x, b])):
        close(r, n)
        np.testing.assert_allclose(r, f_, rtol=1e-14, atol=1e-15)
    close(mg.jacobian(tall, z, mode="fwd"), mg.jacobian(tall, z, mode="rev"), 1e-14)
    close(mg.jacobian(tall, z), fd_jacobian(lambda z: np.tanh(A.T @ z) * 2, [z])[0])


def test_jvp_equals_jacobian_times_tangent_and_vjp_its_transpose() -> None:
    x = (W0, X0, B0)

    def f(W, x, b):
        return mg.tanh(W @ x + b) * 3

    J = mg.jacobian(f, x)
    ts = tuple(RNG.normal(size=a.shape) for a in x)
    _, jt = mg.jvp(f, x, ts)
    close(jt, sum(np.tensordot(Jb, t, axes=t.ndim) for Jb, t in zip(J, ts)))
    u = RNG.normal(size=(3, 4))
    _, ju = mg.vjp(f, x, u)
    for Jb, g in zip(J, ju):
        close(g, np.tensordot(u, Jb, axes=2))


# ---- higher order: create_graph ---------------------------------------------------------------


def test_third_derivative_through_hvp_with_create_graph() -> None:
    x = Tensor(np.array([0.7, -0.4]), requires_grad=True)
    v = np.array([1.0, 2.0])
    hv = mg.hvp(lambda x: (mg.tanh(x) * x[0]).sum(), x, v, create_graph=True)
    assert isinstance(hv, Tensor) and hv.requires_grad
    (d3,) = mg.grad(hv.sum(), [x])

    def hv_sum(x):
        return mg.hvp(lambda y: (mg.tanh(y) * y[0]).sum(), x, v).sum()

    close(d3, fd.numeric_grad(lambda: hv_sum(arr), arr := x.data.copy()))


def test_hessian_with_create_graph_is_differentiable() -> None:
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    H = mg.hessian(lambda x: (x ** 4).sum() + x[0] * x[1] ** 3, x, create_graph=True)
    assert isinstance(H, Tensor) and H.shape == (2, 2)
    (d,) = mg.grad(H.sum(), [x])
    a, b = x.data
    # H = [[12a², 3b²], [3b², 12b² + 6ab]]; ΣH = 12a² + 6b² + 12b² + 6ab
    np.testing.assert_allclose(d, [24 * a + 6 * b, 36 * b + 6 * a], rtol=1e-14)


def test_jvp_and_vjp_with_create_graph_are_differentiable() -> None:
    """J t = 3x² ⊙ t for x³: its derivative w.r.t. x is 6x ⊙ t (summed over the output)."""
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    t = np.array([1.0, 2.0, -1.0])
    y, jt = mg.jvp(lambda x: x ** 3, x, t, create_graph=True)
    assert isinstance(y, Tensor) and isinstance(jt, Tensor)
    np.testing.assert_allclose(jt.data, 3 * x.data ** 2 * t, rtol=1e-15)
    np.testing.assert_allclose(mg.grad(jt.sum(), [x])[0], 6 * x.data * t, rtol=1e-15)
    _, ju = mg.vjp(lambda x: x ** 3, x, t, create_graph=True)
    np.testing.assert_allclose(mg.grad(ju.sum(), [x])[0], 6 * x.data * t, rtol=1e-15)


def test_a_list_is_one_array_and_a_tuple_several_inputs() -> None:
    H = mg.hessian(lambda x: (x ** 3).sum(), [1.0, 2.0])
    np.testing.assert_array_equal(H, np.diag([6.0, 12.0]))
    H = mg.hessian(lambda a, b: a * a * b, (1.0, 2.0))
    assert [[h.shape for h in row] for row in H] == [[(), ()], [(), ()]]
    np.testing.assert_array_equal(np.array(H, dtype=float), [[4.0, 2.0], [2.0, 0.0]])
    hv = mg.hvp(lambda a, b: a * a * b, (1.0, 2.0), [1.0, 1.0])  # v: tuple or list
    np.testing.assert_array_equal(np.array(hv, dtype=float), [6.0, 2.0])


# ---- contract: inputs untouched, dtypes, grad mode --------------------------------------------


def test_inputs_are_never_modified() -> None:
    a = np.array([0.2, 0.3])
    t = Tensor(np.array([0.4, 0.5]), requires_grad=True)
    before = (a.copy(), t.data.copy())
    mg.hessian(lambda a, t: (a * t * t).sum(), (a, t))
    mg.jvp(lambda a, t: a * mg.exp(t), (a, t), (np.ones(2), np.ones(2)))
    mg.jacobian(lambda a, t: a * mg.exp(t), (a, t), mode="fwd")
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(t.data, before[1])
    assert a.flags.writeable and t.data.flags.writeable
    assert t.grad is None and t.record is None


def test_float32_stays_float32_and_works_under_no_grad() -> None:
    x = np.array([0.3, 0.6], dtype=np.float32)
    with mg.no_grad():
        H = mg.hessian(lambda x: (x ** 3).sum(), x)
        _, jt = mg.jvp(mg.tanh, x, np.ones(2))
    assert H.dtype == np.float32 and jt.dtype == np.float32
    np.testing.assert_allclose(H, np.diag(6 * x), rtol=1e-6)


def test_a_function_that_does_not_depend_on_x_has_zero_derivatives() -> None:
    x = np.ones(3)
    np.testing.assert_array_equal(mg.hvp(lambda x: (2 * x).sum(), x, np.ones(3)), np.zeros(3))
    np.testing.assert_array_equal(mg.hessian(lambda x: x.sum(), x), np.zeros((3, 3)))
    np.testing.assert_array_equal(mg.jvp(lambda x: Tensor(np.ones(2)), x, x)[1], np.zeros(2))


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda: mg.hvp(lambda x: x * 2, np.ones(3), np.ones(3)), r"hvp: f must return a scalar"),
    (lambda: mg.hessian(lambda x: x * 2, np.ones(3)), r"hessian: f must return a scalar"),
    (lambda: mg.hvp(lambda x: x.sum(), np.ones(3), np.ones(4)),
     r"hvp: v must have the shape .*\(3,\); got \(4,\)"),
    (lambda: mg.jvp(lambda a, b: a * b, (np.ones(2), np.ones(2)), (np.ones(2),)),
     r"jvp: tangents must have one entry per input \(2\); got 1"),
    (lambda: mg.jvp(lambda a, b: a * b, (np.ones(2), np.ones(2)), (np.ones(2), np.ones(3))),
     r"jvp: tangents\[1\] must have the shape"),
    (lambda: mg.vjp(lambda x: x * 2, np.ones(3)), r"vjp: f returned shape \(3,\)"),
    (lambda: mg.jacobian(mg.tanh, np.ones(2), mode="forward"), r"jacobian: mode must be one of"),
    (lambda: mg.hessian(lambda x: x.sum(), ()), r"hessian: x is an empty tuple"),
])
def test_value_errors_name_function_and_argument(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: mg.hvp(lambda x: np.sum(x.data ** 2), np.ones(2), np.ones(2)),
     r"hvp: f must return a minigrad Tensor .* got float64"),
    (lambda: mg.jacobian(lambda x: x, np.ones(2, dtype=complex)), r"jacobian: x must be real"),
    (lambda: mg.hessian(lambda x: x.sum(), "abc"), r"hessian: x must be a Tensor or an array"),
    (lambda: mg.jvp(3, np.ones(2), np.ones(2)), r"jvp: f must be a callable"),
])
def test_type_errors_name_function_and_argument(call, match) -> None:
    with pytest.raises(TypeError, match=match):
        call()


# ---- PyTorch, where installed -----------------------------------------------------------------


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    tf = torch.autograd.functional
    arrays = [W0, X0, B0]
    T = [torch.tensor(a) for a in arrays]

    def f_torch(W, x, b):
        return (torch.tanh(W @ x + b) ** 2).sum() + (torch.exp(0.3 * x) * x).sum()

    H, H_t = mg.hessian(layer, tuple(arrays)), tf.hessian(f_torch, tuple(T))
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(H[i][j], H_t[i][j].numpy(), rtol=1e-12, atol=1e-14)
    vs = tuple(RNG.normal(size=a.shape) for a in arrays)
    _, hv_t = tf.hvp(f_torch, tuple(T), tuple(torch.tensor(v) for v in vs))
    for a, b in zip(mg.hvp(layer, tuple(arrays), vs), hv_t):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-14)
    _, jt_t = tf.jvp(lambda W, x, b: torch.tanh(W @ x + b), tuple(T),
                     tuple(torch.tensor(v) for v in vs))
    _, jt = mg.jvp(lambda W, x, b: mg.tanh(W @ x + b), tuple(arrays), vs)
    np.testing.assert_allclose(jt, jt_t.numpy(), rtol=1e-12, atol=1e-14)
