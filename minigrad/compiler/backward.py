"""The backward pass of a traced program, generated from each op's single VJP.

Every op's `backward` is written once in NumPy style and also runs on Tensors (the rule the
higher-order work relies on). So the backward program is *traced* too: walking the forward
nodes in reverse, each op's backward runs on Tensors standing for the forward values it saved
and for the gradients of its outputs; the ops it performs are recorded as backward nodes. The
engine's `send` is spelled out as nodes as well: `tape.unbroadcast` (run on Tensors, so its
sums are recorded) and explicit accumulations `dW = dW + ...` where a value fans out.

An op whose backward cannot be traced on Tensors (its rule reads values to build masks or
writes into arrays: relu, maximum, bce, cross_entropy, user Functions, ...) is called by
reference instead: a "vjp" node runs `fn.backward` on the runtime ctx its forward made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..modes import tracing
from ..ops import trig
from ..ops.activations import LogSoftmax, Sigmoid, Softmax, Tanh
from ..ops.axes import BroadcastTo, MoveAxis, Reshaped, SwapAxes
from ..ops.elementwise import Add, Div, Exp, Log, Mul, Neg, PowConst, Sub, Where
from ..ops.indexing import GetItem, ScatterAdd
from ..ops.linalg import MatMul
from ..ops.losses import BCEWithLogits
from ..ops.math import Expm1, Log1p, LogAddExp, Softplus, Sqrt, Square
from ..ops.reductions import Mean, Sum
from ..ops.shape import Concat, Reshape, Split, Stack, Transpose
from ..tape import Record, unbroadcast
from ..tensor import Tensor
from .program import Const, Node, Program, ref_names
from .trace import Tracer

__all__ = ["TRACED_VJPS", "trace_backward"]

#: Ops whose backward is traced into generated code: rules that only combine saved values,
#: gradients and static attributes (shapes, axes, indices) with differentiable ops.
TRACED_VJPS = frozenset({
    Add, Sub, Mul, Div, Neg, PowConst, Exp, Log, Sigmoid, Tanh, Softmax, LogSoftmax, MatMul,
    Sum, Mean, Reshape, Reshaped, Transpose, SwapAxes, MoveAxis, BroadcastTo, Concat, Split,
    Stack, GetItem, ScatterAdd, Where, BCEWithLogits, Sqrt, Square, Expm1, Log1p, LogAddExp,
    Softplus, trig.Sin, trig.Cos, trig.Tan, trig.Arcsin, trig.Arccos, trig.Arctan, trig.Arctan2,
    trig.Sinh, trig.Cosh, trig.Arcsinh, trig.Arccosh, trig.Arctanh,
})

_WANTED = (None, 0)                              # an input that wants a gradient
_UNWANTED = Tensor._make(np.zeros(()), False, None, 0)  # one that does not


def trace_backward(prog: Program, fwd: Tracer) -> None:
    """Fill in `prog.backward`, `seeds`, `grads` and `residuals` (see `program.py`)."""
    needs = {a.name: a.requires_grad for a in prog.args if a.kind == "float"}
    for node in prog.forward:
        if node.kind == "op":
            want = not node.no_grad and any(isinstance(i, str) and needs.get(i, False)
                                            for i in node.inputs)
            needs.update(dict.fromkeys(node.outputs, want))
    bt = Tracer(prog.name, taken=fwd.taken)
    rng = np.random.default_rng(0)
    values: dict[str, Tensor] = {}
    grads: dict[str, Tensor] = {}

    def value(name: str) -> Tensor:
        """The forward value `name` as a Tensor the traced rules can compute with."""
        if name not in values:
            arr = fwd.arrays[name]
            values[name] = Tensor._make(arr, True, None, 0)  # (recorded: see Tracer.finish)
            bt.bind(arr, name)
        return values[name]

    def contribute(name: str, g: Any) -> None:
        """`send`: reduce g to the value's shape, then start or add to d<name>."""
        if not isinstance(g, Tensor):
            g = Tensor._make(np.asarray(g), False, None, 0)
        shape = fwd.arrays[name].shape
        if g.shape != shape:
            bt.comment = f"unbroadcast d{name} to {shape}"
            g = unbroadcast(g, shape, None)
        if name not in grads:
            view = g.data.view()  # its own identity: d<name> is rebound by later additions
            src = bt.name_of_tensor(g)
            dname = bt.unique(f"d{name}")
            what = bt.comment if bt.comment and bt.where else f"the cotangent of {name}"
            bt.nodes.append(Node("alias", None, [src if src else Const(g.data)], {}, [dname],
                                 where=bt.where, comment=f"{what}: d{name}"))
            bt.bind(view, dname)
            grads[name] = Tensor._make(view, True, None, 0)
            return
        dname = bt.name_of_tensor(grads[name])
        bt.comment = f"d{name} += (the value is used more than once)"
        total = grads[name] + g
        bt.nodes[-1].outputs[0] = dname
        bt.bind(total.data, dname)
        grads[name] = total

    with tracing(bt), np.errstate(all="ignore"):
        for k, out in enumerate(prog.outputs):
            if isinstance(out, str) and needs.get(out, False):
                arr = np.asarray(rng.uniform(0.5, 1.5, size=fwd.arrays[out].shape),
                                 dtype=fwd.arrays[out].dtype)  # (no value shared by chance)
                seed = bt.unique(f"g_out{k}")
                bt.bind(arr, seed)
                prog.seeds.append(seed)
                bt.where, bt.comment = None, None
                contribute(out, Tensor._make(arr, True, None, 0))
            else:
                prog.seeds.append(None)
        for node in reversed(prog.forward):
            if node.kind != "op" or not any(o in grads for o in node.outputs):
                continue
            want = tuple(isinstance(i, str) and needs.get(i, False) for i in node.inputs)
            if not any(want):
                continue
            gs = [grads[o] if o in grads else _zeros(fwd.arrays[o], grads)
                  for o in node.outputs]
            bt.where, bt.comment = node.where, f"{node.op_name} backward"
            proxy = _proxy(node, want, fwd, value) if node.fn in TRACED_VJPS else None
            if proxy is not None:
                res = node.fn.backward(proxy, *gs)
            else:
                res = _call_vjp(node, gs, want, bt)
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
            for inp, g, w in zip(node.inputs, res, want):
                if w and g is not None:
                    contribute(inp, g)
    bt.finish(all_recorded=True)
    prog.grads = [bt.name_of_tensor(grads[a.name]) if a.requires_grad and a.name in grads
                  else None for a in prog.float_args]
    prog.backward = _shared(_fold_aliases(_live(bt.nodes, [g for g in prog.grads if g])))
    prog.residuals = _residuals(prog)
    prog.forward = _live(prog.forward, [o for o in prog.outputs if isinstance(o, str)]
                         + prog.residuals)


