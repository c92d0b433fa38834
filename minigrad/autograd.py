"""What users call to differentiate: `t.backward()`, `minigrad.grad`, `minigrad.backward_steps`.

All three replay the tape (`tape.replay`). `backward` adds into the leaves' `.grad` (PyTorch's
accumulation); `grad` returns the gradients instead. With `create_graph=True` the gradients are
Tensors whose own tape is the backward pass, so they can be differentiated again (grad of grad,
Hessian-vector products: `minigrad.functional`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .hooks import run_leaf_hooks
from .tape import Step, replay, tape_of
from .tape import backward as replay_all
from .tensor import Tensor

__all__ = ["accumulate", "backward", "backward_steps", "grad"]


def _as_graph_value(g: Any) -> Tensor:
    """A gradient as a Tensor (a constant if it is an array): what create_graph hands out."""
    return g if isinstance(g, Tensor) else Tensor._make(np.asarray(g), False, None, 0)


def accumulate(found: dict[int, list[Any]], create_graph: bool = False) -> None:
    """`leaf.grad += gradient` for every leaf that requires grad (PyTorch's accumulation);
    a Tensor on the backward's graph under `create_graph`."""
    for leaf, g, *_ in found.values():
        if not leaf.requires_grad:
            continue
        g = run_leaf_hooks(leaf, g)
        if create_graph:
            g = _as_graph_value(g)
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        elif leaf.grad is None:
            kind_kept = leaf.data.dtype.kind == g.dtype.kind
            leaf.grad = np.array(g, dtype=leaf.data.dtype if kind_kept else None, copy=True)
        elif isinstance(leaf.grad, Tensor):   # left by an earlier create_graph backward
            leaf.grad = leaf.grad + g
        else:
            leaf.grad += g


def backward(t: Tensor, grad: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate d t/d leaf into `.grad` of every leaf that requires grad (`t.backward()`)."""
    seed = t.seed(grad, keep_tensor=create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    found = replay_all([t], [seed], retain, None, create_graph)
    if not any(entry[0].requires_grad for entry in found.values()):
        raise RuntimeError(
            "backward: the output does not depend on any tensor that requires grad (the "
            "tensors it was computed from had requires_grad switched off, or were detached), "
            "so no .grad would change. Set requires_grad=True on the inputs before the forward.")
    accumulate(found, create_graph)


def backward_steps(t: Tensor, grad: Any = None, retain_graph: bool = False) -> Iterator[Step]:
    """The backward pass of `t`, one record at a time: `for step in mg.backward_steps(J): ...`

    Yields a `Step` per row that a gradient reached, in the order backward runs them (bottom
    to top). Run to the end, it leaves exactly the `.grad`s that `t.backward()` gives; this is
    the same loop `backward()` runs, with each step shown.
    """
    found: dict[int, list[Any]] = {}
    yield from replay([t], [t.seed(grad)], retain_graph, None, found, explain=True)
    accumulate(found)


def _describe(i: int, t: Tensor) -> str:
    """Input i of `grad` for a message: its position, name and shape."""
    name = f" '{t.name}'" if t.name else ""
    return f"input {i}{name} (shape {t.shape})"


def _first_unused(wanted: list[Tensor], roots: list[Tensor]) -> int | None:
    """The first of `wanted` that is neither a root nor an input or output of a record the
    roots depend on (None if all are used)."""
    tape = tape_of(*roots)
    records = set(tape)
    values = {id(r) for r in roots} | {id(s) for r in tape for s in r.inputs
                                        if type(s) is not tuple}
    for i, t in enumerate(wanted):
        if not (id(t) in values or t.record in records):
            return i
    return None


def _unused_message(i: int, t: Tensor) -> str:
    return (f"grad: {_describe(i, t)} is not used to compute the outputs, so it has no "
            "gradient. Pass allow_unused=True to get None for it (a zero gradient: "
            "np.zeros_like(t.data)).")


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Iterable[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> list[Any]:
    """Gradients Σ_k d outputs[k]/d input (weighted by `grad_outputs`), one per input, without
    touching any `.grad`.

    `inputs` may be leaves or intermediate tensors of the graph (e.g. the hidden states a⟨t⟩ of
    an unrolled RNN: then the result is the total derivative ∂J/∂a⟨t⟩ through all later steps).
    Arrays are returned, or with `create_graph=True` Tensors that record how they were computed
    (differentiate them again for second derivatives; the graph is then kept, as if
    `retain_graph=True`). An input the outputs do not depend on is an error naming it, or gives
    None with `allow_unused=True` (PyTorch's rules).
    """
    roots = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    wanted = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(outputs, Tensor):
        seeds_in = [grad_outputs] * len(roots) if grad_outputs is None else [grad_outputs]
    else:
        seeds_in = list(grad_outputs)
        if len(seeds_in) != len(roots):
            raise ValueError(f"grad: {len(roots)} outputs but {len(seeds_in)} grad_outputs; "
                             "give one seed per output (None for a scalar output)")
    for t in roots:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: outputs must be Tensors, got {type(t).__name__}")
    for i, t in enumerate(wanted):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(
                f"grad: {_describe(i, t)} does not require grad, so no gradient is "
                "tracked for it; create it with requires_grad=True")
    seeds = [t.seed(g, keep_tensor=create_graph) for t, g in zip(roots, seeds_in)]
    if not allow_unused:   # say so before the replay frees the graph
        i = _first_unused(wanted, roots)
        if i is not None:
            raise RuntimeError(_unused_message(i, wanted[i]))
    retain = create_graph if retain_graph is None else retain_graph
    found = replay_all(roots, seeds, retain, wanted, create_graph)
    results: list[Any] = []
    for i, t in enumerate(wanted):
        entry = found.get(id(t))
        if entry is None:
            if allow_unused:
                results.append(None)
                continue
            raise RuntimeError(_unused_message(i, t))
        g = run_leaf_hooks(t, entry[1]) if t.record is None else entry[1]
        if create_graph:
            results.append(_as_graph_value(g))
        else:
            results.append(np.array(g, dtype=t.data.dtype, copy=True))
    return results
