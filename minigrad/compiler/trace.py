"""Run a function once on the tape and collect what it did as a `Program`'s forward nodes.

Every op calls the tracer (through `modes.note`, inside `modes.tracing`) with its input and
output arrays. The tracer names arrays by identity: an argument's array is the argument's
name, an op's output gets a fresh name, and an input the tracer has never seen is a constant.
So ops on arguments that do not require grad are followed too (the tape would not record
them), and reading a traced value in Python (`bool(t)`, comparisons) can be refused.
Integer-array arguments (token ids) are `TracedInts`: NumPy arithmetic on them is followed,
so `n_a + ids` in an option stays data rather than a constant frozen at trace time.

One gap in naming by identity: an op that returns a NumPy scalar (a 0-d sum, say) gets a new
0-d array as its Tensor's data after the tracer saw it. A recorded op's 0-d result is named
from the tape afterwards (`Tracer.finish`); an unrecorded one (computed from arguments that
require no grad) is recognised by its value. `check.py` catches a wrong guess.
"""

from __future__ import annotations

import itertools
import keyword
import re
from typing import Any

import numpy as np

from ..modes import STATE, tracing
from ..tensor import Tensor
from .program import Arg, Const, Node, Program, Ref, ref_names

__all__ = ["TraceError", "TracedInts", "Tracer", "flatten", "trace_forward", "unflatten"]


class TraceError(TypeError):
    """A function cannot be compiled as written (the message says why and what to do)."""


class TracedInts(np.ndarray):
    """An integer-array argument while tracing: ufunc arithmetic on it is recorded."""

    _mg_name: str | None = None

    def __array_finalize__(self, obj: Any) -> None:
        # a copy, an astype or a view with the same layout of a traced array is the same data;
        # a transposed or reversed view (same memory, other strides) is not
        same = (isinstance(obj, np.ndarray) and obj.shape == self.shape
                and (obj.strides == self.strides or not np.may_share_memory(self, obj)))
        self._mg_name = getattr(obj, "_mg_name", None) if same else None

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        plain = tuple(x.view(np.ndarray) if isinstance(x, TracedInts) else x for x in inputs)
        out = getattr(ufunc, method)(*plain, **kwargs)
        tracer = STATE.tracer
        names = [x._mg_name if isinstance(x, TracedInts) else None for x in inputs]
        if (method != "__call__" or "out" in kwargs or not isinstance(out, np.ndarray)
                or not isinstance(tracer, Tracer) or None in [n for n, x in zip(names, inputs)
                                                              if isinstance(x, TracedInts)]):
            return out  # a reduction (ids.min()) or untraced use: a plain value read
        name = tracer.fresh(ufunc.__name__)
        args = [n if n is not None else Const(x) for n, x in zip(names, inputs)]
        tracer.nodes.append(Node("ufunc", ufunc, args, {}, [name], where=tracer.user_line(),
                                 comment=f"{ufunc.__name__} on integer data"))
        result = out.view(TracedInts)
        result._mg_name = name
        tracer.arrays[name] = result
        return result


def identifier(text: str) -> str:
    """`text` as a Python identifier (`p["W_c"]` -> `p_W_c`)."""
    s = re.sub(r"\W+", "_", text).strip("_") or "v"
    return f"v_{s}" if s[0].isdigit() or keyword.iskeyword(s) else s


_RESERVED = {"np", "forward", "backward", "None", "True", "False"}


