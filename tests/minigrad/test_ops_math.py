"""The element-wise math and trig ops (ops/math.py, ops/trig.py), and σ/tanh: gradients on
every element against finite differences (float64, Hypothesis shapes, broadcasting), PyTorch's
values where an op is not differentiable, NumPy's nan/inf outside a domain, complex input
(NumPy's values, f'(z), refusals), NumPy dispatch, methods and dunders (`abs(t)`, `t % 2`,
`2 % t`, `t.clip`), and second order (create_graph): every element on fixed small cases, along
a random direction over Hypothesis shapes (`check_grad2`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import strategies as S
from _higher import check_grad2
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_grad import FIXED_PAIRS, check_grad

import minigrad as mg
from minigrad import Tensor

# Value families as samplers (rng, shape) -> float64 array: Hypothesis draws the shapes and a
# seed, fixed cases use fixed seeds. Each family keeps its op farther from kinks, jumps and
# domain edges than the finite-difference stencils reach (2 h = 2e-3).
Sampler = Callable[[np.random.Generator, tuple], np.ndarray]


def uniform(lo: float, hi: float) -> Sampler:
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def nonzero(lo: float = 0.1, hi: float = 2.0) -> Sampler:
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def on_grid(offset: float, lo: int = -4, hi: int = 4) -> Sampler:
    """0.5 i + offset + δ, integers i in [lo, hi], |δ| <= 0.05: values of offsets 0.25 and 0
    stay >= 0.15 apart (no ties of minimum, no x at a bound of clip)."""
    return lambda rng, shape: (0.5 * rng.integers(lo, hi + 1, shape) + offset
                               + rng.uniform(-0.05, 0.05, shape))


def fractional(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """k + u, integers k in [−3, 3], u in [0.1, 0.9]: away from the jumps of floor and ceil."""
    return rng.integers(-3, 4, shape) + rng.uniform(0.1, 0.9, shape)


def divisors(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """±{0.5, 1, 2}·(1 + ε), |ε| <= 0.01: for a dividend from on_grid(0.25), a/b stays >= 0.1
    away from the integers, where a mod b jumps."""
    return (rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], shape)
            * (1 + rng.uniform(-0.01, 0.01, shape)))


def seeded(data: st.DataObject) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


# ------------------------------------------------------------------ unary, first order

UNARY = {  # name -> (function, values)
    "sin": (mg.sin, uniform(-2, 2)), "cos": (mg.cos, uniform(-2, 2)),
    "tan": (mg.tan, uniform(-1.2, 1.2)), "arcsin": (mg.arcsin, uniform(-0.85, 0.85)),
    "arccos": (mg.arccos, uniform(-0.85, 0.85)), "arctan": (mg.arctan, uniform(-2, 2)),
    "sinh": (mg.sinh, uniform(-2, 2)), "cosh": (mg.cosh, uniform(-2, 2)),
    "arcsinh": (mg.arcsinh, uniform(-2, 2)), "arccosh": (mg.arccosh, uniform(1.2, 3.0)),
    "arctanh": (mg.arctanh, uniform(-0.85, 0.85)), "sqrt": (mg.sqrt, uniform(0.3, 3.0)),
    "square": (mg.square, uniform(-2, 2)), "abs": (mg.abs, nonzero()),
    "sign": (mg.sign, nonzero()), "floor": (mg.floor, fractional),
    "ceil": (mg.ceil, fractional), "clip": (lambda t: mg.clip(t, -0.5, 1.0), on_grid(0.25)),
    "expm1": (mg.expm1, uniform(-2, 2)), "log1p": (mg.log1p, uniform(-0.7, 2.0)),
    "softplus": (mg.softplus, uniform(-3, 3)), "sigmoid": (mg.sigmoid, uniform(-4, 4)),
    "tanh": (mg.tanh, uniform(-3, 3)),
}


@pytest.mark.parametrize("op", list(UNARY))
@settings(max_examples=12)
@given(data=st.data())
def test_unary_gradient(op, data):
    fn, values = UNARY[op]
    check_grad(fn, values(seeded(data), data.draw(S.shapes(max_dims=3), label="shape")))


# ----------------------------------------------------------------- binary, first order

BINARY = {  # name -> (function, values of a, values of b, a function to check to 2nd order)
    "arctan2": (mg.arctan2, nonzero(0.3, 2.0), uniform(-2, 2), mg.arctan2),
    "minimum": (mg.minimum, on_grid(0.25), on_grid(0.0), lambda a, b: mg.minimum(a, b) * a),
    "mod": (mg.mod, on_grid(0.25), divisors, lambda a, b: mg.mod(a, b) * b),
    "logaddexp": (mg.logaddexp, uniform(-3, 3), uniform(-3, 3), mg.logaddexp),
    "clip_lo": (lambda x, lo: mg.clip(x, lo), on_grid(0.25), on_grid(0.0),
                lambda x, lo: mg.clip(x, lo) * x * lo),
    "clip_hi": (lambda x, hi: mg.clip(x, None, hi), on_grid(0.25), on_grid(0.0),
                lambda x, hi: mg.clip(x, None, hi) * x * hi),
}


def binary_values(op: str, rng: np.random.Generator, sa: tuple, sb: tuple) -> tuple:
    return BINARY[op][1](rng, sa), BINARY[op][2](rng, sb)


@pytest.mark.parametrize("op", list(BINARY))
@settings(max_examples=15)
@given(data=st.data())
def test_binary_gradient_broadcast(op, data):
    sa, sb = data.draw(S.broadcast_pair(), label="shapes")
    a, b = binary_values(op, seeded(data), sa, sb)
    fn = BINARY[op][0]
    check_grad(fn, a, b)
    if op in ("minimum", "logaddexp"):  # symmetric ops: the other argument order too
        check_grad(lambda u, v: fn(v, u), b, a)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize(("sa", "sb"), FIXED_PAIRS)
def test_binary_gradient_named_broadcast_pairs(op, sa, sb):
    rng = np.random.default_rng([3, *sa, 0, *sb])
    check_grad(BINARY[op][0], *binary_values(op, rng, sa, sb))


def clip3(t, a, b):
    """clip with Tensor bounds, times a smooth factor for the second-order checks."""
    return mg.clip(t, a, b) * t * (a + b)


@settings(max_examples=15)
@given(data=st.data())
def test_clip_with_tensor_bounds_both_orders(data):
    sx, slo, shi = data.draw(S.broadcast_triple(), label="shapes")
    rng = seeded(data)
    x, lo, hi = on_grid(0.25)(rng, sx), on_grid(0.0, -4, 0)(rng, slo), on_grid(0.0, 1, 4)(rng, shi)
    check_grad(mg.clip, x, lo, hi)                        # lo < hi everywhere
    check_grad(mg.clip, x, hi, lo)                        # lo > hi: every output is hi
    check_grad(lambda t, a, b: t.clip(min=a, max=b), x, lo, hi)
    check_grad2(clip3, x, lo, hi, directional=True)
    check_grad2(clip3, x, hi, lo, directional=True)


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
    # the expected values are what torch.clamp 2.14 gives on the same inputs
    x = [-2.0, -1.0, 0.0, 1.0, 2.0]
    np.testing.assert_array_equal(grads(lambda t: mg.clip(t, -1, 1), x)[0], [0, 0, 1, 0, 0])
    gx, glo, ghi = grads(mg.clip, x, [-1.0] * 5, [1.0] * 5)
    np.testing.assert_array_equal(gx, [0, 0.5, 1, 0.5, 0])   # ties split with the bound
    np.testing.assert_array_equal(glo, [1, 0.5, 0, 0, 0])    # where x < lo
    np.testing.assert_array_equal(ghi, [0, 0, 0, 0.5, 1])    # where x > hi
    gx, glo, ghi = grads(mg.clip, [-3.0, 0.0, 3.0], 2.0, -2.0)   # lo > hi: y = hi
    assert (gx.tolist(), glo.item(), ghi.item()) == ([0, 0, 0], 0, 3)
    gx, glo, ghi = grads(mg.clip, [-1.0, 0.0, 1.0], 0.0, 0.0)    # lo = hi: torch's rules
    assert (gx.tolist(), glo.item(), ghi.item()) == ([0, 1, 0], 1, 1)
    gx, glo = grads(lambda t, a: t.clip(a), [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    assert (gx.tolist(), glo.tolist()) == ([0, 0.5, 1], [1, 0.5, 0])
    gx, ghi = grads(lambda t, b: t.clip(max=b), [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    assert (gx.tolist(), ghi.tolist()) == ([1, 0.5, 0], [0, 0.5, 1])
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
    with pytest.warns(RuntimeWarning):                      # a mod 0: NumPy's nan
        assert np.isnan((Tensor([1.0, 2.0]) % 0.0).data).all()


def test_sqrt_gradient_at_zero_is_inf_and_arctan2_at_the_origin_nan():
    with np.errstate(divide="ignore"):
        (g,) = grads(mg.sqrt, [0.0, 4.0])
    assert g[0] == np.inf and g[1] == 0.25
    y, x = Tensor([0.0, 1.0, 0.0], requires_grad=True), Tensor([0.0, 0.0, -2.0], requires_grad=True)
    with pytest.warns(RuntimeWarning):              # 0/0 at the origin: nan, as in PyTorch
        gy, gx = mg.grad(mg.arctan2(y, x).sum(), [y, x], create_graph=True)
    np.testing.assert_array_equal(gy.data, [np.nan, 0.0, -0.5])
    np.testing.assert_array_equal(gx.data, [np.nan, -1.0, 0.0])
    with np.errstate(all="ignore"):
        hy, hx = mg.grad((gy + gx).sum(), [y, x])
    np.testing.assert_array_equal(hy[1:], [1.0, -0.25])   # ∂/∂y of (x − y)/r² off the origin
    np.testing.assert_array_equal(hx[1:], [1.0, -0.25])   # and ∂/∂x of it


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
    "logaddexp": (lambda z: mg.logaddexp(z, 0.3), lambda z: np.log(np.exp(z) + np.exp(0.3))),
    "logaddexp_large": (lambda z: mg.logaddexp(z + 800, 2 * z + 801),     # e⁸⁰⁰ overflows
                        lambda z: 800 + np.log(np.exp(z) + np.exp(2 * z + 1))),
}


def complex_points(seed: int) -> np.ndarray:
    """x + iy, |x| <= 0.8, 0.1 <= |y| <= 0.8: off every branch cut of these ops."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], (3, 4)) * rng.uniform(0.1, 0.8, (3, 4))
    return rng.uniform(-0.8, 0.8, (3, 4)) + 1j * y


