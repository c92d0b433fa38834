"""Saved arrays stay read-only while a graph that saved them is alive.

Arrays made by recorded ops are read-only from birth. Writable arrays (parameters, inputs, and
the bases of saved views) get a `_Lock` when a record saves them: records hold the lock object,
and when the last holder is released or garbage-collected, Python frees the lock and the array
becomes writable again — so `p.data -= lr * p.grad` works after backward, and an in-place write
while a graph still needs the array fails at the assignment instead of corrupting a gradient.
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["is_locked", "lock_for"]

# id(array) -> weak reference to the _Lock that keeps it read-only while records hold it.
_locks: dict[int, weakref.ref] = {}


# id(base) -> views that stayed read-only because that base was still locked by another record
_parked: dict[int, list[np.ndarray]] = {}


def _make_writable(a: np.ndarray) -> None:
    """Undo a lock; a view whose base is still locked waits until that base is freed."""
    try:
        a.setflags(write=True)
    except ValueError:  # a view of a read-only array
        b = a.base
        while isinstance(b, np.ndarray) and id(b) not in _locks:
            b = b.base
        if isinstance(b, np.ndarray):
            _parked.setdefault(id(b), []).append(a)
        return
    for v in _parked.pop(id(a), ()):
        _make_writable(v)


class _Lock:
    """Keeps one writable array read-only while any record that saved it is alive.

    Records hold the lock object; when the last one is released or garbage-collected, Python
    frees the lock and the array becomes writable again. Records themselves need no `__del__`.
    """

    __slots__ = ("array", "__weakref__")

    def __init__(self, a: np.ndarray) -> None:
        self.array = a
        a.setflags(write=False)
        _locks[id(a)] = weakref.ref(self)

    def __del__(self) -> None:
        a = self.array
        _locks.pop(id(a), None)
        _make_writable(a)



def lock_for(a: np.ndarray) -> _Lock:
    """The lock keeping `a` read-only (made now if `a` has none): hold it as long as needed."""
    ref = _locks.get(id(a))
    lock = ref() if ref is not None else None
    return lock if lock is not None else _Lock(a)


def is_locked(a: np.ndarray) -> bool:
    """True if some live record holds `a` read-only."""
    return id(a) in _locks
