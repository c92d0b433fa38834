"""Arranging elements: tile, repeat, flip, roll, pad, triu/tril and the diagonal family.

Each op moves, copies or masks elements without arithmetic, so each backward sends the
gradient back along the same map: copies add up (tile, repeat, pad's non-constant modes, by
reshape+sum or `scatter_add`), moves are undone (flip, roll), masks mask (triu, tril), and a
diagonal taken out is put back in zeros. Every backward is written with NumPy calls that
minigrad also runs on Tensors, so it can be differentiated again.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .axes import _normalize
from .indexing import scatter_add

__all__ = ["diag", "diagonal", "flip", "pad", "repeat", "roll", "tile", "trace", "tril", "triu"]


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _ints(fn: str, arg: str, value: Any) -> tuple[int, ...]:
    """`value` (an int or a sequence of ints) as a tuple, or a TypeError naming `fn` and `arg`."""
    try:
        if isinstance(value, (Tensor, str, float)):
            raise TypeError
        arr = np.asarray(value)
        if arr.ndim == 1 and arr.size == 0:
            return ()
        if arr.dtype.kind not in "iub" or arr.ndim > 1:
            raise TypeError
        return tuple(int(v) for v in arr.reshape(-1))
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {arg} must be an integer or a sequence of integers, got "
                        f"{value!r}") from None


# ------------------------------------------------------------------------------- tile, repeat


class Tile(Function):
    """z = x repeated `reps[i]` times along axis i (np.tile);  ∂L/∂x = Σ of g over the copies.

    With the output seen as shape (r₀, s₀, r₁, s₁, …), copy (j₀, j₁, …) is z[j₀, :, j₁, :, …],
    so the gradient is g.reshape(r₀, s₀, r₁, s₁, …).sum over the r axes.
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, reps: tuple[int, ...]) -> np.ndarray:
        d = max(x.ndim, len(reps))
        sides = (1,) * (d - x.ndim) + x.shape
        counts = (1,) * (d - len(reps)) + reps
        ctx.shape = x.shape
        ctx.split = tuple(n for pair in zip(counts, sides) for n in pair)
        ctx.copies = tuple(range(0, 2 * d, 2))
        return np.tile(x, reps)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        if not ctx.copies:
            return (g,)
        return (g.reshape(ctx.split).sum(axis=ctx.copies).reshape(ctx.shape),)


def tile(x: Any, reps: Any) -> Tensor:
    """`x` repeated `reps` times along each axis (an int or a tuple), like `np.tile`."""
    counts = _ints("tile", "reps", reps)
    if any(r < 0 for r in counts):
        raise ValueError(f"tile: reps {counts} has a negative count; counts are >= 0")
    return Tile.apply(x, reps=counts)


class Repeat(Function):
    """z = each x[i] along `axis` repeated r[i] times (np.repeat);  ∂L/∂x[i] = Σ of its copies.

    One count r for all: g.reshape(…, n, r, …).sum over the r axis. Counts per element: the
    copies are the gather x[idx] with idx = (0,…,0, 1,…,1, …), so the gradient is its adjoint,
    `scatter_add(g, idx)`. Without `axis` x is flattened first (the result is 1-D).
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, repeats: Any, axis: int | None) -> np.ndarray:
        ctx.shape = x.shape
        flat = x.reshape(-1) if axis is None else x
        ax = 0 if axis is None else axis
        ctx.flat_shape, n = flat.shape, flat.shape[ax]
        if isinstance(repeats, int):
            ctx.index = None
            ctx.split = flat.shape[:ax] + (n, repeats) + flat.shape[ax + 1:]
            ctx.axis = ax + 1
        else:
            counts = np.broadcast_to(np.asarray(repeats), (n,))
            ctx.index = (slice(None),) * ax + (np.repeat(np.arange(n), counts),)
        return np.repeat(flat, repeats, axis=ax)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        if ctx.index is None:
            gx = g.reshape(ctx.split).sum(axis=ctx.axis)
        else:
            gx = scatter_add(g, ctx.index, ctx.flat_shape)
        return (gx if ctx.flat_shape == ctx.shape else gx.reshape(ctx.shape),)


def repeat(x: Any, repeats: Any, axis: Any = None) -> Tensor:
    """Each element of `x` repeated `repeats` times (an int, or one count per element along
    `axis`), like `np.repeat`; without `axis` the input is flattened and the result is 1-D."""
    t = _tensor(x)
    ax = None if axis is None else _normalize("repeat", axis, t.ndim, t.shape)[0]
    n = t.size if ax is None else t.shape[ax]
    counts = _ints("repeat", "repeats", repeats)
    if any(r < 0 for r in counts):
        raise ValueError(f"repeat: repeats {repeats!r} has a negative count; counts are >= 0")
    if np.ndim(repeats) == 0 or len(counts) == 1:
        return Repeat.apply(t, repeats=counts[0], axis=ax)
    if len(counts) != n:
        where = "the flattened input" if ax is None else f"axis {axis} of shape {t.shape}"
        raise ValueError(f"repeat: repeats has {len(counts)} counts but {where} has {n} "
                         "elements; give one count per element, or a single count")
    return Repeat.apply(t, repeats=np.array(counts, dtype=np.intp), axis=ax)


# --------------------------------------------------------------------------------- flip, roll


class Flip(Function):
    """z = x reversed along `axis`;  ∂L/∂x = g reversed along the same axes."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: tuple[int, ...]) -> np.ndarray:
        ctx.axis = axis
        return np.flip(x, axis)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.flip(g, ctx.axis),)


