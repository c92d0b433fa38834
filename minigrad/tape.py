"""The tape: one `Record` per op that ran, and the backward pass that replays them.

Every op that touches a tensor which requires grad leaves a `Record` behind (the `ctx` its
`Function` saw in forward). Records are numbered in recording order, so the tape behind a tensor
is simply the records it depends on, sorted by that number: what `show_tape` prints. `backward`
replays those rows bottom to top; each row receives the gradients of its outputs, applies its
op's chain rule, and sends one gradient to each input, adding where a value fans out.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .guards import new_pass, verify_unchanged
from .hooks import run_hooks
from .modes import check_finite, is_anomaly_enabled

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

__all__ = ["Record", "Step", "backward", "replay", "tape_of", "unbroadcast"]

_counter = itertools.count()


class Record:
    """One row of the tape, and the `ctx` an op's forward and backward receive (PyTorch's name).

    `inputs` says where each input came from: the leaf Tensor itself (a parameter or a
    constant), or `(record, k)` for output k of an earlier record. A record never holds an
    intermediate Tensor, so a value no op saved is freed as soon as the user's code drops it;
    the tape keeps what backward needs, not every value computed. Ops may set other attributes.
    """

    saved: tuple[np.ndarray, ...] = ()
    guards: tuple[Any, ...] = ()  # snapshots of the writable arrays among `saved` (guards.py)
    shared: dict[int, Any] | None = None  # the snapshots of this record's graph, by array
    released = False
    where: str | None = None      # the user's line that recorded the op (anomaly mode, audit)
    scope: str | None = None      # the names of the `scope()`s it was recorded in
    input_arrays: tuple[np.ndarray, ...] | None = None  # copies of its inputs (audit only)

    inputs: tuple[Any, ...] = ()
    out_shapes: tuple[tuple[int, ...], ...] = ()
    seq = -1
    grads: list[Any] | None = None  # gradients of the outputs, filled in during backward
    out_ids: tuple[int, ...] = ()  # id() of each output array (create_graph finds saved ones)
    linked = False                # create_graph: saved_tensors are Tensors on the graph
    hooks: dict[int, list[Any]] | None = None  # per output: `register_hook` functions

    fn: type  # the op's Function class, set by `Function.apply`

    @property
    def name(self) -> str:
        """The op's name as the tape prints it."""
        return getattr(self.fn, "name", None) or self.fn.__name__.lower()

    def save_for_backward(self, *arrays: np.ndarray) -> None:
        """Keep `arrays` for backward (checked for changes before backward reads them)."""
        self.saved = arrays

    @property
    def saved_tensors(self) -> tuple[np.ndarray, ...]:
        """The arrays given to `save_for_backward` (PyTorch's name)."""
        if self.released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time: the saved arrays of "
                f"'{self.name}' were freed by the first backward. Pass retain_graph=True to the "
                "first backward() (or to minigrad.grad) if you need to backpropagate twice."
            )
        if self.linked:
            return tuple([on_graph(self, i) for i in range(len(self.saved))])
        return self.saved

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """Per input: does it want a gradient? (PyTorch's name.) Lets backward skip work."""
        return tuple([type(s) is tuple or s.requires_grad for s in self.inputs])

    def release(self) -> None:
        """Free what was kept for backward (a record that saved nothing can run again)."""
        if self.saved:
            self.released = True
            self.saved = self.guards = ()
        self.shared = None

    def __repr__(self) -> str:
        ins = ", ".join(str(shape_of(s)) for s in self.inputs)
        outs = self.out_shapes[0] if len(self.out_shapes) == 1 else self.out_shapes
        return f"<Record #{self.seq} {self.name}: {ins} -> {outs}>"


