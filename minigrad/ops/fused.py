"""Fused recurrences: a whole RNN / GRU / LSTM time loop as ONE tape record.

The models in ``models/`` built from primitives are the specification; these functions compute
the same outputs with a hand-written backpropagation through time and are tested against them
(to 1e-12, and with every gradcheck mode). Each is a `Function` whose forward and backward call
the array-level drivers of ``minigrad.ops.fused_bptt`` (layout, chunking and why it is fast
are documented there), which call the Numba kernels of ``minigrad.kernels.fused_rnn_lstm``.

Inputs ``x``: floats ``(n_x, m, T_x)`` (a Tensor that requires grad gets its gradient), or
integer token ids ``(m, T_x)`` standing for one-hot columns (never built).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .elementwise import _real_only
from .fused_bptt import CELLS, backward_arrays, forward_arrays

__all__ = [
    "CELLS", "backward_arrays", "forward_arrays", "gru_recurrence", "gru_reset_after_recurrence",
    "lstm_recurrence", "rnn_recurrence",
]

_ARRAY = object()  # placeholder for a saved array in ctx.layout


class _Recurrence(Function):
    """One tape record for a whole recurrence. Positional inputs: [x,] states, parameters
    (CELLS order); options: cell, x (token ids or a constant float x, then not positional),
    relu, return_c (LSTM: also output the cell states), time_major (see forward_arrays)."""

    twice_differentiable = False  # the BPTT loop is a Numba kernel on arrays

    @staticmethod
    def forward(ctx, *arrays, cell, x=None, relu=False, return_c=False, time_major=False):
        ctx.x_positional = x is None
        if x is None:
            x, *arrays = arrays
        if relu:
            _real_only("rnn_recurrence(activation='relu')", x, *arrays)
        outs, cache = forward_arrays(cell, x, arrays, relu, time_major)
        ctx.layout = tuple(_ARRAY if isinstance(v, np.ndarray) else v for v in cache)
        ctx.save_for_backward(*(v for v in cache if isinstance(v, np.ndarray)))
        return outs if return_c else outs[0]

    @staticmethod
    def backward(ctx, grad, grad_c=None):
        saved = iter(ctx.saved_tensors)
        cache = tuple(next(saved) if v is _ARRAY else v for v in ctx.layout)
        need_dx = ctx.x_positional and ctx.needs_input_grad[0]
        grads = backward_arrays(cache, grad, grad_c, need_dx)
        if ctx.x_positional and not need_dx:
            grads.insert(0, None)
        return tuple(grads)


class RNNRecurrence(_Recurrence):
    name = "rnn_recurrence"


class LSTMRecurrence(_Recurrence):
    name = "lstm_recurrence"


class GRURecurrence(_Recurrence):
    name = "gru_recurrence"


class GRUResetAfterRecurrence(_Recurrence):
    name = "gru_reset_after_recurrence"


def _apply(fn: type, cell: str, x: Any, states: list, params: list, **options: Any) -> Any:
    """x: Tensor/array (n_x, m, T) or integer ids (m, T); None states become zeros."""
    xa = x.data if isinstance(x, Tensor) else np.asarray(x)
    n = params[0].shape[0]
    m = xa.shape[0] if xa.dtype.kind in "iu" else xa.shape[1]
    dtype = np.result_type(*(getattr(p, "dtype", np.float64) for p in params))
    states = [np.zeros((n, m), dtype=dtype) if s is None else s for s in states]
    if isinstance(x, Tensor) and x.requires_grad:
        return fn.apply(x, *states, *params, cell=cell, **options)
    return fn.apply(*states, *params, cell=cell, x=xa, **options)


def rnn_recurrence(x: Any, a0: Any, W_a: Any, b_a: Any, activation: str = "tanh",
                   time_major: bool = False) -> Tensor:
    """A (n_a, m, T_x) = a^(1..T_x) of a^(t) = f(W_a [a^(t-1); x^(t)] + b_a), f = tanh or relu.

    x: Tensor or array (n_x, m, T_x), or integer token ids (m, T_x); a0 None means zeros.
    time_major=True returns A as (n_a, T_x m), columns ordered (t, example)."""
    if activation not in ("tanh", "relu"):
        raise ValueError(f"rnn_recurrence: activation must be 'tanh' or 'relu'; got {activation!r}")
    return _apply(RNNRecurrence, "rnn", x, [a0], [W_a, b_a], relu=activation == "relu",
                  time_major=time_major)


def lstm_recurrence(x: Any, a0: Any, c0: Any, W_c: Any, b_c: Any, W_u: Any, b_u: Any,
                    W_f: Any, b_f: Any, W_o: Any, b_o: Any, return_c: bool = False,
                    time_major: bool = False) -> Any:
    """A (n_a, m, T_x) = a^(1..T_x) of SPEC.md's LSTM, and (A, C) with C = c^(1..T_x) if
    return_c. x, a0, time_major as in rnn_recurrence; c0 None means zeros."""
    return _apply(LSTMRecurrence, "lstm", x, [a0, c0], [W_c, b_c, W_u, b_u, W_f, b_f, W_o, b_o],
                  return_c=return_c, time_major=time_major)


def gru_recurrence(x: Any, c0: Any, W_u: Any, b_u: Any, W_r: Any, b_r: Any, W_c: Any,
                   b_c: Any, time_major: bool = False) -> Tensor:
    """C (n_a, m, T_x) = c^(1..T_x) (= a^(t)) of SPEC.md's GRU (the notes' reset-before:
    ĉ = tanh(W_c [Γ_r * c^(t-1); x^(t)] + b_c)). x, c0, time_major as in lstm_recurrence."""
    return _apply(GRURecurrence, "gru", x, [c0], [W_u, b_u, W_r, b_r, W_c, b_c],
                  time_major=time_major)


def gru_reset_after_recurrence(x: Any, c0: Any, W_u: Any, b_u: Any, W_r: Any, b_r: Any,
                               W_c: Any, b_c: Any, b_cc: Any, time_major: bool = False) -> Tensor:
    """The cuDNN/PyTorch GRU: ĉ = tanh(W_cx x^(t) + b_c + Γ_r * (W_cc c^(t-1) + b_cc)) with
    W_cc = W_c[:, :n_a] (state columns), W_cx = W_c[:, n_a:]; b_c is the input-side bias and
    b_cc (n_a, 1) the extra state-side one. Gates and c^(t) as in gru_recurrence."""
    return _apply(GRUResetAfterRecurrence, "gru_after", x, [c0],
                  [W_u, b_u, W_r, b_r, W_c, b_c, b_cc], time_major=time_major)
