"""Saved arrays that change between forward and backward are an error, never a wrong gradient.

Writing is always allowed: parameters, the user's arrays and any view of them stay writable
(`p.data -= lr * p.grad`, `load_state_dict`, `v = W.data[:]; v[...] = 0`). NumPy has no write
hooks, so, like PyTorch's version counters but by content: when a record saves an array whose
memory can be written (op results are read-only; leaves and views of them are not), it keeps a
`Snapshot` of that memory's bytes. One snapshot per array is taken per graph and shared by every
record of the graph that saves the array (the 50 steps of an LSTM save W_c 50 times, and copy
it once), and backward compares it once, before the first record that saved it runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tape import Record
    from .tensor import Tensor

__all__ = ["Snapshot", "guard_saved", "verify_unchanged"]

_passes = itertools.count()


class Snapshot:
    """The bytes of a writable array as forward saw them, and the name to report it by."""

    __slots__ = ("array", "content", "name", "checked_in")

    def __init__(self, array: np.ndarray, name: str | None) -> None:
        self.array, self.name, self.content = array, name, array.tobytes()
        self.checked_in = -1  # the backward pass that last found it unchanged


def writable_root(a: np.ndarray) -> np.ndarray | None:
    """The array owning `a`'s memory if that memory can be written through some alias."""
    base = a.base
    while isinstance(base, np.ndarray):
        a, base = base, base.base
    return a if base is not None or a.flags.writeable else None


def guard_saved(record: Record, inputs: Sequence[Tensor], options: dict[str, Any]) -> None:
    """Snapshot the saved arrays whose memory the user can reach (their inputs' arrays, arrays
    given as options, views of them), sharing snapshots within the graph (`record.shared`,
    which `record` got from its inputs' records). Arrays forward made itself are nobody else's.
    """
    guards = []
    for a in record.saved:
        if a.base is None:
            if not a.flags.writeable:
                continue  # an op's result: read-only, and nothing else owns its memory
            snap = record.shared.get(id(a)) if record.shared else None
            if snap is not None and snap.array is a:  # saved before in this graph (W, per step)
                guards.append(snap)
                continue
        root = writable_root(a)
        if root is None or not reachable(root, inputs, options):
            continue  # (made by forward itself: the fused recurrences' caches, say)
        if record.shared is None:
            record.shared = {}
        snap = record.shared.get(id(root))
        if snap is None or snap.array is not root:
            name = next((t.name for t in inputs if t.name and writable_root(t.data) is root),
                        None)
            snap = record.shared[id(root)] = Snapshot(root, name)
        guards.append(snap)
    if guards:
        record.guards = tuple(guards)


def reachable(root: np.ndarray, inputs: Sequence[Tensor], options: dict[str, Any]) -> bool:
    """Is `root` the memory of an input's array, or of an array given as an option?"""
    for t in inputs:
        if t.data is root or writable_root(t.data) is root:
            return True
    return any(isinstance(v, np.ndarray) and writable_root(v) is root for v in options.values())


def new_pass() -> int:
    """A number for one backward pass (each snapshot is compared once per pass)."""
    return next(_passes)


def verify_unchanged(record: Record, backward_pass: int) -> None:
    """Raise if an array `record` saved was written to since forward."""
    for snap in record.guards:
        if snap.checked_in == backward_pass:
            continue
        if snap.array.tobytes() != snap.content:
            what = f"parameter '{snap.name}'" if snap.name else (
                f"an array of shape {snap.array.shape} it saved")
            raise RuntimeError(
                f"{record.name} (tape row #{record.seq}): {what} was changed after the forward "
                "pass (written in place, or through a view of it), so backward would compute a "
                "wrong gradient. Run the forward pass again after changing it (e.g. compute the "
                "loss after opt.step()), or write to a copy."
            )
        snap.checked_in = backward_pass