def flip(x: Any, axis: Any = None) -> Tensor:
    """`x` with the order of elements reversed along `axis` (all axes by default), like
    `np.flip`."""
    t = _tensor(x)
    axes = tuple(range(t.ndim)) if axis is None else _normalize("flip", axis, t.ndim, t.shape)
    return Flip.apply(t, axis=axes)


class Roll(Function):
    """z[(i + s) mod n] = x[i] along each rolled axis (np.roll);  ∂L/∂x = g rolled by −s."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, shift: Any, axis: Any) -> np.ndarray:
        ctx.shift, ctx.axis = (-shift if axis is None else tuple(-s for s in shift)), axis
        return np.roll(x, shift, axis)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.roll(g, ctx.shift, ctx.axis),)


def roll(x: Any, shift: Any, axis: Any = None) -> Tensor:
    """`x` with its elements shifted by `shift` along `axis`, those pushed off one end coming
    back at the other, like `np.roll`; without `axis` the flattened elements are rolled."""
    t = _tensor(x)
    shifts = _ints("roll", "shift", shift)
    if axis is None:
        return Roll.apply(t, shift=sum(shifts), axis=None)
    axes = _ints("roll", "axis", axis)
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} must have the same length "
                         "(or one of them a single value)")
    total: dict[int, int] = {}
    for s, a in np.broadcast(np.array(shifts), np.array(axes)):
        a = _normalize("roll", int(a), t.ndim, t.shape)[0]
        total[a] = total.get(a, 0) + int(s)   # the same axis twice: the shifts add up
    return Roll.apply(t, shift=tuple(total.values()), axis=tuple(total))


# ---------------------------------------------------------------------------------------- pad

PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


class Pad(Function):
    """z = x with `widths[i] = (before, after)` elements added on each side of axis i.

    Constant mode: x sits in the middle of z, so ∂L/∂x = g[b₀:b₀+n₀, b₁:b₁+n₁, …]. The other
    modes copy elements of x into the border: z = x[src₀ × src₁ × …] (src_i: the input index
    each output index reads along axis i), so ∂L/∂x = scatter_add(g, src) (copies add up).
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, widths: tuple, mode: str,
                constant_values: Any) -> np.ndarray:
        ctx.shape = x.shape
        if mode == "constant" or x.ndim == 0:   # (a 0-D x has no axis to pad: z = x)
            ctx.index = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
            return np.pad(x, widths, constant_values=constant_values) if x.ndim else x.copy()
        for n, (b, a) in zip(x.shape, widths):
            if n == 0 and b + a > 0:
                raise ValueError(f"pad: mode {mode!r} cannot pad an empty axis of shape "
                                 f"{x.shape}; only mode 'constant' can")
        ctx.index = np.ix_(*[np.pad(np.arange(n), w, mode=mode)
                             for n, w in zip(x.shape, widths)])
        return x[ctx.index]

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        if not ctx.index or isinstance(ctx.index[0], slice):
            return (g[ctx.index],)
        return (scatter_add(g, ctx.index, ctx.shape),)


