"""Contractions: `einsum`, `tensordot`, `outer`, `inner` (NumPy's semantics, complex included).

All four are one rule. The output is a sum of products over the indices it does not keep,

    z[out] = Σ_{indices not in out} Π_k x_k[subscripts_k],

so the derivative w.r.t. operand k is the same kind of sum with x_k left out:

    ∂L/∂x_k[subscripts_k] = Σ_{indices not in subscripts_k} g[out] Π_{j≠k} x_j[subscripts_j],

itself an `einsum` of the output gradient g with the other operands. Written with `np.einsum`,
that one rule runs on arrays and, through NumPy's dispatch, on Tensors, so it differentiates
again. Three details: an index repeated in x_k (a diagonal, "ii->i") puts the gradient on the
diagonal (times an identity); an index that only x_k has (summed away, "ij->i") spreads the
gradient along it (times a vector of ones); an axis of size 1 that broadcasting stretched is
summed back to size 1. Contractions are analytic: no conjugates, as for `matmul`.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor

__all__ = ["einsum", "inner", "outer", "tensordot"]

_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # np.einsum's 52 index names


def _dims(shapes: Sequence[tuple[int, ...]]) -> str:
    """Operand shapes in the notes' style: (100×1100)(1100×1)."""
    return "".join("(" + "×".join(map(str, s)) + ")" for s in shapes)


def _axes(n: int) -> str:
    """'1 axis', '3 axes'."""
    return f"{n} axis" if n == 1 else f"{n} axes"


def _fail(name: str, subscripts: str, shapes: Sequence[tuple[int, ...]], why: str) -> ValueError:
    return ValueError(f"{name}: '{subscripts}' on {_dims(shapes)}: {why}")


def _parse(name: str, subscripts: str, shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[str, ...],
                                                                                  str]:
    """The subscripts of each operand and of the output, explicit: `...` becomes fresh letters
    (right-aligned, as broadcasting aligns axes) and an implicit output (no `->`) is NumPy's:
    `...` first, then the indices that occur once, in alphabetical order."""
    subs = subscripts.replace(" ", "")
    lhs, arrow, out = subs.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise _fail(name, subscripts, shapes, f"the subscripts name {len(terms)} operand(s) but "
                    f"{len(shapes)} were given; write one comma-separated term per operand")
    for part, what in [(lhs, "an operand"), (out, "the output")]:
        bad = set(part.replace("...", "").replace(",", "" if part is lhs else ",")) - set(
            _LETTERS)
        if bad:
            raise _fail(name, subscripts, shapes, f"{what} has the invalid subscript(s) "
                        f"{''.join(sorted(bad))!r}; indices are letters a-z, A-Z, and '...' "
                        "stands for the remaining axes")
    ellipsis_dims = []
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        if term.count("...") > 1:
            raise _fail(name, subscripts, shapes, f"operand {k}'s subscripts '{term}' have "
                        "'...' more than once")
        letters = term.replace("...", "")
        n = len(shape) - len(letters) if "..." in term else 0
        if n < 0 or ("..." not in term and len(letters) != len(shape)):
            raise _fail(name, subscripts, shapes, f"operand {k} has {_axes(len(shape))} but its "
                        f"subscripts '{term}' name {len(letters)}; give one letter per axis, or "
                        "'...' for the rest")
        ellipsis_dims.append(n)
    nd = max(ellipsis_dims, default=0)
    fresh = "".join(c for c in _LETTERS if c not in subs)[:nd]
    if len(fresh) < nd:
        raise _fail(name, subscripts, shapes, "'...' needs more indices than the 52 letters "
                    "left free")
    ins = tuple(t.replace("...", fresh[nd - n:]) for t, n in zip(terms, ellipsis_dims))
    if not arrow:
        once = sorted(c for c in set(lhs) if c in _LETTERS and lhs.count(c) == 1)
        return ins, fresh + "".join(once)
    if "..." not in out and nd:
        raise _fail(name, subscripts, shapes, f"'...' stands for {_axes(nd)} here, which the "
                    "output must keep: write '...' in the output too (and .sum() them after)")
    out, every = out.replace("...", fresh), "".join(ins)
    for c in out:
        if out.count(c) > 1 or c not in every:
            why = "more than once" if out.count(c) > 1 else "but in no operand"
            raise _fail(name, subscripts, shapes, f"index '{c}' appears in the output {why}; "
                        "each output index appears once and comes from an operand")
    return ins, out


