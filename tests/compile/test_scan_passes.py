"""scan's program passes (`minigrad.compiler.passes`): which weight gradients become one GEMM
or one sum after the reverse loop, which input products are hoisted out of the loop, and that
scan with them agrees with scan without them and with the eager tape to 1e-12 (values and
every gradient)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from _compile_helpers import TOL, make_cell, private_cache, scan_case  # noqa: F401
from test_scan import CASES

import minigrad as mg
from minigrad.compiler import compile, scan, scan_numba
from minigrad.compiler.passes import defer_weight_gradients, hoist_input_products
from minigrad.ops.shape import Transpose
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


def _case(kind, options, n_carry, tokens, x_grad=True, n_x=5, n_a=4, m=3, T=7):
    return scan_case(kind, options, n_carry, tokens, x_grad=x_grad, n_x=n_x, n_a=n_a, m=m,
                     T=T, seed=3, model_seed=4)


def _pass_names(cell, init, x, params, names, n_carry, dense):
    """The parameter names whose gradients are deferred (GEMM, sum), whose products with x⟨t⟩
    are hoisted, and those whose backward product reads only the state block W_s."""
    x0 = (mg.Tensor(x.data[..., 0], requires_grad=x.requires_grad)
          if isinstance(x, mg.Tensor) else x[..., 0])
    carry = (mg.Tensor(init.data, requires_grad=True) if isinstance(init, mg.Tensor)
             else tuple(mg.Tensor(c.data, requires_grad=True) for c in init))
    prog = cell.variant((carry, x0, *params), {}, []).program
    first = n_carry + dense
    d = defer_weight_gradients(prog, first)
    gemm = {names[g.arg - first] for g in d.gemms} if d else set()
    sums = {names[s.arg - first] for s in d.sums} if d else set()
    h = hoist_input_products(d.program if d else prog, "x_t", first) if dense else None
    if h is None:
        return gemm, sums, set(), set()
    read = {n.inputs[0] for n in h.program.backward if n.fn is Transpose}
    blocks = [a.name for a in h.program.float_args[len(prog.float_args):]]
    hoisted = [names[k.arg - first] for k in h.hoists]
    return gemm, sums, set(hoisted), {w for w, b in zip(hoisted, blocks) if b in read}


@pytest.mark.parametrize("tokens,x_grad", [(False, True), (False, False), (True, False)],
                         ids=["dense_x_grad", "dense", "token_ids"])
@pytest.mark.parametrize("kind,options,n_carry", CASES,
                         ids=["lstm", "gru", "gru_reset_after", "rnn"])
def test_passes_equal_per_step_scan_and_tape(kind, options, n_carry, tokens, x_grad,
                                             monkeypatch) -> None:
    monkeypatch.setattr(scan_mod, "GEMM_COLUMNS", 6)  # chunks of 2 steps: 2, 2, 2 and 1
    monkeypatch.setattr(scan_mod, "HOIST_MIN_FLOPS", 0)  # hoisted also at this small size
    model, names, params, x, zeros, init, w = _case(kind, options, n_carry, tokens, x_grad)
    cell = compile(make_cell(model, names, zeros))
    gemm, sums, hoisted, pushed = _pass_names(cell, init, x, params, names, n_carry,
                                              not tokens)
    weights = {n for n in names if n.startswith("W")}
    biases = {n for n in names if n.startswith("b")}
    assert sums == biases                          # every bias: one sum after the loop
    if tokens:   # the one-hot product's gradient is called by reference: per step
        assert gemm == set()
    elif options.get("reset_after"):  # W_c is sliced before its products: per step
        assert gemm == weights - {"W_c"}
    else:
        assert gemm == weights
    # W [s; x⟨t⟩] with W used once: hoisted (not the token ids, not the sliced W_c); the
    # backward reads only W_s when x⟨t⟩ wants no gradient
    assert hoisted == (set() if tokens else gemm)
    assert pushed == (set() if x_grad else hoisted)
    values, grads = _grads(cell, init, x, params, w)

    monkeypatch.setattr(scan_mod, "defer_weight_gradients", lambda prog, first: None)
    monkeypatch.setattr(scan_mod, "hoist_input_products", lambda prog, x, first: None)
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


@pytest.mark.parametrize("columns", [512, 7], ids=["one_chunk", "chunks_of_3_steps"])
def test_row_layout_shared_weight_and_flat_bias(columns, monkeypatch) -> None:
    """x⟨t⟩ @ W (side R), a weight used twice (per-step fallback), a bias without keepdims, a
    weight that multiplies a parameter (not per step: fallback); against the eager tape."""
    monkeypatch.setattr(scan_mod, "GEMM_COLUMNS", columns)
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


@pytest.mark.parametrize("x_grad", [False, True], ids=["x", "x_grad"])
def test_input_first_concat_hoisted(x_grad, monkeypatch) -> None:
    """W [x⟨t⟩; a] (the input's columns first): hoisted, the state rows of d[x; a] moved to
    the front when only they are read; against the eager tape."""
    monkeypatch.setattr(scan_mod, "GEMM_COLUMNS", 4)  # projections in chunks of 2 steps
    monkeypatch.setattr(scan_mod, "HOIST_MIN_FLOPS", 0)
    rng = np.random.default_rng(9)
    n_x, n_a, m, T = 3, 3, 2, 5       # n_x = n_a: a wrong block of rows would go unnoticed
    W = mg.Tensor(rng.normal(size=(n_a, n_x + n_a)) * 0.5, requires_grad=True, name="W")
    b = mg.Tensor(rng.normal(size=(n_a, 1)), requires_grad=True, name="b")
    xs = mg.Tensor(rng.normal(size=(n_x, m, T)), requires_grad=x_grad)
    a0 = mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True)

    def cell(a, x_t, W, b):
        a = mg.tanh(W @ mg.concat([x_t, a], axis=0) + b)
        return a, a * a

    compiled = compile(cell)
    _, _, hoisted, pushed = _pass_names(compiled, a0, xs, [W, b], ["W", "b"], 1, True)
    assert hoisted == {"W"} and pushed == (set() if x_grad else {"W"})
    ws = rng.normal(size=(n_a, m, T))
    wanted = [t for t in (W, b, a0, xs) if t.requires_grad]
    results = []
    for run in ("scan", "eager"):
        for t in wanted:
            t.grad = None
        if run == "scan":
            aT, ys = scan(compiled, a0, xs, (W, b))
        else:
            aT, outs = a0, []
            for t in range(T):
                aT, y = cell(aT, xs[:, :, t], W, b)
                outs.append(y)
            ys = mg.stack(outs, axis=-1)
        ((ys * ws).sum() + (aT * aT).sum()).backward()
        results.append([ys.data.copy()] + [t.grad.copy() for t in wanted])
    for a, e in zip(*results):
        np.testing.assert_allclose(a, e, **TOL)
