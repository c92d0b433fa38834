"""The first compile of a signature checks the generated code against the tape, once.

Tracing names arrays by identity, so a mistake in it would hide where two values happen to be
equal at trace time. The check runs the function eagerly on slightly perturbed arguments
(each float argument times 1 + 10⁻³ u, u ~ U(0, 1): same signs, same shapes, and equal
values at trace time become unequal) and the generated forward and backward on the same
arrays, and compares the outputs and the gradient of J = Σ_k ⟨w_k, out_k⟩ (random w_k) with
respect to every argument that requires grad.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..autograd import grad
from ..modes import STATE, tracing
from ..tensor import Tensor
from .program import Program
from .trace import unflatten

__all__ = ["CompileMismatch", "check_against_tape"]

RTOL = 1e-9


class CompileMismatch(RuntimeError):
    """The generated code disagrees with the eager tape (a bug in minigrad.compile)."""


def check_against_tape(fn: Any, tree: Any, leaves: list[tuple[str, Any]],
                       kwargs: dict[str, Any], prog: Program, module: ModuleType) -> None:
    """Raise `CompileMismatch` if the module's forward or backward differs from the tape
    (run with grad mode on, also when the first call happens under no_grad)."""
    prev = STATE.grad_enabled
    STATE.grad_enabled = True
    try:
        with tracing(None):  # (not part of an enclosing trace: a compiled call inside another)
            _check(fn, tree, leaves, kwargs, prog, module)
    finally:
        STATE.grad_enabled = prev


def _check(fn: Any, tree: Any, leaves: list[tuple[str, Any]], kwargs: dict[str, Any],
           prog: Program, module: ModuleType) -> None:
    rng = np.random.default_rng(0)
    args, floats, ints = [], [], []
    for arg, (_, leaf) in zip(prog.args, leaves):
        data = leaf.data if isinstance(leaf, Tensor) else np.asarray(leaf)
        if arg.kind == "int":
            args.append(data)
            ints.append(data)
            continue
        scale = 1 + 1e-3 * rng.uniform(size=data.shape)
        t = Tensor(data * scale.astype(data.real.dtype), requires_grad=arg.requires_grad)
        args.append(t)
        floats.append(t)
    try:
        with np.errstate(all="ignore"):
            result = fn(*unflatten(tree, iter(args)), **kwargs)
    except Exception:  # noqa: BLE001 - the perturbed point is outside the function's domain
        return
    outs = _tensors(result)
    with np.errstate(all="ignore"):
        got, residuals = module.forward(*[t.data for t in floats], *ints)
    for k, (o, g) in enumerate(zip(outs, got)):
        _compare(prog, f"output {k}", np.asarray(g), o.data)
    wanted = [t for t in floats if t.requires_grad]
    seeded = [k for k, s in enumerate(prog.seeds) if s]
    if not wanted or not seeded:
        return
    weights = [rng.normal(size=np.shape(got[k])).astype(np.asarray(got[k]).dtype)
               for k in seeded]
    J = sum(((outs[k] * w).sum() for k, w in zip(seeded, weights)), Tensor(0.0))
    expected = grad(J, wanted, allow_unused=True)
    with np.errstate(all="ignore"):
        grads = module.backward(*residuals, *weights)
    grads = [g for g, t in zip(grads, floats) if t.requires_grad]
    for t, g, e in zip(wanted, grads, expected):
        if g is None or e is None:
            if not (g is None and e is None) and np.any(np.asarray(g if e is None else e)):
                raise CompileMismatch(f"compile: '{prog.name}': the gradient of an argument "
                                      f"{t.shape} is missing on one side; please report this")
            continue
        _compare(prog, f"the gradient of an argument {t.shape}", np.asarray(g), e)


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, np.ndarray):
        return [Tensor(value)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for k in sorted(value) for t in _tensors(value[k])]
    return []


def _compare(prog: Program, what: str, got: np.ndarray, expected: np.ndarray) -> None:
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=RTOL,
                                                      atol=RTOL * scale, equal_nan=True):
        raise CompileMismatch(
            f"compile: the code generated for '{prog.name}' disagrees with the eager tape in "
            f"{what} (checked once per signature, at slightly perturbed arguments). This is a "
            "bug in minigrad.compile: please report it with the function; meanwhile call the "
            "function without compile.")
