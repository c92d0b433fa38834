"""Every primitive op, by family. Each op is a `Function` with its backward beside its forward.

Each family module lists its public functions in `__all__`, the NumPy callables that stand for
its ops in `NUMPY` (so `np.exp(t)` or `np.where(c, t, 0)` on a Tensor records the op: that is
how one backward rule, written in NumPy, also runs on Tensors for `create_graph=True`), and its
Tensor methods in `METHODS` (`t.max(axis=0)` is `max(t, axis=0)`).
"""

from typing import Any

from ..tensor import Tensor
from . import (
    activations,
    arrange,
    axes,
    contract,
    elementwise,
    indexing,
    linalg,
    logic,
    losses,
    math,
    reductions,
    shape,
    trig,
)
from .activations import *  # noqa: F403
from .arrange import *  # noqa: F403
from .axes import *  # noqa: F403
from .contract import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .elementwise import Add, Div, Mul, Sub
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .linalg import MatMul
from .logic import *  # noqa: F403
from .losses import *  # noqa: F403
from .math import *  # noqa: F403
from .reductions import *  # noqa: F403
from .shape import *  # noqa: F403
from .trig import *  # noqa: F403

FAMILIES = (elementwise, activations, logic, linalg, contract, reductions, axes, shape, arrange,
            indexing, losses, math, trig)

NUMPY: dict[Any, Any] = {}    # numpy function or ufunc -> the op it records on a Tensor
METHODS: dict[str, Any] = {}  # Tensor method name -> the op
for _family in FAMILIES:
    NUMPY.update(getattr(_family, "NUMPY", {}))
    METHODS.update(getattr(_family, "METHODS", {}))

for _name, _op in METHODS.items():  # t.max(axis=0) is max(t, axis=0), and so on
    if _name not in Tensor.__dict__:
        setattr(Tensor, _name, _op)

__all__ = ["Add", "Div", "MatMul", "Mul", "Sub"] + sorted(
    {name for family in FAMILIES for name in family.__all__})
