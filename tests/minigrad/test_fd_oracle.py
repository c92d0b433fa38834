"""The tests' finite-difference oracle (`_fd`) against derivatives known in closed form."""

from __future__ import annotations

import _fd
import numpy as np
import pytest


def f_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
    """f = Σ sin(x) x³ and ∂f/∂x = cos(x) x³ + 3 sin(x) x²."""
    return float(np.sum(np.sin(x) * x**3)), np.cos(x) * x**3 + 3 * np.sin(x) * x**2


@pytest.mark.parametrize("order", [4, 6])
def test_numeric_grad_matches_closed_form_and_restores(order: int) -> None:
    x = np.random.default_rng(0).uniform(-2, 2, size=(3, 4))
    before = x.copy()
    g = _fd.numeric_grad(lambda: f_and_grad(x)[0], x, order=order)
    assert _fd.rel_error(g, f_and_grad(x)[1]) < 1e-10
    np.testing.assert_array_equal(x, before)  # bit for bit


def test_indices_probe_only_those_entries() -> None:
    x = np.linspace(-1, 1, 6)
    g = _fd.numeric_grad(lambda: f_and_grad(x)[0], x, indices=[1, 4])
    assert np.flatnonzero(g).tolist() == [1, 4]
    np.testing.assert_allclose(g[[1, 4]], f_and_grad(x)[1][[1, 4]], rtol=1e-10)


def test_numeric_grads_of_two_arrays() -> None:
    a, b = np.array([1.0, 2.0]), np.array([[3.0], [-1.0]])
    ga, gb = _fd.numeric_grads(lambda a, b: float(np.sum(a * b**2)), [a, b])
    np.testing.assert_allclose(ga, np.full(2, np.sum(b**2)), rtol=1e-9)
    np.testing.assert_allclose(gb, 2 * b * a.sum(), rtol=1e-9)


def test_rel_error() -> None:
    assert _fd.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert _fd.rel_error(np.array([3.0, 4.0]), np.array([6.0, 8.0])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shapes"):
        _fd.rel_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="contiguous"):
        _fd.numeric_grad(lambda: 0.0, np.zeros((3, 4)).T)
