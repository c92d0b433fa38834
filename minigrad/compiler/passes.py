"""Program transformations for `scan`: weight gradients as one GEMM over all steps.

In a recurrence the gradient of a weight W that multiplies a per-step operand X⟨t⟩ is a sum
over the steps of per-step products,

    dW = Σ_t dZ⟨t⟩ X⟨t⟩ᵀ = dZ_all X_allᵀ      (Z⟨t⟩ = W X⟨t⟩; dZ_all = [dZ⟨1⟩ … dZ⟨T⟩])

so instead of one small GEMM per step (an inner dimension of m, the batch) plus an addition,
the step's backward can hand out its factor dZ⟨t⟩, the scan keeps dZ⟨t⟩ and X⟨t⟩ in (…, T, …)
stacks, and one GEMM with inner dimension T·m makes dW after the reverse loop. A bias gradient
`db = Σ_axes dZ⟨t⟩` likewise becomes one sum over the stacked dZ.

`defer_weight_gradients(prog, first_param)` finds, in the traced backward, the gradients of
scan parameters (float args from `first_param` on) made by exactly one line of the form

    dW = _mm(dZ, X.T)     (side "L": the forward was W @ X)
    dW = _mm(X.T, dZ)     (side "R": the forward was X @ W)
    db = np.sum(v, axis=..., keepdims=...)     (an unbroadcast sum of a per-step value)

with X a 2-D forward value that changes per step (it depends on the carry or the input) and
dZ, v backward values not rebound later. It returns a copy of the program whose backward drops
those lines and returns the factors dZ, v after the float args' gradients (`Deferred`); every
other gradient stays a per-step accumulation in `scan` (the fallback: a weight used twice, a
weight sliced before its product, a product called by reference such as the one-hot product).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..ops.elementwise import Add
from ..ops.indexing import GetItem
from ..ops.linalg import MatMul
from ..ops.reductions import Sum
from ..ops.shape import Concat, Transpose
from .backward import _live, names_in
from .program import Arg, Node, Program

__all__ = ["Deferred", "Gemm", "Hoist", "Hoisted", "SumOf", "defer_weight_gradients",
           "hoist_input_products"]


@dataclass(frozen=True)
class Gemm:
    """dW (float arg `arg`) = Σ_t dZ⟨t⟩ X⟨t⟩ᵀ (side "L") or Σ_t X⟨t⟩ᵀ dZ⟨t⟩ (side "R"):
    dZ⟨t⟩ is extra output `extra` of the step's backward, X⟨t⟩ its residual `residual`."""

    arg: int
    extra: int
    residual: int
    side: str


@dataclass(frozen=True)
class SumOf:
    """d(arg) = Σ_t np.sum(v⟨t⟩, axis, keepdims), v⟨t⟩ the step's extra output `extra`."""

    arg: int
    extra: int
    axis: object
    keepdims: bool


@dataclass
class Deferred:
    """The transformed program (its backward returns the float args' gradients, None for the
    deferred ones, then the extra outputs) and what to do with the extras."""

    program: Program
    gemms: list[Gemm] = field(default_factory=list)
    sums: list[SumOf] = field(default_factory=list)
    n_extras: int = 0


def _step_values(prog: Program, first_param: int) -> set[str]:
    """The forward names whose value changes per step: those that depend on a float arg before
    `first_param` (the carry, the input) or on an integer arg (token ids)."""
    floats = prog.float_args
    varying = {a.name for a in floats[:first_param]} | {a.name for a in prog.int_args}
    for node in prog.forward:
        if any(n in varying for n in names_in(node)):
            varying.update(o for o in node.outputs if o)
    return varying


def _definitions(nodes: list[Node]) -> dict[str, list[int]]:
    """Per name, the positions of the backward lines that assign it."""
    defs: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for o in node.outputs:
            if o:
                defs.setdefault(o, []).append(i)
    return defs


def _canonical(name: str, nodes: list[Node], defs: dict[str, list[int]]) -> str:
    """Follow single-assignment aliases `x = y` back to the value they name."""
    while len(defs.get(name, ())) == 1:
        node = nodes[defs[name][0]]
        src = node.inputs[0] if node.kind == "alias" else None
        if not isinstance(src, str) or len(defs.get(src, ())) > 1:
            break
        name = src
    return name


def _transposed(name: object, nodes: list[Node], defs: dict[str, list[int]],
                prog: Program) -> str | None:
    """The 2-D forward name X if `name` is assigned once, as X.T, in the backward."""
    if not isinstance(name, str) or len(defs.get(name, ())) != 1:
        return None
    node = nodes[defs[name][0]]
    if node.kind != "op" or node.fn is not Transpose or node.options.get("axes") not in (
            None, (1, 0)):
        return None
    x = node.inputs[0]
    if not isinstance(x, str) or x not in prog.types or len(prog.types[x][0]) != 2:
        return None
    return x


