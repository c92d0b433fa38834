"""The NumPy backend: a `Program` as a readable module of straight-line NumPy.

    def forward(<float args>, <int args>):   one line per op  ->  (outputs, residuals)
    def backward(<residuals>, <seeds>):      one line per op  ->  one gradient per float arg

Each line carries a comment: the op, what the line is (an op's backward, an unbroadcast sum,
a fan-out accumulation) and the user's source line that recorded it. Ops in `EXPRESSIONS` are
written as NumPy expressions that compute exactly what their `forward` computes; every other
op is called by reference (`_F_<Class>.forward`, `.backward`), so nothing is refused. This
module is the reference implementation: it needs no Numba (`NUMBA_DISABLE_JIT=1` runs it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import kernels
from ..ops.activations import Sigmoid, Tanh
from ..ops.axes import BroadcastTo, Reshaped
from ..ops.elementwise import Add, Div, Exp, Log, Maximum, Mul, Neg, PowConst, Sub, Where
from ..ops.indexing import GetItem, ScatterAdd, _scatter
from ..ops.linalg import MatMul, _mm
from ..ops.reductions import Mean, Sum
from ..ops.shape import Concat, Reshape, Transpose
from ..tape import Record
from .backward import _UNWANTED as _NOT
from .program import Const, Node, Program, Ref
from .trace import identifier

__all__ = ["EXPRESSIONS", "generate"]


def _o(node: Node, key: str, default: Any = None) -> Any:
    return node.options.get(key, default)


#: Function class -> writer(names of the inputs, node, render) of one NumPy expression.
EXPRESSIONS: dict[type, Callable[[list[str], Node, Callable[[Any], str]], str]] = {
    Add: lambda a, n, r: f"{a[0]} + {a[1]}",
    Sub: lambda a, n, r: f"{a[0]} - {a[1]}",
    Mul: lambda a, n, r: f"{a[0]} * {a[1]}",
    Div: lambda a, n, r: f"{a[0]} / {a[1]}",
    Neg: lambda a, n, r: f"-{a[0]}",
    PowConst: lambda a, n, r: f"{a[0]} ** {r(_o(n, 'p'))}",
    Exp: lambda a, n, r: f"np.exp({a[0]})",
    Log: lambda a, n, r: f"np.log({a[0]})",
    Sigmoid: lambda a, n, r: f"_sigmoid({a[0]})",
    Tanh: lambda a, n, r: f"_tanh({a[0]})",
    Maximum: lambda a, n, r: f"np.maximum({a[0]}, {a[1]})",
    Where: lambda a, n, r: f"np.where({r(_o(n, 'cond'))}, {a[0]}, {a[1]})",
    MatMul: lambda a, n, r: f"_mm({a[0]}, {a[1]})",
    Sum: lambda a, n, r: (f"np.sum({a[0]}, axis={r(_o(n, 'axis'))}, "
                          f"keepdims={r(_o(n, 'keepdims', False))})"),
    Mean: lambda a, n, r: (f"np.mean({a[0]}, axis={r(_o(n, 'axis'))}, "
                           f"keepdims={r(_o(n, 'keepdims', False))})"),
    Reshape: lambda a, n, r: f"{a[0]}.reshape({r(_o(n, 'shape'))})",
    Reshaped: lambda a, n, r: f"{a[0]}.reshape({r(_o(n, 'shape'))})",
    Transpose: lambda a, n, r: (f"{a[0]}.T" if _o(n, "axes") is None
                                else f"{a[0]}.transpose({r(_o(n, 'axes'))})"),
    BroadcastTo: lambda a, n, r: f"np.broadcast_to({a[0]}, {r(_o(n, 'shape'))})",
    Concat: lambda a, n, r: f"np.concatenate(({', '.join(a)},), axis={r(_o(n, 'axis', 0))})",
    GetItem: lambda a, n, r: f"{a[0]}[{_subscript(_o(n, 'index'), r)}]",
    ScatterAdd: lambda a, n, r: (f"_scatter({a[0]}, {r(_o(n, 'index'))}, "
                                 f"{r(_o(n, 'shape'))})"),
}

_HELPERS = {"_mm": _mm, "_sigmoid": kernels.sigmoid, "_tanh": kernels.tanh,
            "_scatter": _scatter}


def _fwd(fn: type, *arrays: Any, **options: Any) -> tuple[Record, tuple]:
    """Run an op's forward by reference; return its ctx (for its backward) and its outputs
    (a tuple, also for one output)."""
    ctx = Record()
    ctx.fn = fn
    out = fn.forward(ctx, *arrays, **options)
    return ctx, out if type(out) is tuple else (out,)


def _vjp(ctx: Record, wanted: tuple[Any, ...], *grads: Any) -> tuple[Any, ...]:
    """Run an op's backward by reference on the ctx its forward made (`wanted`: per input,
    a source that wants a gradient or one that does not, for `ctx.needs_input_grad`)."""
    ctx.inputs = wanted
    out = ctx.fn.backward(ctx, *grads)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class _Writer:
    """Names for what the source cannot spell (constants, classes) and the lines so far."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_fwd": _fwd, "_vjp": _vjp, **_HELPERS}
        self._ids: dict[int, str] = {}

    def bound(self, stem: str, value: Any) -> str:
        """A namespace name for `value` (the same object gets the same name)."""
        name = self._ids.get(id(value))
        if name is None:
            name = f"{stem}{len(self._ids)}"
            self._ids[id(value)] = name
            self.namespace[name] = value
        return name

    def render(self, value: Any, inline: bool = True) -> str:
        """Python source for an input or option value (`inline`: a 0-d float constant may be
        written as a Python number, which NumPy expressions treat exactly like it)."""
        if isinstance(value, str):  # a value name
            return value
        if isinstance(value, Ref):
            return value.name
        if isinstance(value, Const):
            v = value.value
            if inline and isinstance(v, np.ndarray) and v.ndim == 0 and np.isfinite(v):
                if v.dtype == np.float64:    # a Python float computes exactly the same
                    return repr(float(v))
                if v.dtype == np.complex128:
                    return repr(complex(v))
            return self.bound("_k", v)
        return self.literal(value)

    def literal(self, value: Any) -> str:
        """A static option: its repr when that is exact Python, else a namespace name."""
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float) and np.isfinite(value):
            return repr(value)
        if isinstance(value, (tuple, list)):
            inner = ", ".join(self.render(v) for v in value)
            if isinstance(value, list):
                return f"[{inner}]"
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, slice):
            return f"slice({self.render(value.start)}, {self.render(value.stop)}, " \
                   f"{self.render(value.step)})"
        if value is Ellipsis:
            return "..."
        return self.bound("_k", value)

    def cls(self, fn: type) -> str:
        """The namespace name of a Function class."""
        return self.bound(f"_F_{identifier(fn.__name__)}_", fn)


