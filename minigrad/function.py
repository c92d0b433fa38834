"""`Function`: the one way every op, built-in or user-defined, joins the tape.

    class Square(Function):
        @staticmethod
        def forward(ctx, x):              # arrays in, array out
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):             # dL/dout in, one dL/dinput per input out
            (x,) = ctx.saved_tensors
            return (2 * x * g,)

    y = Square.apply(t)

Positional arguments of `apply` are the differentiable inputs (Tensors, arrays or numbers);
keyword arguments are static options handed to `forward` unchanged. `backward` may return
gradients shaped like the broadcast output: the engine reduces them to each input's shape.

One backward serves every order. Written with operators, NumPy functions and minigrad ops
(as `Square` above), it runs on arrays for a first-order backward, and on Tensors under
`create_graph=True`: NumPy hands `np.exp(t)`, `np.where(c, t, 0)`, ... to the minigrad op
(`Tensor.__array_ufunc__`/`__array_function__`), so the same lines record the backward pass
and the gradient can be differentiated again. For that, save only the forward's inputs or
outputs (they come back as the Tensors they were; recompute anything else in backward), and
never compute on `.data`. An op may add `array_backward`, the same rule on arrays only (a Numba
kernel), used when no graph of the backward is recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .guards import guard_saved
from .modes import STATE, note
from .tape import Record, _counter
from .tensor import Tensor, as_tensor

__all__ = ["Function"]


class Function:
    """Base class of every op: subclass it with static `forward` and `backward`."""

    name: str | None = None  # the op's name on the tape (default: the class name, lowercased)
    #: The backward on arrays only (a Numba kernel, say): used instead of `backward` when no
    #: graph of the backward is recorded. `backward` stays the rule, and must agree with it.
    array_backward: Any = None
    #: False for ops whose backward only runs on arrays (the fused recurrences, compiled
    #: functions): `create_graph=True` through them raises instead of guessing.
    twice_differentiable = True

    @staticmethod
    def forward(ctx: Record, *arrays: np.ndarray, **options: Any) -> Any:
        """Compute the op's output array (or a tuple of arrays) from its input arrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Record, *grads: np.ndarray) -> Any:
        """Map dL/d(output), one per output, to one dL/d(input) per input (None: no gradient)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Any:
        """Run `forward` on the inputs' arrays and, if any input requires grad, record it.

        Returns a Tensor, or a tuple of Tensors if `forward` returns a tuple of arrays.
        """
        tensors, arrays, wants_grad = [], [], False
        for x in inputs:
            t = x if isinstance(x, Tensor) else constant(x, inputs)
            tensors.append(t)
            arrays.append(t.data)
            wants_grad = wants_grad or t.requires_grad
        ctx = Record()  # (no __init__: a bare object and one attribute are cheapest)
        ctx.fn = cls
        try:
            out = cls.forward(ctx, *arrays, **options)
        except ValueError as err:
            raise naming_op_and_shapes(err, ctx, arrays) from err
        outs = out if type(out) is tuple else (out,)
        if type(out) is not np.ndarray:  # several outputs, or a NumPy scalar
            outs = as_arrays(ctx, outs)
        modes = STATE
        if modes.noting:  # anomaly mode, a scope(), an audit or a trace: the record notes more
            note(ctx, arrays, outs, options)
        if wants_grad and modes.grad_enabled:
            results = record(ctx, tensors, arrays, outs, options)
        else:
            results = [Tensor._make(o, False, None, 0) for o in outs]
        return tuple(results) if type(out) is tuple else results[0]


def constant(x: Any, inputs: tuple) -> Tensor:
    """A non-Tensor input as a constant Tensor. A Python number takes the dtype of the first
    float Tensor input, so `x32 * 2.0` stays float32 (NumPy's weak-scalar rule)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        for t in inputs:
            if isinstance(t, Tensor) and t.data.dtype.kind in "fc":
                return Tensor._make(np.asarray(x, dtype=t.data.dtype), False, None, 0)
    return as_tensor(x)


def as_arrays(ctx: Record, outs: tuple) -> tuple:
    """Outputs as arrays: a NumPy scalar (a full reduction, say) becomes a 0-d array, also
    where forward saved it, so that the saved value is still known to be the output."""
    arrays = tuple([o if type(o) is np.ndarray else np.asarray(o) for o in outs])
    if ctx.saved:
        swap = {id(o): a for o, a in zip(outs, arrays) if a is not o}
        ctx.saved = tuple([swap.get(id(s), s) for s in ctx.saved])
    return arrays


def naming_op_and_shapes(err: ValueError, ctx: Record, arrays: list[np.ndarray]) -> ValueError:
    """A forward's ValueError, prefixed with the op's name and the input shapes."""
    msg = str(err)
    if msg.startswith(f"{ctx.name}:"):
        return err
    shapes = " and ".join(str(a.shape) for a in arrays)
    return ValueError(f"{ctx.name}: inputs of shapes {shapes}: {msg}")


def record(ctx: Record, tensors: list[Tensor], arrays: list[np.ndarray], outs: tuple,
           options: dict[str, Any]) -> list[Tensor]:
    """Put `ctx` on the tape (where its inputs came from, its number) and make its outputs.

    Results on the tape are read-only (like JAX arrays): a later op may save them for
    backward. An output that is an input's array itself becomes a view, so the input keeps
    its own flags. Writable arrays the op saved get snapshots (`guards.py`).
    """
    sources = []
    for t in tensors:
        if t.record is None:
            sources.append(t)
        else:
            sources.append((t.record, t.output_index))
            ctx.shared = t.record.shared  # the graph's snapshots travel along its records
    ctx.inputs = tuple(sources)
    ctx.seq = next(_counter)
    results, shapes, ids = [], [], []
    for k, o in enumerate(outs):
        for a in arrays:
            if o is a:
                o = o.view()
        o.setflags(write=False)
        results.append(Tensor._make(o, True, ctx, k))
        shapes.append(o.shape)
        ids.append(id(o))
    ctx.out_shapes, ctx.out_ids = tuple(shapes), tuple(ids)
    if ctx.saved:  # (after the outputs became read-only: an op saving its output needs no guard)
        guard_saved(ctx, tensors, options)
    return results
