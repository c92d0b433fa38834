"""Shared helpers of the compile tests: a private cache directory, and eager-vs-compiled
comparison of values and gradients."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from models.inputs import OneHot

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


def make_cell(model: Any, names: list[str], zeros: np.ndarray | None = None) -> Callable:
    """The model's literal cell in scan's form: (carry, x_t, *params) -> (carry, a⟨t⟩); with
    `zeros`, x_t are token ids (the models' one-hot columns, never built)."""
    def cell(carry: tuple, x_t: Any, *ps: mg.Tensor) -> tuple:
        if zeros is not None:
            x_t = OneHot(x_t, zeros)
        carry, _ = model.cell(dict(zip(names, ps)), carry, x_t)
        return carry, carry[0]
    return cell


def scan_case(cls: type, options: dict, n_carry: int, tokens: bool, *, x_grad: bool = True,
              n_x: int = 5, n_a: int = 4, m: int = 3, T: int = 5, seed: int = 7,
              model_seed: int = 2) -> tuple:
    """A small scan problem over a model's cell: (model, parameter names, parameters, x (token
    ids or a Tensor), zeros for token ids or None, initial carry, output weights w)."""
    rng = np.random.default_rng(seed)
    model = cls(n_x, n_a, 2, seed=model_seed, **options)
    names = [n for n in model.parameters() if n not in ("W_y", "b_y")]
    params = [model.parameters()[n] for n in names]
    if tokens:
        x, zeros = rng.integers(0, n_x, size=(m, T)), np.zeros((n_x, m))
    else:
        x, zeros = mg.Tensor(rng.normal(size=(n_x, m, T)), requires_grad=x_grad), None
    init = tuple(mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True)
                 for _ in range(n_carry))
    return model, names, params, x, zeros, init, rng.normal(size=(n_a, m, T))


def assert_scan_matches_unrolled(scan_fn: Callable, cell: Callable, case: tuple) -> list:
    """scan(cell) against the model's eager cell unrolled step by step: J, ys and every
    gradient to 1e-12. Returns the scan records on the tape."""
    model, names, params, x, zeros, init, w = case
    T = w.shape[-1]
    tokens = zeros is not None
    wanted = params + list(init) + ([] if tokens or not x.requires_grad else [x])
    carry, ys = scan_fn(cell, init, x, params)
    J = (ys * w).sum() + (carry[-1] * carry[-1]).sum()
    records = [r for r in mg.tape.tape_of(J) if r.name.startswith("scan:")]
    J.backward()
    got = [t.grad.copy() for t in wanted]
    for t in wanted:
        t.grad = None
    carry0, outs = init, []
    eager = make_cell(model, names)
    for t in range(T):
        x_t = OneHot(np.ascontiguousarray(x[:, t]), zeros) if tokens else x[:, :, t]
        carry0, y = eager(carry0, x_t, *params)
        outs.append(y)
    J0 = (mg.stack(outs, axis=-1) * w).sum() + (carry0[-1] * carry0[-1]).sum()
    J0.backward()
    np.testing.assert_allclose(J.data, J0.data, **TOL)
    np.testing.assert_allclose(ys.data, mg.stack(outs, axis=-1).data, **TOL)
    for t, g in zip(wanted, got):
        np.testing.assert_allclose(g, t.grad, **TOL)
        t.grad = None
    return records
