"""Second derivatives against finite differences of the first (PyTorch's gradgradcheck).

For f with output cotangent c (fixed, random), the first-order gradient map is
G(x) = ∇ₓ Σ c ⊙ f(x), the tape's `grad(f(x), x, c)`. Its derivative (a Hessian when f is
scalar) comes from the tape by differentiating G, recorded with `create_graph=True`, and from
finite differences of G along each input element (`check_grad2`) or along one random
direction v (`directional=True`: the Hessian-vector product H v). Four-point central stencil,
h = 1e-3: truncation ~h⁴, far below the 1e-8 relative tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import minigrad as mg
from minigrad import Tensor

__all__ = ["check_grad2", "first_grads"]

TOL = 1e-8
ATOL = 1e-10


def _cotangent(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng([11, *shape]).normal(size=shape)


def first_grads(fn: Callable[..., Tensor], arrays: Sequence[np.ndarray], cot: np.ndarray
                ) -> list[np.ndarray]:
    """G(x): the tape's first-order gradients of Σ cot ⊙ fn(x), zeros where unused."""
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    gs = mg.grad(fn(*ts), ts, cot, allow_unused=True)
    return [np.zeros_like(a) if g is None else g for g, a in zip(gs, arrays)]


def _stencil(fn: Callable[..., Tensor], arrays: list[np.ndarray], cot: np.ndarray,
             direction: list[np.ndarray], h: float) -> list[np.ndarray]:
    """d/dt G(x + t·direction) at t = 0, by the four-point central stencil."""
    out = [np.zeros_like(a) for a in arrays]
    for k, w in ((-2, 1.0), (-1, -8.0), (1, 8.0), (2, -1.0)):
        moved = [a + k * h * d for a, d in zip(arrays, direction)]
        for o, g in zip(out, first_grads(fn, moved, cot)):
            o += w * g / (12 * h)
    return out


def _assert_close(tape: np.ndarray, fd: np.ndarray, what: str, tol: float) -> None:
    scale = np.linalg.norm(tape) + np.linalg.norm(fd)
    err = np.linalg.norm(tape - fd)
    assert err <= tol * scale or err < ATOL, (
        f"{what}: relative error {err / max(scale, 1e-300):.3e}\ntape:\n{tape}\n"
        f"finite differences:\n{fd}")


def check_grad2(fn: Callable[..., Tensor], *arrays: np.ndarray, directional: bool = False,
                h: float = 1e-3, tol: float = TOL, seed: int = 0) -> None:
    """The tape's second derivatives of fn (every element, or along one random direction)
    against finite differences of its first-order gradients."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    cot = _cotangent(out.shape)
    G = mg.grad(out, ts, cot, create_graph=True, allow_unused=True)
    G = [Tensor(np.zeros_like(a)) if g is None else g for g, a in zip(G, arrays)]
    if directional:
        rng = np.random.default_rng(seed)
        v = [rng.normal(size=a.shape) for a in arrays]
        s = sum(((g * d).sum() for g, d in zip(G, v)), Tensor(0.0))
        hv = (mg.grad(s, ts, allow_unused=True) if s.requires_grad else [None] * len(ts))
        fd = _stencil(fn, arrays, cot, v, h)
        for i, (t, a, f) in enumerate(zip(hv, arrays, fd)):
            _assert_close(np.zeros_like(a) if t is None else t, f, f"H·v for input {i}", tol)
        return
    sizes = [a.size for a in arrays]
    n = sum(sizes)
    rows = np.zeros((n, n))          # rows[(k, m), (i, j)] = ∂G_k[m]/∂x_i[j], by the tape
    r = 0
    for g in G:
        flat = g.reshape(-1)
        for m in range(g.size):
            if flat.requires_grad:
                parts = mg.grad(flat[m], ts, retain_graph=True, allow_unused=True)
                rows[r] = np.concatenate([np.zeros(a.size) if p is None else p.ravel()
                                          for p, a in zip(parts, arrays)])
            r += 1
    cols = np.zeros((n, n))          # the same matrix by finite differences, a column at a time
    c = 0
    for i, a in enumerate(arrays):
        for j in range(a.size):
            direction = [np.zeros_like(b) for b in arrays]
            direction[i].reshape(-1)[j] = 1.0
            cols[:, c] = np.concatenate([d.ravel() for d in _stencil(fn, arrays, cot,
                                                                      direction, h)])
            c += 1
    _assert_close(rows, cols, "second derivatives", tol)
