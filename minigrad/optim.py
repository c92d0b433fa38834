"""Optimizers and gradient clipping. They read ``p.grad`` and update ``p.data`` in place.

Run them after ``backward`` (an array saved by a live graph is read-only until the graph is
released). ``step()`` first checks that every parameter it would update is writable and raises
``RuntimeError`` otherwise, so a step is applied to all parameters or to none. The clipping
functions replace ``p.grad`` by new arrays and never write into the old ones. ``params`` is any
iterable of Tensors, e.g. ``model.parameters().values()``; a parameter whose ``.grad`` is None is
skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["SGD", "Adam", "Optimizer", "clip_grad_norm", "clip_grad_value"]


def _param_list(params: Iterable[Tensor], who: str) -> list[Tensor]:
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, Mapping):
        params = params.values()
    out = list(params)
    if not out:
        raise ValueError(f"{who}: got an empty parameter list")
    seen: set[int] = set()
    for i, p in enumerate(out):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: parameter {i} is a {type(p).__name__}, not a Tensor")
        if id(p) in seen:
            raise ValueError(f"{who}: parameter {i} appears more than once")
        seen.add(id(p))
    return out


def _nonneg(who: str, name: str, value: float) -> float:
    """float(value), which must be a finite number ≥ 0 (lr, momentum, eps, clipping bounds)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {name} must be a finite number ≥ 0; got {value!r}") from None
    if not value >= 0.0 or not math.isfinite(value):
        raise ValueError(f"{who}: {name} must be a finite number ≥ 0; got {value!r}")
    return value


def _hyper(who: str, name: str, value: Any, label: str | None = None) -> float:
    """A checked hyper-parameter: betas (``beta1``, ``beta2``) in [0, 1), the others finite ≥ 0.

    ``label`` is the name the caller knows it by (``betas[0]`` in ``Adam(betas=...)``).
    """
    label = label or name
    if not name.startswith("beta"):
        return _nonneg(who, label, value)
    try:
        b = float(value)
    except (TypeError, ValueError):
        b = math.nan
    if not 0.0 <= b < 1.0:
        raise ValueError(f"{who}: {label} must be a number in [0, 1); got {value!r}")
    return b


def _step_count(who: str, value: Any) -> int:
    """The number of steps taken: an integer ≥ 0 (Adam's bias correction divides by 1 − β^t)."""
    a = np.asarray(value)
    if a.shape != () or a.dtype.kind not in "iu" or int(a) < 0:
        raise ValueError(f"{who}: step must be an integer ≥ 0 (the number of steps taken); "
                         f"got {value!r}")
    return int(a)


