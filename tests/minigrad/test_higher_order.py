"""Higher order: create_graph records the backward pass, so gradients differentiate again.

Every op that existed before the op-set extension is checked to second order here: every
element of the second derivative on fixed small cases (`check_grad2`), and along a random
direction over Hypothesis shapes with broadcasting.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import strategies as S
from _higher import check_grad2
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Tensor

RNG = np.random.default_rng(5)


def normal(*shape, shift=0.0):
    return shift + RNG.standard_normal(shape)


# ------------------------------------------------------------------------ grad of grad


def test_grad_of_grad_is_not_a_constant():
    # d/dx [x · d/dy (x y)] = d/dx [x · x] = 2x: the inner gradient must stay on the tape
    x, y = Tensor(1.0, requires_grad=True), Tensor(3.0, requires_grad=True)
    (gy,) = mg.grad(x * y, y, create_graph=True)
    assert isinstance(gy, Tensor) and gy.requires_grad
    (gx,) = mg.grad(x * gy, x)
    assert gx == 2.0
    (gy_const,) = mg.grad(x * y, y)         # without create_graph: an array, a constant
    (gx_const,) = mg.grad(x * Tensor(gy_const), x)
    assert gx_const == 1.0


def test_third_derivatives():
    x = Tensor(np.array([0.3, -1.2]), requires_grad=True)
    (g,) = mg.grad((x**3).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x, create_graph=True)
    (t,) = mg.grad(h.sum(), x)
    np.testing.assert_allclose(g.data, 3 * x.data**2, rtol=1e-15)
    np.testing.assert_allclose(h.data, 6 * x.data, rtol=1e-15)
    np.testing.assert_allclose(t, [6.0, 6.0], rtol=1e-15)
    # tanh''' = −2 (1 − y²)(1 − 3 y²)
    z = Tensor(np.array([0.4, -0.9]), requires_grad=True)
    (g,) = mg.grad(mg.tanh(z).sum(), z, create_graph=True)
    (h,) = mg.grad(g.sum(), z, create_graph=True)
    (t,) = mg.grad(h.sum(), z)
    y = np.tanh(z.data)
    np.testing.assert_allclose(t, -2 * (1 - y**2) * (1 - 3 * y**2), rtol=1e-13)


def test_backward_create_graph_leaves_a_differentiable_grad():
    x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)
    g = x.grad
    assert isinstance(g, Tensor) and g.requires_grad
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    x.grad = None
    g.sum().backward()                         # the graph was kept: create_graph retains it
    np.testing.assert_allclose(x.grad, 6 * x.data)


def test_grad_of_several_outputs_and_intermediates_with_create_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = mg.exp(x)
    a, b = (h * x).sum(), h.sum()
    gh, gx = mg.grad([a, b], [h, x], create_graph=True)
    np.testing.assert_allclose(gh.data, x.data + 1)
    np.testing.assert_allclose(gx.data, np.exp(x.data) * (x.data + 2))
    (hxx,) = mg.grad(gx.sum(), x)
    np.testing.assert_allclose(hxx, np.exp(x.data) * (x.data + 3))


# ------------------------------------------------------------------ what cannot go twice


class SavesDerived(mg.Function):
    """y = sin x, saving cos x (derived, neither input nor output)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(np.cos(x))
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        (c,) = ctx.saved_tensors
        return g * c


class UsesData(mg.Function):
    """y = x³ with a backward that computes on raw arrays."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return np.asarray(g) * 3 * np.asarray(x) ** 2


class Cube(mg.Function):
    """y = x³ with a backward written in NumPy: twice differentiable as it is."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


def test_custom_function_written_in_numpy_is_twice_differentiable():
    x = Tensor(np.array([0.5, -1.5]), requires_grad=True)
    (g,) = mg.grad(Cube.apply(x).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h, 6 * x.data, rtol=1e-15)