def _zeros(like: np.ndarray, grads: dict[str, Tensor]) -> Tensor:
    """A constant zero gradient for an output nobody used (the engine's `fill_missing`)."""
    dtype = next(iter(grads.values())).dtype
    return Tensor._make(np.zeros(like.shape, dtype), False, None, 0)  # (a constant)


def _proxy(node: Node, want: tuple[bool, ...], fwd: Tracer, value: Any) -> Record | None:
    """The op's ctx with its saved arrays as Tensors of the forward values they are (None if
    a saved float array is neither a traced value nor a constant input: call it instead)."""
    ctx = node.ctx
    proxy = object.__new__(type(ctx))
    proxy.__dict__.update(ctx.__dict__)
    saved = []
    for s in ctx.saved:
        name = fwd.name_of(s)
        if name is None and id(s) in node.input_ids:  # an input (a 0-d one has no other id)
            source = node.inputs[node.input_ids.index(id(s))]
            name = source if isinstance(source, str) else None
            if name is None:
                saved.append(s)  # a constant input
                continue
        if name is None and np.asarray(s).dtype.kind in "fc":
            return None
        saved.append(value(name) if name is not None and not _is_int(name, fwd) else s)
    proxy.saved, proxy.released, proxy.guards = tuple(saved), False, ()
    proxy.inputs = tuple(_WANTED if w else _UNWANTED for w in want)
    return proxy


def _is_int(name: str, fwd: Tracer) -> bool:
    arr = fwd.arrays.get(name)
    return arr is not None and arr.dtype.kind in "biu"