def _sizes(name: str, subscripts: str, ins: Sequence[str],
           shapes: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """The size of each index after broadcasting (sizes must agree, or be 1)."""
    sizes: dict[str, int] = {}
    first: dict[str, int] = {}
    for k, (term, shape) in enumerate(zip(ins, shapes)):
        own: dict[str, int] = {}
        for c, n in zip(term, shape):
            label = f"index '{c}'" if c in subscripts else "an axis under '...'"
            if own.setdefault(c, n) != n:
                raise _fail(name, subscripts, shapes, f"{label} labels axes of sizes {own[c]} "
                            f"and {n} in operand {k}; a repeated index takes a diagonal, so "
                            "those axes must have equal sizes")
            m = sizes.get(c)
            if m is None or (m == 1 and n != 1):
                sizes[c], first[c] = n, k
            elif n not in (m, 1):
                raise _fail(name, subscripts, shapes, f"{label} has size {m} in operand "
                            f"{first[c]} and {n} in operand {k}; sizes must agree (or be 1, "
                            "to broadcast)")
    return sizes


def _vjp_plan(ctx: Any, k: int) -> tuple[str, list[tuple[bool, int]]]:
    """Subscripts of ∂L/∂x_k = einsum(g, x_j for j ≠ k, constants -> x_k's indices), and the
    constants: (True, n) an n×n identity for each repeat of an index in x_k (the diagonal),
    (False, n) ones of size n for an index no other term has at full size (the spread).
    Axes of x_k that broadcasting stretched from size 1 are left out (summed); the caller
    reshapes them back."""
    ins, out, sizes, shapes = ctx.ins, ctx.out, ctx.sizes, ctx.shapes
    terms = [out] + [t for j, t in enumerate(ins) if j != k]
    covered = {c for j, t in enumerate(ins) if j != k for c, n in zip(t, shapes[j])
               if n == sizes[c]} | set(out)
    used = set("".join(terms) + ins[k])
    fresh = iter(c for c in _LETTERS if c not in used)
    result, consts, seen = "", [], set()
    for c, n in zip(ins[k], shapes[k]):
        if n != sizes[c]:   # stretched from 1 by broadcasting
            continue
        if c in seen:       # a repeated index: δ_{c c'} puts the gradient on the diagonal
            d = next(fresh, None)
            if d is None:
                raise ValueError(f"einsum: the gradient of '{ctx.subscripts}' needs more than "
                                 "52 distinct indices")
            terms.append(c + d)
            consts.append((True, n))
            result += d
            covered.add(c)
        else:
            seen.add(c)
            result += c
    for c in dict.fromkeys(result):  # only x_k has c: the gradient is the same along it
        if c in seen and c not in covered:
            terms.append(c)
            consts.append((False, sizes[c]))
    return ",".join(terms) + "->" + result, consts


def _vjp(ctx: Any, g: Any) -> tuple:
    """One gradient per operand, each an `np.einsum` (so it runs on arrays and on Tensors)."""
    xs = ctx.saved_tensors if len(ctx.ins) > 1 else ()
    grads: list[Any] = []
    for k, needed in enumerate(ctx.needs_input_grad):
        if not needed:
            grads.append(None)
            continue
        subs, consts = _vjp_plan(ctx, k)
        extra = [np.eye(n, dtype=g.dtype) if eye else np.ones(n, dtype=g.dtype)
                 for eye, n in consts]
        gk = np.einsum(subs, g, *xs[:k], *xs[k + 1:], *extra, optimize=ctx.optimize)
        grads.append(gk if gk.shape == ctx.shapes[k] else gk.reshape(ctx.shapes[k]))
    return tuple(grads)


def _prepare(ctx: Any, name: str, subscripts: str, ins: Sequence[str], out: str,
             arrays: Sequence[np.ndarray], optimize: Any) -> str:
    """Check the sizes, keep what backward needs, and return the explicit subscripts. The
    gradients' einsums take `optimize` too, but not a contraction path: that was the forward's."""
    shapes = tuple(a.shape for a in arrays)
    ctx.sizes = _sizes(name, subscripts, ins, shapes)
    ctx.subscripts, ctx.ins, ctx.out, ctx.shapes = subscripts, tuple(ins), out, shapes
    ctx.optimize = optimize if isinstance(optimize, (bool, str)) else "greedy"
    if len(arrays) > 1:
        ctx.save_for_backward(*arrays)
    return ",".join(ins) + "->" + out


class Einsum(Function):
    """z = Σ_{indices not in out} Π_k x_k;  ∂L/∂x_k = einsum(g, x_{j≠k} -> indices of x_k).

    Repeated indices of x_k put the gradient on a diagonal, indices only x_k has spread it,
    and axes stretched by broadcasting are summed back to size 1.
    """

    @staticmethod
    def forward(ctx: Any, *arrays: np.ndarray, subscripts: str, optimize: Any = False) -> Any:
        ins, out = _parse("einsum", subscripts, [a.shape for a in arrays])
        explicit = _prepare(ctx, "einsum", subscripts, ins, out, arrays, optimize)
        return np.einsum(explicit, *arrays, optimize=optimize)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        return _vjp(ctx, g)


def _from_sublists(args: Sequence[Any]) -> tuple[str, list[Any]]:
    """NumPy's other form, einsum(x₀, [0, 1], x₁, [1, 2], [0, 2]), as a subscripts string
    (integer k is the k-th letter of A-Z, a-z; `Ellipsis` is '...')."""

    def letters(sublist: Any) -> str:
        try:
            ints = [s if s is Ellipsis else operator.index(s) for s in sublist]
        except TypeError:
            ints = [-1]
        if any(i is not Ellipsis and not 0 <= i < 52 for i in ints):
            raise TypeError(f"einsum: subscripts must be a string, or after each operand a "
                            f"sublist of integers in [0, 52) and Ellipsis; got {sublist!r}")
        return "".join("..." if i is Ellipsis else _LETTERS[i] for i in ints)

    operands = list(args[0::2])
    terms = [letters(s) for s in args[1::2]]
    out = "->" + letters(operands.pop()) if len(args) % 2 else ""
    return ",".join(terms) + out, operands


def einsum(subscripts: Any, *operands: Any, optimize: Any = False) -> Tensor:
    """`np.einsum`: z[out] = Σ_{indices not in out} Π_k operands_k[subscripts_k].

    Explicit ('ij,jk->ik') or implicit ('ij,jk': the indices that occur once, sorted) output;
    '...' broadcasts the remaining axes, a repeated index takes a diagonal ('ii->i', 'ii->'
    is the trace), an index missing from the output is summed. Also NumPy's sublist form
    einsum(x, [0, 1], y, [1, 2], [0, 2]). `optimize` is np.einsum's, for forward and backward.
    """
    if not isinstance(subscripts, str):
        subscripts, operands = _from_sublists((subscripts, *operands))
    if not operands:
        raise ValueError(f"einsum: '{subscripts}' was given no operands")
    return Einsum.apply(*operands, subscripts=subscripts, optimize=optimize)


# ------------------------------------------------------------- tensordot, outer, inner


def _pairs(axes: Any, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """`axes` of `np.tensordot` (an int N: the last N of a with the first N of b, or a pair
    of axis sequences) as two lists of non-negative axes, checked."""
    try:
        if isinstance(axes, Sequence) and not isinstance(axes, str):
            ax_a, ax_b = axes
            ax_a = [operator.index(i) for i in np.atleast_1d(ax_a).tolist()]
            ax_b = [operator.index(i) for i in np.atleast_1d(ax_b).tolist()]
        else:
            n = operator.index(axes)
            if not 0 <= n <= min(len(a), len(b)):
                raise ValueError(f"tensordot: axes={n} on {_dims([a, b])}: an integer axes "
                                 f"must be in [0, {min(len(a), len(b))}] (the number of "
                                 "trailing axes of a summed with leading axes of b)")
            ax_a, ax_b = list(range(len(a) - n, len(a))), list(range(n))
    except (TypeError, ValueError) as err:
        if str(err).startswith("tensordot:"):
            raise
        raise TypeError(f"tensordot: axes must be an integer or a pair of axis sequences, "
                        f"got {axes!r}") from None
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: axes {axes!r} on {_dims([a, b])}: the two sequences "
                         "must name as many axes")
    for ax, shape, who in [(ax_a, a, "a"), (ax_b, b, "b")]:
        for i in ax:
            if not -len(shape) <= i < len(shape):
                raise ValueError(f"tensordot: axes {axes!r} on {_dims([a, b])}: axis {i} is "
                                 f"out of range for {who}, which has {_axes(len(shape))}")
        if len({i % len(shape) for i in ax}) != len(ax):
            raise ValueError(f"tensordot: axes {axes!r} names an axis of {who} twice")
    ax_a = [i % len(a) for i in ax_a]
    ax_b = [i % len(b) for i in ax_b]
    for i, j in zip(ax_a, ax_b):
        if a[i] != b[j]:
            raise ValueError(f"tensordot: {_dims([a, b])}: axis {i} of a (size {a[i]}) and "
                             f"axis {j} of b (size {b[j]}) are summed together, so their "
                             "sizes must be equal")
    return ax_a, ax_b


class TensorDot(Function):
    """z = Σ over paired axes of a·b;  ∂L/∂a = Σ over b's free axes of G·b, and b alike.

    As np.tensordot; the gradients are einsums, like those of `Einsum`."""

    name = "tensordot"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, *, axes: Any = 2) -> np.ndarray:
        ax_a, ax_b = _pairs(axes, a.shape, b.shape)
        sa = _LETTERS[:a.ndim]
        sb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
        for i, j in zip(ax_a, ax_b):
            sb[j] = sa[i]
        out = "".join(c for i, c in enumerate(sa) if i not in ax_a) + "".join(
            c for j, c in enumerate(sb) if j not in ax_b)
        _prepare(ctx, "tensordot", f"axes={axes!r}", [sa, "".join(sb)], out, [a, b], False)
        return np.tensordot(a, b, axes=(ax_a, ax_b))

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        return _vjp(ctx, g)


