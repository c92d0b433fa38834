"""Shape ops beyond reshape/transpose: axes (expand_dims … broadcast_to), arrangement (tile …
trace), integer/boolean indexing, concat/stack, `.T` and `.reshape(-1)`.

Each op: values equal NumPy's, float64 gradients of Σ c ⊙ f(x) on every element against
central differences (relative error < 1e-8, as in test_ops_grad.py), NumPy dispatch
(`np.flip(t)` records the op), the Tensor methods, and errors naming the op and the shapes;
second derivatives (`create_graph=True`) against finite differences of the first: every
element on fixed small cases, along a random direction over Hypothesis cases.
"""

from __future__ import annotations

import _fd as fd
import numpy as np
import pytest
import strategies as S
from _higher import check_grad2
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import Tensor
from minigrad.ops.arrange import PAD_MODES
from minigrad.ops.indexing import scatter_add

TOL, ATOL = 1e-8, 1e-11


def cotangent(shape: tuple[int, ...]) -> np.ndarray:
    """A fixed random cotangent for outputs of `shape`."""
    return np.random.default_rng([11, *shape]).normal(size=shape)


def check(fn, ref, *arrays: np.ndarray) -> None:
    """fn(*tensors) equals ref(*arrays) (NumPy) exactly, and the tape gradient of Σ c ⊙ fn
    matches central differences on every element of every input."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert isinstance(out, Tensor) and out.requires_grad
    expected = ref(*arrays)
    assert out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.data, expected)
    cot = cotangent(out.shape)
    out.backward(cot)

    def f(*arrs: np.ndarray) -> float:
        with mg.no_grad():
            return float(np.sum(fn(*[Tensor(a) for a in arrs]).data * cot))

    for i, (t, num) in enumerate(zip(tensors, fd.numeric_grads(f, arrays))):
        g = np.zeros_like(num) if t.grad is None else t.grad
        assert g.shape == num.shape
        err = fd.rel_error(g, num)
        assert err < TOL or np.linalg.norm(g - num) < ATOL, (
            f"input {i} (shape {num.shape}): relative error {err:.3e}\ntape:\n{g}\nfd:\n{num}")


def axis_of(draw, ndim: int, none: bool = True):
    """None, or an int in [-ndim, ndim)."""
    choices = ([None] if none else []) + list(range(-ndim, ndim))
    return draw(st.sampled_from(choices))


# ------------------------------------------------------------------------ arrangement ops

@st.composite
def arrange_case(draw, op: str):
    """(shape, fn(module, x)) for `op`, with NumPy-style arguments drawn for the shape."""
    if op in ("diagonal", "trace"):
        shape = draw(S.shapes(min_dims=2, max_dims=3))
    elif op in ("triu", "tril"):
        shape = draw(S.shapes(min_dims=1, max_dims=3))
    elif op == "diag":
        shape = draw(S.shapes(min_dims=1, max_dims=2))
    else:
        shape = draw(S.shapes(min_dims=0, max_dims=3))
    nd = len(shape)
    if op == "tile":
        reps = draw(st.one_of(st.integers(0, 3), st.tuples(*[st.integers(0, 3)] *
                                                           draw(st.integers(0, 4)))))
        return shape, lambda m, x: m.tile(x, reps)
    if op == "repeat":
        axis = axis_of(draw, nd) if nd else None
        n = int(np.prod(shape)) if axis is None else shape[axis]
        reps = draw(st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), min_size=n,
                                                           max_size=n)))
        return shape, lambda m, x: m.repeat(x, reps, axis=axis)
    if op == "flip":
        axis = draw(st.one_of(st.none(), st.lists(st.integers(0, nd - 1), unique=True)
                              .map(tuple))) if nd else None
        axis = axis_of(draw, nd) if nd and draw(st.booleans()) else axis
        return shape, lambda m, x: m.flip(x, axis)
    if op == "roll":
        if nd and draw(st.booleans()):
            axes = tuple(draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=3)))
            shift = tuple(draw(st.integers(-6, 6)) for _ in axes)
            return shape, lambda m, x: m.roll(x, shift, axes)
        shift = draw(st.integers(-6, 6))
        return shape, lambda m, x: m.roll(x, shift)
    if op == "pad":
        mode = draw(st.sampled_from(PAD_MODES))
        pair = st.tuples(st.integers(0, 3), st.integers(0, 3))
        width = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3)), pair,
                               st.tuples(*[pair] * nd)))
        if mode != "constant":
            return shape, lambda m, x: m.pad(x, width, mode=mode)
        value = draw(st.one_of(st.floats(-2, 2), st.tuples(*[st.tuples(st.floats(-2, 2),
                                                                     st.floats(-2, 2))] * nd)))
        return shape, lambda m, x: m.pad(x, width, constant_values=value)
    k = draw(st.integers(-4, 4))
    if op in ("triu", "tril", "diag"):
        return shape, lambda m, x: getattr(m, op)(x, k)
    a1, a2 = draw(st.lists(st.integers(-nd, nd - 1), min_size=2, max_size=2,
                           unique_by=lambda a: a % nd))
    return shape, lambda m, x: getattr(m, op)(x, k, a1, a2)


ARRANGE = ["tile", "repeat", "flip", "roll", "pad", "triu", "tril", "diag", "diagonal", "trace"]


@pytest.mark.parametrize("op", ARRANGE)
@settings(max_examples=30)
@given(data=st.data())
def test_arrange_values_and_gradients(op, data):
    shape, fn = data.draw(arrange_case(op), label="case")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda t: fn(mg, t), lambda a: fn(np, a), x)   # fn(np, ·) is NumPy's own op
    t = Tensor(x, requires_grad=True)
    assert fn(np, t).record.fn is fn(mg, t).record.fn     # np.<op>(t) dispatches to minigrad


def test_repeat_per_element_counts_add_copies():
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    y = x.repeat([2, 0, 3], axis=1)
    assert y.shape == (2, 5)
    y.backward(np.arange(10.0).reshape(2, 5))
    np.testing.assert_array_equal(x.grad, [[0 + 1, 0.0, 2 + 3 + 4], [5 + 6, 0.0, 7 + 8 + 9]])


def test_pad_reflect_copies_add_up():
    x = Tensor(np.zeros(3), requires_grad=True)
    y = mg.pad(x, (2, 1), mode="reflect")     # [x2 x1 | x0 x1 x2 | x1]
    np.testing.assert_array_equal(y.data, np.pad(x.data, (2, 1), mode="reflect"))
    y.backward(np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0]))
    np.testing.assert_array_equal(x.grad, [4.0, 2 + 8 + 32, 1 + 16])


def test_trace_and_diagonal_gradients_are_identity_patterns():
    x = Tensor(np.zeros((3, 4)), requires_grad=True)
    mg.trace(x, 1).backward()
    np.testing.assert_array_equal(x.grad, np.eye(3, 4, 1))
    v = Tensor(np.zeros(2), requires_grad=True)
    mg.diag(v, -1).backward(np.arange(9.0).reshape(3, 3))
    np.testing.assert_array_equal(v.grad, [3.0, 7.0])


def test_methods_and_names_on_the_tape():
    t = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    for method, args, name in [("repeat", (2,), "repeat"), ("diagonal", (1,), "diagonal"),
                               ("trace", (), "trace"), ("flip", (0,), "flip"),
                               ("squeeze", (), "reshape"), ("ravel", (), "reshape"),
                               ("flatten", (), "reshape"), ("swapaxes", (0, 1), "swapaxes")]:
        out = getattr(t, method)(*args)
        ref = np.flip(t.data, *args) if method == "flip" else getattr(t.data, method)(*args)
        np.testing.assert_array_equal(out.data, ref)
        assert out.record.name == name
    assert np.pad(t, 1).record.name == "pad" and np.tril(t).record.name == "tril"


# ------------------------------------------------------------------------------- axes ops

@st.composite
def axes_case(draw, op: str):
    """(shape, fn(module, x)) for an axes op."""
    shape = draw(S.shapes(min_dims=0 if op in ("expand_dims", "ravel", "flatten") else 1))
    nd = len(shape)
    if op == "expand_dims":
        count = draw(st.integers(1, 2))
        axis = draw(st.integers(-nd - 1, nd)) if count == 1 and draw(st.booleans()) else tuple(
            draw(st.lists(st.integers(-nd - count, nd + count - 1), min_size=count,
                          max_size=count, unique_by=lambda a: a % (nd + count))))
        return shape, lambda m, x: m.expand_dims(x, axis)
    if op == "squeeze":
        shape = tuple(draw(st.sampled_from([1, n])) for n in shape)
        ones = [i for i, n in enumerate(shape) if n == 1]
        axis = draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True)
                              .map(tuple))) if ones else None
        return shape, lambda m, x: m.squeeze(x, axis)
    if op in ("ravel", "flatten"):
        return shape, (lambda m, x: m.ravel(x)) if op == "ravel" else (lambda m, x: x.flatten())
    if op == "swapaxes":
        a, b = (draw(st.integers(-nd, nd - 1)) for _ in range(2))
        return shape, lambda m, x: m.swapaxes(x, a, b)
    if op == "moveaxis":
        src = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        dst = draw(st.lists(st.integers(-nd, -1), min_size=len(src), max_size=len(src),
                            unique=True))
        return shape, lambda m, x: m.moveaxis(x, src, dst)
    lead = draw(S.shapes(max_dims=2))                       # broadcast_to
    target = lead + tuple(draw(st.integers(1, 4)) if n == 1 else n for n in shape)
    return shape, lambda m, x: m.broadcast_to(x, target)


AXES = ["expand_dims", "squeeze", "ravel", "flatten", "swapaxes", "moveaxis", "broadcast_to"]


@pytest.mark.parametrize("op", AXES)
@settings(max_examples=25)
@given(data=st.data())
def test_axes_values_and_gradients(op, data):
    shape, fn = data.draw(axes_case(op), label="case")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda t: fn(mg, t), lambda a: fn(np, a), x)
    t = Tensor(x, requires_grad=True)
    assert fn(np, t).record.fn is fn(mg, t).record.fn     # np.<op>(t) dispatches to minigrad


@settings(max_examples=25)
@given(data=st.data())
def test_T_and_reshape_minus_one(data):
    x = data.draw(S.arrays(data.draw(S.shapes(max_dims=4))))
    check(lambda t: t.T, lambda a: a.T, x)
    check(lambda t: t.reshape(-1), lambda a: a.reshape(-1), x)
    check(lambda t: t.reshape(-1, 1), lambda a: a.reshape(-1, 1), x)


# ------------------------------------------------------------------------- indexing, joins

@st.composite
def gather_case(draw):
    """(shape, index) with integer arrays that repeat elements (maybe negative, maybe 2-D)."""
    shape = draw(S.shapes(min_dims=1))
    pick = [hnp.arrays(np.intp, draw(S.shapes(min_dims=1, max_dims=2)),
                       elements=st.integers(-n, n - 1)) for n in shape]
    kind = draw(st.sampled_from(["first", "all", "slice_then_array"]))
    if kind == "first":
        return shape, draw(pick[0])
    if kind == "all":
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=len(shape), max_side=3))
        return shape, tuple(draw(hnp.arrays(np.intp, s, elements=st.integers(-n, n - 1)))
                            for s, n in zip(shapes.input_shapes, shape))
    return shape, (slice(None), *[draw(p) for p in pick[1:2]])


@settings(max_examples=40)
@given(case=gather_case(), data=st.data())
def test_integer_gather_scatter_adds(case, data):
    shape, index = case
    x = data.draw(S.arrays(shape))
    check(lambda t: t[index], lambda a: a[index], x)
    g = cotangent(x[index].shape)
    expected = np.zeros(shape)
    np.add.at(expected, index, g)
    np.testing.assert_array_equal(scatter_add(g, index, shape), expected)


@pytest.mark.parametrize("index", [
    (np.array([0, 1, 2]), np.array([1, 1, 1])),   # rows distinct: assignment suffices
    (np.array([0, 0, 1]), np.array([1, 1, 2])),   # a pair twice: must add
    (Ellipsis, np.array([2, 2]), np.array([0, 0])),
    (np.array([-1, 2]), np.array([0, 0])),         # -1 is row 2: must add
])
def test_scatter_add_matches_add_at(index):
    g = np.arange(1.0, 1.0 + np.zeros((3, 4))[index].size).reshape(np.zeros((3, 4))[index].shape)
    expected = np.zeros((3, 4))
    np.add.at(expected, index, g)
    np.testing.assert_array_equal(scatter_add(g, index, (3, 4)), expected)


@settings(max_examples=30)
@given(data=st.data())
def test_boolean_masks_and_t_gt_0(data):
    shape = data.draw(S.shapes(min_dims=1))
    x = data.draw(S.nonzero_arrays(shape, 0.1, 2.0))
    mask = data.draw(hnp.arrays(np.bool_, shape[:data.draw(st.integers(1, len(shape)))]))
    check(lambda t: t[mask], lambda a: a[mask], x)
    check(lambda t: t[t > 0], lambda a: a[a > 0], x)
    check(lambda t: t[np.logical_not(t > 0)] * 2.0, lambda a: a[a <= 0] * 2.0, x)


@settings(max_examples=25)
@given(case=S.concat_case(), data=st.data())
def test_concat_and_stack_any_axis(case, data):
    shapes, axis = case
    xs = [data.draw(S.arrays(s)) for s in shapes]
    check(lambda *ts: mg.concat(list(ts), axis=axis), lambda *a: np.concatenate(a, axis), *xs)
    check(lambda *ts: np.concatenate(ts, axis=axis), lambda *a: np.concatenate(a, axis), *xs)
    same = [data.draw(S.arrays(shapes[0])) for _ in shapes]
    new = data.draw(st.integers(-len(shapes[0]) - 1, len(shapes[0])), label="stack axis")
    check(lambda *ts: mg.stack(ts, axis=new), lambda *a: np.stack(a, new), *same)


# --------------------------------------------------------------------------------- errors

ERRORS = [
    (lambda x: mg.flip(x, 2), ValueError, ["flip", "axis 2", "(2, 3)"]),
    (lambda x: mg.roll(x, 1, -3), ValueError, ["roll", "axis -3", "(2, 3)"]),
    (lambda x: mg.repeat(x, [1, 2], axis=1), ValueError, ["repeat", "2 counts", "(2, 3)"]),
    (lambda x: mg.repeat(x, 1.5), TypeError, ["repeat", "repeats", "1.5"]),
    (lambda x: mg.tile(x, -1), ValueError, ["tile", "negative"]),
    (lambda x: mg.pad(x, ((1, 1),) * 3), ValueError, ["pad", "pad_width", "(2, 3)"]),
    (lambda x: mg.pad(x, 1, mode="mean"), ValueError, ["pad", "'mean'", "'reflect'"]),
    (lambda x: mg.pad(x, 1, mode="reflect", reflect_type="odd"), ValueError, ["pad", "odd"]),
    (lambda x: mg.diagonal(x, 0, 1, -1), ValueError, ["diagonal", "same axis", "(2, 3)"]),
    (lambda x: mg.trace(x[0]), ValueError, ["trace", "(3,)"]),
    (lambda x: mg.diag(x[None]), ValueError, ["diag", "(1, 2, 3)"]),
    (lambda x: mg.triu(x[0, 0]), ValueError, ["triu", "0-D"]),
    (lambda x: mg.expand_dims(x, 3), ValueError, ["expand_dims", "axis 3", "(2, 3)"]),
    (lambda x: mg.squeeze(x, 0), ValueError, ["squeeze", "(2, 3)", "size 2"]),
    (lambda x: mg.swapaxes(x, 0, 2), ValueError, ["swapaxes", "axis 2", "(2, 3)"]),
    (lambda x: mg.swapaxes(x, (0, 1), 1), TypeError, ["swapaxes", "(0, 1)"]),
    (lambda x: mg.moveaxis(x, (0, 0), (0, 1)), ValueError, ["moveaxis", "repeats", "(2, 3)"]),
    (lambda x: mg.broadcast_to(x, (4, 3)), ValueError, ["broadcast_to", "(2, 3)", "(4, 3)"]),
    (lambda x: x[np.array([0, 2])], IndexError, ["index", "(2, 3)"]),
    (lambda x: x[np.ones((3,), bool)], IndexError, ["index", "(2, 3)", "bool"]),
    (lambda x: mg.scatter_add(x, (np.array([1, 0, 1]),), (2, 3)), ValueError,
     ["scatter_add", "(2, 3)", "array of shape (3,)"]),
    (lambda x: mg.concat([x, x.T], axis=-1), ValueError, ["concat", "(2, 3)", "(3, 2)"]),
    (lambda x: mg.stack([x, x], axis=3), ValueError, ["stack", "axis 3"]),
]


@pytest.mark.parametrize(("call", "kind", "fragments"), ERRORS)
def test_errors_name_the_op_and_shapes(call, kind, fragments):
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(kind) as info:
        call(x)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


# --------------------------------------------------------------------------- second order
# Every op here is linear, so each check cubes its result: the Hessian of Σ c ⊙ L(x)³ is
# Lᵀ diag(6 c ⊙ Lx) L, which runs L's backward on a recorded Tensor and differentiates it.

X23 = np.array([[0.7, -1.3, 0.4], [1.1, -0.6, -1.8]])
SECOND = {
    "tile": lambda t: mg.tile(t, (2, 1, 2)),
    "repeat": lambda t: mg.repeat(t, 2, axis=0),
    "repeat_counts": lambda t: t.repeat([2, 0, 3], axis=-1),
    "repeat_flat": lambda t: np.repeat(t, 2),
    "flip": lambda t: mg.flip(t, 1),
    "roll": lambda t: mg.roll(t, (1, -2, 1), (0, 1, 1)),
    "pad_constant": lambda t: mg.pad(t, ((1, 0), (0, 2)), constant_values=1.5),
    "pad_reflect": lambda t: mg.pad(t, (3, 1), mode="reflect"),
    "pad_edge": lambda t: np.pad(t, 1, mode="edge"),
    "triu": lambda t: mg.triu(t, 1),
    "tril_1d": lambda t: mg.tril(t[0], -1),
    "diag_1d": lambda t: mg.diag(t[1], -1),
    "diag_2d": lambda t: mg.diag(t, 1),
    "diagonal": lambda t: mg.diagonal(t.reshape(3, 1, 2), 0, 2, 0),
    "trace": lambda t: mg.trace(t, -1) + t.trace(1),
    "gather_2d": lambda t: t[np.array([[0, 1], [1, 1]]), np.array([2, -1])],
    "gather_cols": lambda t: t[:, [2, 0, 2]],
    "mask": lambda t: t[t > 0],
    "scatter_add": lambda t: mg.scatter_add(t, (np.array([1, 1]), slice(None)), (2, 3)),
    "scatter_pairs": lambda t: mg.scatter_add(t[0], (np.array([0, 0, 1]),
                                                     np.array([1, 1, 2])), (2, 3)),
}


@pytest.mark.parametrize("name", list(SECOND))
def test_second_order_every_element(name):
    check_grad2(lambda t: SECOND[name](t) ** 3, X23)


@pytest.mark.parametrize("op", ARRANGE)
@settings(max_examples=8)
@given(data=st.data())
def test_arrange_second_order_along_a_direction(op, data):
    shape, fn = data.draw(arrange_case(op), label="case")
    check_grad2(lambda t: fn(mg, t) ** 3, data.draw(S.arrays(shape), label="x"),
                directional=True)


@pytest.mark.parametrize("op", AXES)
@settings(max_examples=5)
@given(data=st.data())
def test_axes_second_order_along_a_direction(op, data):
    shape, fn = data.draw(axes_case(op), label="case")
    check_grad2(lambda t: fn(mg, t) ** 3, data.draw(S.arrays(shape), label="x"),
                directional=True)


@settings(max_examples=15)
@given(case=gather_case(), data=st.data())
def test_gather_second_order_along_a_direction(case, data):
    shape, index = case
    check_grad2(lambda t: t[index] ** 3, data.draw(S.arrays(shape)), directional=True)
