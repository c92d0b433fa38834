"""Numba kernels: the only package of minigrad that imports numba.

``minigrad.kernels`` re-exports the element-wise kernels of :mod:`.elementwise` (sigmoid, tanh
and their backwards: dispatch, NumPy twins, raw ``@njit`` kernels, size thresholds). Every
kernel is ``@njit(cache=True)`` without eager signatures, so importing compiles nothing; each
signature compiles (or loads from the on-disk cache) on its first call.

The fused recurrent kernels live in ``minigrad.kernels.fused_rnn_lstm`` (RNN, LSTM) and
``minigrad.kernels.fused_gru`` (both GRU variants) and are imported by their users directly
(not from here).
"""

from __future__ import annotations

from . import elementwise
from .elementwise import (  # noqa: F401  (re-exported: see __all__)
    JIT_DISABLED,
    SIGMOID_BACKWARD_NUMBA_MAX_SIZE,
    SIGMOID_NUMBA_MAX_SIZE,
    TANH_BACKWARD_NUMBA_MAX_SIZE,
    TANH_NUMBA_MAX_SIZE,
    run_numba_binary,
    run_numba_unary,
    sigmoid,
    sigmoid_backward,
    sigmoid_backward_numba,
    sigmoid_backward_numpy,
    sigmoid_exponent,
    sigmoid_from_exp,
    sigmoid_inplace,
    sigmoid_numba,
    sigmoid_numpy,
    sigmoid_scalar,
    tanh,
    tanh_backward,
    tanh_backward_numba,
    tanh_backward_numpy,
    tanh_numba,
    tanh_numpy,
)

__all__ = elementwise.__all__
