"""Hypothesis strategies for the engine tests: shapes (incl. broadcasting pairs) and values.

Values are float64 and kept away from the places where an op is not smooth or where central
differences lose accuracy: relu/maximum kinks and ties, zeros of log/div/pow bases.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "arrays",
    "broadcast_pair",
    "broadcast_triple",
    "concat_case",
    "grid_pair",
    "matmul_shapes",
    "nonzero_arrays",
    "reduce_axes",
    "shapes",
]

MAX_SIDE = 4


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1) -> st.SearchStrategy:
    """Array shapes with sides in [min_side, MAX_SIDE]."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=MAX_SIDE)


def _floats(lo: float, hi: float) -> st.SearchStrategy:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def arrays(shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> st.SearchStrategy:
    """float64 arrays of `shape` with elements in [lo, hi]."""
    return hnp.arrays(np.float64, shape, elements=_floats(lo, hi))


def nonzero_arrays(shape: tuple[int, ...], lo: float = 0.5, hi: float = 2.0) -> st.SearchStrategy:
    """float64 arrays whose elements have |x| in [lo, hi] (either sign): away from 0."""
    signed = st.tuples(st.booleans(), _floats(lo, hi)).map(lambda t: t[1] if t[0] else -t[1])
    return hnp.arrays(np.float64, shape, elements=signed)


def grid_pair(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> st.SearchStrategy:
    """Two arrays whose broadcast pairs differ by at least 0.15 (no ties for maximum).

    a = 0.5 i + 0.25 + δ, b = 0.5 j + δ' with integers i, j and |δ|, |δ'| <= 0.05.
    """

    def grid(shape: tuple[int, ...], offset: float) -> st.SearchStrategy:
        elem = st.tuples(st.integers(-4, 4), _floats(-0.05, 0.05)).map(
            lambda t: 0.5 * t[0] + offset + t[1]
        )
        return hnp.arrays(np.float64, shape, elements=elem)

    return st.tuples(grid(shape_a, 0.25), grid(shape_b, 0.0))


def broadcast_pair(min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy:
    """Two shapes that broadcast together (NumPy rules), e.g. (3, 1, 4) with (2, 4)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, max_side=MAX_SIDE
    ).map(lambda s: s.input_shapes)


def broadcast_triple(max_dims: int = 3) -> st.SearchStrategy:
    """Three shapes that broadcast together (cond, a, b of `where`)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=3, min_dims=0, max_dims=max_dims, max_side=MAX_SIDE
    ).map(lambda s: s.input_shapes)


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Operand shapes for `a @ b`: 2-D, 1-D on either or both sides, batched (broadcast)."""
    kind = draw(st.sampled_from(["2d", "vec@mat", "mat@vec", "dot", "batched", "vec@batch",
                                 "batch@vec"]))
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    if kind == "2d":
        return (n, k), (k, m)
    if kind == "vec@mat":
        return (k,), (k, m)
    if kind == "mat@vec":
        return (n, k), (k,)
    if kind == "dot":
        return (k,), (k,)
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=2, max_side=3)).input_shapes
    if kind == "batched":
        return (*batch_a, n, k), (*batch_b, k, m)
    if kind == "vec@batch":
        return (k,), (*batch_b, 1 + len(batch_b) % 2, k, m)
    return (*batch_a, 2, n, k), (k,)


@st.composite
def reduce_axes(draw: st.DrawFn, ndim: int) -> object:
    """An `axis` argument for sum/mean: None, an int (maybe negative) or a tuple of ints."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    negate = draw(st.booleans())
    return tuple(a - ndim if negate else a for a in axes)


@st.composite
def concat_case(draw: st.DrawFn) -> tuple[list[tuple[int, ...]], int]:
    """Shapes of 1-3 pieces that agree everywhere except on `axis` (maybe negative)."""
    base = draw(shapes(min_dims=1, max_dims=3))
    axis = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 3))
    out = []
    for _ in range(count):
        s = list(base)
        s[axis] = draw(st.integers(1, MAX_SIDE))
        out.append(tuple(s))
    return out, axis