class Outer(Function):
    """Z_ij = a_i b_j (a, b flattened);  ∂L/∂a_i = Σ_j G_ij b_j, ∂L/∂b_j = Σ_i G_ij a_i.

    As np.outer: the gradients take the shapes of a and b back."""

    name = "outer"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sa, sb = _LETTERS[:a.ndim], _LETTERS[a.ndim:a.ndim + b.ndim]
        _prepare(ctx, "outer", "outer", [sa, sb], sa + sb, [a, b], False)
        return np.outer(a, b)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        return _vjp(ctx, g.reshape(ctx.shapes[0] + ctx.shapes[1]))


class Inner(Function):
    """z[I, J] = Σ_k a[I, k] b[J, k];  ∂L/∂a[I, k] = Σ_J G[I, J] b[J, k], and b alike.

    As np.inner: k is the last axis of both; if either is 0-d, z = a·b."""

    name = "inner"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sa, sb = _LETTERS[:a.ndim], _LETTERS[a.ndim:a.ndim + b.ndim]
        if a.ndim and b.ndim:
            if a.shape[-1] != b.shape[-1]:
                raise ValueError(f"inner: {_dims([a.shape, b.shape])}: the last axes (sizes "
                                 f"{a.shape[-1]} and {b.shape[-1]}) are summed together, so "
                                 "they must have equal sizes")
            sb = sb[:-1] + sa[-1]
        out = sa[:-1] + sb[:-1] if a.ndim and b.ndim else sa + sb
        _prepare(ctx, "inner", "inner", [sa, sb], out, [a, b], False)
        return np.inner(a, b)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        return _vjp(ctx, g)


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """`np.tensordot`: Σ of a·b over pairs of axes; `axes=N` pairs the last N axes of a with
    the first N of b, `axes=([i, ...], [j, ...])` pairs a's axis i with b's axis j. The result
    has a's free axes, then b's."""
    return TensorDot.apply(a, b, axes=axes)


def outer(a: Any, b: Any) -> Tensor:
    """`np.outer`: Z_ij = a_i b_j of the flattened a and b, shape (a.size, b.size)."""
    return Outer.apply(a, b)


def inner(a: Any, b: Any) -> Tensor:
    """`np.inner`: Σ_k a[..., k] b[..., k] over the last axes, shape a.shape[:-1] +
    b.shape[:-1]; a·b if either is a scalar."""
    return Inner.apply(a, b)


NUMPY = {np.einsum: einsum, np.tensordot: tensordot, np.outer: outer, np.inner: inner}
METHODS: dict[str, Any] = {}
