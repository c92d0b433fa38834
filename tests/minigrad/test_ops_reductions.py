"""Reductions and scans: max min prod cumsum cumprod var std logsumexp norm.

Float64 gradients on every element against finite differences (`check_grad`, over Hypothesis
shapes, axes and keepdims); values against NumPy; exact gradients at the points where a choice
is made (ties, zeros in prod, zero variance, the zero vector); NumPy dispatch, Tensor methods,
dtypes and complex input as the module documents them. Second order (`check_grad2`: the
backward recorded with create_graph, differentiated again, against finite differences of the
first-order gradient): along a random direction in every Hypothesis case, on every element in
fixed small cases (end of file), and exact values at the kinks and for a third derivative.
"""

from __future__ import annotations

import numpy as np
import pytest
import strategies as S
from _higher import check_grad2
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_grad import check_grad, cotangent

import minigrad as mg
from minigrad import Tensor
from minigrad.ops import reductions

# ---------------------------------------------------------------- values for each op's checks


@st.composite
def distinct(draw: st.DrawFn, shape: tuple[int, ...], signed: bool = False) -> np.ndarray:
    """Values on a grid of step 0.25 plus noise in ±0.05: at least 0.15 apart (no ties, none
    within the probes' 2h of another); `signed`: |x| ≥ 0.2, distinct, with random signs."""
    size = int(np.prod(shape))
    order = np.array(draw(st.permutations(range(size))), dtype=float)
    noise = draw(S.arrays((size,), -0.05, 0.05))
    if not signed:
        return (0.25 * (order - size / 2) + noise).reshape(shape)
    signs = np.where(draw(S.arrays((size,), -1.0, 1.0)) < 0, -1.0, 1.0)
    return (signs * (0.25 + 0.25 * order + noise)).reshape(shape)


@st.composite
def reduction_case(draw: st.DrawFn) -> tuple[tuple[int, ...], object, bool]:
    shape = draw(S.shapes(max_dims=3), label="shape")
    return shape, draw(S.reduce_axes(len(shape)), label="axis"), draw(st.booleans(), label="kd")


# name -> (values strategy for a shape, the minigrad call, the NumPy reference)
REDUCTIONS = {
    "max": (distinct, mg.max, np.max),
    "min": (distinct, mg.min, np.min),
    "prod": (lambda s: S.arrays(s, -1.5, 1.5), mg.prod, np.prod),
    "var": (distinct, mg.var, np.var),
    "std": (distinct, mg.std, np.std),
    "logsumexp": (lambda s: S.arrays(s, -3.0, 3.0), mg.logsumexp,
                  lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis,
                                                          keepdims=keepdims))),
}


@pytest.mark.parametrize("op", list(REDUCTIONS))
@settings(max_examples=40)
@given(data=st.data())
def test_reduction_gradients_and_values(op, data):
    values, fn, ref = REDUCTIONS[op]
    shape, axis, keepdims = data.draw(reduction_case())
    x = data.draw(values(shape), label="x")
    kw = {"axis": axis, "keepdims": keepdims}
    if op in ("var", "std"):  # any ddof < N
        n = x.size // np.size(np.sum(x, axis=axis))
        kw["ddof"] = data.draw(st.integers(0, n - 1), label="ddof")
    out = fn(Tensor(x), **kw)
    np.testing.assert_allclose(out.data, ref(x, **kw), rtol=1e-12, atol=1e-14)
    assert out.shape == np.shape(ref(x, **kw))
    check_grad(lambda t: fn(t, **kw), x)
    check_grad(lambda t: getattr(t, op)(**kw), x)  # the Tensor method
    check_grad2(lambda t: fn(t, **kw), x, directional=True)


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@settings(max_examples=30)
@given(data=st.data())
def test_scans_gradients_and_values(op, data):
    shape = data.draw(S.shapes(max_dims=3), label="shape")
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1))
                     if shape else st.none(), label="axis")
    x = data.draw(S.arrays(shape, -1.5, 1.5), label="x")
    np.testing.assert_allclose(getattr(mg, op)(x, axis=axis).data, getattr(np, op)(x, axis=axis),
                               rtol=1e-12, atol=1e-14)
    check_grad(lambda t: getattr(mg, op)(t, axis=axis), x)
    check_grad(lambda t: getattr(t, op)(axis), x)
    check_grad2(lambda t: getattr(mg, op)(t, axis=axis), x, directional=True)


