"""Shape ops: reshape, transpose, and the notes' stacking `[a; x]` (concat), split, stack."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .indexing import scatter_add

__all__ = ["astype", "concat", "contiguous", "copy", "reshape", "split", "stack",
           "transpose"]


class Reshape(Function):
    """Same elements, new shape; the gradient is reshaped back."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except (TypeError, ValueError) as err:
            raise _reshape_error(x.shape, shape, err) from None

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g.reshape(ctx.shape),)


def _reshape_error(old: tuple[int, ...], shape: tuple, err: Exception) -> Exception:
    """Why `old` cannot take `shape`: non-integer, negative or two inferred sizes, or a count
    of elements that differs."""
    try:
        sizes = [operator.index(n) for n in shape]
    except TypeError:
        return TypeError(f"reshape: shape must be integers, got {shape} for a tensor of shape "
                         f"{old}")
    size, known = int(np.prod(old)), int(np.prod([n for n in sizes if n != -1]))
    if sizes.count(-1) > 1:
        return ValueError(f"reshape: shape {shape} has more than one -1; only one size can be "
                          "inferred")
    if any(n < -1 for n in sizes):
        bad = next(n for n in sizes if n < -1)
        return ValueError(f"reshape: shape {shape} has the negative size {bad}; sizes are >= 0, "
                          "or -1 for the one inferred size")
    if -1 in sizes:
        return ValueError(f"reshape: cannot reshape a tensor of shape {old} into {shape}: "
                          f"{size} elements do not divide by {known}")
    if size != known:
        return ValueError(f"reshape: cannot reshape a tensor of shape {old} ({size} elements) "
                          f"into {shape} ({known} elements); the sizes must multiply to {size}")
    return type(err)(f"reshape: tensor of shape {old} into {shape}: {err}")


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
        return (g.transpose(tuple(np.argsort(ctx.axes).tolist())),)


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


class Copy(Function):
    """z = a copy of x (`ndarray.copy`), or x cast to another floating dtype (`astype`);
    ∂L/∂x = g, cast back to x's dtype."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, dtype: Any = None) -> np.ndarray:
        ctx.dtype = x.dtype
        return x.astype(dtype if dtype is not None else x.dtype, copy=True)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g if g.dtype == ctx.dtype else g.astype(ctx.dtype),)


def copy(x: Any) -> Tensor:
    """A copy of `x` with its own memory (on the tape: the gradient passes unchanged)."""
    return Copy.apply(x)


def astype(x: Any, dtype: Any) -> Tensor:
    """`x` cast to float32, float64 or complex128 (real to real, or complex to complex: a cast
    between them has no complex derivative); the gradient is cast back."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    new = np.dtype(dtype)
    if new not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.complex128)):
        raise TypeError(f"astype: dtype must be float32, float64 or complex128, got {new}")
    if (new.kind == "c") != (t.dtype.kind == "c"):
        raise TypeError(f"astype: cannot cast {t.dtype} to {new} on the tape (a cast between "
                        "real and complex has no complex derivative); cast t.data instead")
    return t if new == t.dtype else Copy.apply(t, dtype=new)