def on_graph(record: Record, i: int) -> Any:
    """Saved array i as the Tensor it was in forward (an input, or an output of `record`), so
    a backward run with `create_graph=True` records how the gradient depends on it.

    Found by identity: the saved array, the inputs and the outputs were all alive together
    during forward, so an equal id() is the same array (`out_ids` keeps the outputs' ids).
    """
    from .tensor import Tensor

    a = record.saved[i]
    for source in record.inputs:
        if type(source) is tuple:
            producer, k = source
            if producer.out_ids[k] == id(a):
                return Tensor._make(a, True, producer, k)
        elif source.data is a:
            return source
    for k, out_id in enumerate(record.out_ids):
        if out_id == id(a):
            return Tensor._make(a, True, record, k)
    if a.dtype.kind in "biu":  # a mask or indices: no gradient flows through it
        return a
    raise RuntimeError(
        f"{record.name}: its forward saved a {a.dtype} array of shape {a.shape} that is "
        "neither an input nor an output, so create_graph=True cannot tell how it depends "
        f"on the inputs. To make '{record.name}' twice differentiable, save its inputs or "
        "outputs and recompute the rest in backward."
    )


def source_of(t: Tensor) -> Any:
    """Where a tensor's value comes from, as `Record.inputs` stores it."""
    return t if t.record is None else (t.record, t.output_index)


def shape_of(source: Any) -> tuple[int, ...]:
    """The shape of the value an entry of `Record.inputs` stands for."""
    if type(source) is tuple:
        record, k = source
        return record.out_shapes[k]
    return source.shape


def tape_of(*roots: Tensor) -> list[Record]:
    """Every record the `roots` depend on, in recording order: the rows `show_tape` prints."""
    seen = {t.record for t in roots if t.record is not None}
    stack = list(seen)
    while stack:
        for source in stack.pop().inputs:
            if type(source) is tuple and source[0] not in seen:
                seen.add(source[0])
                stack.append(source[0])
    return sorted(seen, key=_by_seq)


_by_seq = operator.attrgetter("seq")


# ----------------------------------------------------------------------------------------------
# backward


class Step(NamedTuple):
    """One row of the backward pass, as `backward_steps` yields it."""

    row: int                   # the record's row in `show_tape`
    op: str
    rule: str                  # the op's local rule (the first line of its docstring)
    grads_in: list[np.ndarray]  # dL/d(output), one per output
    saved: tuple[np.ndarray, ...]  # what forward kept for this rule
    grads_out: list[tuple[str, Any]]  # per input: (where it goes, dL/d(input) or None)
    summed: list[bool]         # per input: added to a gradient that value already had (fan-out)


def backward(roots: list[Tensor], seeds: list[Any], retain_graph: bool = False,
             wanted: list[Tensor] | None = None, create_graph: bool = False
             ) -> dict[int, list[Any]]:
    """Replay the tape behind `roots` (see `replay`) and return what reached the leaves: as
    {id(leaf): [leaf, gradient, ...]}, plus the `wanted` tensors' {id(t): [t, gradient]}."""
    found: dict[int, list[Any]] = {}
    for _ in replay(roots, seeds, retain_graph, wanted, found, False, create_graph):
        pass  # (replay yields nothing unless it explains)
    return found


