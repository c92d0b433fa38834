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

from ..ops.linalg import MatMul
from ..ops.reductions import Sum
from ..ops.shape import Transpose
from .backward import _live, names_in
from .program import Node, Program

__all__ = ["Deferred", "Gemm", "SumOf", "defer_weight_gradients"]


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