@pytest.mark.parametrize("op", list(ANALYTIC))
def test_analytic_ops_take_complex_values_derivatives_and_the_complex_step(op):
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
    values = UNARY.get(op, (None, uniform(-2, 2)))[1]   # the complex step, from real inputs
    t = Tensor(values(np.random.default_rng(2), (2, 3)), requires_grad=True)
    assert mg.gradcheck(lambda: fn(t), t, mode="complex")


REFUSE = {"abs": mg.abs, "sign": mg.sign, "floor": mg.floor, "ceil": mg.ceil,
          "clip": lambda z: mg.clip(z, 0, 1), "minimum": lambda z: mg.minimum(z, 0.0),
          "mod": lambda z: mg.mod(z, 2.0), "arctan2": lambda z: mg.arctan2(z, 1.0)}


@pytest.mark.parametrize("op", list(REFUSE))
def test_non_analytic_ops_refuse_complex(op):
    z = Tensor(np.array([1 + 1j, 2 - 0.5j]))
    with pytest.raises(TypeError, match=f"^{op}: not analytic, so it cannot run on complex"):
        REFUSE[op](z)
    if op in ("minimum", "mod", "arctan2"):                      # the second argument complex
        with pytest.raises(TypeError, match=f"^{op}: not analytic"):
            getattr(mg, op)(1.0, z)


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
    t, d = Tensor(x), np.array([1.5, -1.0, 2.0])
    for got, want in [(abs(t), np.abs(x)), (t % 2, x % 2), (5 % t, 5 % x), (t % Tensor(d), x % d),
                      (t.clip(0, 1), x.clip(0, 1)), (t.clip(min=0), x.clip(min=0)),
                      (t.clip(max=0.5), x.clip(max=0.5))]:
        np.testing.assert_array_equal(got.data, want)
    check_grad(lambda u: abs(u), x)
    check_grad(lambda u: u % 2.0, x)
    check_grad(lambda u: 5.0 % u, np.array([[0.7, -1.2, 2.6], [-0.45, 1.7, -2.2]]))
    check_grad(lambda u: u.clip(-0.5, 1.0), x)
    assert set(UNARY) | {"arctan2", "minimum", "mod", "logaddexp"} <= set(mg.__all__)


