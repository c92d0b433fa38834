"""Element-wise math: roots, powers, rounding, clipping, remainders and the log/exp family.

Each backward is written with minigrad-registered NumPy calls (`np.exp(x)` on a Tensor records
`exp`), so it runs on arrays and, for `create_graph=True`, on Tensors as a differentiable graph.
Where a function is not differentiable, the gradient there is PyTorch's (stated per op):
abs'(0) = 0, sign' = floor' = ceil' = 0, clip passes the gradient where lo ≤ x ≤ hi, minimum
splits ties in half, mod's ∂/∂b = −floor(a/b), sqrt'(0) = inf. Outside a function's domain
(sqrt(−1), log1p(−2), mod(a, 0)) values follow NumPy: nan or ±inf with a RuntimeWarning.

Complex input: sqrt, square, expm1, log1p, logaddexp and softplus are analytic and accept
complex128 (complex-step checks); logaddexp and softplus then shift by a real constant (the
larger real part) instead of calling np.logaddexp, which is real only. These refuse complex,
having no complex derivative: abs and sign (|z| and z/|z| are not analytic), floor and ceil
(defined by the ordering of the reals), clip and minimum (comparisons: complex numbers have no
order), mod (floor(a/b) again).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .activations import sigmoid_of
from .elementwise import _real_only
from .logic import values

__all__ = ["abs", "ceil", "clip", "expm1", "floor", "log1p", "logaddexp", "minimum", "mod",
           "sign", "softplus", "sqrt", "square"]


class Sqrt(Function):
    """y = √x;  ∂y/∂x = 1 / (2y) (inf at x = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (y,) = ctx.saved_tensors
        return (g / (2 * y),)


class Square(Function):
    """y = x²;  ∂y/∂x = 2x."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.square(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * (2 * x),)


class Abs(Function):
    """y = |x|;  ∂y/∂x = sign x, which is 0 at x = 0 (PyTorch's choice). Real only."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        _real_only("abs", x)
        ctx.save_for_backward(x)
        return np.absolute(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * np.sign(x),)


class PiecewiseConstant(Function):
    """A step function: constant between its jumps, so ∂y/∂x = 0 everywhere, also at the jumps
    (PyTorch's choice). Subclasses give the forward; real only."""

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.zeros_like(g),)


class Sign(PiecewiseConstant):
    """y = sign x ∈ {−1, 0, 1};  ∂y/∂x = 0 everywhere (also at the jump x = 0). Real only."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        _real_only("sign", x)
        return np.sign(x)


class Floor(PiecewiseConstant):
    """y = ⌊x⌋;  ∂y/∂x = 0 everywhere (also at the jumps, the integers). Real only."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        _real_only("floor", x)
        return np.floor(x)


class Ceil(PiecewiseConstant):
    """y = ⌈x⌉;  ∂y/∂x = 0 everywhere (also at the jumps, the integers). Real only."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        _real_only("ceil", x)
        return np.ceil(x)


class Clip(Function):
    """y = min(max(x, lo), hi) (np.clip, torch.clamp);  ∂y/∂x = 1 where lo < x < hi.

    PyTorch's gradients (2.x). Number bounds: x gets the gradient strictly inside
    (lo < x < hi; 0 at a bound). Array or Tensor bounds: lo gets it where x < lo, hi where
    x > hi, and a tie x = lo or x = hi splits it in half between x and that bound; if lo > hi
    every y is hi and hi gets it all; if x = lo = hi, x gets it. A missing bound is ∓inf.
    Real only.
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
                split: bool = False) -> np.ndarray:
        _real_only("clip", x, lo, hi)
        ctx.save_for_backward(x, lo, hi)
        ctx.split = split
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        x, lo, hi = ctx.saved_tensors
        if not ctx.split:  # number bounds: constants, and x's gradient strictly inside
            return g * ((x > lo) & (x < hi)), None, None
        xv, lov, hiv = values(x), values(lo), values(hi)   # the shares are constants
        tied = (xv == lov) & (xv == hiv)
        w_lo = np.where((lov > hiv) | tied, 0.0, (xv < lov) + 0.5 * (xv == lov))
        w_hi = np.where(lov > hiv, 1.0, np.where(tied, 0.0, (xv > hiv) + 0.5 * (xv == hiv)))
        need_x, need_lo, need_hi = ctx.needs_input_grad
        return ((g * (1.0 - w_lo - w_hi) if need_x else None),
                (g * w_lo if need_lo else None), (g * w_hi if need_hi else None))


class Minimum(Function):
    """z = min(a, b);  the gradient goes to the smaller input, split in half on ties (as
    `maximum` here and torch.minimum do). Real only."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _real_only("minimum", a, b)
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        wa = (a < b) + 0.5 * (a == b)
        return g * wa, g * (1.0 - wa)


class Mod(Function):
    """r = a mod b = a − b ⌊a/b⌋;  ∂r/∂a = 1, ∂r/∂b = −⌊a/b⌋.

    np.remainder and torch.remainder: r has the sign of b. The gradient is PyTorch's, also at
    the jumps (where a/b is an integer). Real only.
    """

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _real_only("mod", a, b)
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        return g, (-g * np.floor(a / b) if ctx.needs_input_grad[1] else None)


class Expm1(Function):
    """y = eˣ − 1 (accurate for small x);  ∂y/∂x = eˣ."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.expm1(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * np.exp(x),)


