"""The Numba backend: a `Program` as NumPy/BLAS calls plus fused `@njit` element-wise kernels.

    generate(prog) -> (source, namespace)          (a backend, as `codegen_numpy.generate`)

Each maximal group of element-wise nodes (add sub mul div neg pow exp log tanh sigmoid where
maximum) of one output shape, in the forward and in the backward, becomes ONE generated
kernel that loops over the group's index space once: the group's temporaries are scalars,
its inputs are read with broadcasting (an axis of length 1 is read at index 0), and only the
values used outside the group are written to arrays (allocated by NumPy). Matmuls, reductions
(the backward's unbroadcast sums), concatenations, indexing and ops called by reference stay
the NumPy backend's lines. The schedule may move a non-element-wise line across a group when
no value flows between them (so the LSTM's four gate matmuls run first and its whole gate
arithmetic is one kernel); values are renamed to single assignment first, so moving lines
never changes what a name means.

Numba or NumPy, per group and by size (shapes are fixed per signature, so the choice is made
when generating): a group without transcendental functions always runs as a kernel (one pass
against NumPy's one pass and one temporary per op); a group with exp/log/tanh/sigmoid/pow runs
as a kernel when its size is at most `NUMBA_MAX_SIZE`, else as the NumPy lines (NumPy's SIMD
`exp`/`tanh` beat Numba's scalar libm calls on large arrays; measured: see `NUMBA_MAX_SIZE`).

The kernels are `@njit(cache=True)` without signatures: compiling happens on the first call of
the generated module's forward/backward (only the kernels that run compile), and the module
lives in the compile cache directory (`cache.py`, file named by its source's hash), so Numba's
on-disk cache is reused by a later process. Under `NUMBA_DISABLE_JIT=1` the kernels are plain
Python loops (slow, but the same code). The module's `KERNELS` string is the kernels' source.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..ops.activations import Sigmoid, Tanh
from ..ops.elementwise import Add, Div, Exp, Log, Maximum, Mul, Neg, PowConst, Sub, Where
from . import codegen_numpy
from .backward import names_in
from .program import Node, Program, Ref

__all__ = ["NUMBA_MAX_SIZE", "SCALAR", "generate", "infer_values"]

#: Largest group (elements of its index space) with a transcendental function run by Numba.
#: Measured (one BLAS thread, float64, the LSTM cell's generated forward, n_a = 128, Numba
#: kernels / NumPy lines, two noisy runs): 0.74-0.81 at 128 elements, 0.79-0.99 at 1024,
#: 0.92-1.32 at 2048-4096, 1.17-1.28 at 16K-32K; the same crossover as `kernels.sigmoid`.
NUMBA_MAX_SIZE: int = 2048

#: Function class -> the scalar expression of one element (format fields: inputs, `p`).
SCALAR: dict[type, str] = {
    Add: "{0} + {1}", Sub: "{0} - {1}", Mul: "{0} * {1}", Div: "{0} / {1}", Neg: "-{0}",
    PowConst: "{0} ** {p}", Exp: "np.exp({0})", Log: "np.log({0})", Tanh: "np.tanh({0})",
    Sigmoid: "_sigmoid_s({0})", Maximum: "np.maximum({0}, {1})",
    Where: "({0} if {cond} else {1})",
}
_TRANSCENDENTAL = (Exp, Log, Tanh, Sigmoid, PowConst)
_DTYPES = {np.dtype(np.float64): "np.float64", np.dtype(np.float32): "np.float32",
           np.dtype(np.complex128): "np.complex128"}


def infer_values(prog: Program) -> dict[str, np.ndarray]:
    """Every forward and backward name's value on placeholder arguments (ones; zeros for
    integer arguments), from one run of the NumPy backend: what the kernels need to know
    (shapes and dtypes, fixed per signature)."""
    source, namespace = codegen_numpy.generate(prog)
    lines = ["    return locals()" if line.startswith("    return ") else line
             for line in source.splitlines()]
    scope = dict(namespace)
    exec(compile("\n".join(lines), f"<shapes of {prog.name}>", "exec"), scope)  # noqa: S102
    args = [np.ones(a.shape, a.dtype) if a.kind == "float" else np.zeros(a.shape, a.dtype)
            for a in prog.float_args + prog.int_args]  # (the order forward takes them)
    with np.errstate(all="ignore"):
        fwd = scope["forward"](*args)
        values = dict(fwd)
        seeds = [np.ones(np.shape(values[o]), np.result_type(values[o]))
                 for o, s in zip(prog.outputs, prog.seeds) if s]
        values.update(scope["backward"](*[values[r] for r in prog.residuals], *seeds))
    return {k: v for k, v in values.items() if isinstance(v, np.ndarray)}


# ---------------------------------------------------------------------------- single assignment


def _ssa(nodes: list[Node], names: dict[str, str], base: dict[str, str]) -> list[Node]:
    """Copies of `nodes` in which every assignment makes a new name (`x`, then `x__2`, ...)
    and aliases disappear (their target is renamed to the source); `names` maps each name as
    the code reads it to its current version and is updated in place; `base` gets each new
    version's original name (whose value `infer_values` knows: the same shape and dtype)."""
    seen: dict[str, int] = {}
    out = []

    def fresh(name: str) -> str:
        k = seen.get(name, 0) + 1
        seen[name] = k
        return name if k == 1 and name not in names else f"{name}__{k}"

    for node in nodes:
        ins = [names.get(i, i) if isinstance(i, str) else i for i in node.inputs]
        opts = {k: _rename_refs(v, names) for k, v in node.options.items()}
        if node.kind == "alias" and isinstance(ins[0], str):
            names[node.outputs[0]] = ins[0]
            continue
        outs = []
        for o in node.outputs:
            if o is None:
                outs.append(None)
                continue
            v = fresh(o)
            names[o] = v
            base[v] = o
            outs.append(v)
        out.append(dataclasses.replace(node, inputs=ins, options=opts, outputs=outs))
    return out