def test_custom_functions_that_cannot_go_twice_say_why():
    x = Tensor(np.array([0.5, -1.5]), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"savesderived: its forward saved a float64 array "
                       r"of shape \(2,\) that is neither an input nor an output"):
        mg.grad(SavesDerived.apply(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"usesdata: with create_graph=True its backward "
                       "returned a NumPy array"):
        mg.grad(UsesData.apply(x).sum(), x, create_graph=True)
    (g,) = mg.grad(UsesData.apply(x).sum(), x)       # first order is fine
    np.testing.assert_allclose(g, 3 * x.data**2)


def test_fused_recurrence_refuses_create_graph_naming_it():
    models = pytest.importorskip("models")
    lstm = models.LSTM(3, 4, 2, seed=0, fused=True)
    x = np.random.default_rng(0).normal(size=(3, 2, 3))
    J = lstm(x).sum()
    with pytest.raises(RuntimeError, match="lstm_recurrence: its backward runs on arrays only"):
        mg.grad(J, list(lstm.parameters().values()), create_graph=True)


def test_kernel_array_backward_equals_the_rule():
    for fn in (mg.sigmoid, mg.tanh):
        for n, dtype in ((7, np.float64), (50_000, np.float64), (9, np.float32)):
            x = RNG.standard_normal(n).astype(dtype)
            g = RNG.standard_normal(n).astype(dtype)
            y = fn(Tensor(x, requires_grad=True))
            rule, fast = y.record.fn.backward, y.record.fn.array_backward
            np.testing.assert_allclose(fast(y.record, g)[0], rule(y.record, g)[0],
                                       rtol=1e-6 if dtype == np.float32 else 1e-15)


# ----------------------------------------------------------------- hooks, unused inputs


def test_hooks_see_and_replace_gradients():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.copy()) or g * 10)
    h = x * 3.0
    h.register_hook(lambda g: g + 1)          # dL/dh = 1 -> 2
    (h * 1.0).sum().backward()
    np.testing.assert_array_equal(seen[0], [6.0, 6.0])
    np.testing.assert_array_equal(x.grad, [60.0, 60.0])
    handle.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    with pytest.raises(RuntimeError, match="shape"):
        y = x * 1.0
        y.register_hook(lambda g: g.sum())
        y.sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).register_hook(print)


def test_retain_grad_keeps_an_intermediate_gradient():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = mg.tanh(x)
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * np.tanh(x.data), rtol=1e-15)
    x.retain_grad()                            # a leaf: nothing to do
    assert x.grad is not None


def test_unused_inputs_and_outputs_without_leaves():
    x, y = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True, name="W")
    z = (x * 2).sum()
    with pytest.raises(RuntimeError, match="input 1 'W' .* is not used.*allow_unused=True"):
        mg.grad(z, [x, y])
    assert mg.grad(z, [x, y], allow_unused=True)[1] is None
    w = Tensor([1.0], requires_grad=True)
    out = (w * 2).sum()
    w.requires_grad = False
    with pytest.raises(RuntimeError, match="does not depend on any tensor that requires grad"):
        out.backward()


# ------------------------------------------------------- every earlier op, second order

SMOOTH_UNARY = {
    "neg": lambda t: -t,
    "exp": mg.exp,
    "log": lambda t: mg.log(t * t + 1.0),
    "sigmoid": mg.sigmoid,
    "tanh": mg.tanh,
    "relu": lambda t: mg.relu(t) * t,
    "softmax0": lambda t: mg.softmax(t, axis=0),
    "softmax1": lambda t: mg.softmax(t, axis=1),
    "log_softmax": lambda t: mg.log_softmax(t, axis=1),
    "sum": lambda t: mg.sum(t * t, axis=0),
    "mean": lambda t: mg.mean(t * t, axis=1, keepdims=True),
    "pow_const": lambda t: (t * t + 0.5) ** 1.5,
    "pow_int": lambda t: t**3,
    "pow_zero": lambda t: t**0 + t,
    "reshape": lambda t: (t * t).reshape(-1),
    "transpose": lambda t: (t * t).T,
    "index_repeats": lambda t: t[np.array([0, 2, 0])] ** 2,
    "index_mask": lambda t: t[t.data > 0] ** 3,
    "index_slice": lambda t: (t**2)[1:, ::-1],
    "contiguous": lambda t: mg.contiguous((t * t)[:, :1]),
    "split": lambda t: mg.split(t * t, [1], axis=1)[1] * mg.split(t, 3)[0],
    "stack": lambda t: mg.stack([t * t, t], axis=1),
    "concat": lambda t: mg.concat([t * t, t], axis=1),
    "expand_dims_squeeze": lambda t: mg.expand_dims(t * t, 1).squeeze(1) * t,
    "swapaxes": lambda t: (t * t).swapaxes(0, 1),
    "moveaxis": lambda t: mg.moveaxis(mg.expand_dims(t, 0) ** 2, 0, 2),
    "broadcast_to": lambda t: mg.broadcast_to(t, (2, 3, 2)) ** 2,
    "scatter_add": lambda t: mg.scatter_add(t * t, (np.array([0, 0, 1]),), (2, 2)),
    "mse": lambda t: mg.mse(t * t, np.ones((3, 2))),
    "bce": lambda t: mg.binary_cross_entropy(mg.sigmoid(t), np.eye(3, 2)),
    "bce_logits": lambda t: mg.binary_cross_entropy_with_logits(t * t, np.eye(3, 2)),
    "cross_entropy": lambda t: mg.cross_entropy(t, np.eye(3, 2)),
    "cross_entropy_none": lambda t: mg.cross_entropy(t, np.eye(3, 2), reduction="none"),
}


