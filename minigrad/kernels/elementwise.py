"""Element-wise sigmoid and tanh: Numba kernels, their NumPy twins, and size-based dispatch.

Math (all element-wise)::

    sigmoid(x)             = σ(x) = 1 / (1 + exp(-x))
    sigmoid_backward(y, g) = g · y · (1 - y)    with y = σ(x)     (dσ/dx = σ (1 - σ))
    tanh(x)                = (e^x - e^-x) / (e^x + e^-x)
    tanh_backward(y, g)    = g · (1 - y²)       with y = tanh(x)  (d tanh/dx = 1 - tanh²)

Sigmoid is evaluated in the stable form, with ``e = exp(-|x|) ∈ (0, 1]`` (never overflows)::

    σ(x) = 1 / (1 + e)   if x >= 0
    σ(x) = e / (1 + e)   if x <  0

one exp and one division, no cancellation: accurate to the last bits at any |x|
(σ(-1000) = 0, σ(1000) = 1, no warning). For complex input the same two branches are used,
chosen by Re(x) and with ``exp(-x)`` / ``exp(x)`` instead of ``exp(-|x|)``: both branches are
the same analytic function, so ``Im σ(x + ih) / h = σ'(x)`` (complex-step derivative) holds.

Each public function has three versions:

* ``<name>_numba``: the raw ``@njit(cache=True)`` kernel on 1-D C-contiguous float32/float64
  arrays of one dtype and size, writing into a preallocated ``out`` (``sigmoid_numba(x, out)``,
  ``sigmoid_backward_numba(y, g, out)``); ``run_numba_unary`` / ``run_numba_binary`` wrap
  them for any shape. The output is allocated by NumPy, not inside Numba: NumPy's allocator
  asks for huge pages, and Numba's page-faulting allocation made the 4M-element backward 3x
  slower;
* ``<name>_numpy``: the NumPy twin (any shape, broadcasting, float16/32/64, complex);
* ``<name>``: the dispatch the engine calls, which picks one of the two by dtype and size.

σ itself is written once for compiled code, as ``sigmoid_exponent`` and ``sigmoid_from_exp``
(``sigmoid_scalar`` composes them); ``sigmoid_numba``, the fused recurrences and
``sigmoid_inplace`` (the fused NumPy loops' gate blocks: compiled passes around NumPy's SIMD
``exp``) all call them, and ``sigmoid_numpy`` is their NumPy twin.

Dispatch rule: a float32/float64 array with ``size <= <NAME>_NUMBA_MAX_SIZE`` goes to Numba,
anything else (larger arrays, complex, float16, ``NUMBA_DISABLE_JIT=1``) to NumPy. Integer and
bool inputs are converted to float64 first. Outputs are always new arrays of the input shape.

Measured crossovers (float64 1-D arrays of size 2^k, this machine: AMD Zen 4, 2 shared cores,
NumPy 2.4 (AVX-512 exp/tanh), Numba 0.68 (no SVML), one thread; re-measure with
``python -m benchmarks.bench_kernels --crossover``). Ratio = time(Numba) / time(NumPy):

* sigmoid: 0.08 at size 1, 0.42 at 512, 0.66 at 1024, 0.98 at 2048, 1.35 at 4096, 2.0 at 32K.
  Crossover 2048. Numba's loop pays ~5 ns/element for the scalar libm ``exp``; the NumPy
  twin (7 SIMD passes, ~2 ns/element) wins above. (Between 64K and 512K elements the twin's two
  temporaries fall out of the allocator's reuse and page-fault: ratio ~0.65 there, ~1.3 at
  1M; a single threshold keeps the rule simple.) float32: same crossover.
* tanh: 0.8 at sizes 1-8, ~1.0 at 16-32, 1.4 at 64, 4.3 at 1024, 8.4 at 1M: libm ``tanh``
  costs ~10 ns/element against ~1 ns for SIMD ``np.tanh``, so Numba only wins on the call
  overhead of tiny arrays. Crossover 16.
* sigmoid_backward, tanh_backward: 0.2 at size 1, 0.25 at 1024, 0.3 at 4096, 0.4-0.5 from 64K
  to 4M. The fused one-pass loop wins at every size (NumPy: 3 passes and 2 temporaries).
"""

