"""Indexing: `x[index]` (slices, integer arrays, boolean masks) and its adjoint, scatter-add."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor

__all__ = ["getitem", "scatter_add"]


def _picks_each_element_once(index: Any) -> bool:
    """True if `index` cannot pick an element twice: only ints, slices, None and Ellipsis, and
    1-D integer arrays of one length, non-negative, of which one has no repeats (e.g. the
    columns of W of distinct token ids, or the (rows, cols) of a diagonal)."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i in items if isinstance(i, np.ndarray)]
    if not all(isinstance(i, (int, np.integer, slice, np.ndarray)) or i is None or i is Ellipsis
               for i in items):
        return False
    if not arrays:
        return True
    n = arrays[0].size
    if not all(a.dtype.kind in "iu" and a.ndim == 1 and a.size == n for a in arrays):
        return False
    return n <= 1 or (all(a.min() >= 0 for a in arrays)
                      and any(np.unique(a).size == n for a in arrays))


class GetItem(Function):
    """z = x[index];  the gradient is scattered back: zeros with g added at the indexed places.

    Integer-array indices may repeat an element (e.g. gathering the columns of `W` picked by
    token ids): the scatter then adds (`np.add.at`), so repeated columns get the sum.
    """

    name = "index"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, index: Any) -> np.ndarray:
        ctx.shape, ctx.index = x.shape, index
        try:
            return x[index]
        except IndexError as err:
            raise IndexError(f"index: cannot index a tensor of shape {x.shape} with "
                             f"{_describe_index(index)}: {err}") from None

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (scatter_add(g, ctx.index, ctx.shape),)


def _scatter(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """zeros(shape) with g added at `index`, on arrays."""
    out = np.zeros(shape, dtype=g.dtype)
    try:
        if _picks_each_element_once(index):
            out[index] = g
        else:                      # repeated picks add up (np.add.at is the slow path)
            np.add.at(out, index, g)
    except (IndexError, ValueError) as err:
        raise type(err)(f"scatter_add: cannot add values of shape {g.shape} at "
                        f"{_describe_index(index)} of a tensor of shape {shape}: {err}") from None
    return out


class ScatterAdd(Function):
    """z = zeros(shape) with g added at `index` (repeats add up);  ∂L/∂g = (∂L/∂z)[index].

    The adjoint of indexing: the backward of `x[index]`, and itself differentiable (its
    backward is indexing again), so an indexed tensor can be differentiated to any order.
    """

    name = "scatter_add"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, *, index: Any, shape: tuple[int, ...]) -> np.ndarray:
        ctx.index = index
        return _scatter(g, index, shape)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g[ctx.index],)


def scatter_add(values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """zeros(shape) with `values` added at `index`, repeats adding up (`np.add.at`): the adjoint
    of `x[index]`. Arrays in, an array out; a Tensor in, a recorded op."""
    if isinstance(values, Tensor):
        return ScatterAdd.apply(values, index=index, shape=tuple(shape))
    return _scatter(values, index, tuple(shape))


def _describe_index(index: Any) -> str:
    """`index` for a message: arrays by dtype and shape (they may be long), the rest by repr."""
    if isinstance(index, tuple):
        inner = ", ".join(_describe_index(i) for i in index)
        return f"({inner},)" if len(index) == 1 else f"({inner})"
    if isinstance(index, np.ndarray):
        article = "an" if index.dtype.name[0] in "aeio" else "a"
        return f"{article} {index.dtype} array of shape {index.shape}"
    return repr(index)




def _index_part(i: Any) -> Any:
    """One component of an index: arrays are copied (the tape keeps them until backward)."""
    if isinstance(i, Tensor):
        raise TypeError(
            "index: Tensors hold floats, so they cannot index; index with a NumPy integer or "
            "boolean array (e.g. t[ids] with ids = np.array([...]))"
        )
    if isinstance(i, list):
        if not i:
            return np.zeros(0, dtype=np.intp)
        try:
            return np.array(i)
        except ValueError:
            raise IndexError(f"index: the list {i!r} is not a rectangular list of integers; "
                             "index with integers, slices or a NumPy integer or boolean "
                             "array") from None
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