@settings(max_examples=20)
@given(data=st.data())
def test_scan_recurrence_both_directions(data):
    # hₖ = aₖ h_{k∓1} + bₖ: cumprod's backward; its own backward is the scan the other way.
    shape = data.draw(S.shapes(min_dims=1, max_dims=3), label="shape")
    axis, reverse = data.draw(st.integers(0, len(shape) - 1)), data.draw(st.booleans())
    a, b = data.draw(S.arrays(shape, -1.5, 1.5)), data.draw(S.arrays(shape))
    h, am, bm = np.zeros_like(b), np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    hm = np.moveaxis(h, axis, 0)
    steps = range(len(hm) - 1, -1, -1) if reverse else range(len(hm))
    prev = 0.0
    for k in steps:
        hm[k] = am[k] * prev + bm[k]
        prev = hm[k]
    np.testing.assert_allclose(reductions.scan(a, b, axis, reverse), h, rtol=1e-12, atol=1e-14)
    check_grad(lambda s, t: reductions.scan(s, t, axis, reverse), a, b)
    check_grad2(lambda s, t: reductions.scan(s, t, axis, reverse), a, b, directional=True)


@st.composite
def norm_case(draw: st.DrawFn) -> tuple[np.ndarray, dict]:
    """x and the arguments of a supported norm: vector ord on an axis or on a 1-D x, 'fro' on
    two axes or a 2-D x, ord None over every axis of any x."""
    kind = draw(st.sampled_from(["vector", "vector 1-D", "matrix", "matrix 2-D", "all"]))
    keepdims = draw(st.booleans())
    if kind.startswith("vector"):
        shape = draw(S.shapes(min_dims=1, max_dims=1 if kind.endswith("1-D") else 3))
        axis = None if kind.endswith("1-D") else draw(st.integers(-len(shape), len(shape) - 1))
        ord_ = draw(st.sampled_from([None, 1, 2, np.inf, -np.inf]))
    elif kind.startswith("matrix"):
        shape = draw(S.shapes(min_dims=2, max_dims=2 if kind.endswith("2-D") else 3))
        axis = None if kind.endswith("2-D") else tuple(draw(st.permutations(
            range(-len(shape), 0)))[:2])
        ord_ = draw(st.sampled_from([None, "fro"])) if axis is not None else "fro"
    else:
        shape, axis, ord_ = draw(S.shapes(max_dims=3)), None, None
    x = draw(distinct(shape, signed=True))  # away from 0 and no ties in |x|: differentiable
    return x, {"ord": ord_, "axis": axis, "keepdims": keepdims}


@settings(max_examples=60)
@given(case=norm_case())
def test_norm_gradients_and_values(case):
    x, kw = case
    np.testing.assert_allclose(mg.norm(x, **kw).data, np.linalg.norm(x, **kw), rtol=1e-12)
    check_grad(lambda t: mg.norm(t, **kw), x)
    check_grad(lambda t: t.norm(**kw), x)
    check_grad2(lambda t: mg.norm(t, **kw), x, directional=True)


# --------------------------------------------------------------------- the documented choices


def grad_of(fn, x, seed=None) -> np.ndarray:
    t = Tensor(np.array(x, dtype=float), requires_grad=True)
    out = fn(t)
    with np.errstate(all="raise"):  # no 0/0 or x/0 hidden anywhere in the backward
        out.backward(np.ones(out.shape) if seed is None else seed)
    return t.grad