class Optimizer:
    """Shared bookkeeping: the parameter list, ``zero_grad`` and per-parameter state arrays."""

    _hyper: tuple[str, ...] = ("lr",)
    _slots: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        who = type(self).__name__
        self.params = _param_list(params, who)
        for i, p in enumerate(self.params):
            if not p.is_leaf:
                raise ValueError(
                    f"{who}: parameter {i} (shape {p.shape}) is the result of an op, not a leaf "
                    "tensor; an optimizer updates leaves in place: pass the parameters "
                    "themselves (tensors created with requires_grad=True, e.g. "
                    "model.parameters().values()), not values computed from them")
        self.lr = _hyper(who, "lr", lr)
        self.step_count = 0
        self.state: dict[str, list[np.ndarray | None]] = {s: [None] * len(self.params)
                                                          for s in self._slots}

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        raise NotImplementedError

    def _check_writable(self) -> None:
        """Raise before anything is updated if a parameter with a gradient is read-only."""
        for i, p in enumerate(self.params):
            if p.grad is None or p.data.flags.writeable:
                continue
            who = f"{type(self).__name__}.step: parameter #{i} (shape {p.shape})"
            raise RuntimeError(f"{who} is read-only (its .data array is not writeable, so it "
                               "cannot be updated in place). No parameter was updated.")

    def state_dict(self) -> dict[str, Any]:
        """Plain scalars and arrays: hyper-parameters, ``step``, ``<slot>.<i>`` per parameter."""
        out: dict[str, Any] = {"type": type(self).__name__, "step": self.step_count}
        out.update({h: getattr(self, h) for h in self._hyper})
        for slot, arrays in self.state.items():
            for i, arr in enumerate(arrays):
                if arr is not None:
                    out[f"{slot}.{i}"] = arr.copy()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore ``state_dict()`` output (values may be 0-d arrays, e.g. read from an .npz)."""
        who = type(self).__name__
        kind = state.get("type")
        if kind is not None and str(np.asarray(kind)) != who:
            raise ValueError(f"{who}.load_state_dict: state is for {np.asarray(kind)}")
        missing = [k for k in ("step", *self._hyper) if k not in state]
        if missing:
            raise ValueError(f"{who}.load_state_dict: missing entries {missing}")
        hyper = {h: _hyper(f"{who}.load_state_dict", h, state[h]) for h in self._hyper}
        step = _step_count(f"{who}.load_state_dict", state["step"])
        slots: dict[str, list[np.ndarray | None]] = {s: [None] * len(self.params)
                                                     for s in self._slots}
        for key, value in state.items():
            if key in ("type", "step", *self._hyper):
                continue
            slot, _, index = key.partition(".")
            if slot not in slots or not index.isdigit() or int(index) >= len(self.params):
                raise ValueError(f"{who}.load_state_dict: unexpected entry {key!r} "
                                 f"({len(self.params)} parameters, slots {self._slots})")
            i = int(index)
            arr = np.array(value, dtype=self.params[i].dtype)
            if arr.shape != self.params[i].shape:
                raise ValueError(f"{who}.load_state_dict: {key} has shape {arr.shape}; "
                                 f"parameter {i} is {self.params[i].shape}")
            slots[slot][i] = arr
        for h, value in hyper.items():
            setattr(self, h, value)
        self.step_count = step
        self.state = slots


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum convention::

        v ← μ v + g ;   p ← p − lr · v          (μ = 0: p ← p − lr · g)
    """

    _hyper = ("lr", "momentum")
    _slots = ("velocity",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _hyper("SGD", "momentum", momentum)

    def step(self) -> None:
        """v ← μ v + g;  θ ← θ − lr v  (plain SGD when μ = 0)."""
        self._check_writable()
        self.step_count += 1
        velocity = self.state["velocity"]
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if self.momentum:
                v = velocity[i]
                velocity[i] = v = g.copy() if v is None else self.momentum * v + g
                g = v
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), as in PyTorch, with bias correction::

        m ← β1 m + (1 − β1) g ;   v ← β2 v + (1 − β2) g²
        p ← p − lr · m̂ / (√v̂ + ε),   m̂ = m / (1 − β1^t),   v̂ = v / (1 − β2^t)

    ``t`` counts ``step()`` calls; a parameter with no gradient at a step is left untouched.
    """

    _hyper = ("lr", "beta1", "beta2", "eps")
    _slots = ("m", "v")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        self.beta1 = _hyper("Adam", "beta1", b1, label="betas[0]")
        self.beta2 = _hyper("Adam", "beta2", b2, label="betas[1]")
        self.eps = _hyper("Adam", "eps", eps)

    @property
    def betas(self) -> tuple[float, float]:
        return self.beta1, self.beta2

    def step(self) -> None:
        """m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr m̂ / (√v̂ + ε) (bias-corrected)."""
        self._check_writable()
        self.step_count += 1
        t, b1, b2 = self.step_count, self.beta1, self.beta2
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        ms, vs = self.state["m"], self.state["v"]
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if ms[i] is None:
                ms[i], vs[i] = np.zeros_like(p.data), np.zeros_like(p.data)
            m, v = ms[i], vs[i]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            p.data -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients together so that their joint 2-norm is at most ``max_norm``.

    Returns the norm before clipping, √(Σ_p ‖∂J/∂p‖²). Scale factor max_norm / (norm + 1e-6), as
    in PyTorch, applied only when it is below 1.
    """
    params = _param_list(params, "clip_grad_norm")
    max_norm = _nonneg("clip_grad_norm", "max_norm", max_norm)
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g).real) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * coef
    return total


def clip_grad_value(params: Iterable[Tensor], clip: float) -> None:
    """Clip every gradient entry to [−clip, clip] (the course clips to ±5)."""
    params = _param_list(params, "clip_grad_value")
    clip = _nonneg("clip_grad_value", "clip", clip)
    for p in params:
        if p.grad is not None:
            p.grad = np.clip(p.grad, -clip, clip)
