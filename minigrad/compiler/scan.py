"""`scan`: a recurrence `cell(carry, x_t, *params) -> (carry, y_t)` over time, as ONE record.

    (a_T, c_T), ys = scan(lstm_cell, (a0, c0), x, params)    # x: (n_x, m, T_x)

JAX's `lax.scan` contract with the parameters explicit, over the LAST axis of `xs` (the notes'
(n_x, m, T_x) layout; integer token ids (m, T_x) give the cell x⟨t⟩ = ids[:, t]). The cell is
compiled (traced once); the record's forward runs its generated forward T times, keeping each
step's residuals; its backward is BPTT: the generated backward of the cell, once per step in
reverse, carrying d carry from step t+1 to step t and adding up the parameters' gradients.
`ys` stacks the y⟨t⟩ along a new last axis.

The step code is the cell's, transformed where the passes of `passes.py` match (else the
cell's own): the gradient of a weight W in Z⟨t⟩ = W X⟨t⟩ is not accumulated per step but made
by one GEMM per chunk of steps from the stacked dZ⟨t⟩ and X⟨t⟩ (biases: one sum), and a product
W [s; x⟨t⟩] with the input is split as W_s s + W_x x⟨t⟩, the W_x x⟨t⟩ of a chunk of steps made by
one GEMM before their steps run (dense input, products of at least `HOIST_MIN_FLOPS`).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..function import Function
from ..modes import STATE
from ..tensor import Tensor
from .cache import load_module
from .compiled import CompiledFunction, FreeResiduals, Variant, compile
from .passes import Deferred, Hoisted, defer_weight_gradients, hoist_input_products
from .trace import TraceError, flatten, unflatten

__all__ = ["scan"]

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # cell -> its compiled form


def _leaf_count(tree: Any) -> int:
    if tree == ("leaf",):
        return 1
    kind, body = tree
    if kind == "static":
        return 0
    if kind is dict:
        return sum(_leaf_count(t) for _, t in body)
    return sum(_leaf_count(t) for t in body)


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def scan(cell: Any, init: Any, xs: Any, params: Any = ()) -> tuple[Any, Any]:
    """Run `cell` over the last axis of `xs` from the carry `init`; return (final carry, ys).

    `init` is a Tensor/array or a (nested) tuple of them; `xs` a float array/Tensor (..., T)
    or integer token ids (m, T); `params` a sequence of Tensors/arrays passed to every step.
    One tape record `scan:<cell>`; its backward runs the cell's generated backward per step.
    The cell is compiled once per function object: define it once (or pass `compile(cell)`)
    rather than a new lambda per call.
    """
    if isinstance(cell, CompiledFunction):
        cf = cell
    else:
        cf = _COMPILED.get(cell)
        if cf is None:
            cf = _COMPILED[cell] = compile(cell)
    params = tuple(params)
    for k, p in enumerate(params):
        if not isinstance(p, (Tensor, np.ndarray)) or _data(p).dtype.kind not in "fc":
            raise TypeError(f"scan: params[{k}] must be a float Tensor or array; got "
                            f"{type(p).__name__}")
    xs_data = _data(xs)
    if xs_data.ndim < 1 or xs_data.shape[-1] < 1:
        raise ValueError(f"scan: xs must have a time axis last with T ≥ 1 steps; got shape "
                         f"{xs_data.shape}")
    dense = xs_data.dtype.kind in "fc"
    T = xs_data.shape[-1]
    init_leaves: list[tuple[str, Any]] = []
    init_tree = flatten(init, "carry", init_leaves)
    if any(_data(v).dtype.kind not in "fc" for _, v in init_leaves):
        raise TypeError("scan: the carry must hold float Tensors or arrays")
    rg = [isinstance(p, Tensor) and p.requires_grad for p in params]
    xs_rg = isinstance(xs, Tensor) and xs.requires_grad
    carry_rg = xs_rg or any(rg) or any(isinstance(v, Tensor) and v.requires_grad
                                       for _, v in init_leaves)
    first = unflatten(init_tree, iter([Tensor._make(_data(v), carry_rg, None, 0)
                                       for _, v in init_leaves]))
    x0 = (Tensor._make(np.ascontiguousarray(xs_data[..., 0]), xs_rg, None, 0) if dense
          else np.ascontiguousarray(xs_data[..., 0]))
    variant = cf.variant((first, x0, *params), {}, [])
    n_carry = len(init_leaves)
    out_tree = variant.out_tree
    if out_tree[0] not in (tuple, list) or len(out_tree[1]) != 2:
        raise TraceError(f"scan: '{cf.__name__}' must return (carry, y); got a result of "
                         f"another structure")
    carry_out, y_tree = out_tree[1]
    shapes_in = [(_data(v).shape, _data(v).dtype) for _, v in init_leaves]
    outputs = variant.program.outputs
    if _leaf_count(carry_out) != n_carry:
        raise TraceError(f"scan: '{cf.__name__}' returned a carry of {_leaf_count(carry_out)} "
                         f"arrays for a carry of {n_carry}: the carry must keep its structure")
    for k, (shape, dtype) in enumerate(shapes_in):
        o = outputs[k]
        got = (variant.program.types[o] if isinstance(o, str)
               else (np.shape(o.value), np.asarray(o.value).dtype))
        if got != (shape, dtype):
            raise TraceError(f"scan: carry item {k} of '{cf.__name__}' goes in as {shape} "
                             f"{dtype} and comes out as {got[0]} {got[1]}; the carry must "
                             "keep its shapes and dtypes")
    plan = _Plan(variant, n_carry, dense, T, len(params), [s for s in shapes_in])
    from .scan_numba import loop_function  # a Numba-backend cell, small: the whole loop in Numba

    fn = loop_function(cf, variant, plan) or _scan_class(cf, variant, n_carry, dense)
    inputs = [v for _, v in init_leaves] + ([xs] if dense else []) + list(params)
    outs = fn.apply(*inputs, plan=plan, ids=None if dense else xs_data)
    outs = [o.detach() if plan.no_grad[k] else o for k, o in enumerate(outs)]
    carry = unflatten(carry_out, iter(outs[:n_carry]))
    ys = unflatten(y_tree, iter(outs[n_carry:]))
    return carry, ys


class _Plan:
    """What the scan record needs to run the cell's generated code per step."""

    def __init__(self, variant: Variant, n_carry: int, dense: bool, T: int, n_params: int,
                 carry_types: list[tuple[tuple[int, ...], np.dtype]]) -> None:
        prog = variant.program
        self.forward, self.backward = variant.module.forward, variant.module.backward
        self.n_carry, self.dense, self.T, self.n_params = n_carry, dense, T, n_params
        self.carry_types = carry_types
        self.seeds = [k for k, s in enumerate(prog.seeds) if s]
        self.no_grad = [s is None for s in prog.seeds[:n_carry]] + [
            s is None for s in prog.seeds[n_carry:]]