def replay(roots: list[Tensor], seeds: list[Any], retain_graph: bool,
           wanted: list[Tensor] | None, found: dict[int, list[Any]], explain: bool,
           create_graph: bool = False) -> Iterator[Step]:
    """The backward pass: the rows `show_tape` prints, bottom to top, from dL/droot = seed.
    Each row takes the gradients of its outputs, applies its op's chain rule and sends one
    gradient to each input. With `explain`, yields a `Step` per row that received a gradient.

    With `create_graph`, the gradients are Tensors and each rule runs on Tensors, so the
    backward pass is itself recorded and can be differentiated again.
    """
    this_pass, anomaly = new_pass(), is_anomaly_enabled()
    for root, seed in zip(roots, seeds):
        send(source_of(root), seed, found, None, anomaly, create_graph)
    tape = tape_of(*roots)
    rows = {id(r): i for i, r in enumerate(tape)} if explain else {}
    try:
        for row in range(len(tape) - 1, -1, -1):
            record = tape[row]
            out_grads, record.grads = record.grads, None
            if out_grads is not None:                # some gradient reached this row
                if len(out_grads) > 1:
                    out_grads = fill_missing(record, out_grads)
                if record.hooks:
                    out_grads = run_hooks(record, out_grads)
                if wanted:
                    keep_wanted(record, out_grads, wanted, found)
                if record.guards:
                    verify_unchanged(record, this_pass)  # saved arrays changed since forward?
                in_grads = (call_rule(record, out_grads) if not create_graph
                            else call_on_graph(record, out_grads))
                summed = [g is not None and (type(source) is tuple or source.requires_grad)
                          and send(source, g, found, record, anomaly, create_graph)
                          for source, g in zip(record.inputs, in_grads)]
                if explain:
                    yield explain_step(row, rows, record, out_grads, in_grads, summed)
            if not retain_graph:
                record.release()
    finally:  # stopped early (or an error): no half-sent gradient waits for the next backward
        for record in tape:
            record.grads = None


def explain_step(row: int, rows: dict[int, int], record: Record, out_grads: list[np.ndarray],
                 in_grads: tuple[Any, ...], summed: list[bool]) -> Step:
    """The `Step` that `backward_steps` shows for one row (`rows`: record id -> row)."""
    doc = (record.fn.__doc__ or record.name).strip().splitlines()[0]
    labels = [label_of(source, rows) for source in record.inputs]
    return Step(row, record.name, doc, out_grads, record.saved, list(zip(labels, in_grads)),
                [bool(s) for s in summed])


def label_of(source: Any, rows: dict[int, int]) -> str:
    """Where an input comes from: `#k` (row k's output, `#k[j]` output j) or the leaf's name
    (`leaf` / `const` when it has none) and shape."""
    if type(source) is tuple:
        record, j = source
        k = rows[id(record)]
        return f"#{k}[{j}]" if len(record.out_shapes) != 1 else f"#{k}"
    kind = source.name or ("leaf" if source.requires_grad else "const")
    return f"{kind}{tuple(source.shape)}"


def keep_wanted(record: Record, out_grads: list[np.ndarray], wanted: list[Tensor],
                found: dict[int, list[Any]]) -> None:
    """`grad()` asked for the gradient of an output of this record: keep it."""
    for t in wanted:
        if t.record is record:
            found[id(t)] = [t, out_grads[t.output_index]]


def send(source: Any, g: Any, at_leaves: dict[int, list[Any]], sender: Record | None = None,
         anomaly: bool = False, create_graph: bool = False) -> bool:
    """Add `g`, reduced to the value's shape, to the gradient of `source`: a slot of the
    record that made the value, or the leaf's entry in `at_leaves`. True if it was added to
    a gradient the value already had (a fan-out sum). With `create_graph` g is a Tensor and
    the sums are recorded."""
    if type(g) is not np.ndarray and not create_graph:
        g = np.asarray(g)
    if type(source) is tuple:
        record, k = source
        if g.shape != record.out_shapes[k]:
            g = unbroadcast(g, record.out_shapes[k], sender)
        grads = record.grads
        if grads is None:
            grads = record.grads = [None] * len(record.out_shapes)
        summed = grads[k] is not None
        grads[k] = grads[k] + g if summed else g
    else:
        if g.shape != source.data.shape:
            g = unbroadcast(g, source.data.shape, sender)
        entry = at_leaves.get(id(source))
        summed = entry is not None
        if entry is None:             # first use: g may be an op's own array, so not ours
            at_leaves[id(source)] = [source, g, False]
        elif entry[2] and not create_graph:  # a sum we allocated (W, once per step): in place
            entry[1] += g
        else:
            entry[1], entry[2] = entry[1] + g, True
    if anomaly:
        check_finite(sender, g, "gradient")
    return summed


