"""The per-gate BPTT lens against a hand computation: gates from SPEC.md's equations in plain
NumPy (written here, independently of models/), state gradients by the complex-step derivative
of that NumPy forward (a finite difference without cancellation: exact to rounding even where
the gradient has vanished to 1e-6 of the loss)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import models
from models.diagnostics import GateLens, gate_lens, plot_gate_lens

N_X, N_A, N_Y, M, T = 2, 3, 2, 4, 5
EPS = 0.01


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _lstm_step(P: dict, carry: tuple, x_t: np.ndarray) -> tuple[tuple, dict]:
    a, c = carry
    ax = np.vstack([a, x_t])
    c_hat = np.tanh(P["W_c"] @ ax + P["b_c"])
    g_u = _sigmoid(P["W_u"] @ ax + P["b_u"])
    g_f = _sigmoid(P["W_f"] @ ax + P["b_f"])
    g_o = _sigmoid(P["W_o"] @ ax + P["b_o"])
    c = g_u * c_hat + g_f * c
    return (g_o * np.tanh(c), c), {"Γ_u": g_u, "Γ_f": g_f, "Γ_o": g_o}


def _gru_step(P: dict, carry: tuple, x_t: np.ndarray) -> tuple[tuple, dict]:
    (c,) = carry
    cx = np.vstack([c, x_t])
    g_u = _sigmoid(P["W_u"] @ cx + P["b_u"])
    g_r = _sigmoid(P["W_r"] @ cx + P["b_r"])
    if "b_cc" in P:         # reset after: ĉ = tanh(W_cx x + b_c + Γ_r (W_cc c + b_cc))
        c_hat = np.tanh(P["W_c"][:, N_A:] @ x_t + P["b_c"]
                        + g_r * (P["W_c"][:, :N_A] @ c + P["b_cc"]))
    else:                   # ĉ = tanh(W_c [Γ_r c; x] + b_c)
        c_hat = np.tanh(P["W_c"] @ np.vstack([g_r * c, x_t]) + P["b_c"])
    return (g_u * c_hat + (1 - g_u) * c,), {"Γ_u": g_u, "Γ_r": g_r}


def _rnn_step(P: dict, carry: tuple, x_t: np.ndarray) -> tuple[tuple, dict]:
    a = np.tanh(P["W_a"] @ np.vstack([carry[0], x_t]) + P["b_a"])
    return (a,), {"tanh a⟨t⟩": a}


STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN": _rnn_step}


def _step_loss(P: dict, a: np.ndarray, y_t: np.ndarray) -> complex:
    """L⟨t⟩ = −Σ [y log ŷ + (1 − y) log(1 − ŷ)] / m with ŷ = σ(W_y a + b_y) (complex-safe)."""
    p = _sigmoid(P["W_y"] @ a + P["b_y"])
    return -(y_t * np.log(p) + (1 - y_t) * np.log(1 - p)).sum() / M


def _loss_after(kind: str, P: dict, k: int, carry: tuple, x, y, loss: str) -> complex:
    """J as a function of the carry after step k (1-based): steps k+1..T_x run from it. The
    losses of steps before k do not depend on it and are left out."""
    terms = [_step_loss(P, carry[0], y[:, :, k - 1])]
    for t in range(k, T):
        carry, _ = STEPS[kind](P, carry, x[:, :, t])
        terms.append(_step_loss(P, carry[0], y[:, :, t]))
    return terms[-1] if loss == "last" else sum(terms)


def _complex_step(f, v: np.ndarray, h: float = 1e-30) -> np.ndarray:
    """∂f/∂v_i = Im f(v + i·h·e_i) / h + O(h²) for a real-analytic f (no subtraction)."""
    g = np.zeros(v.shape)
    for i in np.ndindex(v.shape):
        e = np.zeros(v.shape, dtype=complex)
        e[i] = 1j * h
        g[i] = np.imag(f(v + e)) / h
    return g


def _model(kind: str, seed: int) -> models.RecurrentModel:
    """Small model with enlarged weights, so that part of the gates saturate."""
    make = {"LSTM": lambda: models.LSTM(N_X, N_A, N_Y, seed=seed, forget_bias=2.0),
            "GRU": lambda: models.GRU(N_X, N_A, N_Y, seed=seed),
            "GRU-ra": lambda: models.GRU(N_X, N_A, N_Y, seed=seed, reset_after=True),
            "RNN": lambda: models.RNN(N_X, N_A, N_Y, seed=seed)}[kind]
    model = make()
    for name, p in model.parameters().items():
        if name not in ("W_y", "b_y"):
            p.data[...] *= 6.0
    return model


@pytest.mark.parametrize("loss", ["last", "total"])
@pytest.mark.parametrize("case", ["LSTM", "GRU", "GRU-ra", "RNN"])
def test_gate_lens_matches_a_numpy_hand_computation(case: str, loss: str) -> None:
    model = _model(case, seed=3)
    kind = model.kind
    P = model.state_dict()
    rng = np.random.default_rng(11)
    x, y = 2.0 * rng.standard_normal((N_X, M, T)), rng.integers(0, 2, (N_Y, M, T)).astype(float)
    s0 = 0.5 * rng.standard_normal((2, N_A, M))      # initial states a⟨0⟩, c⟨0⟩
    carry = (s0[0], s0[1]) if kind == "LSTM" else (s0[0],)
    carries, gates = [], []
    for t in range(T):
        carry, g = STEPS[kind](P, carry, x[:, :, t])
        carries.append(carry)
        gates.append(g)
    rows = tuple(gates[0])
    values = np.array([[g[r] for g in gates] for r in rows])      # (rows, T, n_a, m)
    if kind == "RNN":
        dist, flat = 1 - np.abs(values), "±1"
    else:
        dist, flat = np.minimum(values, 1 - values), "0 or 1"
    # no value sits on a threshold, so the comparison cannot hinge on rounding
    assert np.abs(dist - EPS).min() > 1e-9 and np.abs(1 - values - EPS).min() > 1e-9, flat
    saturation = (dist <= EPS).mean(axis=(2, 3))
    assert 0 < saturation.mean() < 1          # some gates saturate, not all of them

    given = {"a0": s0[0], "c0": s0[1]} if kind == "LSTM" else \
        {"c0": s0[0]} if kind == "GRU" else {"a0": s0[0]}
    lens = gate_lens(model, x, y, loss, **given)
    assert isinstance(lens, GateLens) and lens.kind == kind and lens.rows == rows
    assert lens.eps == EPS and lens.loss == loss
    np.testing.assert_array_equal(lens.saturation, saturation)
    np.testing.assert_array_equal(lens.near_one, (1 - values <= EPS).mean(axis=(2, 3)))
    np.testing.assert_allclose(lens.mean, values.mean(axis=(2, 3)), rtol=1e-12, atol=1e-15)

    def adjoint_norm(k: int, which: str) -> float:
        if which == "a":    # a⟨k⟩ perturbed, c⟨k⟩ held (they are separate records)
            def f(a): return _loss_after(kind, P, k, (a, *carries[k - 1][1:]), x, y, loss)
            return float(np.linalg.norm(_complex_step(f, carries[k - 1][0])))
        g_o = gates[k - 1]["Γ_o"]     # c⟨k⟩ perturbed: a⟨k⟩ = Γ_o tanh(c⟨k⟩) follows it
        def f(c): return _loss_after(kind, P, k, (g_o * np.tanh(c), c), x, y, loss)
        return float(np.linalg.norm(_complex_step(f, carries[k - 1][1])))

    expected = [adjoint_norm(k, "a") for k in range(1, T + 1)]
    np.testing.assert_allclose(lens.grad_norms, expected, rtol=1e-10)
    if kind == "LSTM":
        expected_c = [adjoint_norm(k, "c") for k in range(1, T + 1)]
        np.testing.assert_allclose(lens.cell_grad_norms, expected_c, rtol=1e-10)
    else:
        assert lens.cell_grad_norms is None


def test_eps_sets_the_threshold() -> None:
    model = _model("LSTM", seed=4)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((N_X, M, T)), rng.integers(0, 2, (N_Y, M, T)).astype(float)
    _, gates = model(x, return_gates=True)
    g_f = np.array([g.data for g in gates.gamma_f])
    wide = gate_lens(model, x, y, eps=0.2)
    np.testing.assert_array_equal(wide.saturation[1],
                                  (np.minimum(g_f, 1 - g_f) <= 0.2).mean(axis=(1, 2)))
    assert np.all(wide.saturation >= gate_lens(model, x, y).saturation)


def test_lstm_keeps_the_gradient_the_rnn_loses() -> None:
    """The lens shows why: the RNN's gradient shrinks step after step, while an LSTM whose
    forget gates sit open (Γ_f ≈ 1) carries ∂J/∂c⟨k⟩ back nearly undiminished."""
    rng = np.random.default_rng(0)
    T_long = 40
    x = rng.standard_normal((3, 4, T_long))
    y = rng.integers(0, 2, (2, 4, T_long)).astype(float)
    rnn = gate_lens(models.RNN(3, 16, 2, seed=5), x, y)
    lstm = gate_lens(models.LSTM(3, 16, 2, seed=5, forget_bias=6.0), x, y)
    assert rnn.grad_norms[0] < 1e-6 * rnn.grad_norms[-1]
    f = lstm.rows.index("Γ_f")
    assert lstm.near_one[f].min() > 0.5 and lstm.near_one[f].mean() > 0.8
    assert np.all(lstm.saturation[f] >= lstm.near_one[f])
    assert lstm.cell_grad_norms[0] > 0.1 * lstm.cell_grad_norms[-1]


def test_gate_lens_rejects_what_it_cannot_show() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((N_X, M, T)), rng.integers(0, 2, (N_Y, M, T)).astype(float)
    with pytest.raises(ValueError, match=r"gate_lens: model must be a composed model"):
        gate_lens(models.LSTM(N_X, N_A, N_Y, seed=1, fused=True), x, y)
    with pytest.raises(ValueError, match=r"gate_lens: model must have σ gates .* "
                                         r"activation='relu'"):
        gate_lens(models.RNN(N_X, N_A, N_Y, seed=1, activation="relu"), x, y)
    for eps in (0, 0.5, -0.1, True, "0.01"):
        with pytest.raises(ValueError, match=r"gate_lens: eps must be a number in \(0, 0.5\)"):
            gate_lens(models.GRU(N_X, N_A, N_Y, seed=1), x, y, eps=eps)
    with pytest.raises(ValueError, match="loss must be one of"):
        gate_lens(models.GRU(N_X, N_A, N_Y, seed=1), x, y, loss="first")


def test_plot_gate_lens_draws_one_column_per_model() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((N_X, M, T)), rng.integers(0, 2, (N_Y, M, T)).astype(float)
    lenses = [gate_lens(models.RNN(N_X, N_A, N_Y, seed=2), x, y),
              gate_lens(models.LSTM(N_X, N_A, N_Y, seed=2), x, y, "total")]
    fig = plot_gate_lens(lenses, titles=["RNN", "LSTM, forget bias 0"])
    try:
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 2 * 2 + 2              # 2 × 2 heat maps and 2 colour bars
        low = np.log10(np.concatenate([lenses[0].grad_norms, lenses[1].grad_norms,
                                       lenses[1].cell_grad_norms]))
        for j, lens in enumerate(lenses):
            top, bottom = fig.axes[j], fig.axes[2 + j]
            assert [t.get_text() for t in top.get_yticklabels()] == list(lens.rows)
            np.testing.assert_array_equal(top.images[0].get_array(), lens.saturation)
            grads = np.vstack([lens.grad_norms] + ([lens.cell_grad_norms] if j else []))
            np.testing.assert_allclose(bottom.images[0].get_array(), np.log10(grads),
                                       rtol=1e-12)
            assert bottom.images[0].get_clim() == (low.min(), low.max())  # one shared scale
            assert bottom.get_xlabel() == "time step"
        assert fig.axes[0].get_title().startswith("RNN: fraction within 0.01 of ±1")
        assert fig.axes[1].get_title().startswith("LSTM, forget bias 0: fraction within")
        assert fig.axes[2].get_title().endswith("J = L⟨T_x⟩")
        assert fig.axes[3].get_title().endswith("J = Σ_t L⟨t⟩")
        assert [t.get_text() for t in fig.axes[3].get_yticklabels()] == ["∂J/∂a⟨k⟩",
                                                                         "∂J/∂c⟨k⟩"]
    finally:
        plt.close(fig)
    single = plot_gate_lens(lenses[1])
    try:
        assert len(single.axes) == 4
    finally:
        plt.close(single)
    with pytest.raises(ValueError, match="plot_gate_lens: lenses must be a GateLens"):
        plot_gate_lens([])
    with pytest.raises(ValueError, match=r"plot_gate_lens: titles must be 2 string\(s\)"):
        plot_gate_lens(lenses, titles=["one"])


def test_matplotlib_is_imported_only_for_the_figure() -> None:
    code = ("import sys, numpy as np, models\n"
            "from models.diagnostics import gate_lens\n"
            "x = np.ones((2, 1, 3)); y = np.ones((1, 1, 3))\n"
            "gate_lens(models.LSTM(2, 3, 1, seed=0), x, y)\n"
            "print('matplotlib' in sys.modules)\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
