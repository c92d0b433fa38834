"""The tests' one finite-difference oracle, independent of `minigrad.gradcheck`.

Entries are probed with a central stencil, by default the fourth-order one

    f'(x) ≈ [f(x − 2h) − 8 f(x − h) + 8 f(x + h) − f(x + 2h)] / (12 h),

whose truncation error is h⁴ f⁽⁵⁾/30: with h = 1e-3 and float64 that is ~1e-13, well below the
1e-8 relative tolerance of the tests (a second-order stencil would need h ~ 1e-5 and lose ~6
digits to cancellation). ``order=6`` uses [−f(x−3h) + 9 f(x−2h) − 45 f(x−h) + 45 f(x+h)
− 9 f(x+2h) + f(x+3h)] / (60 h), truncation O(h⁶), for losses large enough that rounding
(~u·|f|/h) asks for a larger h. The result is compared with the course's relative error.

Tests in this folder import it as ``import _fd`` (pytest puts the folder on ``sys.path``);
tests elsewhere as ``from tests.minigrad._fd import ...`` (the repository root is on it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["STENCILS", "numeric_grad", "numeric_grads", "rel_error"]

#: order -> (offsets k of f(x + k h), weights), f'(x) ≈ Σ weight · f(x + k h) / h
STENCILS: dict[int, tuple[tuple[int, ...], np.ndarray]] = {
    4: ((-2, -1, 1, 2), np.array([1.0, -8.0, 8.0, -1.0]) / 12.0),
    6: ((-3, -2, -1, 1, 2, 3), np.array([-1.0, 9.0, -45.0, 45.0, -9.0, 1.0]) / 60.0),
}


def numeric_grad(f: Callable[[], float], arr: np.ndarray, indices: Sequence[int] | None = None,
                 h: float = 1e-3, order: int = 4) -> np.ndarray:
    """∂f/∂arr at the flat ``indices`` (every entry if None), zeros at the entries not probed.

    ``f()`` must return a real number computed from the current content of ``arr``, which is
    perturbed in place (a writable, contiguous float array) and restored exactly.
    """
    flat = arr.reshape(-1)
    if not np.shares_memory(flat, arr) and arr.size > 0:
        raise ValueError("numeric_grad: arr must be contiguous (it is perturbed in place)")
    offsets, weights = STENCILS[order]
    out = np.zeros(arr.size)
    for i in range(arr.size) if indices is None else indices:
        orig = flat[i]
        vals = []
        for k in offsets:
            flat[i] = orig + k * h
            vals.append(float(f()))
        flat[i] = orig
        out[i] = float(np.dot(weights, vals)) / h
    return out.reshape(arr.shape)


def numeric_grads(f: Callable[..., float], arrays: Sequence[np.ndarray],
                  h: float = 1e-3) -> list[np.ndarray]:
    """∂f/∂arrays[i] on every element of every array; ``f(*arrays)`` returns a real number."""
    return [numeric_grad(lambda: f(*arrays), a, h=h) for a in arrays]


def rel_error(g: np.ndarray, g_hat: np.ndarray) -> float:
    """‖g − ĝ‖ / (‖g‖ + ‖ĝ‖), and 0 when both vanish."""
    g, g_hat = np.ravel(g), np.ravel(g_hat)
    if g.shape != g_hat.shape:
        raise ValueError(f"rel_error: shapes {g.shape} and {g_hat.shape} differ")
    den = np.linalg.norm(g) + np.linalg.norm(g_hat)
    return 0.0 if den == 0 else float(np.linalg.norm(g - g_hat) / den)
