"""Reductions: Σ and mean; backward spreads the gradient back over the reduced axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor

__all__ = ["mean", "sum"]


def _expand(g: np.ndarray, shape: tuple[int, ...], axis: Any, keepdims: bool) -> np.ndarray:
    """Put back the reduced axes of `g` (as size 1) so it broadcasts against `shape`."""
    if axis is None or keepdims:
        return np.broadcast_to(g.reshape(g.shape if keepdims else (1,) * len(shape)), shape)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(a % len(shape) for a in axes)
    return np.broadcast_to(np.expand_dims(g, axes), shape)


class Sum(Function):
    """s = Σ x over `axis`;  ∂s/∂x = 1 for every summed element."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (_expand(g, ctx.shape, ctx.axis, ctx.keepdims),)


class Mean(Function):
    """μ = (1/N) Σ x over `axis`;  ∂μ/∂x = 1/N."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        out = np.mean(x, axis=axis, keepdims=keepdims)
        ctx.n = x.size // max(np.size(out), 1) if x.size else 1
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (_expand(g / ctx.n, ctx.shape, ctx.axis, ctx.keepdims),)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ of the elements over `axis` (all by default), like `np.sum`."""
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all by default), like `np.mean`."""
    return Mean.apply(x, axis=axis, keepdims=keepdims)


NUMPY = {np.sum: sum, np.mean: mean}