def _scan_class(cf: CompiledFunction, variant: Variant, n_carry: int, dense: bool) -> type:
    """The Function whose one record is a whole scan of this compiled cell; its step code is
    the cell's, transformed by the passes of `passes.py` where their patterns match."""
    if variant.scan_class is not None:
        return variant.scan_class
    prog = variant.program
    deferred = defer_weight_gradients(prog, n_carry + dense)
    step = prog if deferred is None else deferred.program
    hoisted = (hoist_input_products(step, prog.float_args[n_carry].name, n_carry + 1)
               if dense else None)
    if hoisted is not None and _hoisted_flops(
            hoisted, prog.float_args[n_carry].shape[-1]) < HOIST_MIN_FLOPS:
        hoisted = None  # (small products: the extra arguments and additions cost more)
    step = step if hoisted is None else hoisted.program
    if step is not prog:
        module, _ = load_module(*cf.backend(step))
        step_forward, step_backward = module.forward, module.backward
    else:
        step_forward, step_backward = variant.module.forward, variant.module.backward
    n_float = len(prog.float_args)

    class Scan(Function):
        """The recurrence: the cell's generated forward per step; BPTT in backward."""

        twice_differentiable = False

        @staticmethod
        def forward(ctx: Any, *arrays: np.ndarray, plan: _Plan, ids: Any) -> tuple:
            ctx.plan = plan
            nc = plan.n_carry
            carry = list(arrays[:nc])
            xs = arrays[nc] if plan.dense else None
            params = list(arrays[nc + plan.dense:])
            keep = STATE.grad_enabled
            stacks = _Stacks(deferred, plan.T) if keep and deferred is not None else None
            hoist = _Projections(hoisted, arrays, nc) if hoisted is not None else None
            ys: list[list[Any]] = []
            steps = []
            for t in range(plan.T):
                step_in = ([xs[..., t]] if plan.dense else []) + params
                if hoist is not None:
                    step_in += hoist.step_args(t)
                extra = () if plan.dense else (ids[..., t],)
                outs, res = step_forward(*carry, *step_in, *extra)
                carry = list(outs[:nc])
                if not ys:
                    ys = [[] for _ in outs[nc:]]
                for acc, y in zip(ys, outs[nc:]):
                    acc.append(y)
                if keep:
                    steps.append(res if stacks is None else stacks.keep_operands(res, t))
            if keep:
                ctx.steps = (steps, stacks)  # (dropped together by the release)
                ctx.xs_shape = None if xs is None else xs.shape
                ctx.save_for_backward(*[c for c in carry if type(c) is np.ndarray][:1])
                ctx.release = FreeResiduals(ctx, "steps")
            return tuple(carry) + tuple(np.stack(y, axis=-1) for y in ys)

        @staticmethod
        def backward(ctx: Any, *grads: np.ndarray) -> tuple:
            ctx.saved_tensors  # noqa: B018 - raises if a backward already freed this record
            plan: _Plan = ctx.plan
            steps, stacks = ctx.steps
            nc = plan.n_carry
            dcarry = list(grads[:nc])
            dys = grads[nc:]
            dxs = (np.zeros(ctx.xs_shape, dtype=np.result_type(*grads))
                   if plan.dense and ctx.needs_input_grad[nc] else None)
            dparams: list[Any] = [None] * plan.n_params
            for t in range(plan.T - 1, -1, -1):
                out_grads = dcarry + [dy[..., t] for dy in dys]
                g = step_backward(*steps[t], *[out_grads[k] for k in plan.seeds])
                dcarry = [np.zeros(s, dtype=d) if gk is None else gk
                          for gk, (s, d) in zip(g[:nc], plan.carry_types)]
                if dxs is not None and g[nc] is not None:
                    dxs[..., t] = g[nc]
                for k, gp in enumerate(g[nc + plan.dense:n_float]):
                    if gp is not None:
                        dparams[k] = gp if dparams[k] is None else dparams[k] + gp
                if stacks is not None:
                    stacks.keep_factors(g[n_float:], t)
            if stacks is not None:
                for k, gp in stacks.gradients().items():
                    dparams[k - nc - plan.dense] = gp
            if not plan.dense:
                return (*dcarry, *dparams)
            return (*dcarry, dxs, *dparams)

    Scan.name = f"scan:{cf.__name__}"
    Scan.__name__ = Scan.__qualname__ = f"Scan_{cf.__name__}"
    variant.scan_class = Scan
    return Scan