def _rename_refs(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return Ref(names.get(value.name, value.name))
    if type(value) is tuple or type(value) is list:
        return type(value)(_rename_refs(v, names) for v in value)
    return value


# ---------------------------------------------------------------------------- grouping


@dataclasses.dataclass
class _Group:
    """A run of element-wise nodes of one output shape that becomes one kernel."""

    shape: tuple[int, ...]
    nodes: list[Node]


def _fusable(node: Node, values: dict[str, np.ndarray], base: dict[str, str]) -> bool:
    if node.kind != "op" or node.fn not in SCALAR or node.ctx_name is not None:
        return False
    out = values.get(base.get(node.outputs[0], node.outputs[0]))
    if out is None or out.dtype not in _DTYPES or out.size == 0 or out.ndim == 0:
        return False
    for i in node.inputs:
        arr = values.get(base.get(i, i)) if isinstance(i, str) else np.asarray(i.value)
        if arr is None or arr.ndim > out.ndim:
            return False
    return True


def _schedule(nodes: list[Node], values: dict[str, np.ndarray],
              base: dict[str, str]) -> list[Node | _Group]:
    """Nodes and groups in an order that respects every data dependence (see module doc).

    One group is open at a time; an element-wise node of another shape is scheduled as any
    other node. A node that reads the open group (or a node deferred after it) is deferred
    until the group closes; the group closes when an element-wise node reads a deferred one."""
    items: list[Node | _Group] = []
    group: _Group | None = None
    in_group: set[str] = set()
    deferred: list[Node] = []
    by_deferred: set[str] = set()

    def flush() -> None:
        nonlocal group
        if group is not None:
            items.append(group)
        items.extend(deferred)
        group = None
        in_group.clear()
        deferred.clear()
        by_deferred.clear()

    for node in nodes:
        reads = set(names_in(node))
        made = {o for o in node.outputs if o} | ({node.ctx_name} if node.ctx_name else set())
        shape = values[base.get(node.outputs[0], node.outputs[0])].shape \
            if _fusable(node, values, base) else None
        if shape is not None and (group is None or group.shape == shape):
            if reads & by_deferred:
                flush()
            if group is None:
                group = _Group(shape, [])
            group.nodes.append(node)
            in_group.update(made)
        elif reads & (in_group | by_deferred):
            deferred.append(node)
            by_deferred.update(made)
        else:
            items.append(node)
    flush()
    return items


# ---------------------------------------------------------------------------- writing


class _Module:
    """The generated module: kernels, the NumPy writer (constants, classes), the options."""

    def __init__(self, max_size: int, lines: dict[type, Any] | None = None) -> None:
        self.w = codegen_numpy._Writer()
        self.kernels: list[str] = []
        self.max_size = max_size
        self.lines = lines or {}  # Function class -> writer overriding the NumPy expression
        self.external: set[str] = set()  # arguments and seeds: their layout varies by call

    def block(self, nodes: list[Node]) -> list[str]:
        """The NumPy backend's lines for `nodes`, with this module's overrides."""
        out = []
        for node in nodes:
            writer = self.lines.get(node.fn) if node.kind == "op" else None
            if writer is None or node.ctx_name is not None:
                out += codegen_numpy._block([node], self.w)
                continue
            ins = [self.w.render(i) for i in node.inputs]
            code = f"{node.outputs[0]} = {writer(ins, node, self.w.render)}"
            out.append(f"    {code:<58}  # {codegen_numpy._comment(node)}")
        return out


def _const(value: Any, m: _Module) -> str:
    text = m.w.render(value)
    return f"({text})" if text.startswith("-") else text


def _index(shape: tuple[int, ...], space: tuple[int, ...]) -> str:
    """The subscript that reads an array of `shape` broadcast over `space`'s loop indices."""
    pad = (1,) * (len(space) - len(shape)) + tuple(shape)
    return ", ".join("0" if n == 1 and s != 1 else f"i{d}"
                     for d, (n, s) in enumerate(zip(pad, space)))


def _kernel(group: _Group, used_later: set[str], values: dict[str, np.ndarray],
            base: dict[str, str], m: _Module, stage: str) -> list[str]:
    """Write one fused kernel for `group`; return the lines that call it."""
    space = group.shape
    made = {n.outputs[0] for n in group.nodes}
    params: list[str] = []      # array parameters, in order
    call_args: list[str] = []   # what the caller passes for each
    reshape: dict[str, str] = {}

    def array(name: str, arr: np.ndarray, arg: str) -> str:
        if name not in params:
            params.append(name)
            if name in m.external:  # one memory layout, so one compiled kernel per signature
                arg = f"np.ascontiguousarray({arg})"
            call_args.append(arg if arr.ndim == len(space)
                             else f"{arg}.reshape({(1,) * (len(space) - arr.ndim) + arr.shape})")
            shape = (1,) * (len(space) - arr.ndim) + arr.shape
            reshape[name] = _index(shape, space)
        return f"{name}[{reshape[name]}]"

    def operand(x: Any) -> str:
        if isinstance(x, str):
            if x in made:
                return x
            return array(x, values[base.get(x, x)], x)
        arr = np.asarray(x.value)
        if arr.ndim == 0 and np.isfinite(arr) and arr.dtype.kind in "fc":
            return _const(x, m)
        bound = m.w.render(x)
        return array(bound, arr, bound)

    body, outs = [], []
    for node in group.nodes:
        ins = [operand(i) for i in node.inputs]
        fields: dict[str, str] = {}
        if node.fn is PowConst:
            fields["p"] = f"({node.options['p']!r})"
        if node.fn is Where:
            cond = node.options["cond"]
            fields["cond"] = operand(cond.name if isinstance(cond, Ref) else cond)
        out = node.outputs[0]
        expr = SCALAR[node.fn].format(*ins, **fields)
        body.append(f"            {out} = {expr:<48}  # {codegen_numpy._comment(node)}")
        if out in used_later:
            outs.append(out)
            body.append(f"            out_{out}[{', '.join(f'i{d}' for d in range(len(space)))}]"
                        f" = {out}")
    name = f"_fused_{stage}_{len(m.kernels)}"
    ops = ", ".join(n.op_name for n in group.nodes)
    loops = [f"{'    ' * (d + 1)}for i{d} in range(n{d}):" for d in range(len(space))]
    dims = ", ".join(f"n{d}" for d in range(len(space)))
    head = [
        "@njit(cache=True)",
        f"def {name}({', '.join(params + [f'out_{o}' for o in outs])}):",
        f'    """{len(group.nodes)} element-wise ops over {space} in one pass: {ops}."""',
        f"    {dims}{',' if len(space) == 1 else ''} = out_{outs[0]}.shape",
    ]
    indent = "    " * (len(space) + 1)
    text = head + loops + [indent + line.lstrip() for line in body]
    m.kernels.append("\n".join(text))
    calls = [f"    {o} = np.empty({space}, {_DTYPES[values[base.get(o, o)].dtype]})"
             for o in outs]
    calls.append(f"    {name}({', '.join(call_args + outs)})"
                 f"{'':<4}  # fused: {len(group.nodes)} ops, {ops}")
    return calls


def _block(items: list[Node | _Group], used_after: list[set[str]],
           values: dict[str, np.ndarray], base: dict[str, str], m: _Module,
           stage: str) -> list[str]:
    lines = []
    for item, later in zip(items, used_after):
        if isinstance(item, _Group):
            size = int(np.prod(item.shape, dtype=np.int64))
            heavy = any(n.fn in _TRANSCENDENTAL for n in item.nodes)
            if len(item.nodes) > 1 and (not heavy or size <= m.max_size):
                lines += _kernel(item, later, values, base, m, stage)
                continue
            lines += m.block(item.nodes)
        else:
            lines += m.block([item])
    return lines


def _used_after(items: list[Node | _Group], tail: set[str]) -> list[set[str]]:
    """Per item, the names read by the items after it or by `tail` (returns, residuals)."""
    later, out = set(tail), []
    for item in reversed(items):
        out.append(set(later))
        for node in item.nodes if isinstance(item, _Group) else [item]:
            later.update(names_in(node))
    return out[::-1]


def generate(prog: Program, *, max_size: int | None = None,
             lines: dict[type, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The module source of `prog` with fused Numba kernels (see the module doc), and the
    namespace it needs. `max_size` overrides `NUMBA_MAX_SIZE` (the size above which a group
    with transcendental functions runs as NumPy lines). `lines` (for the whole-loop scan)
    overrides how ops are written outside kernels; with it, `forward` and `backward` are
    `@njit` too, and `backward` returns only the gradients that are not None."""
    loop = lines is not None
    m = _Module(NUMBA_MAX_SIZE if max_size is None else max_size, lines)
    m.external = {a.name for a in prog.args} | {s for s in prog.seeds if s}
    values = infer_values(prog)
    names: dict[str, str] = {}
    base: dict[str, str] = {}
    forward = _ssa(prog.forward, names, base)
    outputs = [names.get(o, o) if isinstance(o, str) else o for o in prog.outputs]
    residuals = [names.get(r, r) for r in prog.residuals]
    bnames = {r: names.get(r, r) for r in prog.residuals}
    backward = _ssa(prog.backward, bnames, base)
    grads = [bnames.get(g, g) if g else None for g in prog.grads]
    fwd_items = _schedule(forward, values, base)
    fwd_tail = {o for o in outputs if isinstance(o, str)} | set(residuals)
    fwd_lines = _block(fwd_items, _used_after(fwd_items, fwd_tail), values, base, m, "fwd")
    bwd_items = _schedule(backward, values, base)
    bwd_lines = _block(bwd_items, _used_after(bwd_items, {g for g in grads if g}), values,
                       base, m, "bwd")
    outs = [m.w.render(o) for o in outputs]
    seeds = [s for s in prog.seeds if s]
    kernels = "\n\n\n".join(m.kernels)
    head = [
        f'"""`{prog.name}` compiled by minigrad.compile (Numba backend): forward and backward',
        "as NumPy/BLAS lines and fused element-wise kernels (the _fused_* functions).",
        "",
        "Names starting with _ are bound by the loader: _k* constants, _F_* the ops called by",
        "reference, _mm/_sigmoid/_tanh/_scatter the engine's own array functions.",
        '"""',
        "",
        "import numpy as np",
        "from numba import njit",
        "",
        "from minigrad.kernels.elementwise import sigmoid_scalar as _sigmoid_s",
        "",
        f"KERNELS = {kernels!r}",
        "",
        "",
    ]
    body = [
        *([kernels, "", ""] if kernels else []),
        *(["@njit(cache=True)"] if loop else []),
        f"def forward({', '.join(a.name for a in prog.float_args + prog.int_args)}):",
        '    """The forward pass: returns (outputs, residuals for backward)."""',
        *fwd_lines,
        f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''}), "
        f"({', '.join(residuals)}{',' if len(residuals) == 1 else ''})",
        "",
        "",
        *(["@njit(cache=True)"] if loop else []),
        f"def backward({', '.join(residuals + seeds)}):",
        '    """The backward pass: d(output) seeds in, one gradient per float argument out."""',
        *bwd_lines,
        f"    return ({', '.join(g or 'None' for g in grads if g or not loop)}"
        f"{',' if len([g for g in grads if g or not loop]) == 1 else ''})",
        "",
    ]
    return "\n".join(head + body), m.w.namespace


def backend(max_size: int | None = None) -> Any:
    """A backend function with its own size threshold (for tests that force either path)."""
    def generate_with(prog: Program) -> tuple[str, dict[str, Any]]:
        return generate(prog, max_size=max_size)
    generate_with.__name__ = f"numba(max_size={max_size})"
    return generate_with

