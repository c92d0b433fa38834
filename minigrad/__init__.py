"""minigrad: a small tape-based reverse-mode autograd engine.

    >>> import minigrad as mg
    >>> w = mg.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> x = mg.Tensor([[3.0], [4.0]])
    >>> y = mg.tanh(w @ x).sum()
    >>> y.backward()            # w.grad == (1 - tanh(11)²) xᵀ

Tensors and ops (`minigrad.tensor`, `minigrad.ops`) record themselves on the tape
(`minigrad.tape`); `backward` replays it in reverse. `minigrad.gradcheck` proves the result.
"""

from . import ops, optim
from .audit import AuditReport, audit
from .autograd import backward_steps, grad
from .draw import draw
from .function import Function
from .functional import hessian, hvp, jacobian, jvp, vjp
from .gradcheck import GradcheckReport, assert_gradcheck, gradcheck
from .modes import AnomalyError, detect_anomaly, is_grad_enabled, no_grad, scope
from .ops import *  # noqa: F403  (every op function; ops.__all__ lists them)
from .show import show_tape
from .tensor import Tensor

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`minigrad.compile` and `minigrad.scan` load the compiler on first use (a lighter import)."""
    if name in ("compile", "scan"):
        from . import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")

__all__ = [
    "AnomalyError",
    "AuditReport",
    "Function",
    "GradcheckReport",
    "Tensor",
    "assert_gradcheck",
    "audit",
    "backward_steps",
    "compile",
    "detect_anomaly",
    "draw",
    "grad",
    "gradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "no_grad",
    "optim",
    "scan",  # noqa: F405  (loaded on first use, see __getattr__)
    "scope",
    "show_tape",
    "vjp",
    *[name for name in ops.__all__ if name[0].islower()],
]