#: Columns (steps × batch) of the GEMMs that replace per-step products: the deferred weight
#: gradients' dZ stacks and the hoisted input projections hold this many columns' worth of
#: steps (at least one step, at most T), which keeps BLAS near its peak while the memory they
#: add stays bounded as T grows.
GEMM_COLUMNS: int = 512


#: Smallest multiply-adds per step of the input products (W_x x⟨t⟩, all hoisted products)
#: for which they are hoisted out of the loop. Measured (one BLAS thread, NumPy step code,
#: scan with the GEMM pass vs with both passes, two noisy runs each): the course LSTM (5.4K)
#: 1.46-1.48× → 1.62-1.64× the NumPy reference, slower; the batch LSTM (1.0M) 0.99-1.01× →
#: 0.91-0.99×, faster.
HOIST_MIN_FLOPS: int = 100_000


def _hoisted_flops(hoisted: Hoisted, m: int) -> int:
    """Multiply-adds per step of the hoisted products' input columns (x⟨t⟩ has m columns)."""
    args = hoisted.program.float_args
    return sum(args[h.arg].shape[0] * (h.inputs.stop - h.inputs.start) * m
               for h in hoisted.hoists)


def _chunk(T: int, m: int) -> int:
    """Steps per chunk for per-step operands of m columns."""
    return max(1, min(T, -(-GEMM_COLUMNS // max(m, 1))))


class _Projections:
    """The hoisted products' extra step arguments: per product W [s; x⟨t⟩] (`passes.py`), the
    state block W_s, and the input projections W_x X of a chunk of steps as (rows, steps, m)
    (step t: [:, t - t0]): one GEMM per chunk for all products, their W_x stacked."""

    def __init__(self, hoisted: Hoisted, arrays: tuple, nc: int) -> None:
        self.xs = arrays[nc]
        n_x, m, T = self.xs.shape
        self.K, self.t0 = _chunk(T, m), 0
        self.blocks = [np.ascontiguousarray(arrays[h.arg][:, h.state]) for h in hoisted.hoists]
        inputs = [arrays[h.arg][:, h.inputs] for h in hoisted.hoists]
        self.W_x = np.concatenate(inputs, axis=0)   # all products' W_x stacked: one GEMM
        ends = np.cumsum([w.shape[0] for w in inputs]).tolist()
        self.rows = [slice(e - w.shape[0], e) for e, w in zip(ends, inputs)]
        self.chunk: list[np.ndarray] = []

    def step_args(self, t: int) -> list[np.ndarray]:
        """W_s of every product, then (W_x x⟨t⟩) of every product."""
        if t % self.K == 0:
            n_x, m, T = self.xs.shape
            k = min(self.K, T - t)
            X = np.ascontiguousarray(self.xs[:, :, t:t + k].transpose(0, 2, 1))  # (n_x, k, m)
            X = X.reshape(n_x, k * m)
            P = (self.W_x @ X).reshape(self.W_x.shape[0], k, m)
            self.t0, self.chunk = t, [P[r] for r in self.rows]
        return self.blocks + [p[:, t - self.t0] for p in self.chunk]


def _at(p: int, t: Any) -> tuple:
    """The index of step t in a stack whose time axis is axis p."""
    return (slice(None),) * p + (t,)


class _Stacks:
    """One call's stacks of the deferred weight gradients' factors (`passes.py`): per GEMM
    group (the gradients that share an operand X⟨t⟩ and a side), the operand of every step,
    and the dZ⟨t⟩ of all its weights side by side for a chunk of K steps; when the reverse
    loop completes a chunk, one GEMM adds that chunk's part to all their gradients.

    Side "L" (dW = Σ dZ Xᵀ): X (k, m) → (k, T, m), dZ (n, m) → rows of (Σn, K, m),
    dW += dZ_chunk.reshape(Σn, K·m) @ X_chunk.reshape(k, K·m)ᵀ.  Side "R" (dW = Σ Xᵀ dZ):
    X (m, k) → (T, m, k), dZ (m, n) → columns of (K, m, Σn), dW += X_chunkᵀ dZ_chunk.
    A sum Σ_t np.sum(v⟨t⟩, axis) reads v's chunk stack (its GEMM stack when it has one)."""

    def __init__(self, deferred: Deferred, T: int) -> None:
        self.d, self.T, self.K = deferred, T, T
        self.groups: dict[tuple[int, str], list[Any]] = {}
        for gm in deferred.gemms:
            self.groups.setdefault((gm.residual, gm.side), []).append(gm)
        self.operands: dict[tuple[int, str], np.ndarray] = {}
        self.factors: dict[tuple[int, str], np.ndarray] = {}
        self.places: list[list[tuple[np.ndarray, int]]] = []  # per extra: (view, time axis)
        self.blocks: dict[int, Any] = {}  # per deferred arg: (group, slice of its block)
        self.totals: dict[Any, np.ndarray] = {}  # per group and per sum: the sum so far

    def keep_operands(self, res: tuple, t: int) -> tuple:
        """Copy step t's operands X⟨t⟩ into their stacks; the step keeps views of them."""
        res = list(res)
        for (j, side) in self.groups:
            x = res[j]
            if t == 0:
                shape = (x.shape[0], self.T, x.shape[1]) if side == "L" else (self.T, *x.shape)
                self.operands[j, side] = np.empty(shape, dtype=x.dtype)
                self.K = _chunk(self.T, x.shape[1] if side == "L" else x.shape[0])
            view = self.operands[j, side][_at(1 if side == "L" else 0, t)]
            view[...] = x
            res[j] = view
        return tuple(res)

    def _allocate(self, extras: tuple) -> None:
        """The chunk stacks, shaped after the first (last-step) extras of the backward."""
        self.places, self.totals, K = [[] for _ in extras], {}, self.K
        for key, gms in self.groups.items():
            side, order = key[1], list(dict.fromkeys(gm.extra for gm in gms))
            widths = [extras[e].shape[0 if side == "L" else 1] for e in order]
            dtype = np.result_type(*[extras[e] for e in order])
            first = extras[order[0]]
            buf = np.empty((sum(widths), K, first.shape[1]) if side == "L"
                           else (K, first.shape[0], sum(widths)), dtype=dtype)
            self.factors[key] = buf
            start = 0
            for e, w in zip(order, widths):
                block = slice(start, start + w)
                start += w
                self.places[e].append((buf[block] if side == "L" else buf[:, :, block],
                                       1 if side == "L" else 0))
                for gm in gms:
                    if gm.extra == e:
                        self.blocks[gm.arg] = (key, block)
        for s in self.d.sums:
            if not self.places[s.extra]:
                v = extras[s.extra]
                self.places[s.extra].append((np.empty((K, *v.shape), v.dtype), 0))

    def keep_factors(self, extras: tuple, t: int) -> None:
        """Copy step t's extra backward outputs (dZ⟨t⟩, v⟨t⟩) into their chunk stacks; at the
        first step of a chunk, add the chunk's GEMMs and sums to the totals."""
        if t == self.T - 1:
            self._allocate(extras)
        t0 = t - t % self.K
        for v, places in zip(extras, self.places):
            for stack, p in places:
                stack[_at(p, t - t0)] = v
        if t == t0:
            self._flush(t0, min(self.K, self.T - t0))

    def _add(self, key: Any, value: np.ndarray) -> None:
        self.totals[key] = value if key not in self.totals else self.totals[key] + value

    def _flush(self, t0: int, k: int) -> None:
        """The steps t0 .. t0+k-1: one GEMM per group, one sum per bias."""
        for key, buf in self.factors.items():
            x = self.operands[key]
            if key[1] == "L":
                d, xk = buf[:, :k], x[:, t0:t0 + k]
                self._add(key, d.reshape(d.shape[0], -1) @ xk.reshape(xk.shape[0], -1).T)
            else:
                d, xk = buf[:k], x[t0:t0 + k]
                self._add(key, xk.reshape(-1, xk.shape[2]).T @ d.reshape(-1, d.shape[2]))
        for s in self.d.sums:
            stack, p = self.places[s.extra][0]
            stack = stack[_at(p, slice(0, k))]
            nd = stack.ndim - 1
            axes = (tuple(range(nd)) if s.axis is None
                    else tuple(a % nd for a in (s.axis if isinstance(s.axis, tuple)
                                                else (s.axis,))))
            mapped = tuple(a if a < p else a + 1 for a in axes) + (p,)
            total = np.sum(stack, axis=mapped, keepdims=s.keepdims)
            self._add(s, total.reshape(total.shape[:p] + total.shape[p + 1:]) if s.keepdims
                      else total)

    def gradients(self) -> dict[int, np.ndarray]:
        """Per deferred float arg, its gradient summed over all steps."""
        out = {s.arg: self.totals[s] for s in self.d.sums}
        for arg, (key, block) in self.blocks.items():
            total = self.totals[key]
            out[arg] = total[block] if key[1] == "L" else total[:, block]
        return out
