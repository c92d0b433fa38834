"""Central finite differences, independent of `minigrad.gradcheck`.

Every element of every input is probed with the fourth-order central stencil

    f'(x) ≈ [f(x − 2h) − 8 f(x − h) + 8 f(x + h) − f(x + 2h)] / (12 h),

whose truncation error is h⁴ f⁽⁵⁾/30: with h = 1e-3 and float64 that is ~1e-13, well below the
1e-8 relative tolerance of the tests (a second-order stencil would need h ~ 1e-5 and lose ~6
digits to cancellation). The result is compared with the course's relative error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["numeric_grads", "rel_error"]


def numeric_grads(
    f: Callable[..., float], arrays: Sequence[np.ndarray], h: float = 1e-3
) -> list[np.ndarray]:
    """∂f/∂arrays[i] for every element, by the fourth-order central stencil.

    `f(*arrays)` must return a real number. The arrays are perturbed in place (they must be
    writable float arrays) and restored exactly before returning.
    """
    grads = []
    for arr in arrays:
        flat = arr.reshape(-1)
        if not np.shares_memory(flat, arr) and arr.size > 0:
            raise ValueError("numeric_grads: arrays must be contiguous (perturbed in place)")
        out = np.zeros(arr.size)
        for i in range(arr.size):
            orig = flat[i]
            vals = []
            for step in (-2, -1, 1, 2):
                flat[i] = orig + step * h
                vals.append(float(f(*arrays)))
            flat[i] = orig
            out[i] = (vals[0] - 8.0 * vals[1] + 8.0 * vals[2] - vals[3]) / (12.0 * h)
        grads.append(out.reshape(arr.shape))
    return grads


def rel_error(g: np.ndarray, g_hat: np.ndarray) -> float:
    """‖g − ĝ‖ / (‖g‖ + ‖ĝ‖), and 0 when both vanish."""
    g, g_hat = np.ravel(g), np.ravel(g_hat)
    if g.shape != g_hat.shape:
        raise ValueError(f"rel_error: shapes {g.shape} and {g_hat.shape} differ")
    den = np.linalg.norm(g) + np.linalg.norm(g_hat)
    return 0.0 if den == 0 else float(np.linalg.norm(g - g_hat) / den)
