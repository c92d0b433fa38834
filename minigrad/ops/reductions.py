"""Reductions and scans: sum mean max min prod var std logsumexp norm, cumsum cumprod.

`axis` is an int, a tuple of ints (negative ones count from the end) or None (every axis), and
`keepdims` keeps the reduced axes with size 1, as in NumPy; cumsum/cumprod take one axis, and
None flattens x first. Each backward is one NumPy-style rule that also runs on Tensors (so it
can be differentiated again) and reads only the op's input and output.

Complex input: sum, mean, prod, cumsum, cumprod and logsumexp are analytic and take it (their
gradients use the holomorphic convention of the other ops: no conjugate). max, min, var, std
and norm are not analytic (they order values or use |x|²) and refuse it with a TypeError.

Where the function has no derivative, the gradient is PyTorch's choice:
- max/min with ties: split evenly among the tied elements (torch.amax, jax.numpy.max).
- std where the reduced values are all equal (zero variance): 0, not nan; the second
  derivative recorded there is 0 as well (the true one is unbounded).
- norm at x = 0: ord 2/'fro' gives 0 (second derivative there: 0 too); ord 1 uses
  sign(0) = 0; ord ±inf splits sign(x) among the tied |x|, so 0 at x = 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor, as_tensor
from .axes import _normalize
from .elementwise import _real_only
from .logic import values

__all__ = ["cumprod", "cumsum", "logsumexp", "max", "mean", "min", "norm", "prod", "std",
           "sum", "var"]


def _axes(fn: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """`axis` (None: every axis, an int or a tuple, maybe negative) as sorted axes in [0, ndim)."""
    return tuple(range(ndim)) if axis is None else tuple(sorted(_normalize(fn, axis, ndim)))


def _keep(t: Any, shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """A reduction's result (keepdims or not) with its reduced axes as size 1: it broadcasts
    against the input's `shape`. Works on arrays and on Tensors (a recorded reshape)."""
    return t.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _shift(t: Any, axis: int, by: int, fill: int) -> Any:
    """`t` moved `by` = ±1 places along `axis` (outₖ = t_{k−by}), the freed end set to `fill`
    (0 or 1). A permutation index and constant masks: differentiable on Tensors."""
    n = t.shape[axis]
    moved = t[(slice(None),) * axis + (np.roll(np.arange(n), by),)]
    edge = np.zeros((n,) + (1,) * (t.ndim - 1 - axis), dtype=t.dtype)
    edge[slice(0, 1) if by > 0 else slice(n - 1, n)] = 1  # the freed end (none if n = 0)
    out = moved * (1 - edge)
    return out + edge if fill else out


