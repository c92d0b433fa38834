"""Backpropagation through time: the engine's gradients against finite differences of the
independent NumPy implementation of SPEC.md (tests/models/_model_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _model_cases import OUTPUTS, VARIANTS, initial_states, make, mg_loss, param_arrays, ref_options
from _model_cases import variant_id as vid
from _model_reference import forward as ref_forward
from _model_reference import loss as ref_loss
from _model_reference import one_hot, targets

import minigrad as mg
from tests.minigrad._fd import numeric_grad, rel_error


def check(name, analytic, numeric, idx=None, tol=1e-7):
    a, n = np.ravel(analytic), np.ravel(numeric)
    if idx is not None:
        a, n = a[idx], n[idx]
    err = rel_error(a, n)
    assert err < tol, f"{name}: relative error {err:.2e}"
    np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-9 * max(1.0, np.abs(n).max()),
                               err_msg=name)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_gradcheck_every_element_small(variant, output):
    """Every element of every parameter, of x, a0 (and c0): relative error < 1e-7."""
    kind, opts = variant
    n_x, n_a, n_y, m, T = 3, 4, 2, 2, 6
    rng = np.random.default_rng(10)
    model = make(kind, n_x, n_a, n_y, output, seed=7, **opts)
    x = rng.normal(size=(n_x, m, T))
    a0, c0 = initial_states(kind, n_a, m, rng)
    y = targets(output, n_y, m, T, rng)

    xt, a0t = mg.Tensor(x, requires_grad=True), mg.Tensor(a0, requires_grad=True)
    c0t = None if c0 is None else mg.Tensor(c0, requires_grad=True)
    J = mg_loss(output, model(xt, a0t, c0t), y)
    params = model.parameters()
    inputs = [*params.values(), xt, a0t] + ([c0t] if c0t is not None else [])
    grads = mg.grad(J, inputs)

    arrays = {**param_arrays(model), "x": x, "a0": a0} | ({"c0": c0} if c0 is not None else {})
    P = {k: arrays[k] for k in params}
    opt = ref_options(model)

    def f():
        return ref_loss(output, ref_forward(kind, P, arrays["x"], arrays["a0"],
                                            arrays.get("c0"), **opt)[0], y)

    assert abs(f() - J.item()) < 1e-12 * max(1.0, abs(J.item()))
    h = 1e-4 if opts.get("activation") == "relu" else 1e-3
    for (name, arr), g in zip(arrays.items(), grads, strict=True):
        numeric = numeric_grad(f, arr, h=h)
        check(f"{kind}{opts} {output} {name}", g, numeric)


NOTES_SIZES = [  # the notes' worked dimensions, T_x = 10, m = 4
    ("RNN", {}, 1000, 100, 50, "ids"),
    ("GRU", {}, 1000, 100, 50, "ids"),
    ("GRU", {"reset_after": True}, 1000, 100, 50, "dense"),
    ("LSTM", {}, 100, 100, 50, "dense"),
]


@pytest.mark.parametrize("kind,opts,n_x,n_a,n_y,inp", NOTES_SIZES,
                         ids=[f"{c[0]}{c[1]}-{c[5]}" for c in NOTES_SIZES])
def test_gradcheck_sampled_notes_sizes(kind, opts, n_x, n_a, n_y, inp):
    """Per parameter, 20 entries with a non-zero gradient + 5 uniform ones, at the notes' sizes.

    Sixth-order central differences, h = 1e-2 (J ≈ 350 here: rounding ~1e-13/h).
    """
    m, T = 4, 10
    rng = np.random.default_rng(20)
    model = make(kind, n_x, n_a, n_y, "sigmoid", seed=8, **opts)
    if inp == "ids":
        ids = rng.integers(0, n_x, size=(m, T))
        x_model, x_ref = ids, one_hot(ids, n_x)
    else:
        x_model = x_ref = rng.normal(size=(n_x, m, T))
    y = targets("sigmoid", n_y, m, T, rng)
    params = model.parameters()
    grads = dict(zip(params, mg.grad(mg_loss("sigmoid", model(x_model), y),
                                      list(params.values())), strict=True))
    P = param_arrays(model)
    opt = ref_options(model)

    def f():
        return ref_loss("sigmoid", ref_forward(kind, P, x_ref, **opt)[0], y)

    for name, arr in P.items():
        nonzero = np.flatnonzero(grads[name])
        idx = np.concatenate([rng.choice(nonzero, size=min(20, nonzero.size), replace=False),
                              rng.choice(arr.size, size=5, replace=False)])
        assert idx.size >= 20
        numeric = numeric_grad(f, arr, idx, h=1e-2, order=6)
        check(f"{kind} {name}", grads[name], numeric, idx)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_backprop_through_2000_steps(kind):
    """T_x = 2000: no recursion limit, values match the reference, sampled gradients match FD."""
    n_x, n_a, n_y, m, T = 3, 4, 2, 2, 2000
    rng = np.random.default_rng(30)
    model = make(kind, n_x, n_a, n_y, "sigmoid", seed=9)
    x = rng.normal(size=(n_x, m, T))
    y = targets("sigmoid", n_y, m, T, rng)
    y_hat = model(x)
    J = mg_loss("sigmoid", y_hat, y)
    J.backward()
    P = param_arrays(model)
    ref, _, _ = ref_forward(kind, P, x)
    np.testing.assert_allclose(y_hat.data, ref, rtol=0, atol=1e-10)
    first_W = next(iter(P))

    def f():
        return ref_loss("sigmoid", ref_forward(kind, P, x)[0], y)

    for name, idx in ((first_W, [0, P[first_W].size - 1]), ("b_y", [1])):
        g = model.parameters()[name].grad
        assert np.all(np.isfinite(g))
        numeric = numeric_grad(f, P[name], idx)
        check(f"{kind} T=2000 {name}", g, numeric, idx, tol=1e-6)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if "activation" not in v[1]], ids=vid)
def test_minigrad_gradcheck_complex_step(variant):
    """The models are analytic in their inputs: minigrad's complex-step check passes to 1e-12."""
    kind, opts = variant
    rng = np.random.default_rng(40)
    model = make(kind, 3, 4, 2, "sigmoid", seed=2, **opts)
    x = mg.Tensor(rng.normal(size=(3, 2, 5)), requires_grad=True)
    a0, c0 = (None if s is None else mg.Tensor(s, requires_grad=True)
              for s in initial_states(kind, 4, 2, rng))
    y = targets("sigmoid", 2, 2, 5, rng)
    inputs = {**model.parameters(), "x": x, "a0": a0} | ({"c0": c0} if c0 is not None else {})
    report = mg.gradcheck(lambda: mg_loss("sigmoid", model(x, a0, c0), y), inputs,
                          mode="complex")
    assert report, report
