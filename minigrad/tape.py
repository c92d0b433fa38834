"""The tape: records of the ops that ran, and the backward pass that replays them.

Every op that touches a tensor which requires grad leaves a `Record` behind (the `ctx` its
`Function` saw in forward). Records carry a global sequence number, so "reverse recording order"
is simply "descending sequence number". `backward` keeps the records that have received a gradient
in a max-heap of sequence numbers and replays the largest first (no recursion: a 100,000-op chain
is fine), accumulating gradients with `+` where a tensor fans out.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from .locks import _locks, lock_for
from .modes import STATE, check_finite

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

__all__ = ["Output", "Record", "grad", "records_leading_to", "run_backward"]


_counter = itertools.count()


class Record:
    """One line of the tape, and the `ctx` an op's forward/backward receive.

    `save_for_backward` keeps arrays for the backward pass and makes them read-only until the
    record is released, so an in-place change of a saved array fails at the assignment instead of
    silently corrupting a gradient. Ops may set any other attribute on the record.

    `inputs` says where each input came from, never holding an intermediate Tensor itself: a
    leaf is the leaf Tensor; an op's output is that op's Record (a record stands for its single
    output) or, for one output of a multi-output op, an `Output`. So an intermediate array that
    no op saved for backward is freed as soon as the user's code drops it, as in PyTorch's
    graph of `grad_fn` edges: the tape holds what backward needs, not every value computed.
    """

    # Defaults live on the class, so a record only stores what its op actually sets.
    saved: tuple[np.ndarray, ...] = ()
    released = False
    where: str | None = None
    _locked: list[np.ndarray] | None = None
    inputs: Sequence[Any] = ()
    out_shape: Any = ()  # the output's shape; a tuple of shapes when n_out > 1
    n_out = 1  # ops with several outputs (split) set this; their grads are kept in a list
    seq = -1

    def __init__(self, fn: type) -> None:
        self.fn = fn

    def save_for_backward(self, *arrays: np.ndarray) -> None:
        """Keep `arrays` for backward; they stay read-only while this record is alive.

        `Function.apply` calls `lock_saved` once forward has returned and the op's outputs are
        read-only, so an op that saves its own output (σ, tanh) costs no lock at all.
        """
        self.saved = arrays

    def lock_saved(self) -> None:
        """Make the saved arrays read-only until this record is released.

        Arrays made by recorded ops are read-only from birth; the writable ones (leaves:
        parameters, inputs) are locked here and unlocked when the last record holding them is
        released or garbage-collected, so `p.data -= lr * p.grad` works again after backward.
        """
        for a in self.saved:
            # Lock the array and every array it is a view of (x.T saved by a later op must
            # protect x.data too); op results are already read-only and are skipped.
            while type(a) is np.ndarray:
                if a.flags.writeable or id(a) in _locks:
                    self._lock(a)
                a = a.base

    def _lock(self, a: np.ndarray) -> None:
        lock = lock_for(a)
        if self._locked is None:
            self._locked = [lock]
        else:
            self._locked.append(lock)

    @property
    def saved_tensors(self) -> tuple[np.ndarray, ...]:
        """The arrays given to `save_for_backward` (PyTorch's name)."""
        if self.released:
            raise RuntimeError(
                f"{self.name}: its saved arrays were freed by an earlier backward; "
                "pass retain_graph=True to the first backward() to backpropagate twice."
            )
        return self.saved

    @property
    def name(self) -> str:
        """The op's name as the tape prints it."""
        return getattr(self.fn, "name", None) or self.fn.__name__.lower()

    def release(self) -> None:
        """Free the saved arrays and drop this record's locks (the last holder unlocks)."""
        self.released = True
        self.saved = ()
        self._locked = None

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """Per input: does it want a gradient? (PyTorch's name.) Lets backward skip work."""
        return tuple(type(s) is Record or s.requires_grad for s in self.inputs)

    def __repr__(self) -> str:
        ins = ", ".join(str(tuple(shape_of(t))) for t in self.inputs)
        return f"<Record #{self.seq} {self.name}: {ins} -> {self.out_shape}>"


class Output:
    """An input that is output `index` of a multi-output record (one piece of a split)."""

    __slots__ = ("_node", "_out", "shape")
    requires_grad = True
    name = None

    def __init__(self, node: Record, index: int, shape: tuple[int, ...]) -> None:
        self._node, self._out, self.shape = node, index, shape


def parent_of(source: Any) -> tuple[Record | None, int]:
    """(record, output index) that produced an entry of `Record.inputs`; (None, 0) for a leaf."""
    if type(source) is Record:
        return source, 0
    return source._node, source._out


def shape_of(source: Any) -> tuple[int, ...]:
    """The shape of the value an entry of `Record.inputs` stands for."""
    return source.out_shape if type(source) is Record else source.shape


# ----------------------------------------------------------------------------------------------
# backward


def unbroadcast(g: np.ndarray, shape: tuple[int, ...], record: Record) -> np.ndarray:
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
        raise RuntimeError(
            f"{record.name}: backward returned a gradient of shape {g.shape} for an input of "
            f"shape {shape}; a Function's backward must return one gradient per input, "
            "shaped like that input (or like the broadcast output)."
        )
    return g


_SEQ = operator.attrgetter("seq")


def records_leading_to(root: Record) -> list[Record]:
    """Every record the root depends on, in reverse recording order (iterative walk)."""
    seen = {id(root)}
    order = [root]
    stack = [root]
    while stack:
        rec = stack.pop()
        for source in rec.inputs:
            parent = parent_of(source)[0]
            if parent is not None and id(parent) not in seen:
                seen.add(id(parent))
                order.append(parent)
                stack.append(parent)
    order.sort(key=_SEQ, reverse=True)
    return order


def run_backward(
    root: Tensor,
    seed: np.ndarray,
    retain_graph: bool,
    wanted: Sequence[Tensor] | None = None,
) -> list[np.ndarray] | None:
    """Replay the tape from `root` with cotangent `seed`.

    With `wanted=None`, gradients are accumulated (`+=`) into the `.grad` of leaves that require
    grad. Otherwise the gradients of the `wanted` tensors (leaves or intermediates) are returned
    and no `.grad` is touched.

    Order: a max-heap of sequence numbers. A record enters the heap when it first receives a
    gradient and leaves it in descending sequence order, so every record that consumed its
    output (all recorded later) has added its share before the record's own backward runs.
    """
    root_rec = root._node
    if root_rec is None:  # a leaf: d root / d root
        if wanted is None:
            _accumulate_leaf(root, seed)
            return None
        return [seed.copy() if t is root else np.zeros_like(t.data) for t in wanted]

    want_nodes: dict[int, list[tuple[int, int]]] = {}
    want_leaves: dict[int, list[int]] = {}
    results: list[np.ndarray | None] = []
    if wanted is not None:
        for i, t in enumerate(wanted):
            if t._node is not None:
                want_nodes.setdefault(id(t._node), []).append((i, t._out))
            else:
                want_leaves.setdefault(id(t), []).append(i)
        results = [None] * len(wanted)

    anomaly = STATE.anomaly
    # seq -> [record, gradient so far (a list of per-output slots for multi-output records),
    #         whether that gradient is an array this loop allocated (then it may add in place)]
    pending: dict[int, list[Any]] = {root_rec.seq: [root_rec, _seed_slot(root, seed), False]}
    heap = [-root_rec.seq]
    dropped = False  # did some backward return None for an input on the tape?
    while heap:
        rec, g, _ = pending.pop(-heappop(heap))
        if rec.released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time: the saved arrays of "
                f"'{rec.name}' were freed by the first backward. Pass retain_graph=True to the "
                "first backward() (or to minigrad.grad) if you need to backpropagate twice."
            )
        multi = rec.n_out != 1
        if multi:  # several outputs: g is a list, None where an output got nothing
            g = [np.zeros(s, dtype=seed.dtype) if gj is None else gj
                 for gj, s in zip(g, rec.out_shape)]
        if want_nodes and id(rec) in want_nodes:
            for i, j in want_nodes[id(rec)]:
                results[i] = g[j] if multi else g
        in_grads = rec.fn.backward(rec, *g) if multi else rec.fn.backward(rec, g)
        if type(in_grads) is not tuple:
            in_grads = tuple(in_grads) if isinstance(in_grads, list) else (in_grads,)
        if len(in_grads) != len(rec.inputs):
            raise RuntimeError(
                f"{rec.name}: backward returned {len(in_grads)} gradients for "
                f"{len(rec.inputs)} inputs; return one per input (None where there is none)."
            )
        for src, gi in zip(rec.inputs, in_grads):
            if gi is None:
                dropped = dropped or parent_of(src)[0] is not None
                continue
            if type(src) is Record:  # parent_of(src), inlined: the output of a one-output op
                parent, j, shape = src, 0, src.out_shape
            elif src.requires_grad:  # a leaf Tensor, or an Output of a multi-output op
                parent, j, shape = src._node, src._out, src.shape
            else:  # a constant
                continue
            if type(gi) is not np.ndarray:
                gi = np.asarray(gi)
            if gi.shape != shape:
                gi = unbroadcast(gi, shape, rec)
            if anomaly:
                check_finite(rec, gi, "gradient")
            if parent is None:
                if wanted is None:
                    _accumulate_leaf(src, gi)
                elif id(src) in want_leaves:
                    for i in want_leaves[id(src)]:
                        results[i] = gi if results[i] is None else results[i] + gi
                continue
            seq = parent.seq
            entry = pending.get(seq)
            if entry is None:
                heappush(heap, -seq)
                if parent.n_out != 1:
                    slots: list[Any] = [None] * parent.n_out
                    slots[j] = gi
                    gi = slots
                pending[seq] = [parent, gi, False]
            elif parent.n_out == 1:
                acc = entry[1]
                if entry[2] and acc.dtype == gi.dtype:  # a sum we made earlier: add in place
                    acc += gi
                else:  # gi may be another op's array (or shared, as add's (g, g)): new array
                    acc = acc + gi
                    entry[1], entry[2] = acc, type(acc) is np.ndarray  # (0-d: a NumPy scalar)
            else:
                slots = entry[1]
                slots[j] = gi if slots[j] is None else slots[j] + gi
        if not retain_graph:  # release(), inlined: this loop is the hot path of backward
            rec.released = True
            rec.saved = ()
            rec._locked = None

    if dropped and not retain_graph:  # records that got no gradient are done with too
        for rec in records_leading_to(root_rec):
            rec.release()
    if wanted is None:
        return None
    return [
        np.zeros_like(t.data) if r is None else np.array(r, dtype=t.data.dtype, copy=True)
        for t, r in zip(wanted, results)
    ]


