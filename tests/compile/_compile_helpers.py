"""Shared helpers of the compile tests: a private cache directory, and eager-vs-compiled
comparison of values and gradients."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import minigrad as mg

TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Generated modules go to a fresh directory (never the user's cache)."""
    path = str(tmp_path_factory.mktemp("mgcache"))
    old = os.environ.get("MINIGRAD_CACHE_DIR")
    os.environ["MINIGRAD_CACHE_DIR"] = path
    yield path
    if old is None:
        del os.environ["MINIGRAD_CACHE_DIR"]
    else:
        os.environ["MINIGRAD_CACHE_DIR"] = old


def leaves(value: Any) -> list[mg.Tensor]:
    """The Tensors in a (nested) result."""
    if isinstance(value, mg.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in leaves(v)]
    return []


def loss_of(outs: list[mg.Tensor], weights: list[np.ndarray]) -> mg.Tensor:
    """J = Σ_k Σ w_k ⊙ out_k: every output gets its own cotangent."""
    total = None
    for o, w in zip(outs, weights):
        term = (o * w).sum()
        total = term if total is None else total + term
    return total


def run_and_grads(f: Callable[..., Any], args: tuple, params: list[mg.Tensor],
                  seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Output values of f(*args), and d J / d param for J = Σ random-weighted outputs."""
    for p in params:
        p.grad = None
    outs = leaves(f(*args))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=o.shape) for o in outs]
    J = loss_of([o for o in outs], weights)
    if J.requires_grad:
        J.backward()
    grads = [None if p.grad is None else p.grad.copy() for p in params]
    for p in params:
        p.grad = None
    return [o.data.copy() for o in outs], grads


def assert_same(f: Callable[..., Any], compiled: Callable[..., Any], args: tuple,
                params: list[mg.Tensor]) -> None:
    """Compiled and eager agree to 1e-12: every output value and every parameter gradient."""
    v0, g0 = run_and_grads(f, args, params)
    v1, g1 = run_and_grads(compiled, args, params)
    assert len(v0) == len(v1)
    for a, b in zip(v0, v1):
        np.testing.assert_allclose(b, a, **TOL)
    for p, a, b in zip(params, g0, g1):
        assert (a is None) == (b is None), p.name
        if a is not None:
            np.testing.assert_allclose(b, a, **TOL, err_msg=f"gradient of {p.name}")
