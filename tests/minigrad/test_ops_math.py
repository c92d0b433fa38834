"""The element-wise math and trig ops (ops/math.py, ops/trig.py), and σ/tanh.

First order: every op's gradient on every element, in float64, against central differences
(`check_grad` of test_ops_grad.py) over Hypothesis shapes, with broadcasting for the binary
ops; values stay away from kinks, jumps and domain edges. Then the gradients PyTorch gives where
an op is not differentiable (exact values), NumPy's nan/inf outside a domain, complex input
(values equal NumPy's, derivatives equal f'(z); refused by the non-analytic ops), NumPy dispatch
(`np.sin(t)` records `sin`), Tensor methods and dunders (`abs(t)`, `t % 2`, `2 % t`, `t.clip`).
"""

from __future__ import annotations

import numpy as np
import pytest
import strategies as S
from _higher import check_grad2
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_ops_grad import FIXED_PAIRS, check_grad

import minigrad as mg
from minigrad import Tensor


def _floats(lo: float, hi: float) -> st.SearchStrategy:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def grid(shape: tuple, offset: float, lo: int = -4, hi: int = 4) -> st.SearchStrategy:
    """Arrays of 0.5 i + offset + δ with integers i in [lo, hi] and |δ| <= 0.05."""
    elem = st.tuples(st.integers(lo, hi), _floats(-0.05, 0.05)).map(
        lambda t: 0.5 * t[0] + offset + t[1])
    return hnp.arrays(np.float64, shape, elements=elem)


def fractional(shape: tuple) -> st.SearchStrategy:
    """Arrays of k + u with integers k in [−3, 3] and u in [0.1, 0.9]: away from the integers."""
    elem = st.tuples(st.integers(-3, 3), _floats(0.1, 0.9)).map(lambda t: t[0] + t[1])
    return hnp.arrays(np.float64, shape, elements=elem)


def divisors(shape: tuple) -> st.SearchStrategy:
    """±{0.5, 1, 2}·(1 + ε), |ε| <= 0.01: with a dividend from grid(·, 0.25), a/b stays >= 0.1
    away from the integers, where a mod b jumps."""
    elem = st.tuples(st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]),
                     _floats(-0.01, 0.01)).map(lambda t: t[0] * (1 + t[1]))
    return hnp.arrays(np.float64, shape, elements=elem)


def between(lo: float, hi: float):
    return lambda shape: S.arrays(shape, lo, hi)


# ------------------------------------------------------------------ unary, first order

UNARY = {  # name -> (function, values for a shape)
    "sin": (mg.sin, S.arrays),
    "cos": (mg.cos, S.arrays),
    "tan": (mg.tan, between(-1.2, 1.2)),
    "arcsin": (mg.arcsin, between(-0.85, 0.85)),
    "arccos": (mg.arccos, between(-0.85, 0.85)),
    "arctan": (mg.arctan, S.arrays),
    "sinh": (mg.sinh, S.arrays),
    "cosh": (mg.cosh, S.arrays),
    "arcsinh": (mg.arcsinh, S.arrays),
    "arccosh": (mg.arccosh, between(1.2, 3.0)),
    "arctanh": (mg.arctanh, between(-0.85, 0.85)),
    "sqrt": (mg.sqrt, between(0.3, 3.0)),
    "square": (mg.square, S.arrays),
    "abs": (mg.abs, lambda s: S.nonzero_arrays(s, 0.1, 2.0)),
    "sign": (mg.sign, lambda s: S.nonzero_arrays(s, 0.1, 2.0)),
    "floor": (mg.floor, fractional),
    "ceil": (mg.ceil, fractional),
    "clip": (lambda t: mg.clip(t, -0.5, 1.0), lambda s: grid(s, 0.25)),
    "expm1": (mg.expm1, S.arrays),
    "log1p": (mg.log1p, between(-0.7, 2.0)),
    "softplus": (mg.softplus, between(-3.0, 3.0)),
    "sigmoid": (mg.sigmoid, between(-4.0, 4.0)),
    "tanh": (mg.tanh, between(-3.0, 3.0)),
}