def test_max_min_ties_share_the_gradient_evenly():
    x = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, -1.0], [0.0, -2.0, 4.0, -2.0]])
    np.testing.assert_array_equal(grad_of(lambda t: t.max(axis=1), x),
                                  [[0, 0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(grad_of(lambda t: mg.min(t, axis=-1, keepdims=True), x),
                                  [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0.5, 0, 0.5]])
    every = grad_of(mg.max, np.full((2, 3), 7.0), seed=np.array(6.0))
    np.testing.assert_array_equal(every, np.ones((2, 3)))  # six tied: 6 × 1/6 each


def test_a_nan_maximum_sends_the_gradient_to_the_nans():
    x = np.array([[np.nan, 1.0, np.nan], [3.0, 3.0, 1.0]])  # torch.amax's rule
    np.testing.assert_array_equal(grad_of(lambda t: t.max(axis=1), x),
                                  [[0.5, 0, 0.5], [0.5, 0.5, 0]])


def test_prod_with_one_and_two_zeros_in_the_reduced_axis():
    x = np.array([[2.0, 3.0, 4.0, 5.0], [2.0, 0.0, 3.0, 4.0], [2.0, 0.0, 3.0, 0.0]])
    g = grad_of(lambda t: t.prod(axis=1), x)
    np.testing.assert_array_equal(g, [[60, 40, 30, 24], [0, 24, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(axis=0), x[1:].T.copy()),
                                  [[0, 0], [24, 0], [0, 0], [0, 0]])
    check_grad(lambda t: t.prod(axis=1), x)  # smooth there: differences agree
    check_grad(lambda t: mg.prod(t, axis=(0, 1), keepdims=True), x[1:])


def test_cumprod_with_zeros_is_exact():
    x = np.array([[2.0, 0.0, 3.0, 4.0], [0.0, 3.0, 0.0, 5.0]])
    c = cotangent(x.shape)
    expected = np.zeros_like(x)  # Σ_{k≥i} cₖ Π_{j≤k, j≠i} xⱼ, term by term
    for r in range(2):
        for i in range(4):
            for k in range(i, 4):
                expected[r, i] += c[r, k] * np.prod(np.delete(x[r, : k + 1], i))
    np.testing.assert_allclose(grad_of(lambda t: t.cumprod(axis=1), x, c), expected, rtol=1e-14)
    check_grad(lambda t: mg.cumprod(t, axis=1), x)


def test_std_gradient_is_zero_at_zero_variance():
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0], [0.1, 0.1, 0.1]])  # NumPy's s ≈ 1e-17 on 0.1s
    for ddof in (0, 1):
        g = grad_of(lambda t, d=ddof: mg.std(t, axis=1, ddof=d), x)
        np.testing.assert_array_equal(g[[0, 2]], 0.0)
        dev = x[1] - x[1].mean()
        np.testing.assert_allclose(g[1], dev / ((3 - ddof) * np.std(x[1], ddof=ddof)), rtol=1e-14)
    np.testing.assert_array_equal(grad_of(mg.std, np.full(4, 3.0)), 0.0)
    np.testing.assert_array_equal(grad_of(mg.var, np.full(4, 3.0)), 0.0)


@pytest.mark.parametrize("kw", [{}, {"ord": 2}, {"ord": 1}, {"ord": np.inf}, {"ord": -np.inf}])
def test_vector_norm_gradient_at_zero_is_zero(kw):
    np.testing.assert_array_equal(grad_of(lambda t: mg.norm(t, **kw), np.zeros(3)), 0.0)
    x = np.array([[0.0, 0.0], [3.0, -4.0]])  # one zero row, one not
    g = grad_of(lambda t: mg.norm(t, axis=1, **kw), x)
    np.testing.assert_array_equal(g[0], 0.0)
    expected = {2: [0.6, -0.8], 1: [1, -1], np.inf: [0, -1], -np.inf: [1, 0]}[kw.get("ord", 2)]
    np.testing.assert_allclose(g[1], expected, rtol=1e-15)


def test_frobenius_norm_at_zero_and_norm_ties():
    np.testing.assert_array_equal(grad_of(lambda t: mg.norm(t, "fro"), np.zeros((2, 3))), 0.0)
    g = grad_of(lambda t: mg.norm(t, np.inf), np.array([-2.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [-0.5, 0.0, 0.5])  # |x| tied: the sign's share each


def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [-np.inf, 0.0]])
    out = mg.logsumexp(x, axis=1)
    np.testing.assert_allclose(out.data, [1000 + np.log(2), -1000 + np.log(2), 0.0], rtol=1e-15)
    # exp(x − l) with l = ±1000 + log 2 rounded to its ulp (1.1e-13): 1e-12 relative
    np.testing.assert_allclose(grad_of(lambda t: mg.logsumexp(t, axis=1), x),
                               [[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]], rtol=1e-12)


# ----------------------------------------------------------- NumPy dispatch, methods, dtypes


DISPATCH = [
    (np.max, mg.max, {"axis": 0}), (np.amax, mg.max, {"axis": -1, "keepdims": True}),
    (np.min, mg.min, {}), (np.amin, mg.min, {"axis": (0, 1)}),
    (np.prod, mg.prod, {"axis": 1}), (np.cumsum, mg.cumsum, {"axis": 0}),
    (np.cumprod, mg.cumprod, {}), (np.var, mg.var, {"axis": 0, "ddof": 1}),
    (np.std, mg.std, {"keepdims": True}), (np.linalg.norm, mg.norm, {"ord": 1, "axis": 1}),
    (np.linalg.norm, mg.norm, {}), (np.sum, mg.sum, {"axis": -1}), (np.mean, mg.mean, {}),
]


