"""Finite differences for the model tests: high-order central stencils on chosen entries."""

from __future__ import annotations

import numpy as np

# offsets and weights (to divide by h) of central first-derivative stencils
STENCILS = {
    4: ((-2, -1, 1, 2), np.array([1, -8, 8, -1]) / 12),
    6: ((-3, -2, -1, 1, 2, 3), np.array([-1, 9, -45, 45, -9, 1]) / 60),
}


def fd_grad(f, arr, indices=None, h=1e-3, order=4):
    """∂f/∂arr at ``indices`` (all entries if None), perturbing ``arr`` in place and restoring it.

    Order 4: f'(x) ≈ [f(x−2h) − 8 f(x−h) + 8 f(x+h) − f(x+2h)] / (12 h), truncation O(h⁴);
    order 6 likewise with truncation O(h⁶). Returns an array shaped like ``arr`` (zeros where
    not probed) and the probed flat indices.
    """
    flat = arr.reshape(-1)
    assert np.shares_memory(flat, arr)
    offsets, weights = STENCILS[order]
    idx = np.arange(flat.size) if indices is None else np.asarray(indices)
    out = np.zeros(flat.size)
    for i in idx:
        orig = flat[i]
        vals = []
        for step in offsets:
            flat[i] = orig + step * h
            vals.append(f())
        flat[i] = orig
        out[i] = np.dot(weights, vals) / h
    return out.reshape(arr.shape), idx


def rel_error(analytic, numeric):
    """The course's check: ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) (0 when both vanish)."""
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    den = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if den == 0 else float(np.linalg.norm(analytic - numeric) / den)
