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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .modes import STATE, check_finite, note_source
from .tape import Output, Record, _counter
from .tensor import Tensor, as_tensor

__all__ = ["Function"]

_new = object.__new__


class Function:
    """Base class of every op: subclass it with static `forward` and `backward`."""

    name: str | None = None  # the op's name on the tape (default: the class name, lowercased)

    @staticmethod
    def forward(ctx: Record, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        """Compute the op's output array from its input arrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Record, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """Map dL/d(output) to one dL/d(input) per positional input (None: no gradient)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Any:
        """Run `forward` on the inputs' arrays and, if any input requires grad, record it.

        Returns a Tensor, or a tuple of Tensors if `forward` returns a tuple of arrays.
        """
        arrays = []
        sources = []  # where each input came from: the record's `inputs` (see `Record`)
        wants_grad = False
        for x in inputs:
            if not isinstance(x, Tensor):  # numbers and arrays enter the tape as constants
                return cls.apply(*[t if isinstance(t, Tensor) else _constant(t, inputs)
                                   for t in inputs], **options)
            arrays.append(x.data)
            node = x._node
            if node is None:  # a leaf
                sources.append(x)
                if x.requires_grad:
                    wants_grad = True
            else:
                sources.append(node if node.n_out == 1 else Output(node, x._out, x.data.shape))
                wants_grad = True
        recording = wants_grad and STATE.grad_enabled
        ctx = _new(Record)  # Record(cls), inlined
        ctx.fn = cls
        try:
            out = cls.forward(ctx, *arrays, **options)
        except ValueError as err:
            msg = str(err)
            if msg.startswith(f"{ctx.name}:"):
                raise
            shapes = " and ".join(str(a.shape) for a in arrays)
            raise ValueError(f"{ctx.name}: inputs of shapes {shapes}: {msg}") from err
        if type(out) is tuple:
            return _multi_output(ctx, arrays, sources, out, recording)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if STATE.anomaly:
            ctx.inputs = sources
            note_source(ctx)
            check_finite(ctx, out, "output")
        if not recording:
            ctx.saved = ()
            return Tensor._make(out, False, None)
        # Results on the tape are immutable (like JAX arrays): a later op may save them for
        # backward, so writing into them would silently change a gradient. An op that returns
        # an input array itself gets a view, so the input's own flag is left alone.
        for a in arrays:
            if out is a:
                out = out.view()
        out.setflags(write=False)
        if ctx.saved:
            ctx.lock_saved()
        ctx.inputs = sources
        ctx.out_shape = out.shape
        ctx.seq = next(_counter)
        t = _new(Tensor)  # Tensor._make, inlined: this is the hot path of every op
        t.data = out
        t.grad = None
        t.requires_grad = True
        t._node = ctx
        t._out = 0
        t.name = None
        return t


def _constant(x: Any, inputs: tuple) -> Tensor:
    """A non-Tensor input as a constant; a Python number takes the dtype of the first float
    Tensor input, so `maximum(x32, 0.0)` stays float32 (NumPy's weak-scalar rule)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        for t in inputs:
            if isinstance(t, Tensor) and t.data.dtype.kind in "fc":
                return Tensor._make(np.asarray(x, dtype=t.data.dtype), False, None)
    return as_tensor(x)


def _multi_output(
    ctx: Record, inputs: list[np.ndarray], sources: list[Any], outs: tuple, recording: bool
) -> tuple[Tensor, ...]:
    """Ops whose forward returns a tuple (e.g. split) give one Tensor per output.

    Their backward receives one gradient per output (zeros for outputs nobody used).
    """
    given = {id(a) for a in inputs}  # an output that is an input array itself gets a view
    arrays = [np.asarray(o) for o in outs]
    arrays = [o.view() if id(o) in given else o for o in arrays]
    ctx.inputs = sources
    if STATE.anomaly:
        note_source(ctx)
        for o in arrays:
            check_finite(ctx, o, "output")
    if not recording:
        ctx.saved = ()
        return tuple(Tensor._make(o, False, None) for o in arrays)
    for o in arrays:
        o.setflags(write=False)
    if ctx.saved:
        ctx.lock_saved()
    ctx.n_out = len(arrays)  # a 1-tuple makes an ordinary one-output record
    ctx.out_shape = tuple(o.shape for o in arrays) if ctx.n_out != 1 else arrays[0].shape
    ctx.seq = next(_counter)
    make = Tensor._make
    return tuple([make(o, True, ctx, i) for i, o in enumerate(arrays)])
