"""Axis ops: add, drop, swap, move and broadcast axes. Each backward undoes its forward's
change of layout on the gradient (a `broadcast_to` sums over the stretched axes)."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..function import Function
from ..tape import unbroadcast
from ..tensor import Tensor

__all__ = ["broadcast_to", "expand_dims", "flatten", "moveaxis", "ravel", "squeeze",
           "swapaxes"]


def _normalize(fn: str, axes: Any, ndim: int, shape: tuple[int, ...] | None = None
               ) -> tuple[int, ...]:
    """`axes` (an int or a sequence of ints) as distinct indices in [0, ndim), or a clear error
    naming `fn` and the input's `shape` if given (`ndim` may differ: the result's, for
    expand_dims)."""
    try:
        given = (operator.index(axes),) if not isinstance(axes, (tuple, list)) else tuple(
            operator.index(a) for a in axes)
    except TypeError:
        raise TypeError(f"{fn}: axis must be an integer or a tuple of integers, got "
                        f"{axes!r}") from None
    out = []
    for a in given:
        if not -ndim <= a < ndim:
            where = (f"a tensor of {ndim} dims" if shape is None else f"a tensor of shape {shape}"
                     if len(shape) == ndim else f"the {ndim}-D result from a tensor of shape "
                     f"{shape}")
            raise ValueError(f"{fn}: axis {a} is out of range for {where} (axis must be in "
                             f"[{-ndim}, {ndim - 1}])")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: axis {given} repeats an axis"
                         f"{'' if shape is None else f' (input shape {shape})'}")
    return tuple(out)


class Reshaped(Function):
    """Same elements, in a shape that adds or drops axes of size 1 (`expand_dims`, `squeeze`,
    `ravel`); the gradient takes the input's shape back."""

    name = "reshape"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g.reshape(ctx.shape),)


def expand_dims(x: Any, axis: Any) -> Tensor:
    """`x` with new axes of size 1 at `axis` (positions in the result), like `np.expand_dims`."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    n = 1 if not isinstance(axis, (tuple, list)) else len(axis)
    axes = _normalize("expand_dims", axis, t.ndim + n, t.shape)
    shape = iter(t.shape)
    new = tuple(1 if i in axes else next(shape) for i in range(t.ndim + n))
    return Reshaped.apply(t, shape=new)


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """`x` without its axes of size 1 (only those in `axis` if given), like `np.squeeze`."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(t.shape) if n == 1)
    else:
        axes = _normalize("squeeze", axis, t.ndim, t.shape)
        for a in axes:
            if t.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {t.shape} has size {t.shape[a]}, "
                                 "not 1; only axes of size 1 can be removed")
    return Reshaped.apply(t, shape=tuple(n for i, n in enumerate(t.shape) if i not in axes))


def ravel(x: Any) -> Tensor:
    """The elements of `x` as a 1-D tensor (C order), like `np.ravel`."""
    return Reshaped.apply(x, shape=(-1,))


def flatten(x: Any) -> Tensor:
    """The elements of `x` as a 1-D tensor (C order), like `ndarray.flatten`."""
    return Reshaped.apply(x, shape=(-1,))


class SwapAxes(Function):
    """z = x with axes i and j exchanged; the gradient exchanges them back."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis1: int, axis2: int) -> np.ndarray:
        ctx.axis1, ctx.axis2 = axis1, axis2
        return x.swapaxes(axis1, axis2)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g.swapaxes(ctx.axis1, ctx.axis2),)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """`x` with `axis1` and `axis2` exchanged, like `np.swapaxes`."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    for axis in (axis1, axis2):
        if isinstance(axis, (tuple, list)):
            raise TypeError(f"swapaxes: axis1 and axis2 must be integers, got {axis!r}")
    (a,), (b,) = (_normalize("swapaxes", axis, t.ndim, t.shape) for axis in (axis1, axis2))
    return SwapAxes.apply(t, axis1=a, axis2=b)


class MoveAxis(Function):
    """z = x with axes `source` moved to positions `destination`; the gradient moves them back."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, source: tuple, destination: tuple) -> np.ndarray:
        ctx.source, ctx.destination = source, destination
        return np.moveaxis(x, source, destination)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.moveaxis(g, ctx.destination, ctx.source),)


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """`x` with axes moved from `source` to `destination` (ints or sequences), like NumPy's."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    src = _normalize("moveaxis", source, t.ndim, t.shape)
    dst = _normalize("moveaxis", destination, t.ndim, t.shape)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must "
                         "name as many axes")
    return MoveAxis.apply(t, source=src, destination=dst)


class BroadcastTo(Function):
    """z = x stretched to `shape` by NumPy's broadcasting;  ∂L/∂x = Σ g over the stretched axes."""

    name = "broadcast_to"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (unbroadcast(g, ctx.shape, ctx),)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """`x` broadcast to `shape` (a read-only view on the forward side), like NumPy's."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return BroadcastTo.apply(x, shape=shape)


NUMPY = {np.expand_dims: expand_dims, np.squeeze: squeeze, np.ravel: ravel,
         np.swapaxes: swapaxes, np.moveaxis: moveaxis, np.broadcast_to: broadcast_to}
METHODS = {"squeeze": squeeze, "ravel": ravel, "flatten": flatten, "swapaxes": swapaxes}
