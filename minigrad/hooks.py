"""Tensor hooks (PyTorch's `register_hook`, `retain_grad`): see or replace a gradient in flight.

A hook is called with dL/dt when backward computes it (an array; a Tensor under
`create_graph=True`) and may return a replacement (None keeps it). Hooks of an intermediate
tensor live on the record that made it (the Tensor object itself may be gone by backward);
hooks of a leaf run once on its total gradient, before it is added to `.grad`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .tape import Record
    from .tensor import Tensor

__all__ = ["RemovableHandle", "register_hook", "retain_grad", "run_hooks", "run_leaf_hooks"]

Hook = Callable[[Any], Any]


class RemovableHandle:
    """What `register_hook` returns: `handle.remove()` unregisters the hook."""

    def __init__(self, hooks: list[Hook], fn: Hook) -> None:
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


def _hooks_of(t: Tensor) -> list[Hook]:
    """The list of hooks of `t`: on the tensor for a leaf, on its record's output slot else."""
    if t.record is None:
        hooks = getattr(t, "_hooks", None)
        if hooks is None:
            hooks = t._hooks = []
        return hooks
    record = t.record
    if record.hooks is None:
        record.hooks = {}
    return record.hooks.setdefault(t.output_index, [])


def register_hook(t: Tensor, fn: Hook) -> RemovableHandle:
    """Call `fn(grad)` whenever backward computes dL/dt; a non-None result replaces grad."""
    if not callable(fn):
        raise TypeError(f"register_hook: fn must be callable, got {type(fn).__name__}")
    if not t.requires_grad:
        raise RuntimeError("register_hook: this tensor does not require grad, so no gradient "
                           "will ever reach it; hook a tensor with requires_grad=True")
    hooks = _hooks_of(t)
    hooks.append(fn)
    return RemovableHandle(hooks, fn)


def retain_grad(t: Tensor) -> None:
    """Keep dL/dt in `t.grad` for an intermediate tensor too (summed over backward calls, as
    for leaves). Leaves keep their gradient anyway."""
    if t.record is None or getattr(t, "_retains", False):
        return
    if not t.requires_grad:
        raise RuntimeError("retain_grad: this tensor does not require grad")
    ref = weakref.ref(t)

    def keep(g: Any) -> None:
        target = ref()
        if target is not None:
            target.grad = g.copy() if target.grad is None else target.grad + g

    register_hook(t, keep)
    t._retains = True


def run_hooks(record: Record, out_grads: list[Any]) -> list[Any]:
    """The gradients of `record`'s outputs after their hooks."""
    out_grads = list(out_grads)
    for k, hooks in record.hooks.items():
        for fn in list(hooks):
            new = fn(out_grads[k])
            if new is not None:
                out_grads[k] = _checked(new, out_grads[k])
    return out_grads


def run_leaf_hooks(leaf: Tensor, g: Any) -> Any:
    """A leaf's total gradient after its hooks."""
    for fn in list(getattr(leaf, "_hooks", None) or ()):
        new = fn(g)
        if new is not None:
            g = _checked(new, g)
    return g


def _checked(new: Any, old: Any) -> Any:
    """A hook's replacement gradient, which must keep the gradient's shape."""
    if getattr(new, "shape", None) != old.shape:
        raise RuntimeError(f"hook: returned a gradient of shape {getattr(new, 'shape', None)} "
                           f"for a tensor of shape {old.shape}; return one of the same shape "
                           "(or None to keep the gradient)")
    return new