def _call_vjp(node: Node, gs: list[Tensor], want: tuple[bool, ...], bt: Tracer) -> list[Any]:
    """Run the op's backward on arrays and record it as one "vjp" node (called by reference)."""
    ctx = node.ctx
    had = ctx.__dict__.get("inputs")
    ctx.inputs = tuple(_WANTED if w else _UNWANTED for w in want)
    try:
        res = node.fn.backward(ctx, *[g.data for g in gs])
    finally:
        if had is None:
            del ctx.inputs
        else:
            ctx.inputs = had
    res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
    if node.ctx_name is None:
        node.ctx_name = bt.fresh(f"ctx_{node.op_name}")
    outs, tensors = [], []
    for r, w in zip(res, want):
        if r is None or not w:
            outs.append(None)
            tensors.append(None)
            continue
        arr = np.asarray(r).view()
        name = bt.fresh(f"d_{node.op_name}")
        bt.bind(arr, name)
        outs.append(name)
        tensors.append(Tensor._make(arr, True, None, 0))
    ins = [bt.name_of_tensor(g) or Const(g.data) for g in gs]
    bt.nodes.append(Node("vjp", node.fn, ins, {}, outs, where=node.where,
                         comment=f"{node.op_name} backward (its rule, called by reference)",
                         ctx_name=node.ctx_name, needs=want))
    return tensors


def names_in(node: Node) -> list[str]:
    """The value names a node reads (inputs, `Ref`s in its options, the ctx of a vjp)."""
    found = [i for i in node.inputs if isinstance(i, str)]
    found.extend(ref_names(node.options))
    if node.kind == "vjp":
        found.append(node.ctx_name)
    return found


def _live(nodes: list[Node], roots: list[str]) -> list[Node]:
    """The nodes that the `roots` depend on (dead code removed), in order."""
    live, kept = set(roots), []
    for node in reversed(nodes):
        made = [o for o in node.outputs if o is not None]
        if node.ctx_name is not None and node.kind == "op":
            made.append(node.ctx_name)
        if not any(o in live for o in made):
            continue
        kept.append(node)
        live.difference_update(made)
        live.update(names_in(node))
    return kept[::-1]


def _fold_aliases(nodes: list[Node]) -> list[Node]:
    """`t = <expr>; dX = t` with t used nowhere else becomes `dX = <expr>`."""
    uses: dict[str, int] = {}
    for node in nodes:
        for name in names_in(node):
            uses[name] = uses.get(name, 0) + 1
    maker = {o: node for node in nodes for o in node.outputs if o}
    kept = []
    for node in nodes:
        src = node.inputs[0] if node.kind == "alias" else None
        made = maker.get(src) if isinstance(src, str) else None
        if made is not None and made.kind != "alias" and uses.get(src) == 1:
            made.outputs[made.outputs.index(src)] = node.outputs[0]
            continue
        kept.append(node)
    return kept


def _shared(nodes: list[Node]) -> list[Node]:
    """Common subexpressions: a second `W_o.T` (same op, inputs, options) reuses the first.
    Only for ops whose inputs and output are each named once (not the rebound d<value>s)."""
    defined: dict[str, int] = {}
    for node in nodes:
        for o in node.outputs:
            if o:
                defined[o] = defined.get(o, 0) + 1
    seen: dict[Any, str] = {}
    same: dict[str, str] = {}
    kept = []
    for node in nodes:
        node.inputs = [same.get(i, i) if isinstance(i, str) else i for i in node.inputs]
        out = node.outputs[0] if len(node.outputs) == 1 else None
        ins = node.inputs
        if (node.kind == "op" and out is not None and defined.get(out) == 1
                and all(defined.get(i, 0) <= 1 for i in ins if isinstance(i, str))
                and not any(isinstance(i, Const) for i in ins)):
            key = (node.fn, tuple(ins), repr(node.options))
            if key in seen:
                same[out] = seen[key]
                continue
            seen[key] = out
        kept.append(node)
    return kept


def _residuals(prog: Program) -> list[str]:
    """The forward names the backward reads, in order of first use."""
    made = {s for s in prog.seeds if s} | {o for n in prog.backward for o in n.outputs if o}
    found: list[str] = []
    for node in prog.backward:
        for name in names_in(node):
            if name not in made and name not in found:
                found.append(name)
    return found