def _widths(fn: str, arg: str, value: Any, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """`value` in NumPy's pad forms (n, (n,), (before, after), ((b₀, a₀), …)) as an array of
    shape (ndim, 2), or an error naming `fn`, `arg` and the shape."""
    arr = np.asarray(value)
    if kind == "i":
        arr = np.asarray(_ints(fn, arg, value) if arr.ndim <= 1 else value)
        if arr.dtype.kind not in "iu" and arr.size:
            raise TypeError(f"{fn}: {arg} must be integers, got {value!r}")
    try:
        return np.broadcast_to(arr, (len(shape), 2))
    except ValueError:
        raise ValueError(f"{fn}: {arg} {value!r} does not fit a tensor of shape {shape}: give "
                         f"one value, (before, after), or {len(shape)} (before, after) "
                         "pairs") from None


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0,
        reflect_type: str = "even") -> Tensor:
    """`x` padded by `pad_width` (n, (before, after) or one pair per axis) like `np.pad`, in
    mode 'constant' (with `constant_values`, not differentiated), 'edge', 'reflect',
    'symmetric' or 'wrap'."""
    t = _tensor(x)
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode {mode!r} is not supported; the supported modes are "
                         f"{', '.join(map(repr, PAD_MODES))}")
    if reflect_type != "even":
        raise ValueError(f"pad: reflect_type {reflect_type!r} is not supported; only 'even' "
                         "(the default), which copies elements, is")
    widths = _widths("pad", "pad_width", pad_width, t.shape, "i")
    if (widths < 0).any():
        raise ValueError(f"pad: pad_width {pad_width!r} has a negative width; widths are >= 0")
    if isinstance(constant_values, Tensor):
        raise TypeError("pad: constant_values must be numbers (they are not differentiated), "
                        "got a Tensor")
    cv = _widths("pad", "constant_values", constant_values, t.shape, "f")
    return Pad.apply(t, widths=tuple(map(tuple, widths.tolist())), mode=mode,
                     constant_values=tuple(map(tuple, cv.tolist())))


# ------------------------------------------------------------------------------- triu, tril