def defer_weight_gradients(prog: Program, first_param: int) -> Deferred | None:
    """The program with the matching parameter gradients deferred (module docstring), or None
    when no parameter gradient matches (scan then keeps its per-step accumulation)."""
    nodes = prog.backward
    defs = _definitions(nodes)
    varying = _step_values(prog, first_param)
    extras: list[str] = []
    gemms: list[Gemm] = []
    sums: list[SumOf] = []
    dropped: set[int] = set()

    def extra(name: str, at: int) -> int | None:
        """The extra output for the backward value `name` read at line `at` (None if it is
        assigned again after that line: the value returned would not be the one read)."""
        if any(i > at for i in defs.get(name, ())):
            return None
        name = _canonical(name, nodes, defs)
        if name not in extras:
            extras.append(name)
        return extras.index(name)

    for k in range(first_param, len(prog.grads)):
        g = prog.grads[k]
        if g is None or len(defs.get(g, ())) != 1:
            continue
        at = defs[g][0]
        node = nodes[at]
        if node.kind != "op" or len(node.outputs) != 1:
            continue
        ins = node.inputs
        if node.fn is MatMul and len(ins) == 2 and all(isinstance(i, str) for i in ins):
            for side, xt, dz in (("L", ins[1], ins[0]), ("R", ins[0], ins[1])):
                x = _transposed(xt, nodes, defs, prog)
                if x is None or x not in varying or x not in prog.residuals:
                    continue
                if dz in prog.types:  # a forward value, not a per-step cotangent
                    continue
                e = extra(dz, at)
                if e is not None:
                    gemms.append(Gemm(k, e, prog.residuals.index(x), side))
                    dropped.add(at)
                break
        elif node.fn is Sum and isinstance(ins[0], str) and ins[0] not in prog.types:
            e = extra(ins[0], at)
            if e is not None:
                sums.append(SumOf(k, e, node.options.get("axis"),
                                  bool(node.options.get("keepdims", False))))
                dropped.add(at)
    if not dropped:
        return None
    deferred = {d.arg for d in gemms} | {s.arg for s in sums}
    grads = [None if k in deferred else g for k, g in enumerate(prog.grads)]
    kept = [n for i, n in enumerate(nodes) if i not in dropped]
    backward = _live(kept, [g for g in grads if g] + extras)
    new = dataclasses.replace(prog, backward=backward, grads=grads + extras)
    return Deferred(new, gemms, sums, len(extras))


# ---------------------------------------------------------------------- hoisted input products
@dataclass(frozen=True)
class Hoist:
    """Z = W [s; x⟨t⟩] written as W_s s + (W_x X)[:, t]: W is float arg `arg`; `state` and
    `inputs` are its column blocks that multiply s and x⟨t⟩."""

    arg: int
    state: slice
    inputs: slice


@dataclass
class Hoisted:
    """The transformed program: its forward takes, after the original float args, the state
    blocks W_s of the hoisted products, then their per-step input projections (W_x X)[:, t]."""

    program: Program
    hoists: list[Hoist]


def _fresh(stem: str, taken: set[str]) -> str:
    name, k = stem, 1
    while name in taken:
        k += 1
        name = f"{stem}_{k}"
    taken.add(name)
    return name