class Log1p(Function):
    """y = ln(1 + x) (accurate for small x);  ∂y/∂x = 1 / (1 + x)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g / (1 + x),)


class LogAddExp(Function):
    """z = ln(eᵃ + eᵇ);  ∂z/∂a = eᵃ / (eᵃ + eᵇ) = σ(a − b), ∂z/∂b = σ(b − a) (as in PyTorch).

    Real input: np.logaddexp, i.e. max(a, b) + ln(1 + e^−|a−b|), finite for any finite a, b.
    Complex input: m + ln(eᵃ⁻ᵐ + eᵇ⁻ᵐ) with m = max(Re a, Re b), a real shift (analytic).
    σ of the difference keeps the gradient exact to rounding even where |a|, |b| are large.
    """

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        if a.dtype.kind == "c" or b.dtype.kind == "c":
            m = np.maximum(a.real, b.real)
            return m + np.log(np.exp(a - m) + np.exp(b - m))
        return np.logaddexp(a, b)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return ((g * sigmoid_of(a - b) if need_a else None),
                (g * sigmoid_of(b - a) if need_b else None))


class Softplus(Function):
    """y = ln(1 + eˣ) = logaddexp(0, x);  ∂y/∂x = σ(x) (the σ op: exact to rounding for any x).

    Real input: np.logaddexp(0, x) = max(x, 0) + ln(1 + e^−|x|), finite for every finite x.
    Complex input: s + ln(e⁻ˢ + eˣ⁻ˢ) with the real shift s = max(Re x, 0) (analytic).
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        if x.dtype.kind == "c":
            s = np.maximum(x.real, 0)
            return s + np.log(np.exp(-s) + np.exp(x - s))
        return np.logaddexp(np.zeros((), dtype=x.dtype), x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * sigmoid_of(x),)


def sqrt(x: Any) -> Tensor:
    """√x element-wise (principal root for complex x)."""
    return Sqrt.apply(x)


def square(x: Any) -> Tensor:
    """x² element-wise."""
    return Square.apply(x)


def abs(x: Any) -> Tensor:  # noqa: A001 - NumPy's and PyTorch's name
    """|x| element-wise; gradient sign x, 0 at x = 0 (real only). Also `abs(t)`."""
    return Abs.apply(x)


def sign(x: Any) -> Tensor:
    """sign x ∈ {−1, 0, 1} element-wise; gradient 0 everywhere (real only)."""
    return Sign.apply(x)


def floor(x: Any) -> Tensor:
    """⌊x⌋, the largest integer ≤ x, element-wise; gradient 0 everywhere (real only)."""
    return Floor.apply(x)


def ceil(x: Any) -> Tensor:
    """⌈x⌉, the smallest integer ≥ x, element-wise; gradient 0 everywhere (real only)."""
    return Ceil.apply(x)


def clip(x: Any, a_min: Any = None, a_max: Any = None, *, min: Any = None,
         max: Any = None) -> Tensor:
    """min(max(x, lo), hi) element-wise, like `np.clip(x, a_min, a_max)` and `t.clip(min, max)`.

    Either bound may be None (no bound), a number, or an array or Tensor (a Tensor bound gets a
    gradient where it binds). PyTorch's gradients: see `Clip`. Real only.
    """
    if a_min is not None and min is not None:
        raise TypeError("clip: give the lower bound once, as a_min or as min, not both")
    if a_max is not None and max is not None:
        raise TypeError("clip: give the upper bound once, as a_max or as max, not both")
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    split = isinstance(lo, (Tensor, np.ndarray)) or isinstance(hi, (Tensor, np.ndarray))
    return Clip.apply(x, -np.inf if lo is None else lo, np.inf if hi is None else hi,
                      split=split)


def minimum(a: Any, b: Any) -> Tensor:
    """Element-wise min(a, b) with broadcasting; ties split the gradient in half (real only)."""
    return Minimum.apply(a, b)


def mod(a: Any, b: Any) -> Tensor:
    """a mod b = a − b ⌊a/b⌋ (np.mod, Python's %): the result has the sign of b (real only)."""
    return Mod.apply(a, b)


def _rmod(a: Any, b: Any) -> Tensor:
    """b % a for `number % tensor` (Tensor.__rmod__)."""
    return Mod.apply(b, a)


def expm1(x: Any) -> Tensor:
    """eˣ − 1 element-wise, accurate for x near 0."""
    return Expm1.apply(x)


def log1p(x: Any) -> Tensor:
    """ln(1 + x) element-wise, accurate for x near 0."""
    return Log1p.apply(x)


def logaddexp(a: Any, b: Any) -> Tensor:
    """ln(eᵃ + eᵇ) element-wise with broadcasting, without overflow."""
    return LogAddExp.apply(a, b)


def softplus(x: Any) -> Tensor:
    """ln(1 + eˣ) element-wise without overflow, a smooth relu; its derivative is σ(x)."""
    return Softplus.apply(x)


NUMPY = {np.sqrt: sqrt, np.square: square, np.absolute: abs, np.fabs: abs, np.sign: sign,
         np.floor: floor, np.ceil: ceil, np.clip: clip, np.minimum: minimum, np.remainder: mod,
         np.expm1: expm1, np.log1p: log1p, np.logaddexp: logaddexp}
METHODS = {"clip": clip, "__abs__": abs, "__mod__": mod, "__rmod__": _rmod}