def _places(bounds: Sequence[int], axis: int) -> list[tuple[slice, ...]]:
    """Index tuples of the pieces between consecutive `bounds` along `axis`: `x[places[k]]`."""
    head = (slice(None),) * axis
    return [head + (slice(lo, hi),) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _first_mismatch(shapes: list[tuple[int, ...]], same: Any) -> tuple[int, int]:
    """Indices (0, k) of the first piece k whose shape is not `same` as piece 0's."""
    return 0, next((k for k in range(1, len(shapes)) if not same(shapes[0], shapes[k])),
                   len(shapes) - 1)


def _concat_error(xs: tuple[np.ndarray, ...], axis: int) -> ValueError:
    """The first two pieces that cannot be joined along `axis`, and why."""
    shapes = [x.shape for x in xs]
    i, k = _first_mismatch(shapes, lambda s, t: len(s) == len(t))
    if len(shapes[i]) != len(shapes[k]):
        return ValueError(f"concat: piece {i} has shape {shapes[i]} ({len(shapes[i])}-D) and "
                          f"piece {k} has shape {shapes[k]} ({len(shapes[k])}-D); every piece "
                          "needs the same number of dims")
    ax = axis % len(shapes[0])
    i, k = _first_mismatch(shapes, lambda s, t: s[:ax] + s[ax + 1:] == t[:ax] + t[ax + 1:])
    which = f" (pieces {i} and {k})" if len(shapes) > 2 else ""
    return ValueError(f"concat: shapes {shapes[i]} and {shapes[k]}{which} differ outside axis "
                      f"{axis}; every piece must match the others on all axes but the one they "
                      "are stacked along")


class Concat(Function):
    """z = [a; b; ...] along `axis` (the notes' state-first stacking [a⟨t−1⟩; x⟨t⟩]).

    The gradient is cut back into the pieces' sizes.
    """

    @staticmethod
    def forward(ctx: Any, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        try:
            out = np.concatenate(xs, axis=axis)
        except ValueError:
            raise _concat_error(xs, axis) from None
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
        ctx.axis, ctx.shape = axis, x.shape
        ctx.places = _places(bounds, axis)
        # np.split semantics: indices that go backwards give empty or overlapping pieces
        ctx.tiles = all(lo <= hi for lo, hi in zip(bounds[:-1], bounds[1:]))
        return tuple(x[place] for place in ctx.places)

    @staticmethod
    def backward(ctx: Any, *grads: np.ndarray) -> tuple:
        if ctx.tiles:  # the pieces tile x (the engine passes zeros for unused ones): join them
            return (np.concatenate(grads, axis=ctx.axis),)
        total = None   # overlapping or empty pieces: each gradient added back at its place
        for place, g in zip(ctx.places, grads):
            part = scatter_add(g, place, ctx.shape)
            total = part if total is None else total + part
        return (total,)


class Stack(Function):
    """z = stack(xs) along a new `axis`; the gradient is unstacked."""

    @staticmethod
    def forward(ctx: Any, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        try:
            out = np.stack(xs, axis=axis)
        except ValueError:
            shapes = [x.shape for x in xs]
            i, k = _first_mismatch(shapes, operator.eq)
            which = f" (pieces {i} and {k})" if len(shapes) > 2 else ""
            raise ValueError(f"stack: all pieces must have one shape, got {shapes[i]} and "
                             f"{shapes[k]}{which}") from None
        ctx.axis = axis if axis >= 0 else axis + out.ndim
        return out

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        head = (slice(None),) * ctx.axis
        return tuple(g[head + (k,)] for k in range(g.shape[ctx.axis]))


def contiguous(x: Any) -> Tensor:
    """`x` stored contiguously (C order), e.g. a column block `W[:, :n_a]` before many products."""
    return Contiguous.apply(x)


def reshape(x: Any, shape: Any) -> Tensor:
    """`x` with a new shape (one entry may be -1; an int n means (n,))."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    elif not isinstance(shape, (tuple, list, np.ndarray)):
        raise TypeError(f"reshape: shape must be a sequence of integers, got {shape!r}")
    elif len(shape) == 1 and isinstance(shape[0], np.ndarray):   # t.reshape(np.array([3, 2]))
        shape = shape[0].tolist()
    return Reshape.apply(x, shape=tuple(shape))


def _axis(fn: str, axis: Any, ndim: int, shape: tuple[int, ...], where: str) -> int:
    """`axis` as an index in [0, ndim), or an error naming `fn`, the axis and the valid range;
    `where` describes the inputs of `shape` (a template, formatted only for the message)."""
    if type(axis) is not int:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            hint = (" (to join the pieces flat, concat([a.reshape(-1), b.reshape(-1)]))"
                    if fn == "concat" and axis is None else "")
            raise TypeError(f"{fn}: axis must be an integer, got {axis!r}{hint}")
        axis = int(axis)
    if not -ndim <= axis < ndim:
        where = where.format(d=len(shape), r=ndim, shape=shape)
        raise ValueError(f"{fn}: axis {axis} is out of range for {where}axis must be in "
                         f"[{-ndim}, {ndim - 1}])")
    return axis + ndim if axis < 0 else axis


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute the axes of `x` (reverse them by default); `axes` lists each axis once."""
    if axes is not None:
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        nd = len(shape)
        try:
            given = (tuple(map(operator.index, axes)) if isinstance(axes, (tuple, list))
                     else (operator.index(axes),))
        except TypeError:
            raise TypeError(f"transpose: axes must be integers, got {axes!r}") from None
        axes = tuple([a + nd if a < 0 else a for a in given])
        if sorted(axes) != list(range(nd)):
            raise ValueError(
                f"transpose: axes {tuple(given)} are not a permutation of the axes of shape "
                f"{shape}; pass each of 0..{nd - 1} once (negative counts from the end), e.g. "
                f"{tuple(range(nd - 1, -1, -1))}")
    return Transpose.apply(x, axes=axes)


def _pieces(fn: str, tensors: Any) -> Sequence[Any]:
    """`tensors` if it is a list or tuple, else a TypeError naming `fn` (as in PyTorch)."""
    if isinstance(tensors, (list, tuple)):
        return tensors
    if isinstance(tensors, (Tensor, np.ndarray)):
        got, fix = f"a {type(tensors).__name__} of shape {tensors.shape}", f"{fn}([a, b])"
    else:
        got, fix = f"a {type(tensors).__name__}", f"{fn}(list(...))"
    raise TypeError(f"{fn}: tensors must be a list or tuple of tensors, got {got}; pass {fix}")


def concat(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Concatenate along `axis`: `concat([a, x])` is the notes' [a; x] for column vectors."""
    tensors = _pieces("concat", tensors)
    if len(tensors) == 0:
        raise ValueError("concat: needs at least one tensor")
    first = tensors[0]
    shape = first.data.shape if isinstance(first, Tensor) else np.shape(first)
    if not shape:
        raise ValueError("concat: 0-D inputs have no axis to join along; use stack (or "
                         "reshape them to 1-D)")
    axis = _axis("concat", axis, len(shape), shape, "{d}-D inputs (")
    return Concat.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Stack equally shaped tensors along a new `axis`."""
    tensors = _pieces("stack", tensors)
    if len(tensors) == 0:
        raise ValueError("stack: needs at least one tensor")
    first = tensors[0]
    shape = first.data.shape if isinstance(first, Tensor) else np.shape(first)
    axis = _axis("stack", axis, len(shape) + 1, shape, "{d}-D inputs (the result has {r} dims; ")
    return Stack.apply(*tensors, axis=axis)


def _split_points(indices: Any) -> list[int]:
    """The integer split points of `split`, or a TypeError saying what it takes."""
    try:
        if isinstance(indices, (str, Tensor)):
            raise TypeError
        return [operator.index(i) for i in indices]
    except TypeError:
        raise TypeError(
            "split: indices_or_sections must be a number of equal sections or a list of integer "
            f"split points (e.g. split(x, 3) or split(x, [1, 4])), got {indices!r}") from None


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split `x` like `np.split`: into N equal parts, or at the given indices along `axis`."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    if t.ndim == 0:
        raise ValueError("split: a 0-D tensor has no axis to split along; reshape it to 1-D "
                         "first (x.reshape(1))")
    given, axis = axis, _axis("split", axis, t.ndim, t.shape, "a tensor of shape {shape} ({d}-D; ")
    n = t.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(
            indices_or_sections, bool):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError(f"split: sections must be a positive integer, got {k}")
        if n % k:
            raise ValueError(
                f"split: axis {given} of shape {t.shape} has length {n}, which does not divide "
                f"into {k} equal sections"
            )
        bounds = list(range(0, n + 1, n // k)) if n else [0] * (k + 1)
    else:
        inner = [min(max(i + n if i < 0 else i, 0), n)
                 for i in _split_points(indices_or_sections)]
        bounds = [0, *inner, n]
    return list(Split.apply(t, bounds=tuple(bounds), axis=axis))


NUMPY = {np.concatenate: concat, np.stack: stack, np.reshape: reshape, np.transpose: transpose,
         np.split: split}
METHODS = {"contiguous": contiguous, "copy": copy, "astype": astype}
