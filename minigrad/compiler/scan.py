"""`scan`: a recurrence `cell(carry, x_t, *params) -> (carry, y_t)` over time, as ONE record.

    (a_T, c_T), ys = scan(lstm_cell, (a0, c0), x, params)    # x: (n_x, m, T_x)

JAX's `lax.scan` contract with the parameters explicit, over the LAST axis of `xs` (the notes'
(n_x, m, T_x) layout; integer token ids (m, T_x) give the cell x⟨t⟩ = ids[:, t]). The cell is
compiled (traced once); the record's forward runs its generated forward T times, keeping each
step's residuals; its backward is BPTT: the generated backward of the cell, once per step in
reverse, carrying d carry from step t+1 to step t and adding up the parameters' gradients.
`ys` stacks the y⟨t⟩ along a new last axis.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..function import Function
from ..modes import STATE
from ..tensor import Tensor
from .compiled import CompiledFunction, FreeResiduals, Variant, compile
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

    fn = loop_function(cf, variant, plan) or _scan_class(cf.__name__, variant)
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


def _scan_class(name: str, variant: Variant) -> type:
    """The Function whose one record is a whole scan of this compiled cell."""
    if variant.scan_class is not None:
        return variant.scan_class

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
            ys: list[list[Any]] = []
            steps = []
            for t in range(plan.T):
                step_in = ([xs[..., t]] if plan.dense else []) + params
                extra = () if plan.dense else (ids[..., t],)
                outs, res = plan.forward(*carry, *step_in, *extra)
                carry = list(outs[:nc])
                if not ys:
                    ys = [[] for _ in outs[nc:]]
                for acc, y in zip(ys, outs[nc:]):
                    acc.append(y)
                if keep:
                    steps.append(res)
            if keep:
                ctx.steps = steps
                ctx.xs_shape = None if xs is None else xs.shape
                ctx.save_for_backward(*[c for c in carry if type(c) is np.ndarray][:1])
                ctx.release = FreeResiduals(ctx, "steps")
            return tuple(carry) + tuple(np.stack(y, axis=-1) for y in ys)

        @staticmethod
        def backward(ctx: Any, *grads: np.ndarray) -> tuple:
            ctx.saved_tensors  # noqa: B018 - raises if a backward already freed this record
            plan: _Plan = ctx.plan
            nc = plan.n_carry
            dcarry = list(grads[:nc])
            dys = grads[nc:]
            dxs = (np.zeros(ctx.xs_shape, dtype=np.result_type(*grads))
                   if plan.dense and ctx.needs_input_grad[nc] else None)
            dparams: list[Any] = [None] * plan.n_params
            for t in range(plan.T - 1, -1, -1):
                out_grads = dcarry + [dy[..., t] for dy in dys]
                g = plan.backward(*ctx.steps[t], *[out_grads[k] for k in plan.seeds])
                dcarry = [np.zeros(s, dtype=d) if gk is None else gk
                          for gk, (s, d) in zip(g[:nc], plan.carry_types)]
                if dxs is not None and g[nc] is not None:
                    dxs[..., t] = g[nc]
                for k, gp in enumerate(g[nc + plan.dense:]):
                    if gp is not None:
                        dparams[k] = gp if dparams[k] is None else dparams[k] + gp
            if not plan.dense:
                return (*dcarry, *dparams)
            return (*dcarry, dxs, *dparams)

    Scan.name = f"scan:{name}"
    Scan.__name__ = Scan.__qualname__ = f"Scan_{name}"
    variant.scan_class = Scan
    return Scan
