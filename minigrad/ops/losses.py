"""Losses, with the notes' reduction as the default.

The notes' cost for a batch laid out as `(n_y, m, T_x)` is

    J = (1/m) Σ_examples Σ_t Σ_units L⟨t⟩

i.e. summed over output units and time steps and averaged over the batch axis (axis 1).
`reduction="sum"` and `reduction="mean"` (over every element) are also available.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .activations import _shift, log_softmax, sigmoid_of
from .logic import values
from .reductions import mean as _mean
from .reductions import sum as _sum

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "mse"]

REDUCTIONS = ("notes", "sum", "mean")
#: PyTorch's BCELoss constants: each log term is clamped at LOG_MIN, and the divisions of the
#: gradient use at least DIV_MIN (PyTorch: max(ŷ(1 − ŷ), 1e-12)).
LOG_MIN = -100.0
DIV_MIN = 1e-12


def _batch_size(op: str, shape: tuple[int, ...]) -> int:
    """m for reduction="notes": the size of the batch axis 1 (1 for 0-d and 1-d); never 0."""
    m = shape[1] if len(shape) >= 2 else 1
    if m == 0:
        raise ValueError(f"{op}: reduction='notes' averages over the batch axis 1, which is "
                         f"empty (shape {tuple(shape)}, m = 0); pass at least one example "
                         "or use reduction='sum'")
    return m


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    """Apply the reduction rule to element-wise losses."""
    if reduction == "sum":
        return _sum(loss)
    if reduction == "mean":
        return _mean(loss)
    if reduction == "notes":
        return _sum(loss) / _batch_size(op, loss.shape)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {REDUCTIONS + ('none',)}, got {reduction!r}")


def _check_same_shape(op: str, a: Tensor, b: Any) -> None:
    bs = np.shape(b.data if isinstance(b, Tensor) else b)
    if tuple(a.shape) != tuple(bs):
        raise ValueError(
            f"{op}: prediction {tuple(a.shape)} and target {tuple(bs)} must have the same shape "
            f"(the notes' layout is (n_y, m, T_x))"
        )


def _xlog(c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """c · log p, with 0 · log 0 = 0 exactly and no warnings."""
    out = np.zeros(np.broadcast_shapes(c.shape, p.shape), dtype=np.result_type(c, p))
    mask = np.broadcast_to(c != 0, out.shape)
    with np.errstate(divide="ignore"):
        np.multiply(c, np.log(p, where=mask, out=np.ones_like(out)), out=out, where=mask)
    return out


class BinaryCrossEntropy(Function):
    """L = −y log ŷ − (1 − y) log(1 − ŷ), element-wise (the notes' L⟨t⟩), as PyTorch's BCELoss.

    Real ŷ: each log is clamped at LOG_MIN = −100, so L ≤ 100 per element, finite even for a
    confidently wrong ŷ ∈ {0, 1}, and a term with coefficient 0 is exactly 0 (ŷ = y ∈ {0, 1}
    gives L = 0). ∂L/∂ŷ = (1 − y)/max(1 − ŷ, DIV_MIN) − y/max(ŷ, DIV_MIN): the exact derivative
    wherever ŷ and 1 − ŷ are ≥ 1e-12, and at most 1e12 in size elsewhere (like PyTorch's
    (ŷ − y)/max(ŷ(1 − ŷ), 1e-12), it keeps pushing a saturated wrong prediction back although
    the clamped loss is flat there). ∂L/∂y = max(log(1 − ŷ), −100) − max(log ŷ, −100).
    Complex ŷ (complex-step checks): the exact formulas, unclamped (0 · log 0 = 0).
    """

    name = "bce"

    @staticmethod
    def forward(ctx: Any, yh: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(yh, y)
        if yh.dtype.kind == "c":
            return -(_xlog(y, yh) + _xlog(1 - y, 1 - yh))
        return -(y * _floored_log(yh) + (1 - y) * _floored_log(1 - yh))

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        yh, y = ctx.saved_tensors
        if yh.dtype.kind == "c":
            g_yh = g * (_safe_div(1 - y, 1 - yh) - _safe_div(y, yh))
        else:
            g_yh = g * ((1 - y) / np.maximum(1 - yh, DIV_MIN) - y / np.maximum(yh, DIV_MIN))
        if not ctx.needs_input_grad[1]:  # the usual case: targets are constants
            return g_yh, None
        if yh.dtype.kind == "c":
            return g_yh, g * (np.log(1 - yh) - np.log(yh))
        return g_yh, g * (_floored_log(1 - yh) - _floored_log(yh))


def _safe_div(c: Any, p: Any) -> Any:
    """c / p with 0 / 0 = 0 where c = 0 (arrays or Tensors: the rule of a backward)."""
    nonzero = values(c) != 0
    return np.where(nonzero, c / np.where(nonzero, p, 1), 0)


def _floored_log(p: Any) -> Any:
    """max(log p, LOG_MIN) for p ∈ [0, 1], log 0 included, NaN kept (arrays or Tensors)."""
    above = ~(values(p) <= np.exp(LOG_MIN))
    return np.where(above, np.log(np.where(above, p, 1)), LOG_MIN)


def _check_probabilities(op: str, y_hat: Tensor) -> None:
    """Raise unless every ŷ (its real part) lies in [0, 1]; NaN passes (it propagates)."""
    p = y_hat.data.real
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise ValueError(
            f"{op}: y_hat must be probabilities in [0, 1] (e.g. sigmoid outputs); got values "
            f"from {np.nanmin(p):g} to {np.nanmax(p):g}. For logits (pre-sigmoid values) use "
            "binary_cross_entropy_with_logits")


def binary_cross_entropy(y_hat: Any, y: Any, reduction: str = "notes") -> Tensor:
    """The notes' loss: L⟨t⟩ = −y log ŷ − (1−y) log(1−ŷ), reduced to J.

    reduction="notes" (default): Σ over output units and time steps, averaged over the batch
    axis 1 of the (n_y, m, T_x) layout. "sum", "mean", or "none" (element-wise) also.
    ŷ must lie in [0, 1] (ValueError otherwise; NaN propagates). As in PyTorch, each log is
    clamped at −100, so a confidently wrong ŷ ∈ {0, 1} costs 100 and has a finite gradient
    (see `BinaryCrossEntropy`); from logits, `binary_cross_entropy_with_logits` is exact.
    """
    y_hat = y_hat if isinstance(y_hat, Tensor) else Tensor(y_hat)
    _check_same_shape("binary_cross_entropy", y_hat, y)
    _check_probabilities("binary_cross_entropy", y_hat)
    return _reduce(BinaryCrossEntropy.apply(y_hat, y), reduction, "binary_cross_entropy")


class BCEWithLogits(Function):
    """L = −y log σ(z) − (1 − y) log(1 − σ(z)) = softplus(z) − y z, element-wise.

    Evaluated as max(z, 0) − y z + log(1 + e^−|z|) (never overflows; complex z: the same
    analytic function on both branches, chosen by Re z). ∂L/∂z = σ(z) − y;  ∂L/∂y = −z.
    """

    name = "bce_logits"

    @staticmethod
    def forward(ctx: Any, z: np.ndarray, y: np.ndarray, *, target_grad: bool = False
                ) -> np.ndarray:
        ctx.save_for_backward(z, y)
        if z.dtype.kind == "c":
            pos = z.real >= 0
            with np.errstate(over="ignore"):
                soft = np.where(pos, z + np.log1p(np.exp(np.where(pos, -z, 0))),
                                np.log1p(np.exp(np.where(pos, 0, z))))
            return soft - y * z
        with np.errstate(under="ignore"):
            soft = np.log1p(np.exp(-np.abs(z)))
        soft += np.maximum(z, 0)
        soft -= y * z
        return soft

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        z, y = ctx.saved_tensors
        g_z = g * (sigmoid_of(z) - y)
        if not ctx.needs_input_grad[1]:  # the usual case: targets are constants
            return g_z, None
        return g_z, -g * z


def binary_cross_entropy_with_logits(z: Any, y: Any, reduction: str = "notes") -> Tensor:
    """`binary_cross_entropy(sigmoid(z), y)` in one op, from the logits z = W_y a + b_y.

    Same value and reduction rule; the gradient is simply σ(z) − y (as in the notes' output
    layer), with no division by ŷ(1 − ŷ) and no overflow for large |z|.
    """
    z = z if isinstance(z, Tensor) else Tensor(z)
    _check_same_shape("binary_cross_entropy_with_logits", z, y)
    target_grad = isinstance(y, Tensor) and y.requires_grad
    loss = BCEWithLogits.apply(z, y, target_grad=target_grad)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


class SoftmaxCrossEntropy(Function):
    """J = c Σ −y log softmax(z), softmax over axis 0, summed over every element, in one record;
    c = 1/m ("notes"), 1 ("sum") or 1/size ("mean").  ∂J/∂z = c (softmax(z) Σ_units y − y)
    (= c (softmax(z) − y) for one-hot y). Targets are constants here."""

    name = "cross_entropy"

    @staticmethod
    def forward(ctx: Any, z: np.ndarray, y: np.ndarray, *, scale: float) -> np.ndarray:
        zs = z - _shift(z, 0)
        total = np.exp(zs).sum(axis=0, keepdims=True)
        ctx.save_for_backward(z, y)
        ctx.scale = scale
        return np.asarray(-(y * (zs - np.log(total))).sum() * scale)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        z, y = ctx.saved_tensors
        e = np.exp(z - _shift(values(z), 0))  # softmax(z), recomputed: z is what was saved
        s = e / e.sum(axis=0, keepdims=True)
        return (s * y.sum(axis=0, keepdims=True) - y) * (g * ctx.scale), None


def cross_entropy(logits: Any, y: Any, reduction: str = "notes") -> Tensor:
    """L = −Σ_k y_k log softmax(z)_k, softmax over axis 0 (the n_y units); y one-hot.

    Same reduction rule as `binary_cross_entropy` (default: Σ over t, mean over the batch axis).
    With a reduction and constant targets it is one op (gradient c (softmax(z) − y)); with
    reduction="none" or targets that require grad, it is composed from log_softmax.
    """
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    _check_same_shape("cross_entropy", logits, y)
    constant_y = not (isinstance(y, Tensor) and y.requires_grad)
    if constant_y and reduction in REDUCTIONS:
        if reduction == "notes":
            scale = 1.0 / _batch_size("cross_entropy", logits.shape)
        else:
            scale = 1.0 if reduction == "sum" else 1.0 / max(logits.size, 1)
        return SoftmaxCrossEntropy.apply(logits, y, scale=scale)
    per_unit = -(log_softmax(logits, axis=0) * y)
    return _reduce(per_unit, reduction, "cross_entropy")


def mse(y_hat: Any, y: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (ŷ − y)²; reduction "mean" (default), "sum", "notes" or "none"."""
    y_hat = y_hat if isinstance(y_hat, Tensor) else Tensor(y_hat)
    _check_same_shape("mse", y_hat, y)
    d = y_hat - y
    return _reduce(d * d, reduction, "mse")
