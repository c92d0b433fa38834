"""Every op's gradient, on every element, in float64, against central finite differences.

Shapes and values come from Hypothesis (`strategies.py`); non-scalar outputs are reduced with a
fixed random cotangent c, i.e. we check ∂(Σ c ⊙ f(x))/∂x. Values stay away from kinks (relu,
maximum) and from zeros of log/div/pow bases. Pass criterion: ‖g − ĝ‖/(‖g‖ + ‖ĝ‖) < 1e-8.
"""

from __future__ import annotations

import _fd as fd
import numpy as np
import pytest
import strategies as S
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import Tensor

TOL = 1e-8
ATOL = 1e-11
FIXED_PAIRS = [((3, 4), (3, 1)), ((3, 1, 4), (2, 4)), ((), (2, 3)), ((2, 3), ()), ((), ()),
               ((1, 4), (3, 1))]


def cotangent(shape: tuple[int, ...]) -> np.ndarray:
    """A fixed random cotangent for outputs of `shape` (same shape -> same values)."""
    return np.random.default_rng([7, *shape]).normal(size=shape)


def check_grad(fn, *arrays: np.ndarray, h: float = 1e-3, tol: float = TOL) -> None:
    """Tape gradient of Σ c ⊙ fn(*inputs) against central differences, for every input."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]  # private, contiguous copies
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert isinstance(out, Tensor) and out.requires_grad
    cot = cotangent(out.shape)
    out.backward(cot)

    def f(*arrs: np.ndarray) -> float:
        with mg.no_grad():
            return float(np.sum(fn(*[Tensor(a) for a in arrs]).data * cot))

    numeric = fd.numeric_grads(f, arrays, h=h)
    for i, (t, num) in enumerate(zip(tensors, numeric)):
        g = np.zeros_like(num) if t.grad is None else t.grad
        assert g.shape == num.shape, f"input {i}: grad shape {g.shape}, input shape {num.shape}"
        err = fd.rel_error(g, num)
        # When the true gradient is exactly 0, ĝ is pure rounding noise (~1e-15) and the relative
        # error is meaningless: accept an absolute error far below any real mistake.
        assert err < tol or np.linalg.norm(g - num) < ATOL, (
            f"input {i} (shape {num.shape}): relative error {err:.3e}\n"
            f"tape:\n{g}\nfinite differences:\n{num}")


# ------------------------------------------------------------------------ element-wise binary

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": mg.maximum,
}


def operands(op: str, sa: tuple, sb: tuple) -> st.SearchStrategy:
    if op == "div":
        return st.tuples(S.arrays(sa), S.nonzero_arrays(sb, 0.7, 2.0))
    if op == "pow":  # base > 0 (∂/∂b = z log a), exponent of either sign
        return st.tuples(S.arrays(sa, 0.5, 2.0), S.arrays(sb, -2.0, 2.5))
    if op == "maximum":
        return S.grid_pair(sa, sb)
    return st.tuples(S.arrays(sa), S.arrays(sb))


@pytest.mark.parametrize("op", list(BINARY))
@settings(max_examples=25)
@given(data=st.data())
def test_binary_ops_broadcast_random_shapes(op, data):
    sa, sb = data.draw(S.broadcast_pair(), label="shapes")
    a, b = data.draw(operands(op, sa, sb), label="values")
    check_grad(BINARY[op], a, b)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize(("sa", "sb"), FIXED_PAIRS)
@settings(max_examples=4)
@given(data=st.data())
def test_binary_ops_named_broadcast_pairs(op, sa, sb, data):
    a, b = data.draw(operands(op, sa, sb))
    check_grad(BINARY[op], a, b)


def test_bias_broadcast_gradient_is_column_sum():
    # (n_a, m) + (n_a, 1): the bias gets the gradient summed over the m columns, exactly.
    z = Tensor(np.ones((3, 5)), requires_grad=True)
    b = Tensor(np.zeros((3, 1)), requires_grad=True)
    c = np.arange(15.0).reshape(3, 5)
    (z + b).backward(c)
    np.testing.assert_array_equal(b.grad, c.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(z.grad, c)


@pytest.mark.parametrize("p", [2, 3, -1, 0.5, -1.5, 1.7, 1])
@settings(max_examples=15)
@given(data=st.data())
def test_pow_const_exponent(p, data):
    shape = data.draw(S.shapes())
    if float(p).is_integer():
        x = data.draw(S.nonzero_arrays(shape, 0.5, 2.0))
    else:
        x = data.draw(S.arrays(shape, 0.5, 2.0))
    check_grad(lambda t: t**p, x)


@settings(max_examples=20)
@given(data=st.data())
def test_rpow_number_and_array_base(data):
    shape = data.draw(S.shapes())
    x = data.draw(S.arrays(shape, -1.5, 1.5))
    base = data.draw(S.arrays(shape, 0.5, 2.0))
    check_grad(lambda t: 2.5**t, x)
    check_grad(lambda t: base**t, x)


# ------------------------------------------------------------------------------ unary

UNARY = {
    "neg": (lambda t: -t, S.arrays),
    "sigmoid": (mg.sigmoid, lambda s: S.arrays(s, -4.0, 4.0)),
    "tanh": (mg.tanh, lambda s: S.arrays(s, -3.0, 3.0)),
    "relu": (mg.relu, lambda s: S.nonzero_arrays(s, 0.1, 2.0)),
    "exp": (mg.exp, S.arrays),
    "log": (mg.log, lambda s: S.arrays(s, 0.5, 3.0)),
}


@pytest.mark.parametrize("op", list(UNARY))
@settings(max_examples=25)
@given(data=st.data())
def test_unary_ops(op, data):
    fn, values = UNARY[op]
    x = data.draw(values(data.draw(S.shapes(max_dims=3))))
    check_grad(fn, x)


def test_sigmoid_gradient_above_numba_threshold():
    # Large arrays take the NumPy twin of the kernels: check that path too (2 probes only).
    x = np.linspace(-4, 4, 5000)
    t = Tensor(x, requires_grad=True)
    mg.sigmoid(t).backward(cotangent(x.shape))
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(t.grad, cotangent(x.shape) * s * (1 - s), rtol=1e-12)


# ------------------------------------------------------------------------------ matmul


@settings(max_examples=40)
@given(data=st.data())
def test_matmul_all_cases(data):
    sa, sb = data.draw(S.matmul_shapes(), label="shapes")
    a = data.draw(S.arrays(sa))
    b = data.draw(S.arrays(sb))
    check_grad(lambda x, y: x @ y, a, b)
    check_grad(mg.matmul, a, b)


def test_rnn_step_composition():
    # a⟨t⟩ = tanh(W_a [a⟨t−1⟩; x⟨t⟩] + b_a): the notes' step, with bias broadcasting.
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) for s in [(4, 7), (4, 3), (3, 3), (4, 1)]]
    check_grad(lambda w, a, x, b: mg.tanh(w @ mg.concat([a, x]) + b), *arrays)


# ------------------------------------------------------------------------------ reductions


@pytest.mark.parametrize("op", ["sum", "mean"])
@settings(max_examples=25)
@given(data=st.data())
def test_sum_mean(op, data):
    shape = data.draw(S.shapes(max_dims=3))
    axis = data.draw(S.reduce_axes(shape.__len__()), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    x = data.draw(S.arrays(shape))
    check_grad(lambda t: getattr(mg, op)(t, axis=axis, keepdims=keepdims), x)
    check_grad(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_numpy_integer_axis(op):
    x = np.arange(6.0).reshape(2, 3)
    check_grad(lambda t: getattr(mg, op)(t, axis=np.int64(1)), x)


# ---------------------------------------------------------------------- maximum, where


@settings(max_examples=20)
@given(data=st.data())
def test_maximum_with_number(data):
    x = data.draw(S.grid_pair(data.draw(S.shapes()), ()))[0]
    check_grad(lambda t: mg.maximum(t, 0.0), x)
    check_grad(lambda t: mg.maximum(0.0, t), x)


@settings(max_examples=25)
@given(data=st.data())
def test_where_broadcast(data):
    sc, sa, sb = data.draw(S.broadcast_triple(), label="shapes")
    cond = data.draw(hnp.arrays(np.bool_, sc), label="cond")
    a, b = data.draw(S.arrays(sa)), data.draw(S.arrays(sb))
    check_grad(lambda x, y: mg.where(cond, x, y), a, b)


# ------------------------------------------------------------------ softmax, log_softmax


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@settings(max_examples=25)
@given(data=st.data())
def test_softmax_family(op, data):
    shape = data.draw(S.shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = data.draw(S.arrays(shape, -3.0, 3.0))
    check_grad(lambda t: getattr(mg, op)(t, axis=axis), x)


# --------------------------------------------------------------------------- shape ops


@settings(max_examples=25)
@given(data=st.data())
def test_reshape(data):
    shape = data.draw(S.shapes())
    size = int(np.prod(shape))
    target = data.draw(st.sampled_from([(-1,), (size, 1), (1, size), shape[::-1], (*shape, 1)]))
    x = data.draw(S.arrays(shape))
    check_grad(lambda t: t.reshape(target), x)
    check_grad(lambda t: t.reshape(*target), x)


@settings(max_examples=25)
@given(data=st.data())
def test_transpose_and_T(data):
    shape = data.draw(S.shapes(max_dims=4))
    perm = tuple(data.draw(st.permutations(range(len(shape))), label="axes"))
    x = data.draw(S.arrays(shape))
    check_grad(lambda t: t.transpose(perm), x)
    check_grad(lambda t: t.transpose(*perm), x)
    check_grad(lambda t: t.transpose(), x)
    check_grad(lambda t: t.T, x)


@pytest.mark.parametrize("axes", [(-1, 0), (0, -1), (-1, 0, 1), (0, -1, 1)])
def test_transpose_negative_axes(axes):
    shape = (3, 3) if len(axes) == 2 else (2, 3, 4)
    x = np.random.default_rng(0).normal(size=shape)
    check_grad(lambda t: t.transpose(axes), x)


@settings(max_examples=25)
@given(data=st.data())
def test_basic_indexing(data):
    shape = data.draw(S.shapes(min_dims=1))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True), label="index")
    x = data.draw(S.arrays(shape))
    check_grad(lambda t: t[index], x)


@settings(max_examples=25)
@given(data=st.data())
def test_integer_array_indexing_with_repeats(data):
    shape = data.draw(S.shapes(min_dims=1))
    rows = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
    tuple_index = data.draw(hnp.integer_array_indices(shape), label="tuple index")
    x = data.draw(S.arrays(shape))
    check_grad(lambda t: t[np.array(rows)], x)
    check_grad(lambda t: t[rows], x)
    check_grad(lambda t: t[tuple_index], x)
    if len(shape) >= 2:
        cols = data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=1, max_size=6))
        check_grad(lambda t: t[:, cols], x)


def test_repeated_index_scatter_adds_exactly():
    # W[:, ids] picks columns by token id; a repeated id must get the sum of its gradients.
    w = Tensor(np.zeros((2, 3)), requires_grad=True)
    w[:, [2, 0, 2, 2]].backward(np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]))
    np.testing.assert_array_equal(w.grad, [[2.0, 0.0, 8.0], [6.0, 0.0, 20.0]])


@settings(max_examples=25)
@given(data=st.data())
def test_boolean_mask_indexing(data):
    shape = data.draw(S.shapes(min_dims=1))
    mask = data.draw(hnp.arrays(np.bool_, shape), label="mask")
    rows = data.draw(hnp.arrays(np.bool_, shape[:1]), label="row mask")
    x = data.draw(S.arrays(shape))
    check_grad(lambda t: t[mask], x)
    check_grad(lambda t: t[rows], x)


@settings(max_examples=25)
@given(case=S.concat_case(), data=st.data())
def test_concat(case, data):
    shapes, axis = case
    xs = [data.draw(S.arrays(s)) for s in shapes]
    check_grad(lambda *ts: mg.concat(list(ts), axis=axis), *xs)


@settings(max_examples=25)
@given(data=st.data())
def test_stack(data):
    shape = data.draw(S.shapes(max_dims=3))
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    xs = [data.draw(S.arrays(shape)) for _ in range(data.draw(st.integers(1, 3)))]
    check_grad(lambda *ts: mg.stack(ts, axis=axis), *xs)


@settings(max_examples=25)
@given(data=st.data())
def test_split(data):
    shape = data.draw(S.shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    n = shape[axis]
    sections = data.draw(st.one_of(
        st.sampled_from([k for k in range(1, n + 1) if n % k == 0]),
        st.lists(st.integers(0, n), max_size=3).map(sorted)), label="sections")
    x = data.draw(S.arrays(shape))

    def f(t):
        pieces = mg.split(t, sections, axis=axis)
        assert sum(p.shape[axis] for p in pieces) == n
        weights = [np.random.default_rng([9, i, *p.shape]).normal(size=p.shape)
                   for i, p in enumerate(pieces)]
        return mg.sum(mg.stack([(p * w).sum() for p, w in zip(pieces, weights)]))

    check_grad(f, x)


def test_contiguous_copies_strided_views_only():
    W = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    block = mg.contiguous(W[:, :2])
    assert block.data.flags.c_contiguous and not np.shares_memory(block.data, W.data)
    np.testing.assert_array_equal(block.data, W.data[:, :2])
    (block * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(W.grad, [[0, 1, 0, 0], [2, 3, 0, 0], [4, 5, 0, 0]])
    row = mg.contiguous(W[1])                  # already contiguous: no copy, still on the tape
    assert np.shares_memory(row.data, W.data) and row.requires_grad
    check_grad(lambda w: (mg.contiguous(w.T) * w.T).sum(), np.arange(6.0).reshape(2, 3))


def test_split_with_indices_that_go_backwards_like_np_split():
    x = Tensor(np.arange(5.0), requires_grad=True)
    pieces = mg.split(x, [3, 1])         # np.split: x[0:3], x[3:1] (empty), x[1:5]
    assert [p.shape for p in pieces] == [(3,), (0,), (4,)]
    ((pieces[0] * 1.0).sum() + (pieces[2] * 2.0).sum()).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 3.0, 3.0, 2.0, 2.0])


# ------------------------------------------------------------------------------- losses

REDUCTIONS = ["notes", "sum", "mean"]
LOSS_SHAPES = st.sampled_from([(1, 4), (3, 2), (2, 3, 4), (1, 1, 1), (4, 1, 2)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=15)
@given(shape=LOSS_SHAPES, data=st.data())
def test_binary_cross_entropy(reduction, shape, data):
    y_hat = data.draw(S.arrays(shape, 0.2, 0.8), label="y_hat")
    y_hard = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    y_soft = data.draw(S.arrays(shape, 0.0, 1.0), label="y_soft")
    check_grad(lambda p: mg.binary_cross_entropy(p, y_hard, reduction=reduction), y_hat, h=5e-4)
    check_grad(lambda p, y: mg.binary_cross_entropy(p, y, reduction=reduction), y_hat, y_soft,
               h=5e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=15)
@given(shape=LOSS_SHAPES, data=st.data())
def test_binary_cross_entropy_with_logits(reduction, shape, data):
    z = data.draw(S.arrays(shape, -4.0, 4.0), label="z")
    y_soft = data.draw(S.arrays(shape, 0.0, 1.0), label="y_soft")
    check_grad(lambda p: mg.binary_cross_entropy_with_logits(p, y_soft, reduction=reduction), z)
    check_grad(lambda p, y: mg.binary_cross_entropy_with_logits(p, y, reduction=reduction), z,
               y_soft)


def test_bce_with_logits_is_bce_of_sigmoid_and_stays_finite():
    rng = np.random.default_rng(5)
    z, y = rng.normal(size=(3, 4, 5)) * 3, rng.uniform(0, 1, (3, 4, 5))
    zt, zt2 = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    J = mg.binary_cross_entropy_with_logits(zt, y)
    J2 = mg.binary_cross_entropy(mg.sigmoid(zt2), y)
    assert J.item() == pytest.approx(J2.item(), rel=1e-13)
    J.backward()
    J2.backward()
    np.testing.assert_allclose(zt.grad, zt2.grad, rtol=1e-11, atol=1e-15)
    far = Tensor(np.array([[-800.0, 800.0]]), requires_grad=True)   # σ = 0 and 1 exactly
    J = mg.binary_cross_entropy_with_logits(far, np.array([[1.0, 0.0]]), reduction="sum")
    J.backward()
    assert J.item() == pytest.approx(1600.0) and np.array_equal(far.grad, [[-1.0, 1.0]])
    zc = Tensor(z, requires_grad=True)
    assert mg.gradcheck(lambda: mg.binary_cross_entropy_with_logits(zc, y), zc, mode="complex")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=15)
@given(shape=LOSS_SHAPES, data=st.data())
def test_cross_entropy(reduction, shape, data):
    logits = data.draw(S.arrays(shape, -3.0, 3.0), label="logits")
    classes = data.draw(hnp.arrays(np.int64, shape[1:], elements=st.integers(0, shape[0] - 1)))
    y = (np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1)) == classes).astype(float)
    check_grad(lambda z: mg.cross_entropy(z, y, reduction=reduction), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_one_op_equals_the_composed_form(reduction):
    rng = np.random.default_rng(11)
    z = rng.normal(size=(5, 3, 4)) * 4
    y = rng.dirichlet(np.ones(5), size=(3, 4)).transpose(2, 0, 1)   # soft targets, Σ_units = 1
    zt, zt2 = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    yt = Tensor(y, requires_grad=True)                                  # forces the composed form
    J = mg.cross_entropy(zt, y, reduction=reduction)
    J2 = mg.cross_entropy(zt2, yt, reduction=reduction)
    assert mg.show_tape(J, print_it=False)[-1].name == "cross_entropy"
    assert J.item() == pytest.approx(J2.item(), rel=1e-13)
    J.backward()
    J2.backward()
    np.testing.assert_allclose(zt.grad, zt2.grad, rtol=1e-12, atol=1e-16)
    scale = {"notes": 1 / 3, "sum": 1.0, "mean": 1 / z.size}[reduction]
    lsm = z - z.max(axis=0) - np.log(np.exp(z - z.max(axis=0)).sum(axis=0))
    np.testing.assert_allclose(yt.grad, -lsm * scale, rtol=1e-12)
    zc = Tensor(z, requires_grad=True)
    assert mg.gradcheck(lambda: mg.cross_entropy(zc, y, reduction=reduction), zc, mode="complex")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=15)
@given(shape=LOSS_SHAPES, data=st.data())
def test_mse(reduction, shape, data):
    a, b = data.draw(S.arrays(shape)), data.draw(S.arrays(shape))
    check_grad(lambda p, y: mg.mse(p, y, reduction=reduction), a, b)


def test_loss_values_follow_the_reduction_rule():
    rng = np.random.default_rng(3)
    p, y = rng.uniform(0.1, 0.9, (2, 5, 3)), rng.uniform(0, 1, (2, 5, 3))
    el = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    for red, want in [("notes", el.sum() / 5), ("sum", el.sum()), ("mean", el.mean())]:
        got = mg.binary_cross_entropy(Tensor(p), y, reduction=red).item()
        assert got == pytest.approx(want, rel=1e-13), red
    z = rng.normal(size=(4, 5, 3))
    onehot = np.eye(4)[rng.integers(0, 4, (5, 3))].transpose(2, 0, 1)
    lsm = z - np.log(np.exp(z).sum(axis=0, keepdims=True))
    ce = -(onehot * lsm)
    for red, want in [("notes", ce.sum() / 5), ("sum", ce.sum()), ("mean", ce.mean())]:
        got = mg.cross_entropy(Tensor(z), onehot, reduction=red).item()
        assert got == pytest.approx(want, rel=1e-13), red
    assert mg.mse(Tensor(p), y).item() == pytest.approx(((p - y) ** 2).mean(), rel=1e-13)
    assert mg.mse(Tensor(p), y, reduction="notes").item() == pytest.approx(
        ((p - y) ** 2).sum() / 5, rel=1e-13)