def _share(a: np.ndarray, m: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """1/(number of ties) where `a` equals its reduced extreme `m` (kept dims), else 0; a NaN
    extreme goes to the NaNs it came from (torch.amax's rule)."""
    tied = (a == m) | (np.isnan(a) & np.isnan(m))
    return tied / tied.sum(axis=axes, keepdims=True)


class Sum(Function):
    """s = Σ x over `axis`;  ∂s/∂x = 1 for every summed element."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ctx.axes, ctx.shape = _axes("sum", axis, x.ndim), x.shape
        return np.sum(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.broadcast_to(_keep(g, ctx.shape, ctx.axes), ctx.shape),)


class Mean(Function):
    """μ = (1/N) Σ x over `axis`;  ∂μ/∂x = 1/N."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ctx.axes, ctx.shape = _axes("mean", axis, x.ndim), x.shape
        ctx.n = math.prod(x.shape[i] for i in ctx.axes) or 1
        return np.mean(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.broadcast_to(_keep(g / ctx.n, ctx.shape, ctx.axes), ctx.shape),)


class Max(Function):
    """m = max x over `axis`;  ∂m/∂xᵢ = [xᵢ = m] / #{j: xⱼ = m} (ties share it evenly)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        _real_only(ctx.name, x)
        ctx.axes, ctx.shape = _axes(ctx.name, axis, x.ndim), x.shape
        out = (np.max if ctx.name == "max" else np.min)(x, axis=ctx.axes, keepdims=keepdims)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        x, out = ctx.saved_tensors
        share = _share(values(x), _keep(values(out), ctx.shape, ctx.axes), ctx.axes)
        return (_keep(g, ctx.shape, ctx.axes) * share.astype(x.dtype),)


class Min(Max):
    """m = min x over `axis`;  ∂m/∂xᵢ = [xᵢ = m] / #{j: xⱼ = m} (ties share it evenly)."""


class Prod(Function):
    """p = Π x over `axis`;  ∂p/∂xᵢ = Π_{j≠i} xⱼ (products from the left times from the right)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ctx.axes, ctx.shape = _axes("prod", axis, x.ndim), x.shape
        ctx.save_for_backward(x)
        return np.prod(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        # The reduced axes last, as one axis of n elements; exclusive running products from
        # each end multiply to the product of the others: exact with zeros, no division.
        (x,) = ctx.saved_tensors
        shape, axes = ctx.shape, ctx.axes
        perm = tuple(i for i in range(len(shape)) if i not in axes) + axes
        kept = tuple(shape[i] for i in perm[: len(shape) - len(axes)])
        y = np.transpose(x, perm).reshape(kept + (math.prod(shape[i] for i in axes),))
        last, flip = y.ndim - 1, (Ellipsis, slice(None, None, -1))
        left = _shift(np.cumprod(y, axis=last), last, 1, 1)
        right = _shift(np.cumprod(y[flip], axis=last), last, 1, 1)[flip]
        others = (left * right).reshape(tuple(shape[i] for i in perm))
        return (_keep(g, shape, axes) * np.transpose(others, tuple(np.argsort(perm))),)


class Cumsum(Function):
    """sₖ = Σ_{j≤k} xⱼ along `axis`;  ∂L/∂xⱼ = Σ_{k≥j} gₖ (a running sum from the end)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: int) -> np.ndarray:
        ctx.axis = axis
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        rev = (slice(None),) * ctx.axis + (slice(None, None, -1),)
        return (np.cumsum(g[rev], axis=ctx.axis)[rev],)


class Cumprod(Function):
    """pₖ = Π_{j≤k} xⱼ along `axis`;  ∂L/∂xᵢ = p_{i−1} λᵢ, λᵢ = gᵢ + x_{i+1} λ_{i+1} (p₋₁ = 1)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: int) -> np.ndarray:
        ctx.axis = axis
        p = np.cumprod(x, axis=axis)
        ctx.save_for_backward(x, p)
        return p

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        # λᵢ = Σ_{k≥i} gₖ Π_{i<j≤k} xⱼ is a linear recurrence run from the end (`scan`), so the
        # gradient Σ_{k≥i} gₖ Π_{j≤k, j≠i} xⱼ = p_{i−1} λᵢ needs no division: exact with zeros.
        x, p = ctx.saved_tensors
        lam = scan(_shift(x, ctx.axis, -1, 0), g, ctx.axis, reverse=True)
        return (lam * _shift(p, ctx.axis, 1, 1),)


def _scan(a: np.ndarray, b: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """hₖ = aₖ h_{k∓1} + bₖ along `axis` on arrays, one step per element of the axis."""
    a, b = np.broadcast_arrays(a, b)
    h = np.moveaxis(np.array(b, dtype=np.result_type(a, b)), axis, 0)
    a = np.moveaxis(a, axis, 0)
    for k in range(len(h) - 2, -1, -1) if reverse else range(1, len(h)):
        h[k] += a[k] * h[k + 1 if reverse else k - 1]
    return np.moveaxis(h, 0, axis)


class Scan(Function):
    """hₖ = aₖ h_{k−1} + bₖ (from the end if reverse: hₖ = aₖ h_{k+1} + bₖ);  ∂L/∂b = λ, the
    scan of g the other way with a moved one place, ∂L/∂aₖ = λₖ h_{k∓1}."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
        ctx.axis, ctx.reverse = axis, reverse
        h = _scan(a, b, axis, reverse)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, h = ctx.saved_tensors
        by = 1 if ctx.reverse else -1  # the adjoint recurrence uses a_{k+1} (forward scan)
        lam = scan(_shift(a, ctx.axis, by, 0), g, ctx.axis, reverse=not ctx.reverse)
        ga = lam * _shift(h, ctx.axis, -by, 0) if ctx.needs_input_grad[0] else None
        return ga, lam