from __future__ import annotations

import cmath
import math
import sys
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = [
    "JIT_DISABLED",
    "SIGMOID_BACKWARD_NUMBA_MAX_SIZE",
    "SIGMOID_NUMBA_MAX_SIZE",
    "TANH_BACKWARD_NUMBA_MAX_SIZE",
    "TANH_NUMBA_MAX_SIZE",
    "run_numba_binary",
    "run_numba_unary",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_backward_numba",
    "sigmoid_backward_numpy",
    "sigmoid_exponent",
    "sigmoid_from_exp",
    "sigmoid_inplace",
    "sigmoid_numba",
    "sigmoid_numpy",
    "sigmoid_scalar",
    "tanh",
    "tanh_backward",
    "tanh_backward_numba",
    "tanh_backward_numpy",
    "tanh_numba",
    "tanh_numpy",
]

#: Largest ``x.size`` sent to the Numba kernel (float64 crossover measured, see module doc).
SIGMOID_NUMBA_MAX_SIZE: int = 2048
TANH_NUMBA_MAX_SIZE: int = 16
#: The fused backward kernels beat NumPy at every size measured: always Numba.
SIGMOID_BACKWARD_NUMBA_MAX_SIZE: int = sys.maxsize
TANH_BACKWARD_NUMBA_MAX_SIZE: int = sys.maxsize

#: With ``NUMBA_DISABLE_JIT=1`` the kernels are plain Python loops: dispatch sends all to NumPy.
JIT_DISABLED: bool = bool(numba.config.DISABLE_JIT)

# dtypes the Numba kernels accept: native float32 and float64 (byte-swapped ones go to NumPy).
_NUMBA_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------- Numba kernels


def _exp(v: Any) -> Any:
    """exp of a real or complex scalar, warning-free: ``math.exp`` or ``cmath.exp`` (as plain
    Python under ``NUMBA_DISABLE_JIT=1``, where ``np.exp`` on a NumPy scalar would report
    underflow); Numba compiles the same choice by type (the overload below)."""
    return cmath.exp(v) if isinstance(v, complex) else math.exp(v)


@overload(_exp)
def _exp_compiled(v):  # Numba type of v -> implementation (unannotated, as Numba requires)
    if isinstance(v, types.Complex):
        return lambda v: cmath.exp(v)
    return lambda v: math.exp(v)


@njit(cache=True)
def sigmoid_exponent(v):  # a real or complex scalar (Numba compiles one version per type)
    """``-v`` if Re v >= 0 else ``v``: the exponent of the stable σ (Re <= 0: exp never
    overflows); ``-|v|`` for real v."""
    return -v if v.real >= 0 else v


@njit(cache=True)
def sigmoid_from_exp(v, e):
    """σ(v) given ``e = exp(sigmoid_exponent(v))``: ``1/(1+e)`` if Re v >= 0 else ``e/(1+e)``.

    The numerator is written ``p + (1 - p) e`` with p = [Re v >= 0] ∈ {0, 1} (exactly 1 or e):
    unlike a select between 1 and e, Numba vectorizes it (1.5x faster on a gate block).
    """
    p = 1.0 if v.real >= 0 else 0.0
    return (p + (1.0 - p) * e) / (1.0 + e)


@njit(cache=True)
def sigmoid_scalar(v):
    """σ(v) of one real or complex number, in the stable form of the module docstring.

    ``sigmoid_exponent`` and ``sigmoid_from_exp`` are minigrad's one definition of σ in
    compiled code: ``sigmoid_numba``, ``sigmoid_inplace`` and the fused recurrences
    (``fused_rnn_lstm``, ``fused_gru``) call them. Numba's on-disk cache does not notice an edit
    here in the kernels that inline it: after changing it, delete ``minigrad/kernels/__pycache__``.
    """
    return sigmoid_from_exp(v, _exp(sigmoid_exponent(v)))


@njit(cache=True)
def _sigmoid_exponent_2d(x, e):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            e[i, j] = sigmoid_exponent(x[i, j])


@njit(cache=True)
def _sigmoid_from_exp_2d(x, e):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = sigmoid_from_exp(x[i, j], e[i, j])