def _seed_slot(root: Tensor, seed: np.ndarray) -> Any:
    """The root's entry in the gradient table (a list for outputs of multi-output ops)."""
    rec = root._node
    if rec is None or rec.n_out == 1:
        return seed
    slots: list[np.ndarray | None] = [None] * rec.n_out
    slots[root._out] = seed
    return slots


def _accumulate_leaf(t: Tensor, g: np.ndarray) -> None:
    """`t.grad += g`, creating `t.grad` (a fresh array in t's dtype) on first use."""
    if t.grad is None:
        t.grad = np.array(g, dtype=t.data.dtype if t.data.dtype.kind == g.dtype.kind else None,
                          copy=True)
    else:
        t.grad += g


def grad(
    output: Tensor,
    inputs: Tensor | Iterable[Tensor],
    grad_output: Any = None,
    retain_graph: bool = False,
) -> list[np.ndarray]:
    """Gradients d output / d input for each input, as arrays, without touching any `.grad`.

    `inputs` may be leaves or intermediate tensors of the graph (e.g. the hidden states a⟨t⟩ of
    an unrolled RNN: then the result is the total derivative ∂J/∂a⟨t⟩ through all later steps).
    An input the output does not depend on gets zeros.
    """
    from .tensor import Tensor

    wanted = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for t in wanted:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(
                f"grad: an input of shape {t.shape} does not require grad, so no gradient is "
                "tracked for it; create it with requires_grad=True"
            )
    seed = output._seed(grad_output)
    out = run_backward(output, seed, retain_graph, wanted)
    assert out is not None
    return out