class Tracer:
    """Names the arrays a traced function computes and records a `Node` per op (the hook that
    `modes.note` calls). `is_traced` is what `Tensor.__bool__` & co. ask."""

    def __init__(self, function_name: str, taken: set[str] | None = None) -> None:
        self.function_name = function_name
        self.names: dict[int, str] = {}        # id(array) -> name
        self.arrays: dict[str, Any] = {}       # name -> array (keeps ids alive and unique)
        self.nodes: list[Node] = []
        self.taken: set[str] = set() if taken is None else taken
        self.by_record: dict[int, Node] = {}   # id(record) -> its node
        self.scalars: list[tuple[Any, str, Any]] = []  # 0-d results, their records (`finish`)
        self.alive: list[Any] = []             # everything named by identity stays alive
        self.comment: str | None = None        # what nodes made now are (backward phases)
        self.where: str | None = None          # the user line they belong to
        self._count = itertools.count()
        self.grad_enabled = True  # False while the traced function runs a no_grad() block

    def fresh(self, stem: str) -> str:
        """A new name `stem_k` not used before in this program."""
        stem = identifier(stem)
        while True:
            name = f"{stem}_{next(self._count)}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def unique(self, stem: str) -> str:
        """`stem` itself if no value has that name yet, else a fresh `stem_k`."""
        stem = identifier(stem)
        if stem in self.taken or stem in _RESERVED:
            return self.fresh(stem)
        self.taken.add(stem)
        return stem

    def bind(self, arr: Any, name: str) -> None:
        """`arr` is the value called `name`."""
        self.names[id(arr)] = name
        self.arrays[name] = arr
        self.alive.append(arr)  # (a rebound name must not free an array whose id is named)
        self.taken.add(name)

    def name_of(self, arr: Any) -> str | None:
        """The name of a traced array (or of a same-layout view of one), else None."""
        if isinstance(arr, TracedInts):
            return arr._mg_name
        name = self.names.get(id(arr))
        if name is None and isinstance(arr, np.ndarray):
            base = arr.base
            if (isinstance(base, np.ndarray) and base.shape == arr.shape
                    and base.strides == arr.strides and base.dtype == arr.dtype):
                name = self.names.get(id(base))
        return name

    def name_of_tensor(self, t: Tensor) -> str | None:
        """The name of a Tensor's value: by its array, else by the record that made it."""
        name = self.name_of(t.data)
        if name is None and t.record is not None:
            node = self.by_record.get(id(t.record))
            if node is not None:
                name = node.outputs[t.output_index]
        if name is None and t.record is None:  # a 0-d result of an op that was not recorded
            name = self.scalar_match(t.data)
        return name

    def scalar_match(self, arr: Any) -> str | None:
        """An unknown 0-d array equal to a 0-d result of an op: that result, most likely.

        An op returning a NumPy scalar gets a new 0-d array after the tracer saw the scalar,
        so identity cannot name it. `finish` corrects the guess from the tape's records."""
        if not isinstance(arr, np.ndarray) or arr.ndim or not self.scalars:
            return None
        for value, name, record in reversed(self.scalars):
            if "inputs" in record.__dict__:
                continue  # recorded: `finish` names its uses from the tape, never by value
            if value.dtype == arr.dtype and (value == arr or (value != value and arr != arr)):
                return name
        return None

    def finish(self, all_recorded: bool = False) -> None:
        """Name 0-d inputs by the records they came from (see `scalar_match`). When every op
        with a traced input was recorded (`all_recorded`: the backward trace), an unknown
        leaf input is a constant, whatever its value."""
        for node in self.nodes:
            sources = node.ctx.__dict__.get("inputs", ()) if node.ctx is not None else ()
            for i, src in enumerate(sources):
                if type(src) is tuple and id(src[0]) in self.by_record:
                    node.inputs[i] = self.by_record[id(src[0])].outputs[src[1]]
                elif (all_recorded and type(src) is not tuple
                      and isinstance(node.inputs[i], str) and src.data.ndim == 0
                      and self.name_of(src.data) is None):
                    node.inputs[i] = Const(src.data)  # a constant equal to a traced scalar

    def is_traced(self, t: Tensor) -> bool:
        """Is the Tensor `t` a value the traced function computed from its arguments?"""
        return self.name_of_tensor(t) is not None

    def user_line(self) -> str | None:
        """The line nodes made now belong to."""
        if self.where is not None:
            return self.where
        from ..modes import _user_line

        return _user_line()

    def static(self, value: Any) -> Any:
        """An op's option with traced arrays replaced by `Ref`s (untraced arrays: `Const`)."""
        if isinstance(value, TracedInts):
            if value._mg_name is None:
                raise TraceError(
                    f"compile: an integer-array argument of '{self.function_name}' reached an "
                    f"op through an operation compile does not follow (a reshape or other "
                    f"view of it): pass the array the op uses as an argument")
            return Ref(value._mg_name)
        if isinstance(value, np.ndarray):
            name = self.name_of(value)
            return Ref(name) if name is not None else Const(value)
        if type(value) is tuple or type(value) is list:
            return type(value)(self.static(v) for v in value)
        if isinstance(value, dict):
            return {k: self.static(v) for k, v in value.items()}
        return value

    def __call__(self, record: Any, arrays: list[np.ndarray], outs: tuple,
                 options: dict[str, Any]) -> None:
        self.grad_enabled = STATE.grad_enabled
        ins = [self.name_of(a) or self.scalar_match(a) for a in arrays]
        opts = {k: self.static(v) for k, v in options.items()}
        if (all(n is None for n in ins) and not _has_ref(opts)
                and not any(np.ndim(a) == 0 for a in arrays)):
            return  # an op on constants only: its result is a constant too (a 0-d input may
            #         be a recorded result, which `finish` names from the tape)
        node = Node("op", record.fn, [n if n is not None else Const(a)
                                      for n, a in zip(ins, arrays)],
                    opts, [self.fresh(record.name) for _ in outs],
                    where=self.where or record.where, comment=self.comment or "", ctx=record,
                    no_grad=not self.grad_enabled, input_ids=tuple(id(a) for a in arrays))
        for o, name in zip(outs, node.outputs):
            if type(o) is np.ndarray:
                self.bind(o, name)
            else:  # a NumPy scalar: the Tensor gets np.asarray(o), a new array
                self.scalars.append((np.asarray(o), name, record))
                self.names[id(o)] = name  # (the scalar itself, if the op saved it)
                self.alive.append(o)
                self.arrays[name] = np.asarray(o)
                self.taken.add(name)
        self.by_record[id(record)] = node
        self.nodes.append(node)


