"""The whole-loop scan: forward over T and BPTT, each ONE generated Numba function.

`scan` (`scan.py`) runs a compiled cell's generated forward once per step from Python and its
generated backward once per step in reverse. For a cell compiled with the Numba backend and a
small problem, `loop_function` replaces that with one generated module (in the compile cache)
holding

    forward / backward      the cell's step code (`codegen_numba.generate` with `LINES`):
                            fused element-wise kernels, small matmuls as loops (`_mm_loop`;
                            Numba has no BLAS here), unbroadcast sums as loops, all `@njit`;
    scan_forward(carry..., xs, params...)
                            for t in range(T): x⟨t⟩ = xs[..., t]; one step; ys[..., t] = y⟨t⟩;
                            the step's residuals stored in (T, ...) stacks (parameters and
                            x⟨t⟩ are read again, not stored);
    scan_backward(stacks..., xs, params..., d carry⟨T⟩..., d ys...)
                            for t = T-1 .. 0: the step's backward from its residuals and
                            (d carry⟨t+1⟩, d y⟨t⟩); d params += their step gradients;
                            d xs[..., t] = d x⟨t⟩; d carry⟨t⟩ goes to the step before.

The tape sees the same single record as `scan`'s (same inputs, outputs and gradients). Used
when every op of the step has a loop form (`eligible`), the input is dense (token ids run
`scan`'s per-step loop: the models' one-hot product is called by reference), and the step's
matmuls are small (`LOOP_MAX_FLOPS`); otherwise `loop_function` returns None and `scan` keeps
its per-step loop (one BLAS GEMM per matmul, fused element-wise kernels).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..function import Function
from ..modes import STATE
from ..ops.activations import Sigmoid, Tanh
from ..ops.axes import BroadcastTo, Reshaped
from ..ops.elementwise import Add, Div, Exp, Log, Mul, Neg, PowConst, Sub, Where
from ..ops.indexing import GetItem
from ..ops.linalg import MatMul
from ..ops.reductions import Sum
from ..ops.shape import Concat, Reshape, Transpose
from . import codegen_numba
from .cache import load_module
from .codegen_numpy import EXPRESSIONS
from .program import Program, Ref

__all__ = ["LINES", "LOOP_MAX_FLOPS", "eligible", "loop_function", "loop_source"]

#: Largest multiply-adds of one step's matmuls (forward) for which the whole loop runs in
#: Numba; above it a BLAS GEMM per step wins. (The course LSTM: 15K; the batch LSTM: 3.1M.)
LOOP_MAX_FLOPS: int = 200_000


def _sum_line(a: list[str], n: Any, r: Any) -> str:
    axis = n.options.get("axis")
    axis = axis[0] if isinstance(axis, tuple) else axis
    return f"_sum_keep{axis}({a[0]})"


#: How an op is written in the Numba step functions, where the NumPy expression is not Numba's.
LINES: dict[type, Any] = {
    **{fn: EXPRESSIONS[fn] for fn in (Add, Sub, Mul, Div, Neg, PowConst, Exp, Log, Where,
                                      Transpose, BroadcastTo, Concat, GetItem)},
    MatMul: lambda a, n, r: f"_mm_loop({a[0]}, {a[1]})",
    Sum: _sum_line,
    Sigmoid: lambda a, n, r: f"_sigmoid_arr({a[0]})",
    Tanh: lambda a, n, r: f"np.tanh({a[0]})",
    Reshape: lambda a, n, r: f"np.ascontiguousarray({a[0]}).reshape({r(n.options['shape'])})",
    Reshaped: lambda a, n, r: f"np.ascontiguousarray({a[0]}).reshape({r(n.options['shape'])})",
}

HELPERS = '''

@njit(cache=True, fastmath={"reassoc", "contract"})
def _mm_loop(a, b):
    """a @ b for 2-D float64 arrays, as loops. Few columns in b (a matrix times vectors):
    dot products along the rows of a, or, when a is column-major (a transposed weight),
    columns of a scaled and added; else rows of b accumulated (outer products, wide b).
    (Reassociated sums: SIMD dot products, rounding within a few ulps of BLAS.)"""
    n, k = a.shape
    m = b.shape[1]
    if m <= 4 and a.strides[0] <= a.strides[1]:
        out = np.zeros((n, m))
        for p in range(k):
            for j in range(m):
                bpj = b[p, j]
                for i in range(n):
                    out[i, j] += a[i, p] * bpj
        return out
    if m <= 4:
        out = np.empty((n, m))
        for i in range(n):
            for j in range(m):
                s = 0.0
                for p in range(k):
                    s += a[i, p] * b[p, j]
                out[i, j] = s
        return out
    out = np.zeros((n, m))
    for i in range(n):
        for p in range(k):
            aip = a[i, p]
            for j in range(m):
                out[i, j] += aip * b[p, j]
    return out


@njit(cache=True)
def _sum_keep0(x):
    """np.sum(x, axis=0, keepdims=True) of a 2-D array."""
    out = np.zeros((1, x.shape[1]))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[0, j] += x[i, j]
    return out


@njit(cache=True)
def _sum_keep1(x):
    """np.sum(x, axis=1, keepdims=True) of a 2-D array."""
    out = np.zeros((x.shape[0], 1))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, 0] += x[i, j]
    return out


@njit(cache=True)
def _sigmoid_arr(x):
    """σ of a 2-D array, element by element (the stable form of minigrad.kernels)."""
    out = np.empty(x.shape)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = _sigmoid_s(x[i, j])
    return out
'''


def eligible(prog: Program, values: dict[str, np.ndarray], n_carry: int) -> str | None:
    """None if the whole loop can run this step program, else the reason it cannot."""
    if prog.int_args:
        return "integer (token-id) arguments"
    if len(prog.float_args) < n_carry + 1:
        return "no dense x⟨t⟩ argument"
    if any(not isinstance(o, str) for o in prog.outputs):
        return "a constant output"
    for node in prog.forward + prog.backward:
        if node.kind == "alias":
            continue
        if node.kind != "op" or node.fn not in LINES or node.ctx_name is not None:
            return f"op {node.op_name} has no loop form"
        if node.fn is Sum and not (node.options.get("keepdims") and node.options.get("axis")
                                   in ((0,), (1,), 0, 1)):
            return "a sum other than an unbroadcast over one axis of a matrix"
        if _has_ref(node.options):
            return "indexing by a traced integer array"
    for name, v in values.items():
        if v.dtype.kind in "fc" and v.dtype != np.float64:
            return f"{name} is {v.dtype}, the loop is float64"
        if v.ndim != 2 and v.dtype.kind in "fc":
            return f"{name} has {v.ndim} dimensions, the loop's helpers take matrices"
    return None


def _has_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_ref(v) for v in value)
    return False


def step_flops(prog: Program, values: dict[str, np.ndarray]) -> int:
    """Multiply-adds of the forward's matmuls (n·k·m each)."""
    total = 0
    for node in prog.forward:
        if node.fn is MatMul:
            a, b = (values[i] if isinstance(i, str) else np.asarray(i.value) for i in node.inputs)
            total += a.shape[0] * a.shape[1] * b.shape[-1]
    return total


