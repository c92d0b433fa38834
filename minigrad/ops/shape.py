"""Shape ops: reshape, transpose, indexing, and the notes' stacking `[a; x]` (concat)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor

__all__ = ["concat", "contiguous", "getitem", "reshape", "split", "stack", "transpose"]


class Reshape(Function):
    """Same elements, new shape; the gradient is reshaped back."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g.reshape(ctx.shape),)


class Transpose(Function):
    """Permute axes; the gradient is permuted back with the inverse permutation."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axes: tuple[int, ...] | None = None) -> np.ndarray:
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        if ctx.axes is None:
            return (g.transpose(),)
        return (g.transpose(np.argsort(ctx.axes)),)


def _picks_each_element_once(index: Any) -> bool:
    """True if `index` cannot pick an element twice: only ints, slices, None and Ellipsis, or
    one integer array without repeats (e.g. the columns of W of distinct token ids)."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i in items if isinstance(i, np.ndarray)]
    if not all(isinstance(i, (int, np.integer, slice, np.ndarray)) or i is None or i is Ellipsis
               for i in items):
        return False
    if not arrays:
        return True
    a = arrays[0]
    return (len(arrays) == 1 and a.dtype.kind in "iu" and a.ndim == 1
            and (a.size <= 1 or (a.min() >= 0 and np.unique(a).size == a.size)))


class GetItem(Function):
    """z = x[index];  the gradient is scattered back: zeros with g added at the indexed places.

    Integer-array indices may repeat an element (e.g. gathering the columns of `W` picked by
    token ids): the scatter then adds (`np.add.at`), so repeated columns get the sum.
    """

    name = "index"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, index: Any) -> np.ndarray:
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        return x[index]

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        out = np.zeros(ctx.shape, dtype=np.result_type(ctx.dtype, g.dtype))
        if _picks_each_element_once(ctx.index):
            out[ctx.index] = g
        else:                          # repeated picks add up (np.add.at is the slow path)
            np.add.at(out, ctx.index, g)
        return (out,)


class Contiguous(Function):
    """z = x laid out contiguously in memory (a copy only if x is a strided view); ∂z/∂x = 1.

    Products with a strided view such as the state columns `W[:, :n_a]` run about twice as
    slow as with the same numbers stored contiguously (PyTorch's `Tensor.contiguous()`).
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x) if x.ndim else x.copy()

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g,)


def _places(bounds: Sequence[int], axis: int) -> list[tuple[slice, ...]]:
    """Index tuples of the pieces between consecutive `bounds` along `axis`: `x[places[k]]`."""
    head = (slice(None),) * axis
    return [head + (slice(lo, hi),) for lo, hi in zip(bounds[:-1], bounds[1:])]


class Concat(Function):
    """z = [a; b; ...] along `axis` (the notes' state-first stacking [a⟨t−1⟩; x⟨t⟩]).

    The gradient is cut back into the pieces' sizes.
    """

    @staticmethod
    def forward(ctx: Any, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        try:
            out = np.concatenate(xs, axis=axis)
        except ValueError:
            shapes = " and ".join(str(x.shape) for x in xs)
            raise ValueError(
                f"concat: shapes {shapes} differ outside axis {axis}; every piece must match "
                f"the others on all axes but the one they are stacked along"
            ) from None
        ctx.places = _places([0, *accumulate(x.shape[axis] for x in xs)], axis % out.ndim)
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return tuple(g[place] for place in ctx.places)


class Split(Function):
    """(z₁, …, z_k) = pieces of x between `bounds` along `axis` (views, no copy).

    One record with k outputs: the backward concatenates the k gradients (zeros for pieces
    nobody used), so splitting a sequence into T_x steps costs O(size), not O(T_x · size).
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, bounds: tuple[int, ...], axis: int) -> tuple:
        ctx.axis, ctx.dtype, ctx.shape = axis, x.dtype, x.shape
        ctx.places = _places(bounds, axis)
        # np.split semantics: indices that go backwards give empty or overlapping pieces
        ctx.tiles = all(lo <= hi for lo, hi in zip(bounds[:-1], bounds[1:]))
        return tuple(x[place] for place in ctx.places)

    @staticmethod
    def backward(ctx: Any, *grads: np.ndarray) -> tuple:
        dtype = np.result_type(ctx.dtype, *grads)
        if ctx.tiles:  # the pieces tile x (the engine passes zeros for unused ones): join them
            return (np.concatenate(grads, axis=ctx.axis).astype(dtype, copy=False),)
        out = np.zeros(ctx.shape, dtype=dtype)
        for place, g in zip(ctx.places, grads):
            out[place] += g
        return (out,)


class Stack(Function):
    """z = stack(xs) along a new `axis`; the gradient is unstacked."""

    @staticmethod
    def forward(ctx: Any, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        try:
            out = np.stack(xs, axis=axis)
        except ValueError:
            shapes = " and ".join(str(x.shape) for x in xs)
            raise ValueError(f"stack: all pieces must have one shape, got {shapes}") from None
        ctx.axis = axis if axis >= 0 else axis + out.ndim
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return tuple(np.moveaxis(g, ctx.axis, 0))


def contiguous(x: Any) -> Tensor:
    """`x` stored contiguously (C order), e.g. a column block `W[:, :n_a]` before many products."""
    return Contiguous.apply(x)


def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    """`x` with a new shape (one entry may be -1)."""
    return Reshape.apply(x, shape=tuple(shape))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes of `x` (reverse them by default)."""
    if axes is not None:
        nd = np.ndim(x.data if isinstance(x, Tensor) else x)
        axes = tuple(int(a) + nd if int(a) < 0 else int(a) for a in axes)
    return Transpose.apply(x, axes=axes)


def _index_part(i: Any) -> Any:
    """One component of an index: arrays are copied (the tape keeps them until backward)."""
    if isinstance(i, Tensor):
        raise TypeError(
            "index: Tensors hold floats, so they cannot index; index with a NumPy integer or "
            "boolean array (e.g. t[ids] with ids = np.array([...]))"
        )
    if isinstance(i, list):
        return np.array(i) if i else np.zeros(0, dtype=np.intp)
    if isinstance(i, np.ndarray):
        return i.copy()
    return i


def getitem(x: Any, index: Any) -> Tensor:
    """`x[index]` with NumPy semantics (basic slices, integer arrays, boolean masks)."""
    if isinstance(index, tuple):
        index = tuple(_index_part(i) for i in index)
    else:
        index = _index_part(index)
    return GetItem.apply(x, index=index)


def concat(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Concatenate along `axis`: `concat([a, x])` is the notes' [a; x] for column vectors."""
    if len(tensors) == 0:
        raise ValueError("concat: needs at least one tensor")
    ndim = np.ndim(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    if not -ndim <= axis < ndim:
        raise ValueError(f"concat: axis {axis} is out of range for {ndim}-d pieces")
    return Concat.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Stack equally shaped tensors along a new `axis`."""
    if len(tensors) == 0:
        raise ValueError("stack: needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split `x` like `np.split`: into N equal parts, or at the given indices along `axis`."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    n = t.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(
                f"split: axis {axis} of shape {t.shape} has length {n}, which does not divide "
                f"into {k} equal sections"
            )
        bounds = list(range(0, n + 1, n // k)) if n else [0] * (k + 1)
    else:
        inner = [min(max(int(i) + n if int(i) < 0 else int(i), 0), n)
                 for i in indices_or_sections]
        bounds = [0, *inner, n]
    return list(Split.apply(t, bounds=tuple(bounds), axis=axis % t.ndim))
