"""The cells are SPEC.md: pure functions (parameters, carry, x⟨t⟩) → (carry, gates), the tape
of a model reads like the notes, and the gates the forward pass computed are handed out."""

from __future__ import annotations

import numpy as np
import pytest
from _model_cases import VARIANTS, make, param_arrays, ref_options
from _model_cases import variant_id as vid
from _model_reference import forward as ref_forward
from _model_reference import one_hot, sigmoid

import minigrad as mg
import models
from models.inputs import OneHot

LSTM_STEP = ["concat",
             "matmul", "add", "tanh",        # ĉ = tanh(W_c [a; x] + b_c)
             "matmul", "add", "sigmoid",     # Γ_u
             "matmul", "add", "sigmoid",     # Γ_f
             "matmul", "add", "sigmoid",     # Γ_o
             "mul", "mul", "add",            # c = Γ_u * ĉ + Γ_f * c⟨t-1⟩
             "tanh", "mul"]                  # a = Γ_o * tanh(c)
LSTM_WEIGHTS = ["W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o"]


def test_show_tape_of_a_two_step_lstm_reads_like_the_notes(capsys):
    model = models.LSTM(3, 4, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(3, 2, 2))
    a0 = mg.Tensor(np.zeros((4, 2)), requires_grad=True)    # so step 1's concat is recorded
    J = model(x, a0).sum()
    ops = [rec.name for rec in mg.show_tape(J, print_it=False)]
    readout = ["concat", "matmul", "add", "sigmoid", "reshape", "transpose", "sum"]
    assert ops == LSTM_STEP + LSTM_STEP + readout
    mg.show_tape(J)
    table = capsys.readouterr().out
    for name in ("index", "contiguous", "split", "getitem"):
        assert name not in table
    # parameters are printed by name: each gate's matmul reads W_g, its add reads b_g
    rows = table.splitlines()[2:]
    for step in range(2):
        gate_rows = [rows[18 * step + k] for k in (1, 2, 4, 5, 7, 8, 10, 11)]
        for row, w in zip(gate_rows, LSTM_WEIGHTS, strict=True):
            assert f"{w}(" in row, (row, w)
    # with the default constant a⟨0⟩, step 1's stack [a⟨0⟩; x⟨1⟩] is a constant: no row
    ops0 = [rec.name for rec in mg.show_tape(model(x).sum(), print_it=False)]
    assert ops0 == LSTM_STEP[1:] + LSTM_STEP + readout


def test_one_split_record_for_a_sequence_that_requires_grad():
    model = models.GRU(3, 4, 2, seed=0)
    x = mg.Tensor(np.random.default_rng(1).normal(size=(3, 2, 7)), requires_grad=True)
    ops = [rec.name for rec in mg.show_tape(model(x).sum(), print_it=False)]
    assert ops.count("split") == 1 and ops.count("reshape") == 7 + 1
    assert "index" not in ops


@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_cell_is_a_pure_function_of_parameters_carry_and_input(variant):
    """Calling ``cell`` by hand with any parameter mapping reproduces the reference step."""
    kind, opts = variant
    n_x, n_a, m = 3, 4, 2
    rng = np.random.default_rng(3)
    model = make(kind, n_x, n_a, 2, seed=1, **opts)
    P = {k: rng.normal(size=v.shape) for k, v in param_arrays(model).items()}  # not the model's
    p = {k: mg.Tensor(v) for k, v in P.items()}
    x_t = rng.normal(size=(n_x, m))
    a_prev = rng.normal(size=(n_a, m))
    c_prev = rng.normal(size=(n_a, m))
    carry = {"RNN": (a_prev,), "GRU": (c_prev,), "LSTM": (a_prev, c_prev)}[kind]
    new, gates = model.cell(p, tuple(mg.Tensor(s) for s in carry), x_t)
    a0, c0 = (a_prev, c_prev) if kind == "LSTM" else (c_prev if kind == "GRU" else a_prev, None)
    _, A, C = ref_forward(kind, P, x_t[:, :, None], a0, c0, **ref_options(model))
    want = {"RNN": (A[0],), "GRU": (C[0],), "LSTM": (A[0], C[0])}[kind]
    assert len(new) == len(want)
    for got, w in zip(new, want, strict=True):
        np.testing.assert_allclose(got.data, w, rtol=0, atol=1e-13)
    assert isinstance(gates, tuple) and hasattr(gates, "_fields")
    # the model's own parameters are untouched and unused
    for k, v in model.parameters().items():
        assert v.grad is None and not np.array_equal(v.data, P[k])