def hoist_input_products(prog: Program, x_name: str, first_param: int) -> Hoisted | None:
    """Products Z = W @ concat([s, x_t]) (or [x_t, s]) of a parameter W (used by no other
    forward line) with a 2-D concat on axis 0 of the step input x_t: the forward computes
    W_s @ s + p_t, where W_s (W's state columns) and p_t = (W_x X)[:, t] (all steps' input
    projections, one GEMM before the loop) are new float args. When the concat's cotangent is
    only those products' W.T @ dZ and only its state rows are read (x_t needs no gradient),
    the backward computes W_s.T @ dZ instead (the rows of x_t are never made). None if no
    product matches."""
    types = dict(prog.types)
    floats = [a.name for a in prog.float_args]
    params = floats[first_param:]
    if x_name not in types or len(types[x_name][0]) != 2:
        return None
    made = {o: n for n in prog.forward for o in n.outputs if o}
    reads: dict[str, int] = {}
    for node in prog.forward:
        for name in names_in(node):
            reads[name] = reads.get(name, 0) + 1
    taken = set(types) | {a.name for a in prog.args} | {s for s in prog.seeds if s} | {
        o for n in prog.backward for o in n.outputs if o}
    forward: list[Node] = []
    hoists: list[Hoist] = []
    blocks: list[Arg] = []
    projections: list[Arg] = []
    by_concat: dict[str, list[tuple[str, str, slice]]] = {}  # C -> (W, W_s, rows of s in C)
    for node in prog.forward:
        ins = node.inputs
        cat = made.get(ins[1]) if len(ins) == 2 and isinstance(ins[1], str) else None
        if not (node.kind == "op" and node.fn is MatMul and node.ctx_name is None
                and cat is not None and ins[0] in params and reads.get(ins[0]) == 1
                and cat.kind == "op" and cat.fn is Concat and cat.options.get("axis", 0) == 0
                and len(cat.inputs) == 2 and all(isinstance(i, str) for i in cat.inputs)
                and cat.inputs.count(x_name) == 1 and len(types[ins[0]][0]) == 2
                and len(types[ins[1]][0]) == 2):
            forward.append(node)
            continue
        W, z = ins[0], node.outputs[0]
        s = cat.inputs[1] if cat.inputs[0] == x_name else cat.inputs[0]
        n_s, n_x = types[s][0][0], types[x_name][0][0]
        first = cat.inputs[0] == s
        state = slice(0, n_s) if first else slice(n_x, n_x + n_s)
        inputs = slice(n_s, n_s + n_x) if first else slice(0, n_x)
        (rows, _), dtype = types[W]
        blk, proj, tmp = (_fresh(f"{W}_state", taken), _fresh(f"{z}_x_t", taken),
                          _fresh(f"{z}_state", taken))
        blocks.append(Arg(blk, "float", (rows, n_s), dtype))
        projections.append(Arg(proj, "float", types[z][0], types[z][1]))
        types[blk], types[proj], types[tmp] = ((rows, n_s), dtype), types[z], types[z]
        forward += [
            Node("op", MatMul, [blk, s], {}, [tmp], where=node.where,
                 comment=f"matmul (the columns of {W} that multiply {s})"),
            Node("op", Add, [tmp, proj], {}, [z], where=node.where,
                 comment=f"add {W}'s product with x_t, made for all steps before the loop")]
        hoists.append(Hoist(floats.index(W), state, inputs))
        by_concat.setdefault(ins[1], []).append((W, blk, state))
    if not hoists:
        return None
    backward, residuals = list(prog.backward), list(prog.residuals)
    for c, products in by_concat.items():
        if reads.get(c) == len(products):  # the concat feeds only these products
            _push_down(backward, residuals, products)
    args = prog.args[:len(prog.float_args)] + blocks + projections + prog.int_args
    new = dataclasses.replace(prog, args=args, types=types, backward=backward,
                              residuals=residuals,
                              forward=_live(forward, [o for o in prog.outputs
                                                      if isinstance(o, str)] + residuals))
    return Hoisted(new, hoists)


def _push_down(nodes: list[Node], residuals: list[str],
               products: list[tuple[str, str, slice]]) -> None:
    """In place: d[s; x] = Σ W.T dZ, of which only the rows of s are read, becomes
    Σ W_s.T dZ (see `hoist_input_products`); nothing changes unless the pattern is exact."""
    defs = _definitions(nodes)
    uses: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in names_in(node):
            uses.setdefault(name, []).append(i)
    plan, outs = [], []
    for W, blk, _ in products:
        tr = [i for i in uses.get(W, []) if nodes[i].fn is Transpose
              and nodes[i].options.get("axes") is None]
        if len(tr) != 1 or len(uses.get(W, [])) != 1:
            return
        t_name = nodes[tr[0]].outputs[0]
        mm = uses.get(t_name, [])
        if len(defs.get(t_name, [])) != 1 or len(mm) != 1 or nodes[mm[0]].fn is not MatMul \
                or nodes[mm[0]].inputs[0] != t_name:
            return
        plan.append((tr[0], blk))
        outs.append(nodes[mm[0]].outputs[0])
    # the cotangent D of the concat: the first product's result, the others added to it
    acc = {i for o in outs for i in uses.get(o, []) if nodes[i].fn is Add}
    if any(nodes[i].inputs[0] != nodes[i].outputs[0] for i in acc):
        return
    targets = {nodes[i].outputs[0] for i in acc} | ({o for o in outs if o not in
                                                     {nodes[i].inputs[1] for i in acc}})
    if len(targets) != 1:
        return
    D = targets.pop()
    mm_at = {defs[o][0] for o in outs if o in defs}
    if set(defs.get(D, [])) - acc - mm_at:
        return  # D is also assigned by something else
    want = products[0][2]
    if any(p[2] != want for p in products):
        return
    slices = []
    for i in uses.get(D, []):
        node = nodes[i]
        if i in acc:
            continue
        index = node.options.get("index") if node.fn is GetItem else None
        item = index[0] if type(index) is tuple and len(index) == 1 else index
        if not isinstance(item, slice) or (item.start or 0, item.stop, item.step or 1) != (
                want.start, want.stop, 1):
            return  # a row of x_t is read (x_t wants a gradient), or another use
        slices.append(i)
    for i, blk in plan:
        nodes[i] = dataclasses.replace(nodes[i], inputs=[blk])
        if blk not in residuals:
            residuals.append(blk)
    for i in slices:
        nodes[i] = dataclasses.replace(
            nodes[i], options={"index": (slice(0, want.stop - want.start, None),)})