@pytest.mark.parametrize("op", list(UNARY))
@settings(max_examples=12)
@given(data=st.data())
def test_unary_gradient(op, data):
    fn, values = UNARY[op]
    x = data.draw(values(data.draw(S.shapes(max_dims=3), label="shape")), label="x")
    check_grad(fn, x)


# ----------------------------------------------------------------- binary, first order

BINARY = {  # name -> (function, values for a pair of shapes)
    "arctan2": (mg.arctan2, lambda sa, sb: st.tuples(S.nonzero_arrays(sa, 0.3, 2.0),
                                                     S.arrays(sb))),
    "minimum": (mg.minimum, S.grid_pair),
    "mod": (mg.mod, lambda sa, sb: st.tuples(grid(sa, 0.25), divisors(sb))),
    "logaddexp": (mg.logaddexp, lambda sa, sb: st.tuples(S.arrays(sa, -3, 3),
                                                         S.arrays(sb, -3, 3))),
    "clip_lo": (lambda x, lo: mg.clip(x, lo), lambda sa, sb: st.tuples(grid(sa, 0.25),
                                                                      grid(sb, 0.0))),
    "clip_hi": (lambda x, hi: mg.clip(x, None, hi), lambda sa, sb: st.tuples(grid(sa, 0.25),
                                                                            grid(sb, 0.0))),
}


@pytest.mark.parametrize("op", list(BINARY))
@settings(max_examples=15)
@given(data=st.data())
def test_binary_gradient_broadcast(op, data):
    fn, values = BINARY[op]
    sa, sb = data.draw(S.broadcast_pair(), label="shapes")
    a, b = data.draw(values(sa, sb), label="values")
    check_grad(fn, a, b)
    if op in ("minimum", "logaddexp"):  # symmetric ops: the other argument order too
        check_grad(lambda u, v: fn(v, u), b, a)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize(("sa", "sb"), FIXED_PAIRS)
def test_binary_gradient_named_broadcast_pairs(op, sa, sb):
    a, b = _fixed_values(op, sa, sb)
    check_grad(BINARY[op][0], a, b)


def _fixed_values(op: str, sa: tuple, sb: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Seeded values of the same families as BINARY's strategies, for the fixed shape pairs."""
    rng = np.random.default_rng([3, len(sa), len(sb), *sa, *sb])

    def on_grid(shape, offset, lo=-4, hi=4):
        return 0.5 * rng.integers(lo, hi + 1, shape) + offset + rng.uniform(-0.05, 0.05, shape)

    if op == "arctan2":
        return rng.choice([-1, 1], sa) * rng.uniform(0.3, 2, sa), rng.uniform(-2, 2, sb)
    if op == "minimum":
        return on_grid(sa, 0.25), on_grid(sb, 0.0)
    if op == "mod":
        b = rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], sb) * (1 + rng.uniform(-.01, .01, sb))
        return on_grid(sa, 0.25), b
    if op == "logaddexp":
        return rng.uniform(-3, 3, sa), rng.uniform(-3, 3, sb)
    return on_grid(sa, 0.25), on_grid(sb, 0.0)


@settings(max_examples=15)
@given(data=st.data())
def test_clip_with_tensor_bounds_both_orders(data):
    sx, slo, shi = data.draw(S.broadcast_triple(), label="shapes")
    x = data.draw(grid(sx, 0.25), label="x")
    lo = data.draw(grid(slo, 0.0, -4, 0), label="lo")      # lo < hi everywhere
    hi = data.draw(grid(shi, 0.0, 1, 4), label="hi")
    check_grad(mg.clip, x, lo, hi)
    check_grad(mg.clip, x, hi, lo)                        # lo > hi: every output is hi
    check_grad(lambda t, a, b: t.clip(min=a, max=b), x, lo, hi)
    second = lambda t, a, b: mg.clip(t, a, b) * t * (a + b)   # noqa: E731
    check_grad2(second, x, lo, hi, directional=True)
    check_grad2(second, x, hi, lo, directional=True)