def test_token_id_step_equals_the_one_hot_step():
    model = models.LSTM(5, 4, 2, seed=2)
    ids = np.array([3, 0, 3])
    a_prev = mg.Tensor(np.random.default_rng(4).normal(size=(4, 3)))
    carry = (a_prev, a_prev * 0.5)
    by_ids, g_ids = model.cell(model.parameters(), carry, OneHot(ids, np.zeros((5, 3))))
    dense, g_dense = model.cell(model.parameters(), carry, one_hot(ids[:, None], 5)[:, :, 0])
    for u, v in zip(by_ids + tuple(g_ids), dense + tuple(g_dense), strict=True):
        np.testing.assert_allclose(u.data, v.data, rtol=0, atol=1e-14)


def test_return_gates_are_the_forward_pass_values():
    n_x, n_a, m, T = 3, 4, 2, 5
    rng = np.random.default_rng(5)
    model = models.LSTM(n_x, n_a, 2, seed=3)
    x = rng.normal(size=(n_x, m, T))
    y_hat, states, gates = model(x, return_states=True, return_gates=True)
    assert isinstance(gates, models.LSTMGates)
    P = param_arrays(model)
    _, A, C = ref_forward("LSTM", P, x)
    a_prev = np.zeros((n_a, m))
    for t in range(T):
        s = np.vstack([a_prev, x[:, :, t]])
        np.testing.assert_allclose(gates.c_hat[t].data, np.tanh(P["W_c"] @ s + P["b_c"]),
                                   atol=1e-13)
        for name, w in (("gamma_u", "u"), ("gamma_f", "f"), ("gamma_o", "o")):
            np.testing.assert_allclose(getattr(gates, name)[t].data,
                                       sigmoid(P[f"W_{w}"] @ s + P[f"b_{w}"]), atol=1e-13)
        a_prev = A[t]
    # the very Tensors of the forward pass: on the tape, so J can be differentiated by them
    J = (y_hat * y_hat).sum()
    g = mg.grad(J, [gates.gamma_f[2], states.c[2]])
    assert np.any(g[0]) and np.any(g[1])
    y2, only_gates = model(x, return_gates=True)
    assert isinstance(only_gates, models.LSTMGates) and len(only_gates.c_hat) == T
    np.testing.assert_array_equal(y2.data, y_hat.data)


@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_return_gates_of_every_cell(variant):
    kind, opts = variant
    model = make(kind, 3, 4, 2, seed=0, **opts)
    x = np.random.default_rng(6).normal(size=(3, 2, 4))
    _, states, gates = model(x, return_states=True, return_gates=True)
    fields = {"RNN": ("z",), "GRU": ("gamma_u", "gamma_r", "c_hat"),
              "LSTM": ("c_hat", "gamma_u", "gamma_f", "gamma_o")}[kind]
    assert gates._fields == fields
    assert all(len(v) == 4 and v[0].shape == (4, 2) for v in gates)
    if kind == "RNN":
        f = np.tanh if model.activation == "tanh" else (lambda z: np.maximum(z, 0))
        for z, a in zip(gates.z, states.a, strict=True):
            np.testing.assert_allclose(f(z.data), a.data, rtol=1e-15, atol=1e-16)
    if kind == "GRU":                       # c⟨t⟩ = Γ_u ĉ + (1 − Γ_u) c⟨t-1⟩
        u, c_hat, c = gates.gamma_u[1].data, gates.c_hat[1].data, states.c
        np.testing.assert_allclose(c[1].data, u * c_hat + (1 - u) * c[0].data, atol=1e-15)
    fused = make(kind, 3, 4, 2, seed=0, fused=True, **opts)
    with pytest.raises(ValueError, match=r"return_gates needs the composed model"):
        fused(x, return_gates=True)


def test_forward_is_what_call_runs():
    """``model(x)`` calls ``forward``: a subclass overriding forward changes calls."""

    class Doubled(models.RNN):
        def forward(self, x, *args, **kwargs):
            return super().forward(x, *args, **kwargs) * 2.0

    x = np.random.default_rng(7).normal(size=(3, 2, 4))
    plain, doubled = models.RNN(3, 4, 2, seed=1), Doubled(3, 4, 2, seed=1)
    np.testing.assert_array_equal(doubled(x).data, 2 * plain(x).data)
    np.testing.assert_array_equal(plain.forward(x).data, plain(x).data)


def test_fused_model_reads_a_tensor_sequence_whole():
    model = models.GRU(3, 4, 2, seed=0, fused=True)
    x = mg.Tensor(np.random.default_rng(1).normal(size=(3, 2, 7)), requires_grad=True)
    ops = [rec.name for rec in mg.show_tape(model(x).sum(), print_it=False)]
    assert "split" not in ops and ops.count("gru_recurrence") == 1