@pytest.mark.parametrize("name", list(SMOOTH_UNARY))
def test_every_unary_op_to_second_order(name):
    x = normal(3, 2) * 0.8 + np.array([0.3, -0.2])   # no element at a kink of relu
    check_grad2(SMOOTH_UNARY[name], x)


MATMULS = [((3, 2), (2, 4)), ((2,), (2, 3)), ((3, 2), (2,)), ((3,), (3,)),
           ((2, 3, 2), (2, 2)), ((2, 1, 3), (3, 2))]


@pytest.mark.parametrize(("sa", "sb"), MATMULS)
def test_matmul_and_dot_to_second_order(sa, sb):
    a, b = normal(*sa), normal(*sb)
    check_grad2(lambda p, q: mg.tanh(p @ q), a, b)
    check_grad2(lambda p, q: mg.dot(p, q) * mg.dot(p, q), a, b)


BINARY = {
    "add": (lambda a, b: (a + b) ** 2, 0.0),
    "sub": (lambda a, b: (a - b) * a, 0.0),
    "mul": (lambda a, b: a * b * b, 0.0),
    "div": (lambda a, b: a / b, 2.5),
    "pow": (lambda a, b: a**b, 2.5),
    "maximum": (lambda a, b: mg.maximum(a, b) * a, 0.0),
    "where": (lambda a, b: mg.where(a.data > 0.1, a * b, b * b), 0.0),
}


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3,)), ((2, 1), (1, 2)), ((), (2,))])
def test_binary_ops_to_second_order_every_element(op, sa, sb):
    fn, shift = BINARY[op]
    a = normal(*sa, shift=shift) if op == "pow" else normal(*sa)
    b = normal(*sb, shift=shift) + (0.5 if op == "maximum" else 0.0)
    check_grad2(fn, a, b)


@pytest.mark.parametrize("op", list(BINARY))
@settings(max_examples=8)
@given(data=st.data())
def test_binary_ops_to_second_order_along_a_direction(op, data):
    fn, shift = BINARY[op]
    sa, sb = data.draw(S.broadcast_pair(), label="shapes")
    lo = 0.5 if op in ("pow",) else -2.0
    a = data.draw(S.arrays(sa, lo, 2.0))
    b = data.draw(S.nonzero_arrays(sb, 0.7, 2.0) if op in ("div", "pow") else S.arrays(sb))
    if op == "maximum":
        a, b = data.draw(S.grid_pair(sa, sb))
    check_grad2(fn, a, b, directional=True)


def test_an_op_returning_a_numpy_scalar_is_twice_differentiable_in_any_mode():
    # a full reduction's forward returns a NumPy scalar that it also saved: it stays "the
    # output" for create_graph, whether or not a mode (here a scope) notes the record
    x = Tensor(np.array([[0.3, -1.2], [2.0, 0.5]]), requires_grad=True)
    for scoped in (False, True):
        with mg.scope("s") if scoped else contextlib.nullcontext():
            n = mg.norm(x, "fro")
        (g,) = mg.grad(n**3, x, create_graph=True)
        (h,) = mg.grad(g.sum(), x)
        r = np.linalg.norm(x.data)
        expected = 3 * x.data.sum() * x.data / r + 3 * r          # ∂/∂x Σ_ij 3 r x_ij
        np.testing.assert_allclose(h, expected, rtol=1e-13)
