"""Trigonometric and hyperbolic functions and their inverses, element-wise.

Each backward is written with minigrad-registered NumPy calls (`np.cos(x)` on a Tensor records
`cos`), so it runs on arrays and, for `create_graph=True`, on Tensors as a differentiable graph.

Complex input: every op here is analytic and accepts complex128 (for complex-step checks),
except `arctan2`, which refuses it: atan2(y, x) is the angle of the point (x, y) of the real
plane, defined for real y and x only (NumPy has no complex arctan2 either).
Derivatives of the inverse functions use the principal branches NumPy uses, e.g.
arccosh'(z) = 1 / (√(z − 1) √(z + 1)), which equals 1/√(z² − 1) on the real domain z > 1.
Outside the real domain (arcsin(2), arccosh(0.5), arctanh(1)) values and gradients follow NumPy:
nan or ±inf with a RuntimeWarning, never an exception.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .elementwise import _real_only

__all__ = ["arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cos",
           "cosh", "sin", "sinh", "tan"]


class Sin(Function):
    """y = sin x;  ∂y/∂x = cos x."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * np.cos(x),)


class Cos(Function):
    """y = cos x;  ∂y/∂x = −sin x."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (-g * np.sin(x),)


class Tan(Function):
    """y = tan x;  ∂y/∂x = 1 + tan² x = 1 + y²."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        y = np.tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (y,) = ctx.saved_tensors
        return (g * (1 + y * y),)


class Arcsin(Function):
    """y = arcsin x;  ∂y/∂x = 1 / √((1 − x)(1 + x))."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arcsin(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g / np.sqrt((1 - x) * (1 + x)),)


class Arccos(Function):
    """y = arccos x;  ∂y/∂x = −1 / √((1 − x)(1 + x))."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arccos(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (-g / np.sqrt((1 - x) * (1 + x)),)


class Arctan(Function):
    """y = arctan x;  ∂y/∂x = 1 / (1 + x²)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arctan(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g / (1 + x * x),)


class Arctan2(Function):
    """θ = atan2(y, x), the angle of the point (x, y);  ∂θ/∂y = x / r², ∂θ/∂x = −y / r².

    r² = x² + y². At the origin, where atan2 is not even continuous, both gradients are nan
    (0/0, with NumPy's RuntimeWarning), as in PyTorch and JAX. Real only.
    """

    @staticmethod
    def forward(ctx: Any, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        _real_only("arctan2", y, x)
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        y, x = ctx.saved_tensors
        need_y, need_x = ctx.needs_input_grad
        r2 = x * x + y * y
        return (g * x / r2 if need_y else None), (-g * y / r2 if need_x else None)


class Sinh(Function):
    """y = sinh x;  ∂y/∂x = cosh x."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.sinh(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * np.cosh(x),)


class Cosh(Function):
    """y = cosh x;  ∂y/∂x = sinh x."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.cosh(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g * np.sinh(x),)


class Arcsinh(Function):
    """y = arcsinh x;  ∂y/∂x = 1 / √(x² + 1)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arcsinh(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g / np.sqrt(x * x + 1),)


class Arccosh(Function):
    """y = arccosh x;  ∂y/∂x = 1 / (√(x − 1) √(x + 1)) (= 1/√(x² − 1) for real x > 1)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arccosh(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g / (np.sqrt(x - 1) * np.sqrt(x + 1)),)


class Arctanh(Function):
    """y = arctanh x;  ∂y/∂x = 1 / ((1 − x)(1 + x))."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arctanh(x)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        return (g / ((1 - x) * (1 + x)),)


def sin(x: Any) -> Tensor:
    """sin x element-wise (radians)."""
    return Sin.apply(x)


def cos(x: Any) -> Tensor:
    """cos x element-wise (radians)."""
    return Cos.apply(x)


def tan(x: Any) -> Tensor:
    """tan x = sin x / cos x element-wise (radians)."""
    return Tan.apply(x)


def arcsin(x: Any) -> Tensor:
    """arcsin x element-wise, in [−π/2, π/2] for real x in [−1, 1]."""
    return Arcsin.apply(x)


def arccos(x: Any) -> Tensor:
    """arccos x element-wise, in [0, π] for real x in [−1, 1]."""
    return Arccos.apply(x)


def arctan(x: Any) -> Tensor:
    """arctan x element-wise, in (−π/2, π/2) for real x."""
    return Arctan.apply(x)


def arctan2(y: Any, x: Any) -> Tensor:
    """atan2(y, x): the angle in (−π, π] of the point (x, y), with broadcasting (real only)."""
    return Arctan2.apply(y, x)


def sinh(x: Any) -> Tensor:
    """sinh x = (eˣ − e⁻ˣ) / 2 element-wise."""
    return Sinh.apply(x)


def cosh(x: Any) -> Tensor:
    """cosh x = (eˣ + e⁻ˣ) / 2 element-wise."""
    return Cosh.apply(x)


def arcsinh(x: Any) -> Tensor:
    """arcsinh x = ln(x + √(x² + 1)) element-wise."""
    return Arcsinh.apply(x)


def arccosh(x: Any) -> Tensor:
    """arccosh x = ln(x + √(x² − 1)) element-wise (real domain x ≥ 1)."""
    return Arccosh.apply(x)


def arctanh(x: Any) -> Tensor:
    """arctanh x = ½ ln((1 + x) / (1 − x)) element-wise (real domain −1 < x < 1)."""
    return Arctanh.apply(x)


NUMPY = {np.sin: sin, np.cos: cos, np.tan: tan, np.arcsin: arcsin, np.arccos: arccos,
         np.arctan: arctan, np.arctan2: arctan2, np.sinh: sinh, np.cosh: cosh,
         np.arcsinh: arcsinh, np.arccosh: arccosh, np.arctanh: arctanh}