# --------------------------------------------------- where an op is not differentiable


def grads(fn, *values):
    """The tape's gradient of Σ fn(*inputs) for each input (all of them require grad)."""
    ts = [Tensor(np.array(v, dtype=float), requires_grad=True) for v in values]
    fn(*ts).sum().backward()
    return [np.zeros_like(t.data) if t.grad is None else t.grad for t in ts]


def test_abs_sign_floor_ceil_at_their_kinks_and_jumps():
    x = [-1.5, -0.0, 0.0, 2.0, -3.0, 0.5]
    np.testing.assert_array_equal(grads(mg.abs, x)[0], [-1, 0, 0, 1, -1, 1])
    for fn in (mg.sign, mg.floor, mg.ceil):
        np.testing.assert_array_equal(grads(fn, x)[0], np.zeros(6))


def test_clip_gradient_at_and_beyond_the_bounds_follows_torch_clamp():
    x = [-2.0, -1.0, 0.0, 1.0, 2.0]
    np.testing.assert_array_equal(grads(lambda t: mg.clip(t, -1, 1), x)[0], [0, 1, 1, 1, 0])
    gx, glo, ghi = grads(mg.clip, x, [-1.0] * 5, [1.0] * 5)
    np.testing.assert_array_equal(gx, [0, 1, 1, 1, 0])       # inclusive at both bounds
    np.testing.assert_array_equal(glo, [1, 0, 0, 0, 0])      # where x < lo
    np.testing.assert_array_equal(ghi, [0, 0, 0, 0, 1])      # where x > hi
    gx, glo, ghi = grads(mg.clip, [-3.0, 0.0, 3.0], 2.0, -2.0)   # lo > hi: y = hi
    assert (gx.tolist(), glo.item(), ghi.item()) == ([0, 0, 0], 0, 3)
    gx, glo, ghi = grads(mg.clip, [-1.0, 0.0, 1.0], 0.0, 0.0)    # lo = hi: torch's rules
    assert (gx.tolist(), glo.item(), ghi.item()) == ([0, 1, 0], 0, 1)
    gx, glo = grads(lambda t, a: t.clip(a), [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    assert (gx.tolist(), glo.tolist()) == ([0, 1, 1], [1, 0, 0])
    gx, ghi = grads(lambda t, b: t.clip(max=b), [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    assert (gx.tolist(), ghi.tolist()) == ([1, 1, 0], [0, 0, 1])


def test_clip_rejects_a_bound_given_twice():
    with pytest.raises(TypeError, match="clip: give the lower bound once"):
        mg.clip(Tensor([1.0]), 0.0, min=0.0)
    with pytest.raises(TypeError, match="clip: give the upper bound once"):
        mg.clip(Tensor([1.0]), None, 1.0, max=1.0)


def test_minimum_splits_ties_evenly_like_maximum():
    ga, gb = grads(mg.minimum, [1.0, 2.0, 3.0], [1.0, 1.0, 4.0])
    np.testing.assert_array_equal(ga, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.5, 1.0, 0.0])
    ga, gb = grads(mg.minimum, [[1.0], [2.0]], [1.0, 2.0, 3.0])    # broadcast ties
    np.testing.assert_array_equal(ga, [[2.5], [1.5]])
    np.testing.assert_array_equal(gb, [1.5, 0.5, 0.0])


def test_mod_takes_the_sign_of_the_divisor_and_gradient_minus_floor():
    a, b = [7.0, -7.0, 7.0, 5.5, 6.0], [-3.0, 3.0, 3.0, 2.0, 3.0]
    np.testing.assert_array_equal(mg.mod(Tensor(a), Tensor(b)).data, [-2, 2, 1, 1.5, 0])
    ga, gb = grads(mg.mod, a, b)
    np.testing.assert_array_equal(ga, np.ones(5))
    np.testing.assert_array_equal(gb, [3, 3, -2, -2, -2])   # −⌊a/b⌋, also at the jump 6 mod 3


def test_sqrt_gradient_at_zero_is_inf():
    with np.errstate(divide="ignore"):
        (g,) = grads(mg.sqrt, [0.0, 4.0])
    assert g[0] == np.inf and g[1] == 0.25


def test_arctan2_gradient_at_the_origin_is_zero():
    gy, gx = grads(mg.arctan2, [0.0, 1.0, 0.0], [0.0, 0.0, -2.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, -0.5])
    np.testing.assert_array_equal(gx, [0.0, -1.0, 0.0])


@pytest.mark.parametrize(("fn", "x"), [(mg.sqrt, -1.0), (mg.arcsin, 2.0), (mg.arccos, -1.5),
                                       (mg.arccosh, 0.5), (mg.arctanh, 1.0), (mg.log1p, -2.0)])
def test_outside_the_domain_values_follow_numpy_without_raising(fn, x):
    xs = np.array([x, 1.5 if fn is mg.arccosh else 0.5])       # one outside, one inside
    with pytest.warns(RuntimeWarning):
        y = fn(Tensor(xs))
    with np.errstate(all="ignore"):
        want = getattr(np, fn.__name__)(xs)
    assert not np.isfinite(want[0])
    np.testing.assert_array_equal(y.data, want)


def test_mod_by_zero_follows_numpy():
    with pytest.warns(RuntimeWarning):
        y = Tensor([1.0, 2.0]) % 0.0
    assert np.isnan(y.data).all()


def test_logaddexp_and_softplus_stay_finite_for_large_inputs():
    x = Tensor([-800.0, -30.0, 0.0, 30.0, 800.0], requires_grad=True)
    y = mg.softplus(x)
    tail = np.log1p(np.exp(-30.0))
    np.testing.assert_allclose(y.data, [0.0, tail, np.log(2.0), 30.0 + tail, 800.0],
                               rtol=1e-15, atol=1e-300)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)),
                                        1.0], rtol=1e-15, atol=1e-300)
    a = Tensor([1000.0, -1000.0, 40.0], requires_grad=True)
    b = Tensor([1000.0, 5.0, 0.0], requires_grad=True)
    z = mg.logaddexp(a, b)
    np.testing.assert_allclose(z.data, [1000.0 + np.log(2.0), 5.0, 40.0 + np.log1p(np.exp(-40))],
                               rtol=1e-15)
    z.sum().backward()
    s40 = 1 / (1 + np.exp(-40.0))                     # σ(40); σ(−40) = e⁻⁴⁰ σ(40), not 1 − σ(40)
    np.testing.assert_allclose(a.grad, [0.5, 0.0, s40], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(b.grad, [0.5, 1.0, np.exp(-40.0) * s40], rtol=1e-15)


# ---------------------------------------------------------------------------- complex

ANALYTIC = {  # name -> (function, the same function in NumPy for complex arrays)
    "sin": (mg.sin, np.sin), "cos": (mg.cos, np.cos), "tan": (mg.tan, np.tan),
    "arcsin": (mg.arcsin, np.arcsin), "arccos": (mg.arccos, np.arccos),
    "arctan": (mg.arctan, np.arctan), "sinh": (mg.sinh, np.sinh), "cosh": (mg.cosh, np.cosh),
    "arcsinh": (mg.arcsinh, np.arcsinh), "arccosh": (mg.arccosh, np.arccosh),
    "arctanh": (mg.arctanh, np.arctanh), "sqrt": (mg.sqrt, np.sqrt),
    "square": (mg.square, np.square), "expm1": (mg.expm1, np.expm1),
    "log1p": (mg.log1p, np.log1p),
    "softplus": (mg.softplus, lambda z: np.log(1 + np.exp(z))),
    "softplus_large": (lambda z: mg.softplus(z + 800), lambda z: 800 + z),   # e⁸⁰⁰ overflows
    "logaddexp": (lambda z: mg.logaddexp(z, 0.3 - 0.2j), lambda z: np.log(np.exp(z) +
                                                                          np.exp(0.3 - 0.2j))),
    "logaddexp_large": (lambda z: mg.logaddexp(z + 800, 2 * z + 801),     # e⁸⁰⁰ overflows
                        lambda z: 800 + np.log(np.exp(z) + np.exp(2 * z + 1))),
}


def complex_points(seed: int) -> np.ndarray:
    """x + iy, |x| <= 0.8, 0.1 <= |y| <= 0.8: off every branch cut of these ops."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], (3, 4)) * rng.uniform(0.1, 0.8, (3, 4))
    return rng.uniform(-0.8, 0.8, (3, 4)) + 1j * y


@pytest.mark.parametrize("op", list(ANALYTIC))
def test_analytic_ops_take_complex_values_and_derivatives(op):
    fn, ref = ANALYTIC[op]
    z = complex_points(len(op))     # for arccosh too: Re z < 1, where √(z² − 1) has the wrong sign
    t = Tensor(z, requires_grad=True)
    y = fn(t)
    assert y.dtype == np.complex128
    np.testing.assert_allclose(y.data, ref(z), rtol=1e-12)
    # f'(z) against the complex derivative along the real axis (4-point stencil, elementwise)
    h = 1e-3
    f = [ref(z + k * h) for k in (-2, -1, 1, 2)]
    deriv = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
    c = np.random.default_rng(1).normal(size=z.shape)
    y.backward(c)
    np.testing.assert_allclose(t.grad, c * deriv, rtol=1e-8)


COMPLEX_STEP = {  # real inputs for the complex-step check: inside each op's real domain
    name: (lambda x, fn=fn: fn(x), -0.8, 0.8) for name, (fn, _) in ANALYTIC.items()}
COMPLEX_STEP.update({"arccosh": (mg.arccosh, 1.2, 2.5), "sqrt": (mg.sqrt, 0.2, 2.0),
                     "logaddexp": (lambda x: mg.logaddexp(x, 0.3), -2.0, 2.0),
                     "logaddexp_large": (lambda x: mg.logaddexp(x + 800, 2 * x + 801), -2, 2),
                     "softplus": (mg.softplus, -3.0, 3.0)})


@pytest.mark.parametrize("op", list(COMPLEX_STEP))
def test_complex_step_gradcheck_passes(op):
    fn, lo, hi = COMPLEX_STEP[op]
    t = Tensor(np.random.default_rng(2).uniform(lo, hi, (2, 3)), requires_grad=True)
    assert mg.gradcheck(lambda: fn(t), t, mode="complex")


REFUSE = {"abs": mg.abs, "sign": mg.sign, "floor": mg.floor, "ceil": mg.ceil,
          "clip": lambda z: mg.clip(z, 0, 1), "minimum": lambda z: mg.minimum(z, 0.0),
          "mod": lambda z: mg.mod(z, 2.0), "arctan2": lambda z: mg.arctan2(z, 1.0)}


@pytest.mark.parametrize("op", list(REFUSE))
def test_non_analytic_ops_refuse_complex(op):
    z = Tensor(np.array([1 + 1j, 2 - 0.5j]))
    with pytest.raises(TypeError, match=f"^{op}: not analytic, so it cannot run on complex"):
        REFUSE[op](z)
    with pytest.raises(TypeError, match=f"^{op}: not analytic"):   # second argument complex
        if op in ("minimum", "mod", "arctan2"):
            getattr(mg, op)(1.0, z)
        else:
            REFUSE[op](z)


# ----------------------------------------------------------- NumPy dispatch and methods

DISPATCH = [  # (NumPy call on Tensors, the op it records)
    *[(getattr(np, n), n) for n in ["sin", "cos", "tan", "arctan", "sinh", "cosh", "arcsinh",
                                    "square", "expm1", "log1p", "sign", "floor", "ceil"]],
    (lambda t: np.arcsin(t / 4), "arcsin"), (lambda t: np.arccos(t / 4), "arccos"),
    (lambda t: np.arctanh(t / 4), "arctanh"), (lambda t: np.arccosh(t * t + 1), "arccosh"),
    (lambda t: np.sqrt(t * t), "sqrt"), (np.abs, "abs"), (np.absolute, "abs"), (np.fabs, "abs"),
    (lambda t: np.clip(t, -0.5, 0.5), "clip"), (lambda t: np.clip(t, a_min=0, a_max=1), "clip"),
    (lambda t: np.minimum(t, 0.2), "minimum"), (lambda t: np.minimum(0.2, t), "minimum"),
    (lambda t: np.mod(t, 1.5), "mod"), (lambda t: np.remainder(t, -1.5), "mod"),
    (lambda t: np.ones(3) % t, "mod"), (lambda t: np.arctan2(t, 0.5), "arctan2"),
    (lambda t: np.logaddexp(t, 0.5), "logaddexp"), (np.tanh, "tanh"),
]


@pytest.mark.parametrize(("call", "name"), DISPATCH)
def test_numpy_calls_on_tensors_record_the_op(call, name):
    x = np.array([0.7, -0.6, 2.5])
    t = Tensor(x, requires_grad=True)
    y = call(t)
    assert isinstance(y, Tensor) and y.record is not None and y.record.name == name
    np.testing.assert_allclose(y.data, call(x), rtol=1e-15)


def test_methods_and_dunders():
    x = np.array([[0.7, -1.2, 2.6], [-0.3, 1.7, -2.2]])
    t = Tensor(x)
    np.testing.assert_array_equal(abs(t).data, np.abs(x))
    np.testing.assert_array_equal((t % 2).data, x % 2)
    np.testing.assert_array_equal((5 % t).data, 5 % x)
    np.testing.assert_array_equal((t % Tensor([1.5, -1.0, 2.0])).data, x % [1.5, -1.0, 2.0])
    np.testing.assert_array_equal(t.clip(0, 1).data, x.clip(0, 1))
    np.testing.assert_array_equal(t.clip(min=0).data, x.clip(min=0))
    np.testing.assert_array_equal(t.clip(max=0.5).data, x.clip(max=0.5))
    check_grad(lambda u: abs(u), x)
    check_grad(lambda u: u % 2.0, x)
    check_grad(lambda u: 5.0 % u, np.array([[0.7, -1.2, 2.6], [-0.45, 1.7, -2.2]]))
    check_grad(lambda u: u.clip(-0.5, 1.0), x)


def test_every_op_is_exported_and_a_numpy_name():
    names = ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh",
             "arcsinh", "arccosh", "arctanh", "sqrt", "square", "abs", "sign", "floor", "ceil",
             "clip", "minimum", "mod", "expm1", "log1p", "logaddexp", "softplus"]
    for n in names:
        assert callable(getattr(mg, n)) and n in mg.__all__, n
        assert n == "softplus" or hasattr(np, n), n


# ------------------------------------------------------------------------ second order
# The backward rules are made of minigrad ops, so create_graph=True differentiates them again.
# Piecewise-linear ops (abs, sign, floor, ceil, clip, minimum, mod) have a zero second
# derivative of their own: they are multiplied by their input, so that the check exercises
# the backward rule's dependence on x (e.g. (x|x|)'' = 2 sign x goes through abs's g · sign x).

SECOND_UNARY = {name: fn for name, (fn, _) in UNARY.items()}
SECOND_UNARY.update({
    "abs": lambda t: mg.abs(t) * t,
    "sign": lambda t: mg.sign(t) * t * t,
    "floor": lambda t: mg.floor(t) * t * t,
    "ceil": lambda t: mg.ceil(t) * t * t,
    "clip": lambda t: mg.clip(t, -0.5, 1.0) ** 2,
    "mod": lambda t: mg.mod(t, 2.0) * t,
    "rmod": lambda t: (5.0 % t) * t,
})


def _uniform(lo: float, hi: float):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def _nonzero(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.1, 2.0, shape)


def _on_grid(offset: float, lo: int = -4, hi: int = 4):
    return lambda rng, shape: (0.5 * rng.integers(lo, hi + 1, shape) + offset
                               + rng.uniform(-0.05, 0.05, shape))


SAMPLERS = {  # name -> fixed-case values, the same families as UNARY's strategies
    "tan": _uniform(-1.2, 1.2), "arcsin": _uniform(-0.85, 0.85),
    "arccos": _uniform(-0.85, 0.85), "arctanh": _uniform(-0.85, 0.85),
    "arccosh": _uniform(1.2, 3.0), "sqrt": _uniform(0.3, 3.0), "log1p": _uniform(-0.7, 2.0),
    "abs": _nonzero, "sign": _nonzero, "clip": _on_grid(0.25), "mod": _on_grid(0.25),
    "floor": lambda rng, s: rng.integers(-3, 4, s) + rng.uniform(0.1, 0.9, s),
    "rmod": lambda rng, s: rng.choice([0.7, -1.2, 2.6, -0.45, 1.7, -2.2], s),
    "ceil": lambda rng, s: rng.integers(-3, 4, s) + rng.uniform(0.1, 0.9, s),
}


@pytest.mark.parametrize("name", list(SECOND_UNARY))
def test_unary_second_order_every_element(name):
    rng = np.random.default_rng([4, len(name)])
    x = SAMPLERS.get(name, _uniform(-2.0, 2.0))(rng, (3, 2))
    check_grad2(SECOND_UNARY[name], x)


@pytest.mark.parametrize("name", list(UNARY))
@settings(max_examples=4)
@given(data=st.data())
def test_unary_second_order_along_a_direction(name, data):
    x = data.draw(UNARY[name][1](data.draw(S.shapes(max_dims=3), label="shape")), label="x")
    check_grad2(SECOND_UNARY[name], x, directional=True)


SECOND_BINARY = {
    "arctan2": mg.arctan2,
    "logaddexp": mg.logaddexp,
    "minimum": lambda a, b: mg.minimum(a, b) * a,
    "mod": lambda a, b: mg.mod(a, b) * b,
    "clip_lo": lambda x, lo: mg.clip(x, lo) * x * lo,
    "clip_hi": lambda x, hi: mg.clip(x, None, hi) * x * hi,
}


@pytest.mark.parametrize("op", list(SECOND_BINARY))
@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3,)), ((2, 1), (1, 2)), ((), (2,))])
def test_binary_second_order_every_element(op, sa, sb):
    a, b = _fixed_values(op, sa, sb)
    check_grad2(SECOND_BINARY[op], a, b)


@pytest.mark.parametrize("op", list(SECOND_BINARY))
@settings(max_examples=5)
@given(data=st.data())
def test_binary_second_order_along_a_direction(op, data):
    sa, sb = data.draw(S.broadcast_pair(), label="shapes")
    a, b = data.draw(BINARY[op][1](sa, sb), label="values")
    check_grad2(SECOND_BINARY[op], a, b, directional=True)


def test_clip_with_both_tensor_bounds_second_order():
    x, lo, hi = np.array([[-1.25, 0.25, 1.75]]), np.array([[-0.5], [0.0]]), np.array([1.0])
    fn = lambda t, a, b: mg.clip(t, a, b) * t * (a + b)   # noqa: E731
    check_grad2(fn, x, lo, hi)
    check_grad2(fn, x, hi, lo)                            # lo > hi


def test_known_second_derivatives_exactly():
    x = Tensor(np.array([0.3, -1.1, 2.0]), requires_grad=True)
    (g,) = mg.grad(mg.sin(x).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h, -np.sin(x.data), rtol=1e-15)
    (g,) = mg.grad((mg.abs(x) * x).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_array_equal(h, 2 * np.sign(x.data))
    (g,) = mg.grad(mg.softplus(x).sum(), x, create_graph=True)       # σ, then σ(1 − σ)
    (h,) = mg.grad(g.sum(), x)
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(h, s * (1 - s), rtol=1e-14)