def fill_missing(record: Record, out_grads: list[Any]) -> list[np.ndarray]:
    """Outputs of a multi-output record that received nothing get zeros."""
    dtype = next(g for g in out_grads if g is not None).dtype
    return [np.zeros(s, dtype) if g is None else g for g, s in zip(out_grads, record.out_shapes)]


def call_rule(record: Record, out_grads: list[Any]) -> tuple[Any, ...]:
    """Run the op's backward on arrays: one gradient per output in, one per input out (None:
    none). An op's `array_backward` (a kernel), if it has one, stands in for `backward`."""
    fn = record.fn
    in_grads = (fn.array_backward or fn.backward)(record, *out_grads)
    return as_tuple(record, in_grads)


def as_tuple(record: Record, in_grads: Any) -> tuple[Any, ...]:
    """A backward's result as a tuple of one gradient per input, or an error saying so."""
    if type(in_grads) is not tuple:
        in_grads = tuple(in_grads) if isinstance(in_grads, list) else (in_grads,)
    if len(in_grads) != len(record.inputs):
        raise RuntimeError(
            f"{record.name}: backward returned {len(in_grads)} gradients for "
            f"{len(record.inputs)} inputs; return one per input (None where there is none)."
        )
    return in_grads


def call_on_graph(record: Record, out_grads: list[Any]) -> tuple[Any, ...]:
    """The op's backward run on Tensors (the gradients, and the saved arrays as the Tensors
    they were in forward), so that every step of it is recorded: `create_graph=True`."""
    from .tensor import Tensor

    fn = record.fn
    if not fn.twice_differentiable:
        raise RuntimeError(
            f"{record.name}: its backward runs on arrays only, so create_graph=True cannot "
            "differentiate through it. For second derivatives, compute this part with the "
            "composed ops (e.g. a model built with fused=False, or the function uncompiled)."
        )
    grads = [g if isinstance(g, Tensor) else Tensor._make(np.asarray(g), False, None, 0)
             for g in out_grads]
    record.linked = True
    try:
        in_grads = as_tuple(record, fn.backward(record, *grads))
    except (TypeError, ValueError, AttributeError) as err:
        raise RuntimeError(
            f"{record.name}: its backward failed on Tensors ({type(err).__name__}: {err}). "
            "With create_graph=True a backward must compute with operators, NumPy functions "
            "and minigrad ops (not .data, out=, np.add.at or kernels), so that it is recorded."
        ) from err
    finally:
        record.linked = False
    return tuple([on_graph_result(record, g) for g in in_grads])


def on_graph_result(record: Record, g: Any) -> Any:
    """A gradient a backward returned under create_graph: a Tensor, None, or a constant zero."""
    from .tensor import Tensor

    if g is None or isinstance(g, Tensor):
        return g
    g = np.asarray(g)
    if np.any(g):
        raise RuntimeError(
            f"{record.name}: with create_graph=True its backward returned a NumPy array, not a "
            "Tensor: it computed the gradient on arrays (.data, np.asarray or a kernel), so the "
            f"result cannot be differentiated again. Write {record.name}'s backward with "
            "operators, NumPy functions and minigrad ops."
        )
    return Tensor._make(g, False, None, 0)


def unbroadcast(g: np.ndarray, shape: tuple[int, ...], record: Record | None) -> np.ndarray:
    """Reduce a gradient to its input's shape: sum the axes that broadcasting added or stretched.

    This is the one place where broadcasting is undone: a bias `b` of shape (n_a, 1) added to
    `(n_a, m)` receives the gradient summed over the m columns.
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    if extra >= 0:
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
    if g.shape != shape:
        name = record.name if record is not None else "backward"
        raise RuntimeError(
            f"{name}: backward returned a gradient of shape {g.shape} for an input of "
            f"shape {shape}; a Function's backward must return one gradient per input, "
            "shaped like that input (or like the broadcast output)."
        )
    return g