def _subscript(index: Any, r: Callable[[Any], str]) -> str:
    """An index as it is written inside [...] (slices as a:b:c)."""
    items = index if type(index) is tuple else (index,)
    parts = []
    for i in items:
        if isinstance(i, slice):
            text = ":".join("" if x is None else r(x) for x in (i.start, i.stop))
            parts.append(text if i.step is None else f"{text}:{r(i.step)}")
        else:
            parts.append(r(i))
    return ", ".join(parts)  # (x[(i,)] is x[i] in NumPy, also for an array i)


def _comment(node: Node) -> str:
    """What a line is, and the user's line that recorded it (its code on forward lines)."""
    text = node.comment or node.op_name
    if node.where:
        where = _short_where(node.where)
        text += " · " + (where if not node.comment else where.split("  ")[0])
    return text


def _short_where(where: str) -> str:
    """`File ".../lstm.py", line 62, in cell: c = ...` as `lstm.py:62  c = ...`."""
    try:
        head, code = where.split(": ", 1) if ": " in where else (where, "")
        file = head.split('"')[1]
        line = head.split("line ")[1].split(",")[0]
        return f"{os.path.basename(file)}:{line}  {code.strip()}"
    except IndexError:
        return where


def _line(node: Node, w: _Writer) -> str:
    """One statement for a node."""
    writer = EXPRESSIONS.get(node.fn) if node.kind == "op" and node.ctx_name is None else None
    # an op called by reference gets arrays, as Function.apply hands them to it
    ins = [w.render(i, inline=writer is not None or node.kind == "ufunc")
           for i in node.inputs]
    outs = [o if o is not None else "_" for o in node.outputs]
    target = outs[0] if len(outs) == 1 else ", ".join(outs)
    if node.kind == "alias":
        return f"{target} = {ins[0]}"
    if node.kind == "ufunc":
        return f"{target} = np.{node.fn.__name__}({', '.join(ins)})"
    if node.kind == "vjp":
        wanted = w.bound("_wanted", tuple((None, 0) if x else _NOT for x in node.needs))
        return f"{target}{',' if len(outs) == 1 else ''} = _vjp({node.ctx_name}, {wanted}, " \
               f"{', '.join(ins)})"
    options = "".join(f", {k}={w.render(v) if isinstance(v, (Ref, Const)) else w.literal(v)}"
                      for k, v in node.options.items())
    if writer is not None:
        return f"{target} = {writer(ins, node, w.render)}"
    return f"{node.ctx_name or '_'}, ({target},) = _fwd({w.cls(node.fn)}, " \
           f"{', '.join(ins)}{options})"


def _block(nodes: list[Node], w: _Writer) -> list[str]:
    lines = []
    for node in nodes:
        code = _line(node, w)
        lines.append(f"    {code:<58}  # {_comment(node)}")
    return lines


def generate(prog: Program) -> tuple[str, dict[str, Any]]:
    """The module source of `prog` (forward and backward) and the namespace it needs."""
    w = _Writer()
    floats = [a.name for a in prog.float_args]
    ints = [a.name for a in prog.int_args]
    outs = [w.render(o) for o in prog.outputs]
    sig = ", ".join(f"{a.name}{list(a.shape)}{'' if a.dtype == np.float64 else a.dtype}"
                    f"{'*' if a.requires_grad else ''}" for a in prog.args)
    head = [
        f'"""`{prog.name}` compiled by minigrad.compile: forward and backward as NumPy.',
        "",
        f"Signature: {sig}  (* = requires grad).",
        "Names starting with _ are bound by the loader: _k* constants, _F_* the ops called by",
        "reference, _mm/_sigmoid/_tanh/_scatter the engine's own array functions.",
        '"""',
        "",
        "import numpy as np",
        "",
        "",
        f"def forward({', '.join(floats + ints)}):",
        '    """The forward pass: returns (outputs, residuals for backward)."""',
        *_block(prog.forward, w),
        f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''}), "
        f"({', '.join(prog.residuals)}{',' if len(prog.residuals) == 1 else ''})",
        "",
        "",
    ]
    seeds = [s for s in prog.seeds if s]
    grads = [g if g else "None" for g in prog.grads]
    body = [
        f"def backward({', '.join(prog.residuals + seeds)}):",
        '    """The backward pass: d(output) seeds in, one gradient per float argument out."""',
        *_block(prog.backward, w),
        f"    return ({', '.join(grads)}{',' if len(grads) == 1 else ''})",
        "",
    ]
    return "\n".join(head + body), w.namespace