def loop_source(prog: Program, n_carry: int) -> tuple[str, dict[str, Any]]:
    """The whole-loop module: step code, helpers, scan_forward and scan_backward."""
    source, namespace = codegen_numba.generate(prog, max_size=sys.maxsize, lines=LINES)
    values = codegen_numba.infer_values(prog)
    args = prog.float_args
    carry, x, params = args[:n_carry], args[n_carry], args[n_carry + 1:]
    nd = len(x.shape)
    at_t = _at(nd)
    outs = prog.outputs
    ys = outs[n_carry:]
    # residuals as backward names them (the forward's single-assignment names)
    res_names = source.split("def backward(")[1].split(")")[0].split(", ")
    res_names = res_names[:len(prog.residuals)]
    arg_names = {p.name for p in params} | {x.name}  # (read again, not stored)
    stacked = [r for r in res_names if r not in arg_names]
    c = [f"c{k}" for k in range(n_carry)]
    f = ["", "", "@njit(cache=True)",
         f"def scan_forward({', '.join(c + ['xs'] + [p.name for p in params])}):",
         '    """The forward over the last axis of xs; returns (carry, ys, residual stacks)."""',
         "    T = xs.shape[-1]"]
    for j, y in enumerate(ys):
        f.append(f"    ys{j} = np.empty({values[y].shape} + (T,))")
    for k, r in enumerate(stacked):
        f.append(f"    R{k} = np.empty((T,) + {_shape_of(r, res_names, prog, values)}, "
                 f"np.{_dtype_of(r, res_names, prog, values)})")
    f += ["    for t in range(T):",
          f"        {x.name} = np.ascontiguousarray(xs[{at_t}])",
          f"        outs, res = forward({', '.join(c + [x.name] + [p.name for p in params])})"]
    f += [f"        {c[k]} = np.ascontiguousarray(outs[{k}])" for k in range(n_carry)]
    f += [f"        ys{j}[{_at(values[y].ndim)}] = outs[{n_carry + j}]" for j, y in enumerate(ys)]
    f += [f"        R{stacked.index(r)}[t] = res[{i}]" for i, r in enumerate(res_names)
          if r in stacked]
    stacks = [f"R{k}" for k in range(len(stacked))]
    f.append(f"    return ({', '.join(c + [f'ys{j}' for j in range(len(ys))] + stacks)},)")
    seeds = [(k, s) for k, s in enumerate(prog.seeds) if s]
    grads = [(k, g) for k, g in enumerate(prog.grads) if g]
    dseed = [f"d_c{k}" if k < n_carry else f"dys{k - n_carry}" for k, _ in seeds]
    b = ["", "", "@njit(cache=True)",
         f"def scan_backward({', '.join(stacks + ['xs'] + [p.name for p in params] + dseed)}):",
         '    """BPTT: the step backward for t = T-1 .. 0; returns the gradients."""',
         "    T = xs.shape[-1]"]
    b += [f"    d{args[k].name} = np.zeros({args[k].shape})" for k, _ in grads
          if k > n_carry]
    if any(k == n_carry for k, _ in grads):
        b.append("    dxs = np.zeros(xs.shape)")
    b += ["    for t in range(T - 1, -1, -1):",
          f"        {x.name} = np.ascontiguousarray(xs[{at_t}])"]
    res_args = [f"R{stacked.index(r)}[t]" if r in stacked else r for r in res_names]
    seed_args = [f"d_c{k}" if k < n_carry else
                 f"np.ascontiguousarray(dys{k - n_carry}[{_at(values[outs[k]].ndim)}])"
                 for k, _ in seeds]
    b.append(f"        g = backward({', '.join(res_args + seed_args)})")
    seeded = {k for k, _ in seeds}
    with_grad = {k for k, _ in grads}
    for i, (k, _) in enumerate(grads):
        if k < n_carry:
            b.append(f"        d_c{k} = np.ascontiguousarray(g[{i}])")
        elif k == n_carry:
            b.append(f"        dxs[{at_t}] = g[{i}]")
        else:
            b.append(f"        d{args[k].name} += g[{i}]")
    for k in sorted(seeded):
        if k < n_carry and k not in with_grad:   # nothing flows to the carry before
            b.append(f"        d_c{k} = np.zeros({carry[k].shape})")
    loop_at = b.index("    for t in range(T - 1, -1, -1):")
    b[loop_at:loop_at] = [f"    d_c{k} = np.zeros({carry[k].shape})" for k in sorted(with_grad)
                          if k < n_carry and k not in seeded]
    back = [f"d_c{k}" if k < n_carry else "dxs" if k == n_carry else f"d{args[k].name}"
            for k, _ in grads]
    b.append(f"    return ({', '.join(back)},)")
    return source + HELPERS + "\n".join(f + b) + "\n", namespace