def sigmoid_inplace(x: np.ndarray, scratch: np.ndarray | None = None) -> None:
    """x <- σ(x) for a 2-D (possibly strided) block of a Numba dtype (real or complex).

    One compiled pass for the exponent, NumPy's SIMD ``exp``, one compiled pass for σ (a scalar
    ``exp`` inside Numba is ~5x slower): the fused recurrences' NumPy loops use it on their
    gate blocks. ``scratch``: a C-contiguous array of x's shape and dtype to reuse, or None.
    """
    e = np.empty(x.shape, x.dtype) if scratch is None else scratch
    _sigmoid_exponent_2d(x, e)
    with np.errstate(under="ignore"):  # exp(-1000) = 0 is the right answer, not an error
        np.exp(e, out=e)
    _sigmoid_from_exp_2d(x, e)


@njit(cache=True)
def sigmoid_numba(x: np.ndarray, out: np.ndarray) -> None:
    """out = σ(x) on 1-D real arrays, element by element with ``sigmoid_scalar``."""
    for i in range(x.size):
        out[i] = sigmoid_scalar(x[i])


@njit(cache=True)
def tanh_numba(x: np.ndarray, out: np.ndarray) -> None:
    """out = tanh(x), 1-D real (libm ``tanh``, one scalar call per element)."""
    for i in range(x.size):
        out[i] = math.tanh(x[i])