# ------------------------------------------------------------------------ second order
# The backward rules are made of minigrad ops, so create_graph=True differentiates them again.
# Piecewise-linear ops (abs, sign, floor, ceil, clip, minimum, mod) have a zero second
# derivative of their own: they are multiplied by their input, so that the check exercises
# the backward rule's dependence on x (e.g. (x|x|)'' = 2 sign x goes through abs's g · sign x).

SECOND_UNARY = dict(UNARY)  # name -> (function, values)
SECOND_UNARY.update({
    "abs": (lambda t: mg.abs(t) * t, nonzero()),
    "sign": (lambda t: mg.sign(t) * t * t, nonzero()),
    "floor": (lambda t: mg.floor(t) * t * t, fractional),
    "ceil": (lambda t: mg.ceil(t) * t * t, fractional),
    "clip": (lambda t: mg.clip(t, -0.5, 1.0) ** 2, on_grid(0.25)),
    "mod": (lambda t: mg.mod(t, 2.0) * t, on_grid(0.25)),
    "rmod": (lambda t: (5.0 % t) * t,    # 5/t >= 0.06 from the integers for these t
             lambda rng, s: rng.choice([0.7, -1.2, 2.6, -0.45, 1.7, -2.2], s)),
})


@pytest.mark.parametrize("name", list(SECOND_UNARY))
def test_unary_second_order_every_element(name):
    fn, values = SECOND_UNARY[name]
    check_grad2(fn, values(np.random.default_rng([4, len(name)]), (3, 2)))