def _at(ndim: int) -> str:
    """The subscript of step t on the last axis: `:, :, t`."""
    return ", ".join([":"] * ndim + ["t"])


def _shape_of(r: str, res_names: list[str], prog: Program, values: dict) -> tuple:
    return values[_base(r, res_names, prog)].shape


def _dtype_of(r: str, res_names: list[str], prog: Program, values: dict) -> str:
    return values[_base(r, res_names, prog)].dtype.name


def _base(r: str, res_names: list[str], prog: Program) -> str:
    return prog.residuals[res_names.index(r)]


def loop_function(cf: Any, variant: Any, plan: Any) -> type | None:
    """The Function of a whole-loop scan of this compiled cell, or None when `scan`'s per-step
    loop should run (another backend, token ids, an op without a loop form, a large step)."""
    if getattr(cf, "backend", None) is not codegen_numba.generate or not plan.dense:
        return None
    cached = getattr(variant, "numba_loop", False)
    if cached is not False:
        return cached
    prog = variant.program
    values = codegen_numba.infer_values(prog)
    fn = None
    if eligible(prog, values, plan.n_carry) is None and step_flops(prog, values) <= \
            LOOP_MAX_FLOPS:
        source, namespace = loop_source(prog, plan.n_carry)
        module, _ = load_module(source, namespace)
        fn = _loop_class(cf.__name__, prog, module, plan.n_carry)
        fn.source = source  # type: ignore[attr-defined]
    variant.numba_loop = fn
    return fn


def _loop_class(name: str, prog: Program, module: Any, nc: int) -> type:
    """The record: scan_forward in forward, scan_backward in backward (same interface as the
    per-step record of `scan.py`: inputs carry..., xs, params...; outputs carry..., ys...)."""
    seeds = [k for k, s in enumerate(prog.seeds) if s]
    grads = [k for k, g in enumerate(prog.grads) if g]
    n_args = len(prog.float_args)

    class ScanLoop(Function):
        """scan as one generated Numba function each way (see minigrad.compiler.scan_numba)."""

        twice_differentiable = False

        @staticmethod
        def forward(ctx: Any, *arrays: np.ndarray, plan: Any, ids: Any) -> tuple:
            arrays = tuple(np.ascontiguousarray(a, dtype=np.float64) for a in arrays)
            out = module.scan_forward(*arrays)
            n_out = len(prog.outputs)
            if STATE.grad_enabled:
                ctx.stacks, ctx.rest = out[n_out:], arrays[nc:]
                ctx.save_for_backward(out[0])
            return tuple(out[:n_out])

        @staticmethod
        def backward(ctx: Any, *grads_out: np.ndarray) -> tuple:
            ctx.saved_tensors  # noqa: B018 - raises if a backward already freed this record
            dseeds = [np.ascontiguousarray(grads_out[k], dtype=np.float64) for k in seeds]
            got = module.scan_backward(*ctx.stacks, *ctx.rest, *dseeds)
            result: list[Any] = [None] * n_args
            for k, g in zip(grads, got):
                result[k] = g
            return tuple(result)

    ScanLoop.name = f"scan:{name}"
    ScanLoop.__name__ = ScanLoop.__qualname__ = f"ScanLoop_{name}"
    return ScanLoop