def scan(a: Any, b: Any, axis: int, reverse: bool = False) -> Any:
    """The linear recurrence hₖ = aₖ h_{k−1} + bₖ along `axis` (h₋₁ = 0, a₀ unused; from the end
    if `reverse`). Arrays in, an array out; a Tensor in, a recorded op (cumprod's backward)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return Scan.apply(a, b, axis=axis, reverse=reverse)
    return _scan(a, b, axis, reverse)


def _spread(ctx: Any, x: np.ndarray, axis: Any, ddof: int) -> None:
    """Forward of var/std: check, note the axes and N − ddof."""
    _real_only(ctx.name, x)
    ctx.axes, ctx.shape = _axes(ctx.name, axis, x.ndim), x.shape
    ctx.dof = math.prod(x.shape[i] for i in ctx.axes) - ddof


class Var(Function):
    """v = Σ (x − μ)² / (N − ddof) over `axis`;  ∂v/∂xᵢ = 2 (xᵢ − μ) / (N − ddof)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, ddof: int = 0,
                keepdims: bool = False) -> np.ndarray:
        _spread(ctx, x, axis, ddof)
        ctx.save_for_backward(x)
        return np.var(x, axis=ctx.axes, ddof=ddof, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        dev = x - x.mean(axis=ctx.axes, keepdims=True)
        scale = 2.0 / ctx.dof if ctx.dof > 0 else np.nan  # N − ddof ≤ 0: NumPy's nan/inf value
        return (_keep(g, ctx.shape, ctx.axes) * dev * scale,)


class Std(Function):
    """s = √var over `axis`;  ∂s/∂xᵢ = (xᵢ − μ) / ((N − ddof) s), 0 where all xᵢ are equal."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, ddof: int = 0,
                keepdims: bool = False) -> np.ndarray:
        _spread(ctx, x, axis, ddof)
        s = np.std(x, axis=ctx.axes, ddof=ddof, keepdims=keepdims)
        ctx.save_for_backward(x, s)
        return s

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        # "All equal" rather than s == 0: NumPy's s can be ~1e-17 where the values are equal.
        x, s = ctx.saved_tensors
        xv, axes = values(x), ctx.axes
        flat = (xv.max(axis=axes, keepdims=True, initial=-np.inf)
                == xv.min(axis=axes, keepdims=True, initial=np.inf)).astype(x.dtype)
        dof = ctx.dof if ctx.dof > 0 else np.nan
        scale = _keep(g, ctx.shape, axes) / (_keep(s, ctx.shape, axes) + flat) * (1 - flat)
        return ((x - x.mean(axis=axes, keepdims=True)) * scale / dof,)


class LogSumExp(Function):
    """l = log Σ exp x over `axis` (as m + log Σ exp(x − m), m = max Re x);  ∂l/∂x = exp(x − l)."""

    name = "logsumexp"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ctx.axes, ctx.shape = _axes("logsumexp", axis, x.ndim), x.shape
        m = np.max(x.real, axis=ctx.axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)  # all −inf (or an inf): no shift needed
        with np.errstate(divide="ignore"):   # log 0 = −inf where every term is exp(−inf)
            out = np.log(np.sum(np.exp(x - m), axis=ctx.axes, keepdims=True)) + m
        out = out if keepdims else np.squeeze(out, axis=ctx.axes)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        x, out = ctx.saved_tensors  # the softmax, recomputed from input and output
        return (_keep(g, ctx.shape, ctx.axes) * np.exp(x - _keep(out, ctx.shape, ctx.axes)),)


class Norm(Function):
    """‖x‖ over `axis`: ord 2 √Σx² (∂ = x/‖x‖, 0 at 0), 1 Σ|x| (∂ = sign x), ±inf max/min |x|."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, ord: Any, axes: tuple, keepdims: bool) -> np.ndarray:  # noqa: A002
        _real_only("norm", x)
        ctx.ord, ctx.axes, ctx.shape = ord, axes, x.shape
        reduce = np.sum if ord == 1 else np.max if ord > 0 else np.min
        out = (np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims)) if ord == 2
               else reduce(np.abs(x), axis=axes, keepdims=keepdims))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        x, out = ctx.saved_tensors
        shape, axes = ctx.shape, ctx.axes
        gk, xv = _keep(g, shape, axes), values(x)
        if ctx.ord == 2:  # x · g/‖x‖, with the factor 0 (a constant) where ‖x‖ = 0
            zero = (_keep(values(out), shape, axes) == 0).astype(x.dtype)
            return (x * (gk / (_keep(out, shape, axes) + zero) * (1 - zero)),)
        sign = np.sign(xv)
        if ctx.ord == 1:
            return (gk * sign,)
        share = _share(np.abs(xv), _keep(values(out), shape, axes), axes)
        return (gk * (sign * share).astype(x.dtype),)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ of the elements over `axis` (all by default), like `np.sum`."""
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all by default), like `np.mean`."""
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest element over `axis`, like `np.max`; tied maxima share the gradient evenly."""
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest element over `axis`, like `np.min`; tied minima share the gradient evenly."""
    return Min.apply(x, axis=axis, keepdims=keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product of the elements over `axis`, like `np.prod` (exact gradient with zeros)."""
    return Prod.apply(x, axis=axis, keepdims=keepdims)


def var(x: Any, axis: Any = None, *, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance Σ(x − μ)²/(N − ddof) over `axis`, like `np.var`."""
    return Var.apply(x, axis=axis, ddof=ddof, keepdims=keepdims)


def std(x: Any, axis: Any = None, *, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation √var over `axis`, like `np.std` (gradient 0 at zero variance)."""
    return Std.apply(x, axis=axis, ddof=ddof, keepdims=keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log Σ exp x over `axis`, computed without overflow (like scipy.special.logsumexp)."""
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)


def _one_axis(fn: str, x: Any, axis: Any) -> tuple[Tensor, int]:
    """x and its scan axis in [0, ndim); axis None flattens x (NumPy's rule)."""
    t = as_tensor(x)
    if axis is None:
        return t.reshape(-1), 0
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{fn}: axis must be an integer or None, got {axis!r}")
    return t, _normalize(fn, axis, t.ndim)[0]


def cumsum(x: Any, axis: Any = None) -> Tensor:
    """Running sums along `axis` (of the flattened x if None), like `np.cumsum`."""
    t, axis = _one_axis("cumsum", x, axis)
    return Cumsum.apply(t, axis=axis)


def cumprod(x: Any, axis: Any = None) -> Tensor:
    """Running products along `axis` (of the flattened x if None), like `np.cumprod`."""
    t, axis = _one_axis("cumprod", x, axis)
    return Cumprod.apply(t, axis=axis)


_SUPPORTED = ("supported: vector ord 1, 2, inf, -inf (axis an int, or x 1-D) and matrix "
              "ord 'fro' (axis a 2-tuple, or x 2-D); ord=None is 2 for vectors, 'fro' for matrices")


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002
    """Vector or matrix norm, like `np.linalg.norm`: vector ord 1, 2, ±inf; matrix 'fro'.

    With axis None: x of any shape and ord None is the 2-norm of all elements; otherwise x
    must be 1-D (a vector ord) or 2-D (a matrix ord). The 2-norm's gradient at 0 is 0."""
    t = as_tensor(x)
    if axis is None:
        axes = tuple(range(t.ndim))
        if ord is not None and t.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} with axis=None needs x 1-D or 2-D, got x of "
                             f"shape {t.shape}")
    else:
        axes = _normalize("norm", axis, t.ndim)
        if len(axes) not in (1, 2):
            raise ValueError(f"norm: axis must name 1 axis (vector norm) or 2 (matrix norm), "
                             f"got {axis!r}")
    matrix = len(axes) == 2 and (axis is not None or ord is not None)
    if matrix and ord in (None, "fro"):
        ord = 2  # noqa: A001  (Frobenius: the 2-norm of all the matrix's elements)
    elif matrix or isinstance(ord, str) or ord not in (None, 1, 2, np.inf, -np.inf):
        kind = "matrix" if matrix else "vector"
        raise ValueError(f"norm: ord={ord!r} is not supported for a {kind} norm; {_SUPPORTED}")
    return Norm.apply(t, ord=2 if ord is None else ord, axes=axes, keepdims=keepdims)


NUMPY = {np.sum: sum, np.mean: mean, np.max: max, np.amax: max, np.min: min, np.amin: min,
         np.prod: prod, np.cumsum: cumsum, np.cumprod: cumprod, np.var: var, np.std: std,
         np.linalg.norm: norm}
METHODS = {"max": max, "min": min, "prod": prod, "cumsum": cumsum, "cumprod": cumprod,
           "var": var, "std": std, "logsumexp": logsumexp, "norm": norm}