@pytest.mark.parametrize("name", list(SECOND_UNARY))
@settings(max_examples=4)
@given(data=st.data())
def test_unary_second_order_along_a_direction(name, data):
    fn, values = SECOND_UNARY[name]
    x = values(seeded(data), data.draw(S.shapes(max_dims=3), label="shape"))
    check_grad2(fn, x, directional=True)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3,)), ((2, 1), (1, 2)), ((), (2,))])
def test_binary_second_order_every_element(op, sa, sb):
    rng = np.random.default_rng([5, *sa, 0, *sb])
    check_grad2(BINARY[op][3], *binary_values(op, rng, sa, sb))


@pytest.mark.parametrize("op", list(BINARY))
@settings(max_examples=5)
@given(data=st.data())
def test_binary_second_order_along_a_direction(op, data):
    sa, sb = data.draw(S.broadcast_pair(), label="shapes")
    a, b = binary_values(op, seeded(data), sa, sb)
    check_grad2(BINARY[op][3], a, b, directional=True)


def test_clip_with_both_tensor_bounds_second_order():
    x, lo, hi = np.array([[-1.25, 0.25, 1.75]]), np.array([[-0.5], [0.0]]), np.array([1.0])
    check_grad2(clip3, x, lo, hi)
    check_grad2(clip3, x, hi, lo)                          # lo > hi


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
