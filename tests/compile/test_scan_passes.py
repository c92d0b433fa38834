"""scan's deferred weight gradients (`minigrad.compiler.passes`): which gradients become one
GEMM or one sum after the reverse loop, and that scan with them agrees with scan without them
and with the eager tape to 1e-12 (values and every gradient)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from _compile_helpers import TOL, private_cache  # noqa: F401 (autouse fixture)
from test_scan import CASES, make_cell

import minigrad as mg
from minigrad.compiler import compile, scan, scan_numba
from minigrad.compiler.passes import defer_weight_gradients
from models.inputs import OneHot

scan_mod = importlib.import_module("minigrad.compiler.scan")  # (the module, not the function)


def _grads(cell, init, x, params, w):
    """ys, final carry and the gradients of every input, for J = Σ w ys + Σ carry²."""
    for t in [*params, *init, x]:
        if isinstance(t, mg.Tensor):
            t.grad = None
    carry, ys = scan(cell, init, x, params)
    J = (ys * w).sum() + sum((c * c).sum() for c in carry)
    J.backward()
    wanted = [t for t in [*params, *init, x] if isinstance(t, mg.Tensor) and t.requires_grad]
    return [ys.data.copy(), *[c.data.copy() for c in carry]], [t.grad.copy() for t in wanted]


def _case(kind, options, n_carry, tokens, n_x=5, n_a=4, m=3, T=6):
    rng = np.random.default_rng(3)
    model = kind(n_x, n_a, 2, seed=4, **options)
    names = [n for n in model.parameters() if n not in ("W_y", "b_y")]
    params = [model.parameters()[n] for n in names]
    if tokens:
        x = rng.integers(0, n_x, size=(m, T))
        zeros = np.zeros((n_x, m))
    else:
        x = mg.Tensor(rng.normal(size=(n_x, m, T)), requires_grad=True)
        zeros = None
    init = tuple(mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True)
                 for _ in range(n_carry))
    return model, names, params, x, zeros, init, rng.normal(size=(n_a, m, T))


def _deferred_names(cell, init, x, params, names, n_carry, dense):
    """The parameter names whose gradients the pass defers (GEMM, sum)."""
    x0 = x.data[..., 0] if isinstance(x, mg.Tensor) else x[..., 0]
    args = (tuple(mg.Tensor(c.data, requires_grad=True) for c in init), x0, *params)
    prog = cell.variant(args, {}, []).program
    d = defer_weight_gradients(prog, n_carry + dense)
    first = n_carry + dense
    if d is None:
        return set(), set()
    return ({names[g.arg - first] for g in d.gemms}, {names[s.arg - first] for s in d.sums})


@pytest.mark.parametrize("tokens", [False, True], ids=["dense", "token_ids"])
@pytest.mark.parametrize("kind,options,n_carry", CASES,
                         ids=["lstm", "gru", "gru_reset_after", "rnn"])
def test_deferred_scan_equals_per_step_scan_and_tape(kind, options, n_carry, tokens,
                                                     monkeypatch) -> None:
    model, names, params, x, zeros, init, w = _case(kind, options, n_carry, tokens)
    cell = compile(make_cell(model, names, zeros))
    gemm, sums = _deferred_names(cell, init, x, params, names, n_carry, not tokens)
    weights = {n for n in names if n.startswith("W")}
    biases = {n for n in names if n.startswith("b")}
    assert sums == biases                          # every bias: one sum after the loop
    if tokens:   # the one-hot product's gradient is called by reference: per step
        assert gemm == set()
    elif options.get("reset_after"):  # W_c is sliced before its products: per step
        assert gemm == weights - {"W_c"}
    else:
        assert gemm == weights
    values, grads = _grads(cell, init, x, params, w)

    monkeypatch.setattr(scan_mod, "defer_weight_gradients", lambda prog, first: None)
    plain = compile(make_cell(model, names, zeros))
    values0, grads0 = _grads(plain, init, x, params, w)
    for a, b in zip(values + grads, values0 + grads0):
        np.testing.assert_allclose(a, b, **TOL)

    wanted = [t for t in [*params, *init, x] if isinstance(t, mg.Tensor) and t.requires_grad]
    for t in wanted:
        t.grad = None
    eager = make_cell(model, names)
    carry, outs = init, []
    for t in range(x.shape[-1]):
        step = OneHot(np.ascontiguousarray(x[:, t]), zeros) if tokens else x[:, :, t]
        carry, y = eager(carry, step, *params)
        outs.append(y)
    ys = mg.stack(outs, axis=-1)
    J = (ys * w).sum() + sum((c * c).sum() for c in carry)
    J.backward()
    for got, t in zip(grads, wanted):
        np.testing.assert_allclose(got, t.grad, **TOL)
    np.testing.assert_allclose(values[0], ys.data, **TOL)


def test_row_layout_shared_weight_and_flat_bias() -> None:
    """x⟨t⟩ @ W (side R), a weight used twice (per-step fallback), a bias without keepdims, a
    weight that multiplies a parameter (not per step: fallback); against the eager tape."""
    rng = np.random.default_rng(5)
    m, n_x, n, T = 3, 4, 5, 7
    W = mg.Tensor(rng.normal(size=(n_x, n)) * 0.4, requires_grad=True, name="W")
    U = mg.Tensor(rng.normal(size=(n, n)) * 0.4, requires_grad=True, name="U")
    V = mg.Tensor(rng.normal(size=(n, n)) * 0.4, requires_grad=True, name="V")
    b = mg.Tensor(rng.normal(size=(n,)), requires_grad=True, name="b")
    xs = mg.Tensor(rng.normal(size=(m, n_x, T)), requires_grad=True)
    h0 = mg.Tensor(rng.normal(size=(m, n)), requires_grad=True)

    def cell(h, x_t, W, U, V, b):
        h = mg.tanh(x_t @ W + h @ U + (h * h) @ U + b)
        return h, h @ (V @ V)

    compiled = compile(cell)
    prog = compiled.variant((h0, xs.data[..., 0], W, U, V, b), {}, []).program
    d = defer_weight_gradients(prog, 2)
    assert {g.arg for g in d.gemms} == {2} and {g.side for g in d.gemms} == {"R"}
    assert {s.arg for s in d.sums} == {5}
    ws = rng.normal(size=(m, n, T))
    for f in (compiled, cell):
        for p in (W, U, V, b, xs, h0):
            p.grad = None
        if f is compiled:
            hT, ys = scan(compiled, h0, xs, (W, U, V, b))
        else:
            hT, outs = h0, []
            for t in range(T):
                hT, y = cell(hT, xs[:, :, t], W, U, V, b)
                outs.append(y)
            ys = mg.stack(outs, axis=-1)
        ((ys * ws).sum() + (hT * hT).sum()).backward()
        got = [ys.data.copy()] + [p.grad.copy() for p in (W, U, V, b, xs, h0)]
        if f is compiled:
            first = got
    for a, e in zip(first, got):
        np.testing.assert_allclose(a, e, **TOL)


def test_retain_graph_twice_and_the_numba_step_code(monkeypatch) -> None:
    """Two backwards through one scan record (retain_graph) give twice the gradients; the
    Numba backend's per-step code (whole loop disabled) runs the same deferred gradients."""
    rng = np.random.default_rng(1)
    n_a, n_x, m, T = 4, 3, 2, 5
    params = [mg.Tensor(rng.normal(size=s) * 0.5, requires_grad=True)
              for s in ((n_a, n_a + n_x), (n_a, 1))]
    xs = rng.normal(size=(n_x, m, T))

    def cell(a, x_t, W, b):
        a = mg.tanh(W @ mg.concat([a, x_t], axis=0) + b)
        return a, a

    monkeypatch.setattr(scan_numba, "LOOP_MAX_FLOPS", 0)
    results = []
    for backend in ("numpy", "numba"):
        for p in params:
            p.grad = None
        _, ys = scan(compile(cell, backend=backend), np.zeros((n_a, m)), xs, params)
        J = (ys * ys).sum()
        J.backward(retain_graph=True)
        once = [p.grad.copy() for p in params]
        J.backward()
        for p, g in zip(params, once):
            np.testing.assert_allclose(p.grad, 2 * g, **TOL)
        results.append(once)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, **TOL)