class Triu(Function):
    """z = x where the mask keeps it, else 0 (the mask: on or above diagonal k for triu, on or
    below it for tril, over the last two axes);  ∂L/∂x = g where the mask keeps, else 0.

    A 1-D x of length n is taken as a row broadcast to (n, n), as NumPy does: its gradient
    sums the rows.
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, k: int, upper: bool) -> np.ndarray:
        rows, cols = (x.shape[0],) * 2 if x.ndim == 1 else x.shape[-2:]
        below = np.tri(rows, cols, k - 1 if upper else k, dtype=bool)
        ctx.keep, ctx.row = (~below if upper else below), x.ndim == 1
        return np.triu(x, k) if upper else np.tril(x, k)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        gx = np.where(ctx.keep, g, np.zeros((), dtype=g.dtype))
        return (gx.sum(axis=0) if ctx.row else gx,)


class Tril(Triu):
    """z = x on and below diagonal k of the last two axes, else 0;  ∂L/∂x = g there, else 0."""


def _triangle(fn: str, x: Any, k: Any, upper: bool) -> Tensor:
    t = _tensor(x)
    if t.ndim == 0:
        raise ValueError(f"{fn}: a 0-D tensor has no diagonal; give a tensor of at least 1 dim")
    return (Triu if upper else Tril).apply(t, k=operator.index(k), upper=upper)


def triu(x: Any, k: int = 0) -> Tensor:
    """`x` with the elements below diagonal `k` of its last two axes set to 0, like `np.triu`."""
    return _triangle("triu", x, k, upper=True)


def tril(x: Any, k: int = 0) -> Tensor:
    """`x` with the elements above diagonal `k` of its last two axes set to 0, like `np.tril`."""
    return _triangle("tril", x, k, upper=False)


# ---------------------------------------------------------------- diag, diagonal and trace


def _place_diagonal(g: Any, shape: tuple[int, ...], offset: int, axis1: int, axis2: int) -> Any:
    """zeros(shape) with `g` (other axes + the diagonal's) on diagonal `offset` of axes
    (axis1, axis2): the adjoint of `np.diagonal`, made of `scatter_add` and `np.moveaxis`."""
    n1, n2 = shape[axis1], shape[axis2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    steps = np.arange(length)
    rows, cols = (steps, steps + offset) if offset >= 0 else (steps - offset, steps)
    rest = tuple(n for i, n in enumerate(shape) if i not in (axis1, axis2))
    moved = scatter_add(g, (Ellipsis, rows, cols), rest + (n1, n2))
    return np.moveaxis(moved, (-2, -1), (axis1, axis2))


class Diagonal(Function):
    """z[…, i] = x[…, i, i + k, …] over axes (axis1, axis2), offset k (np.diagonal);
    ∂L/∂x = zeros with g put back on that diagonal."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, offset: int, axis1: int, axis2: int) -> np.ndarray:
        ctx.shape, ctx.offset, ctx.axis1, ctx.axis2 = x.shape, offset, axis1, axis2
        return np.diagonal(x, offset, axis1, axis2)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (_place_diagonal(g, ctx.shape, ctx.offset, ctx.axis1, ctx.axis2),)


class Trace(Function):
    """s[…] = Σ_i x[…, i, i + k, …] over axes (axis1, axis2) (np.trace);  ∂L/∂x = zeros with g
    on every element of that diagonal."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, offset: int, axis1: int, axis2: int) -> np.ndarray:
        ctx.shape, ctx.offset, ctx.axis1, ctx.axis2 = x.shape, offset, axis1, axis2
        ctx.length = np.diagonal(x, offset, axis1, axis2).shape[-1]
        return np.trace(x, offset, axis1, axis2)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        spread = np.broadcast_to(np.expand_dims(g, -1), (*g.shape, ctx.length))
        return (_place_diagonal(spread, ctx.shape, ctx.offset, ctx.axis1, ctx.axis2),)


class Diag(Function):
    """Z = the square matrix with v on diagonal k, zeros elsewhere (np.diag of a 1-D v);
    ∂L/∂v = diagonal k of G."""

    @staticmethod
    def forward(ctx: Any, v: np.ndarray, *, k: int) -> np.ndarray:
        ctx.k = k
        return np.diag(v, k)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (np.diagonal(g, ctx.k),)


def _diagonal_axes(fn: str, t: Tensor, offset: Any, axis1: Any, axis2: Any) -> dict[str, int]:
    if t.ndim < 2:
        raise ValueError(f"{fn}: needs a tensor of at least 2 dims, got shape {t.shape}")
    a1 = _normalize(fn, axis1, t.ndim, t.shape)[0]
    a2 = _normalize(fn, axis2, t.ndim, t.shape)[0]
    if a1 == a2:
        raise ValueError(f"{fn}: axis1 {axis1} and axis2 {axis2} are the same axis of shape "
                         f"{t.shape}; the diagonal needs two different axes")
    return {"offset": operator.index(offset), "axis1": a1, "axis2": a2}


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Diagonal `offset` of the 2-D slices over (`axis1`, `axis2`), as the last axis of the
    result, like `np.diagonal`."""
    t = _tensor(x)
    return Diagonal.apply(t, **_diagonal_axes("diagonal", t, offset, axis1, axis2))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Σ of diagonal `offset` over (`axis1`, `axis2`), like `np.trace`."""
    t = _tensor(x)
    return Trace.apply(t, **_diagonal_axes("trace", t, offset, axis1, axis2))


def diag(v: Any, k: int = 0) -> Tensor:
    """Like `np.diag`: a 1-D `v` becomes the square matrix with `v` on diagonal `k`; of a 2-D
    `v`, diagonal `k` is taken out (1-D)."""
    t = _tensor(v)
    if t.ndim == 1:
        return Diag.apply(t, k=operator.index(k))
    if t.ndim == 2:
        return diagonal(t, k)
    raise ValueError(f"diag: input must be 1-D (to build a matrix) or 2-D (to take a diagonal), "
                     f"got shape {t.shape}")


NUMPY = {np.tile: tile, np.repeat: repeat, np.flip: flip, np.roll: roll, np.pad: pad,
         np.triu: triu, np.tril: tril, np.diag: diag, np.diagonal: diagonal, np.trace: trace}
METHODS = {"repeat": repeat, "diagonal": diagonal, "trace": trace, "flip": flip}