@njit(cache=True)
def sigmoid_backward_numba(y: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out = g · y · (1 - y), fused, on 1-D arrays of one dtype and size (y = σ(x))."""
    for i in range(y.size):
        out[i] = g[i] * y[i] * (1 - y[i])


@njit(cache=True)
def tanh_backward_numba(y: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out = g · (1 - y²), fused, on 1-D arrays of one dtype and size (y = tanh(x))."""
    for i in range(y.size):
        out[i] = g[i] * (1 - y[i] * y[i])


# ----------------------------------------------------------------------------- NumPy twins


def _as_float(x: object) -> np.ndarray:
    """``np.asarray(x)``, with bool/integer arrays converted to float64."""
    a = np.asarray(x)
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    return a


def sigmoid_numpy(x: np.ndarray) -> np.ndarray:
    """σ(x) with NumPy, for real or complex x of any shape.

    Real: ``e = exp(-|x|)``, ``σ = max(e, [x >= 0]) / (1 + e)``, i.e. ``1/(1+e)`` for x >= 0
    and ``e/(1+e)`` for x < 0, with branch-free passes (``np.where`` on random signs is 5x
    slower). Complex: ``p = Re(x) >= 0``, ``e = exp(where(p, -x, x))``,
    ``σ = where(p, 1, e) / (1 + e)``: analytic in x, and ``Re`` of the exponent is <= 0.
    The NumPy twin of ``sigmoid_scalar`` (also with ``NUMBA_DISABLE_JIT=1``).
    """
    x = _as_float(x)
    with np.errstate(under="ignore"):  # exp(-1000) = 0 is the right answer, not an error
        if x.dtype.kind == "c":
            pos = x.real >= 0
            e = np.where(pos, -x, x)
            np.exp(e, out=e)
            num = np.where(pos, 1, e)
        else:
            e = np.abs(x, out=np.empty_like(x))
            np.negative(e, out=e)
            np.exp(e, out=e)
            num = np.greater_equal(x, 0, out=np.empty_like(e))  # 1.0 or 0.0
            np.maximum(num, e, out=num)  # NaN propagates
    np.add(e, 1, out=e)
    return np.divide(num, e, out=num)


def tanh_numpy(x: np.ndarray) -> np.ndarray:
    """tanh(x) with NumPy (SIMD ``np.tanh``), real or complex, any shape."""
    x = _as_float(x)
    return np.tanh(x, out=np.empty_like(x))


def _promote(y: object, g: object) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays in their common float/complex dtype (``np.result_type``)."""
    y, g = _as_float(y), _as_float(g)
    dt = np.result_type(y, g)
    return y.astype(dt, copy=False), g.astype(dt, copy=False)


def sigmoid_backward_numpy(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``g · y · (1 - y)``, evaluated as ``(g · y) · (1 - y)``, with NumPy broadcasting."""
    y, g = _promote(y, g)
    out = np.multiply(g, y, out=np.empty(np.broadcast_shapes(y.shape, g.shape), y.dtype))
    return np.multiply(out, np.subtract(1, y), out=out)


def tanh_backward_numpy(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``g · (1 - y²)``, evaluated as ``g · (1 - y · y)``, with NumPy broadcasting."""
    y, g = _promote(y, g)
    t = np.multiply(y, y, out=np.empty(y.shape, y.dtype))
    np.subtract(1, t, out=t)
    return np.multiply(g, t, out=np.empty(np.broadcast_shapes(y.shape, g.shape), y.dtype))


# ----------------------------------------------------------------------------- dispatch


def run_numba_unary(kernel: Callable[[np.ndarray, np.ndarray], None], x: np.ndarray) -> np.ndarray:
    """``kernel(x_flat, out_flat)`` on float32/float64 x of any shape; returns out (x's shape).

    ``ravel`` is a view for C-contiguous x and a copy otherwise (non-contiguous views, Fortran
    order), so the kernel always sees contiguous 1-D data.
    """
    out = np.empty(x.shape, x.dtype)
    kernel(x.ravel(), out.ravel())
    return out


def run_numba_binary(
    kernel: Callable[[np.ndarray, np.ndarray, np.ndarray], None], y: np.ndarray, g: np.ndarray
) -> np.ndarray:
    """``kernel(y_flat, g_flat, out_flat)`` after promotion to one dtype and broadcasting."""
    if y.dtype is not g.dtype or y.shape != g.shape:
        y, g = _promote(y, g)
        y, g = np.broadcast_arrays(y, g)
    out = np.empty(y.shape, y.dtype)
    kernel(y.ravel(), g.ravel(), out.ravel())
    return out


def _dispatch_unary(x: object, max_size: int, kernel: Callable[[np.ndarray, np.ndarray], None],
                    twin: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``kernel`` (Numba) for float32/float64 x with ``x.size <= max_size``, else ``twin``."""
    x = np.asarray(x)
    if x.size <= max_size and x.dtype in _NUMBA_DTYPES and not JIT_DISABLED:
        return run_numba_unary(kernel, x)
    return twin(x)


def _dispatch_binary(y: object, g: object, max_size: int,
                     kernel: Callable[[np.ndarray, np.ndarray, np.ndarray], None],
                     twin: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """``kernel`` (Numba) when y and g are float32/float64 and the output size is at most
    ``max_size``, else ``twin``."""
    y, g = np.asarray(y), np.asarray(g)
    if (max(y.size, g.size) <= max_size and y.dtype in _NUMBA_DTYPES
            and g.dtype in _NUMBA_DTYPES and not JIT_DISABLED):
        return run_numba_binary(kernel, y, g)
    return twin(y, g)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + exp(-x)), new array of x's shape and (float) dtype.

    Numba for float32/float64 with ``x.size <= SIGMOID_NUMBA_MAX_SIZE``, else NumPy.
    """
    return _dispatch_unary(x, SIGMOID_NUMBA_MAX_SIZE, sigmoid_numba, sigmoid_numpy)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x), new array of x's shape and (float) dtype.

    Numba for float32/float64 with ``x.size <= TANH_NUMBA_MAX_SIZE``, else NumPy.
    """
    return _dispatch_unary(x, TANH_NUMBA_MAX_SIZE, tanh_numba, tanh_numpy)


def sigmoid_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient of σ given its output: ``g · y · (1 - y)`` (dtype: result type of y, g).

    Numba for float32/float64 with ``size <= SIGMOID_BACKWARD_NUMBA_MAX_SIZE``, else NumPy.
    """
    return _dispatch_binary(y, g, SIGMOID_BACKWARD_NUMBA_MAX_SIZE, sigmoid_backward_numba,
                            sigmoid_backward_numpy)


def tanh_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient of tanh given its output: ``g · (1 - y²)`` (dtype: result type of y, g).

    Numba for float32/float64 with ``size <= TANH_BACKWARD_NUMBA_MAX_SIZE``, else NumPy.
    """
    return _dispatch_binary(y, g, TANH_BACKWARD_NUMBA_MAX_SIZE, tanh_backward_numba,
                            tanh_backward_numpy)