@pytest.mark.parametrize(("np_fn", "mg_fn", "kw"), DISPATCH)
def test_numpy_functions_on_tensors_record_the_op(np_fn, mg_fn, kw):
    x = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]])
    a, b = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    ya, yb = np_fn(a, **kw), mg_fn(b, **kw)
    assert isinstance(ya, Tensor) and ya.record is not None
    np.testing.assert_allclose(ya.data, np_fn(x, **kw), rtol=1e-15)
    ya.backward(cotangent(ya.shape))
    yb.backward(cotangent(yb.shape))
    np.testing.assert_array_equal(a.grad, b.grad)


def test_methods_and_positional_axis():
    t = Tensor(np.arange(1.0, 7.0).reshape(2, 3))
    np.testing.assert_array_equal(t.max(0).data, [4, 5, 6])
    np.testing.assert_array_equal(t.min(axis=1).data, [1, 4])
    np.testing.assert_array_equal(t.prod(1).data, [6, 120])
    np.testing.assert_array_equal(t.cumsum().data, np.cumsum(t.data))
    np.testing.assert_array_equal(t.cumprod(-1).data, np.cumprod(t.data, -1))
    np.testing.assert_allclose(t.var(ddof=1).data, np.var(t.data, ddof=1), rtol=1e-15)
    np.testing.assert_allclose(t.std(0).data, np.std(t.data, 0), rtol=1e-15)
    np.testing.assert_allclose(t.logsumexp(1).data, np.log(np.exp(t.data).sum(1)), rtol=1e-15)
    np.testing.assert_allclose(t.norm().data, np.linalg.norm(t.data), rtol=1e-15)


@pytest.mark.parametrize("op", ["max", "min", "prod", "cumsum", "cumprod", "var", "std",
                                "logsumexp", "norm"])
def test_float32_stays_float32(op):
    t = Tensor(np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]], dtype=np.float32),
               requires_grad=True)
    out = getattr(mg, op)(t, axis=1)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert t.grad.dtype == np.float32


# ------------------------------------------------------------------------ complex and errors


@pytest.mark.parametrize("op", ["sum", "mean", "prod", "cumsum", "cumprod", "logsumexp"])
def test_analytic_reductions_take_complex_input(op):
    # Complex step: Im Σ c ⊙ f(x + i h eⱼ) / h is ∂/∂xⱼ Σ c ⊙ f(x) to rounding, if f is analytic.
    x = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]])
    fn = getattr(mg, op)
    z = x + 1j * np.array([[0.3, 0.1, -0.2], [0.0, 0.4, 0.2]])
    ref = (lambda a, axis: np.log(np.sum(np.exp(a), axis=axis))) if op == "logsumexp" else (
        getattr(np, op))
    np.testing.assert_allclose(fn(z, axis=1).data, ref(z, axis=1), rtol=1e-14)
    c = cotangent(fn(x, axis=1).shape)
    steps = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        e = np.zeros_like(x, dtype=complex)
        e[j] = 1e-20j
        steps[j] = np.sum(c * fn(x + e, axis=1).data).imag / 1e-20
    np.testing.assert_allclose(grad_of(lambda t: fn(t, axis=1), x, c), steps, rtol=1e-13)


@pytest.mark.parametrize("op", ["max", "min", "var", "std", "norm"])
def test_non_analytic_reductions_refuse_complex_input(op):
    with pytest.raises(TypeError, match=f"^{op}: not analytic"):
        getattr(mg, op)(np.array([1.0 + 2j, 3.0]))


@pytest.mark.parametrize(("kw", "shape", "words"), [
    ({"ord": 3}, (4,), "ord=3 is not supported for a vector norm"),
    ({"ord": "fro", "axis": 0}, (2, 3), "ord='fro' is not supported for a vector norm"),
    ({"ord": 1}, (2, 3), "ord=1 is not supported for a matrix norm"),
    ({"ord": 2, "axis": (0, 1)}, (2, 3), "ord=2 is not supported for a matrix norm"),
    ({"ord": "nuc"}, (2, 3), "ord='nuc' is not supported for a matrix norm"),
    ({"ord": -np.inf, "axis": (1, 0)}, (2, 3), "ord=-inf is not supported for a matrix norm"),
    ({"ord": 2}, (2, 3, 4), r"axis=None needs x 1-D or 2-D"),
    ({"axis": (0, 1, 2)}, (2, 3, 4), "axis must name 1 axis"),
])
def test_norm_refuses_unsupported_orders_by_name(kw, shape, words):
    with pytest.raises(ValueError, match=words) as err:
        mg.norm(np.ones(shape), **kw)
    assert str(err.value).startswith("norm: ")
    if "ord=" in words:
        assert "supported: vector ord 1, 2, inf, -inf" in str(err.value)


