"""Input checking for the recurrent models, and x⟨t⟩ given as token ids.

A sequence is dense, ``(n_x, m, T_x)`` (array or Tensor), or integer token ids ``(m, T_x)``,
where token k stands for the one-hot column e_k of length n_x. The one-hot columns are never
built: the product of a weight with them is a gather of the weight's columns (``W @ x⟨t⟩`` and
``W @ [s; x⟨t⟩]`` work on them as written: see :class:`OneHot` and :class:`OneHotStack`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import minigrad as mg
from minigrad import Tensor

__all__ = ["OneHot", "OneHotStack", "Sequence", "check_sequence", "check_state", "concat",
           "positive_int"]


class OneHot(NamedTuple):
    """x⟨t⟩ given as token ids ``(m,)``: the one-hot columns e_ids ``(n_x, m)``, not built.

    ``W @ x⟨t⟩`` is the gather ``W[:, ids]`` (the product with a one-hot column is that column
    of W). ``zeros`` is an ``(n_x, m)`` array of zeros, shared by all steps (see :func:`concat`).
    """

    ids: np.ndarray
    zeros: np.ndarray
    __array_ufunc__ = None  # NumPy's sign for "my reflected operators handle this"

    def __rmatmul__(self, W: Tensor) -> Tensor:
        return W[:, self.ids]


class OneHotStack(NamedTuple):
    """[s; x⟨t⟩] for a one-hot x⟨t⟩ = e_ids: the stack [s; 0] and the columns n_a + ids of
    the ones. ``W @ [s; e_ids]`` is one tape row, :class:`OneHotProduct`."""

    s_0: Tensor
    cols: np.ndarray
    __array_ufunc__ = None

    def __rmatmul__(self, W: Tensor) -> Tensor:
        return OneHotProduct.apply(W, self.s_0, cols=self.cols)


class OneHotProduct(mg.Function):
    """z = W [s; e_ids] = W [s; 0] + W[:, n_a + ids]  (a product and a gather of columns);
    ∂J/∂W = g [s; e_ids]ᵀ, ∂J/∂[s; 0] = Wᵀ g."""

    name = "matmul_onehot"

    @staticmethod
    def forward(ctx: Any, W: np.ndarray, s_0: np.ndarray, *, cols: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(W, s_0)
        ctx.cols = cols
        return np.dot(W, s_0) + W.take(cols, axis=1)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        W, s_0 = ctx.saved_tensors
        ones = np.zeros(s_0.shape, s_0.dtype)  # e_ids below s: the one of column j in row cols[j]
        ones[ctx.cols, np.arange(len(ctx.cols))] = 1
        stack = s_0 + ones                     # [s; e_ids] ([s; 0] has zeros in those rows)
        return np.dot(g, stack.T), np.dot(W.T, g)   # (a token repeated in the batch adds up)


def concat(pieces: list[Any]) -> Any:
    """The notes' stack [s; x⟨t⟩] of a state over the input (``minigrad.concat`` on axis 0).

    When x⟨t⟩ is token ids (:class:`OneHot`), the stack is kept as [s; 0] (one concat, as for
    dense input) and the positions n_a + ids of the ones: see :class:`OneHotStack`.
    """
    s, x_t = pieces
    if isinstance(x_t, OneHot):
        return OneHotStack(mg.concat([s, x_t.zeros], axis=0), s.shape[0] + x_t.ids)
    return mg.concat([s, x_t], axis=0)


class Sequence(NamedTuple):
    """A checked input: x⟨1⟩..x⟨T_x⟩ for the cell, m, T_x, and x as the fused kernels take it."""

    steps: list[Any]
    m: int
    T: int
    source: Any


def positive_int(kind: str, name: str, value: Any) -> int:
    """``value`` as an int ≥ 1, else ValueError naming the model and the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{kind}: {name} must be a positive integer; got {value!r}")
    return int(value)


def check_sequence(kind: str, n_x: int, dtype: np.dtype, x: Any, *,
                   cut: bool = True) -> Sequence:
    """Check x (dense ``(n_x, m, T_x)`` or token ids ``(m, T_x)``) and cut it into steps.

    A constant x is sliced as an array (no tape rows). A Tensor x that requires grad is cut
    by one ``split`` record (its backward joins the T_x step gradients: O(size), not
    O(T_x · size)); with ``cut=False`` (the fused path reads x whole) it is not cut at all.
    """
    expected = f"{kind}: x must be (n_x, m, T_x) = ({n_x}, m, T_x)"
    if isinstance(x, Tensor):
        arr = x.data
    else:
        arr = np.asarray(x)
        if arr.dtype == object:
            raise ValueError(f"{expected}; got a non-numeric {type(x).__name__}")
    if arr.ndim == 2 and not isinstance(x, Tensor):
        return _check_ids(kind, n_x, dtype, arr)
    if arr.ndim != 3:
        raise ValueError(f"{expected} or integer token ids (m, T_x) with values in "
                         f"[0, {n_x}); got shape {arr.shape}")
    if arr.shape[0] != n_x or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"{expected}; got {arr.shape}")
    _, m, T = arr.shape
    if not np.iscomplexobj(arr):  # complex input stays complex (complex-step gradient checks)
        arr = arr.astype(dtype, copy=False)
    source = x if isinstance(x, Tensor) else arr
    if not cut:
        return Sequence([], m, T, source)
    if isinstance(x, Tensor) and x.requires_grad:
        pieces = mg.split(x, T, axis=2) if T > 1 else [x]
        return Sequence([piece.reshape(n_x, m) for piece in pieces], m, T, x)
    return Sequence([arr[:, :, t] for t in range(T)], m, T, source)


def _check_ids(kind: str, n_x: int, dtype: np.dtype, ids: np.ndarray) -> Sequence:
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{kind}: a 2-D x must be integer token ids (m, T_x); got dtype "
                         f"{ids.dtype} and shape {ids.shape} (dense input is (n_x, m, T_x) = "
                         f"({n_x}, m, T_x))")
    m, T = ids.shape
    if m < 1 or T < 1:
        raise ValueError(f"{kind}: token ids must be (m, T_x) with m, T_x ≥ 1; got {ids.shape}")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= n_x:
        raise ValueError(f"{kind}: token ids must lie in [0, n_x) = [0, {n_x}); "
                         f"got values in [{lo}, {hi}] (ids shape {ids.shape})")
    zeros = np.zeros((n_x, m), dtype=dtype)
    steps = [OneHot(np.ascontiguousarray(ids[:, t], dtype=np.intp), zeros) for t in range(T)]
    return Sequence(steps, m, T, ids)


def check_state(kind: str, name: str, value: Any, shape: tuple[int, int],
                dtype: np.dtype) -> Tensor:
    """An initial state ``(n_a, m)``: zeros if None, the Tensor itself, or an array's Tensor."""
    if value is None:
        return Tensor(np.zeros(shape, dtype=dtype))
    if not isinstance(value, Tensor) and (
            isinstance(value, str | bytes) or np.asarray(value).dtype.kind not in "biufc"):
        raise ValueError(f"{kind}: {name} must be None, a Tensor or an array of numbers of shape "
                         f"(n_a, m) = {shape}; got {type(value).__name__} {value!r:.40}")
    got = value.shape if isinstance(value, Tensor) else np.shape(value)
    if tuple(got) != shape:
        raise ValueError(f"{kind}: {name} must be (n_a, m) = {shape}; got {tuple(got)}")
    if isinstance(value, Tensor):
        return value
    arr = np.asarray(value)
    return Tensor(arr if np.iscomplexobj(arr) else arr.astype(dtype))