def _has_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_ref(v) for v in value)
    if isinstance(value, dict):
        return any(_has_ref(v) for v in value.values())
    return False


# ----------------------------------------------------------------------------------------------
# arguments and results as flat lists of leaves and a tree


def flatten(value: Any, path: str, leaves: list[tuple[str, Any]]) -> Any:
    """Append the leaves (Tensors, arrays) of `value` to `leaves` as (path, leaf); return the
    tree: nested tuples/lists with `None` where a leaf was and static values (numbers) kept."""
    if isinstance(value, (Tensor, np.ndarray)):
        leaves.append((path, value))
        return _LEAF
    if isinstance(value, (tuple, list)):
        kids = tuple(flatten(v, f"{path}_{i}", leaves) for i, v in enumerate(value))
        return (type(value), kids)
    if isinstance(value, dict):
        keys = sorted(value)
        return (dict, tuple((k, flatten(value[k], f"{path}_{k}", leaves)) for k in keys))
    if value is None or isinstance(value, (bool, int, float, complex, str, np.generic)):
        return ("static", value)
    raise TraceError(
        f"compile: argument {path} is a {type(value).__name__}; a compiled function takes "
        "Tensors, arrays, numbers and (nested) tuples, lists or dicts of them")


_LEAF = ("leaf",)


def unflatten(tree: Any, leaves: Any) -> Any:
    """Rebuild a value of `tree`'s structure from an iterator of leaves."""
    if tree is _LEAF or tree == _LEAF:
        return next(leaves)
    kind, body = tree
    if kind == "static":
        return body
    if kind is dict:
        return {k: unflatten(t, leaves) for k, t in body}
    items = [unflatten(t, leaves) for t in body]
    if kind is tuple or kind is list:
        return kind(items)
    if hasattr(kind, "_fields"):
        return kind(*items)
    return kind(items)


# ----------------------------------------------------------------------------------------------
# the forward trace


