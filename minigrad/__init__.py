"""minigrad: a small tape-based reverse-mode autograd engine.

    >>> import minigrad as mg
    >>> w = mg.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> x = mg.Tensor([[3.0], [4.0]])
    >>> y = mg.tanh(w @ x).sum()
    >>> y.backward()            # w.grad == (1 - tanh(11)²) xᵀ

Tensors and ops (`minigrad.tensor`, `minigrad.ops`) record themselves on the tape
(`minigrad.tape`); `backward` replays it in reverse. `minigrad.gradcheck` proves the result.
"""

from . import optim
from .audit import AuditReport, audit
from .draw import draw
from .function import Function
from .gradcheck import GradcheckReport, assert_gradcheck, gradcheck
from .modes import AnomalyError, detect_anomaly, is_grad_enabled, no_grad, scope
from .ops import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    concat,
    contiguous,
    cross_entropy,
    exp,
    log,
    log_softmax,
    matmul,
    maximum,
    mean,
    mse,
    relu,
    sigmoid,
    softmax,
    split,
    stack,
    sum,
    tanh,
    where,
)
from .show import show_tape
from .tape import backward_steps, grad
from .tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "AuditReport",
    "backward_steps",
    "Function",
    "GradcheckReport",
    "Tensor",
    "assert_gradcheck",
    "audit",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "concat",
    "contiguous",
    "cross_entropy",
    "detect_anomaly",
    "draw",
    "exp",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "log",
    "log_softmax",
    "matmul",
    "maximum",
    "mean",
    "mse",
    "no_grad",
    "optim",
    "relu",
    "scope",
    "show_tape",
    "sigmoid",
    "softmax",
    "split",
    "stack",
    "sum",
    "tanh",
    "where",
]
