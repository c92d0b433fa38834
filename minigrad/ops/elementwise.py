"""Element-wise arithmetic: each op's backward sits right below its forward.

Gradients are returned shaped like the broadcast output; the engine sums them back to each
input's shape (`minigrad.tape.unbroadcast`), so no op here worries about broadcasting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .logic import values

__all__ = ["add", "div", "exp", "log", "maximum", "mul", "neg", "ones_like", "power", "sub",
           "where",
           "zeros_like"]


def _real_only(op: str, *arrays: np.ndarray) -> None:
    """Non-analytic ops have no complex derivative: refuse complex input (complex-step checks)."""
    for a in arrays:
        if a.dtype.kind == "c":
            raise TypeError(
                f"{op}: not analytic, so it cannot run on complex input (complex-step gradient "
                f"checks need analytic ops only); use gradcheck(mode='full') for this function"
            )


class Add(Function):
    """z = a + b;  ∂z/∂a = 1, ∂z/∂b = 1."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return g, g


class Sub(Function):
    """z = a − b;  ∂z/∂a = 1, ∂z/∂b = −1."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return g, -g


class Mul(Function):
    """z = a * b (element-wise);  ∂z/∂a = b, ∂z/∂b = a."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    """z = a / b;  ∂z/∂a = 1/b, ∂z/∂b = −a/b²."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        ga = g / b
        return ga, (-ga * (a / b) if ctx.needs_input_grad[1] else None)


class Neg(Function):
    """z = −a."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        return (-g,)


class PowConst(Function):
    """z = a^p for a constant exponent p;  ∂z/∂a = p a^(p−1)."""

    name = "pow"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, *, p: float) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.p = p
        return a**p

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return (np.zeros_like(g),)
        if p == 2:
            return (g * (2 * a),)
        return (g * (p * a ** (p - 1)),)


class Pow(Function):
    """z = a^b for tensors;  ∂z/∂a = b a^(b−1), ∂z/∂b = z log a.

    At a = 0 (as in PyTorch and HIPS autograd): ∂z/∂a = 0 where b = 0 (a⁰ = 1 for every a) and
    ∂z/∂b = 0 where b ≥ 0 (z log a → 0), computed without 0·∞ and without warnings.
    """

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = a**b
        ctx.save_for_backward(a, b, z)
        return z

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b, z = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        zero = a == 0
        at_zero = bool(zero.any())
        ga = gb = None
        if need_a:  # exponent 1 instead of −1 where b = 0: b·a¹ = 0, no 0·0⁻¹
            ga = g * b * a ** (np.where(b == 0, 1, b - 1) if at_zero else b - 1)
        if need_b:
            if at_zero:  # log a is taken as log 1 = 0 where a = 0 and b ≥ 0 (z ∈ {0, 1} there)
                keep = ~(zero & (values(b).real >= 0))
                log_a = np.log(np.where(keep, a, 1))
            else:
                log_a = np.log(a)
            gb = g * z * log_a
        return ga, gb


class Exp(Function):
    """z = eᵃ;  ∂z/∂a = z."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        z = np.exp(a)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (z,) = ctx.saved_tensors
        return (g * z,)


class Log(Function):
    """z = ln a;  ∂z/∂a = 1/a."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        (a,) = ctx.saved_tensors
        return (g / a,)


class Maximum(Function):
    """z = max(a, b);  the gradient goes to the larger input (split in half on ties)."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _real_only("maximum", a, b)
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        wa = (a > b) + 0.5 * (a == b)
        return g * wa, g * (1.0 - wa)


class Where(Function):
    """z = a where cond else b (cond a constant boolean array);  the gradient is routed likewise."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, *, cond: np.ndarray) -> np.ndarray:
        _real_only("where", a, b)
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        zero = np.zeros((), dtype=g.dtype)
        return np.where(ctx.cond, g, zero), np.where(ctx.cond, zero, g)


def add(a: Any, b: Any) -> Tensor:
    """a + b with NumPy broadcasting."""
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    """a − b with NumPy broadcasting."""
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """Element-wise a * b (the notes' `*`)."""
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """Element-wise a / b."""
    return Div.apply(a, b)


def neg(a: Any) -> Tensor:
    """−a."""
    return Neg.apply(a)


def power(a: Any, b: Any) -> Tensor:
    """a ** b; a Python number exponent is a constant (no gradient for it)."""
    if not isinstance(b, Tensor) and not isinstance(b, bool) and np.ndim(b) == 0:
        return PowConst.apply(a, p=np.asarray(b).item())  # a constant exponent
    return Pow.apply(a, b)


def exp(a: Any) -> Tensor:
    """Element-wise eᵃ."""
    return Exp.apply(a)


def log(a: Any) -> Tensor:
    """Element-wise natural logarithm."""
    return Log.apply(a)


def maximum(a: Any, b: Any) -> Tensor:
    """Element-wise max(a, b) (not analytic: refuses complex input)."""
    return Maximum.apply(a, b)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """`a` where `cond` (a boolean array, not differentiated) is true, else `b`."""
    c = np.array(cond.data if isinstance(cond, Tensor) else cond)  # a copy: kept until backward
    if c.dtype != np.bool_:
        raise TypeError(f"where: cond must be a boolean array, got dtype {c.dtype}")
    return Where.apply(a, b, cond=c)


def zeros_like(x: Any) -> Tensor:
    """A constant Tensor of zeros shaped like `x` (no gradient flows into a constant)."""
    return Tensor._make(np.zeros_like(values(x)), False, None, 0)


def ones_like(x: Any) -> Tensor:
    """A constant Tensor of ones shaped like `x`."""
    return Tensor._make(np.ones_like(values(x)), False, None, 0)


NUMPY = {np.add: add, np.subtract: sub, np.multiply: mul, np.divide: div, np.negative: neg,
         np.power: power, np.exp: exp, np.log: log, np.maximum: maximum, np.where: where,
         np.zeros_like: zeros_like, np.ones_like: ones_like}