def trace_forward(fn: Any, fn_name: str, tree: Any, leaves: list[tuple[str, Any]],
                  kwargs: dict[str, Any]) -> tuple[Program, Tracer, list[Tensor]]:
    """Run `fn` once on fresh leaves named after the arguments; return its forward `Program`,
    the tracer (arrays by name, for the backward trace) and the trace-time leaf Tensors."""
    tracer = Tracer(fn_name)
    args, traced = [], []
    for path, leaf in leaves:
        data = leaf.data if isinstance(leaf, Tensor) else np.asarray(leaf)
        name = tracer.unique(leaf.name if isinstance(leaf, Tensor) and leaf.name else path)
        if data.dtype.kind in "biu":
            t = data.view(TracedInts)
            t._mg_name = name
            tracer.arrays[name] = t
            args.append(Arg(name, "int", data.shape, data.dtype))
        else:
            if data.dtype.kind not in "fc":
                raise TraceError(f"compile: argument {path} has dtype {data.dtype}; compiled "
                                 "functions take numeric arrays")
            rg = isinstance(leaf, Tensor) and leaf.requires_grad
            t = Tensor._make(data.view(), rg, None, 0)  # a view per argument: its own identity
            t.name = leaf.name if isinstance(leaf, Tensor) else None
            tracer.bind(t.data, name)
            args.append(Arg(name, "float", data.shape, data.dtype, rg))
        traced.append(t)
    call_args = unflatten(tree, iter(traced))
    prev = STATE.grad_enabled
    STATE.grad_enabled = True  # (records are needed to find closed-over parameters)
    try:
        with tracing(tracer), np.errstate(all="ignore"):
            result = fn(*call_args, **kwargs)
    finally:
        STATE.grad_enabled = prev
    tracer.finish()
    out_leaves: list[tuple[str, Any]] = []
    out_tree = flatten(result, "out", out_leaves)
    outputs = []
    for path, leaf in out_leaves:
        data = leaf.data if isinstance(leaf, Tensor) else leaf
        name = tracer.name_of_tensor(leaf) if isinstance(leaf, Tensor) else tracer.name_of(data)
        if isinstance(data, TracedInts) or (name is None and data.dtype.kind not in "fc"):
            raise TraceError(f"compile: result {path} of '{fn_name}' is an integer array; "
                             "compiled functions return Tensors or float arrays")
        outputs.append(name if name is not None else Const(np.asarray(data)))
    check_closure(tracer, traced, fn_name, [leaf for _, leaf in out_leaves])
    check_ints_used(tracer, args, fn_name)
    prog = Program(fn_name, args, tracer.nodes, outputs)
    prog.types = {name: (np.shape(a), np.asarray(a).dtype) for name, a in tracer.arrays.items()}
    prog.out_tree = out_tree  # type: ignore[attr-defined]
    return prog, tracer, traced


def check_closure(tracer: Tracer, traced: list[Tensor], fn_name: str,
                  results: list[Any]) -> None:
    """Raise if a Tensor that requires grad reached an op (or the result) without being an
    argument: directly, or through ops on it alone (which the trace sees as constants)."""
    mine = {id(t) for t in traced}
    sources = [(s, node.where) for node in tracer.nodes
               for s in getattr(node.ctx, "__dict__", {}).get("inputs", ())]
    sources += [(r if r.record is None else (r.record, r.output_index), "the result")
                for r in results if isinstance(r, Tensor) and r.requires_grad
                and tracer.name_of_tensor(r) is None]
    for source, where in sources:
        leaf = _outside_leaf(source, tracer, mine)
        if leaf is None:
            continue
        what = f"'{leaf.name}'" if leaf.name else "a tensor"
        raise TraceError(
            f"compile: {what} of shape {leaf.shape} that requires grad is used inside "
            f"'{fn_name}' but is not one of its arguments (a closed-over parameter, e.g. "
            f"self.W read inside, at {where}). Compiled code would keep its value "
            "as a constant and give it no gradient: pass it as an argument.")


def _outside_leaf(source: Any, tracer: Tracer, mine: set[int]) -> Tensor | None:
    """A leaf requiring grad, not an argument, that `source` depends on outside the trace."""
    stack = [source]
    while stack:
        s = stack.pop()
        if type(s) is not tuple:
            if s.requires_grad and id(s) not in mine:
                return s
            continue
        if id(s[0]) not in tracer.by_record:  # recorded, but not from the arguments
            stack.extend(s[0].inputs)
    return None


def check_ints_used(tracer: Tracer, args: list[Arg], fn_name: str) -> None:
    """Raise if an integer argument was used only in ways the trace cannot follow."""
    used: set[str] = set()
    for node in tracer.nodes:
        used.update(n for n in node.inputs if isinstance(n, str))
        used.update(ref_names(node.options))
    for a in args:
        if a.kind == "int" and a.name not in used:
            raise TraceError(
                f"compile: the integer argument {a.name} {a.shape} of '{fn_name}' is not used "
                "by any op the trace can follow (converted to a Tensor or read in Python?): "
                "its values would be frozen at trace time. Use it as an index or pass it as "
                "a float array.")