def test_axis_errors_name_the_function():
    with pytest.raises(ValueError, match="^max: axis 2 is out of range"):
        mg.max(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="^var: axis .* repeats an axis"):
        mg.var(np.ones((2, 3)), axis=(0, -2))
    with pytest.raises(TypeError, match="^cumsum: axis must be an integer or None"):
        mg.cumsum(np.ones((2, 3)), axis=(0, 1))


# ------------------------------------------------------------------------------ second order

X = np.array([[0.5, -1.25, 2.0, 0.3], [1.5, 0.75, -0.25, 1.1], [0.9, 0.0, 1.3, 0.0]])
SECOND = {  # fixed small cases; the last row of X has two zeros
    "max": lambda t: t.max(axis=1),
    "min keepdims": lambda t: mg.min(t, axis=0, keepdims=True),
    "prod, 0/1/2 zeros per row": lambda t: t.prod(axis=1),
    "prod, one zero in all": lambda t: mg.prod(t[1:, 1:], axis=(-1, 0)),
    "prod, no zero": lambda t: t[:2].prod(),
    "cumsum": lambda t: t.cumsum(1),
    "cumprod with zeros": lambda t: t.cumprod(1),
    "cumprod flat": lambda t: t.cumprod(),
    "var ddof=1": lambda t: t.var(1, ddof=1),
    "std": lambda t: mg.std(t, axis=0, keepdims=True),
    "logsumexp": lambda t: t.logsumexp((0, 1)),
    "norm 2": lambda t: t[:2].norm(axis=1),
    "norm 1": lambda t: t[:2].norm(1, axis=-1),
    "norm inf": lambda t: t[:2].norm(np.inf, axis=1, keepdims=True),
    "norm -inf": lambda t: mg.norm(t[:2], -np.inf, axis=0),
    "norm fro": lambda t: mg.norm(t, "fro"),
}


@pytest.mark.parametrize("case", list(SECOND))
def test_second_derivatives_every_element(case):
    check_grad2(SECOND[case], X)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_second_derivatives_every_element(reverse):
    a, b = X[:2, :3], X[1:, 1:]
    check_grad2(lambda s, t: reductions.scan(s, t, 1, reverse), a, b)


def hessian_along(fn, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v of Σ fn(x), by differentiating the recorded gradient again."""
    t = Tensor(x, requires_grad=True)
    (g,) = mg.grad(fn(t).sum(), t, create_graph=True)
    if not g.requires_grad:  # the gradient is a constant: no second derivative at all
        return np.zeros_like(x)
    (hv,) = mg.grad((g * v).sum(), t, allow_unused=True)
    return np.zeros_like(x) if hv is None else hv


def test_second_derivative_is_zero_where_std_and_norm_choose_zero():
    # The documented choice at the kinks: first derivative 0 and, recorded, second also 0.
    v = np.array([1.0, -2.0, 0.5])
    for fn, x in [(mg.std, np.full(3, 2.0)), (lambda t: mg.std(t, ddof=1), np.full(3, 0.1)),
                  (mg.norm, np.zeros(3)), (lambda t: mg.norm(t, 1), np.zeros(3)),
                  (lambda t: mg.norm(t, np.inf), np.zeros(3))]:
        np.testing.assert_array_equal(hessian_along(fn, x, v), 0.0)


def test_third_derivatives_of_prod_and_cumprod():
    # ∂³(xyzw)/∂x∂y∂z = w, and Σ cumprod(x, y, z) = x + xy + xyz has ∂³/∂x∂y∂z = 1: the backward
    # of the backward of the backward (prod → cumprod → scan) recorded and differentiated.
    for fn, x, expected in [(mg.prod, np.array([2.0, 0.0, 0.0, 5.0]), 5.0),
                            (mg.cumprod, np.array([0.0, 3.0, 0.0]), 1.0)]:
        t = Tensor(x, requires_grad=True)
        (g,) = mg.grad(fn(t).sum(), t, create_graph=True)
        (h,) = mg.grad(g[0], t, create_graph=True)
        (third,) = mg.grad(h[1], t)
        assert third[2] == expected
