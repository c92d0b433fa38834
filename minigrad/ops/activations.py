"""Activations: σ, tanh and ReLU (element-wise, hot ones in Numba kernels), softmax, log-softmax."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..function import Function
from ..tensor import Tensor
from .elementwise import _real_only

__all__ = ["log_softmax", "relu", "sigmoid", "softmax", "tanh"]


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ);  ∂y/∂x = y (1 − y)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        y = kernels.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (y,) = ctx.saved_tensors
        return (g * y * (1 - y),)

    @staticmethod
    def array_backward(ctx: Any, g: np.ndarray) -> tuple:
        """`backward` on arrays, in one Numba pass (tested equal)."""
        (y,) = ctx.saved_tensors
        return (kernels.sigmoid_backward(y, g),)


class Tanh(Function):
    """y = tanh x;  ∂y/∂x = 1 − y²."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        y = kernels.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (y,) = ctx.saved_tensors
        return (g * (1 - y * y),)

    @staticmethod
    def array_backward(ctx: Any, g: np.ndarray) -> tuple:
        """`backward` on arrays, in one Numba pass (tested equal)."""
        (y,) = ctx.saved_tensors
        return (kernels.tanh_backward(y, g),)


class Relu(Function):
    """y = max(x, 0);  ∂y/∂x = 1 where x > 0, else 0 (not analytic: refuses complex input)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        _real_only("relu", x)
        mask = x > 0
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (g * ctx.mask,)


def _shift(x: np.ndarray, axis: int) -> np.ndarray:
    """max of the real part along `axis`: a constant shift that keeps exp() from overflowing.

    Softmax is shift-invariant, and a real constant shift keeps complex inputs analytic.
    """
    return np.max(x.real, axis=axis, keepdims=True)


class Softmax(Function):
    """s = eˣ / Σ eˣ along `axis`;  ∂L/∂x = s ⊙ (g − Σ g s)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: int) -> np.ndarray:
        e = np.exp(x - _shift(x, axis))
        s = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(s)
        ctx.axis = axis
        return s

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (s,) = ctx.saved_tensors
        return (s * (g - (g * s).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    """l = x − log Σ eˣ along `axis`;  ∂L/∂x = g − softmax(x) Σ g."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, axis: int) -> np.ndarray:
        z = x - _shift(x, axis)
        l = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(l)
        ctx.axis = axis
        return l

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (l,) = ctx.saved_tensors
        return (g - np.exp(l) * g.sum(axis=ctx.axis, keepdims=True),)


def sigmoid_of(x: Any) -> Any:
    """σ(x) on an array (the Numba kernel, an array out) or on a Tensor (the recorded op): for
    backward rules that need σ of a saved input."""
    return Sigmoid.apply(x) if isinstance(x, Tensor) else kernels.sigmoid(x)


def sigmoid(x: Any) -> Tensor:
    """σ(x) = 1 / (1 + e⁻ˣ), stable for any real x (Numba kernel for small arrays)."""
    return Sigmoid.apply(x)


def tanh(x: Any) -> Tensor:
    """tanh(x) element-wise."""
    return Tanh.apply(x)


def relu(x: Any) -> Tensor:
    """max(x, 0) element-wise."""
    return Relu.apply(x)


def softmax(x: Any, axis: int = 0) -> Tensor:
    """eˣ / Σ eˣ along `axis` (axis 0: over the n_y output units of a column)."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Any, axis: int = 0) -> Tensor:
    """log softmax(x) along `axis`, computed stably."""
    return LogSoftmax.apply(x, axis=axis)


NUMPY = {np.tanh: tanh}
