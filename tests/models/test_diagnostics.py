"""BPTT diagnostics against closed forms: ∂L/∂a⟨k⟩ and the per-step parts of ∂J/∂W."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import models
from models.diagnostics import (
    grad_norms_through_time,
    per_step_weight_gradients,
    recurrent_weight_names,
    sequence_loss,
    state_gradients,
)

N_X, N_A, N_Y, M, T = 3, 5, 2, 4, 7


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _data(seed: int, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (N_X, M, T)) if positive else rng.standard_normal((N_X, M, T))
    y = rng.integers(0, 2, (N_Y, M, T)).astype(np.float64)
    return x, y


def _numpy_rnn(model: models.RNN, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Forward pass in plain NumPy: [a⟨0⟩..a⟨T⟩] and [ŷ⟨1⟩..ŷ⟨T⟩]."""
    W, b = model.W_a.data, model.b_a.data
    f = np.tanh if model.activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    a = [np.zeros((N_A, M))]
    for t in range(T):
        a.append(f(W @ np.vstack([a[-1], x[:, :, t]]) + b))
    y_hat = [_sigmoid(model.W_y.data @ a_t + model.b_y.data) for a_t in a[1:]]
    return a, y_hat


def _linear_rnn(seed: int) -> models.RNN:
    """A ReLU RNN whose pre-activations are all positive: on this data it is linear."""
    model = models.RNN(N_X, N_A, N_Y, activation="relu", seed=seed)
    rng = np.random.default_rng(seed + 100)
    model.W_a.data[...] = rng.uniform(0.0, 0.5, model.W_a.shape)
    model.b_a.data[...] = rng.uniform(0.1, 0.5, model.b_a.shape)
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_rnn_state_gradients_are_powers_of_W_aa(seed: int) -> None:
    model = _linear_rnn(seed)
    x, y = _data(seed, positive=True)
    a, y_hat = _numpy_rnn(model, x)
    z_min = min(float((model.W_a.data @ np.vstack([a[t], x[:, :, t]]) + model.b_a.data).min())
                for t in range(T))
    assert z_min > 0  # relu is the identity on every pre-activation: a linear RNN
    W_aa = model.W_a.data[:, :N_A]
    g_T = model.W_y.data.T @ (y_hat[-1] - y[:, :, -1]) / M  # ∂L⟨T⟩/∂a⟨T⟩ (sigmoid + BCE)
    expected = [np.linalg.matrix_power(W_aa.T, T - k) @ g_T for k in range(1, T + 1)]
    got = state_gradients(model, x, y, loss="last")
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-14)
    norms = grad_norms_through_time(model, x, y, loss="last")
    np.testing.assert_allclose(norms, [np.linalg.norm(e) for e in expected], rtol=1e-10)
    # total loss J: g_k = W_yᵀ(ŷ⟨k⟩ − y⟨k⟩)/m + W_aaᵀ g_{k+1}
    g, expected_total = np.zeros((N_A, M)), []
    for k in range(T, 0, -1):
        g = model.W_y.data.T @ (y_hat[k - 1] - y[:, :, k - 1]) / M + W_aa.T @ g
        expected_total.append(g)
    np.testing.assert_allclose(grad_norms_through_time(model, x, y, loss="total"),
                               [np.linalg.norm(e) for e in expected_total[::-1]], rtol=1e-10)


def test_tanh_rnn_adjoint_recursion_and_decay() -> None:
    model = models.RNN(N_X, N_A, N_Y, seed=3)
    x, y = _data(3)
    a, y_hat = _numpy_rnn(model, x)
    W_aa = model.W_a.data[:, :N_A]
    g = model.W_y.data.T @ (y_hat[-1] - y[:, :, -1]) / M
    expected = [g]
    for k in range(T - 1, 0, -1):  # ∂L/∂a⟨k⟩ = W_aaᵀ ((1 − a⟨k+1⟩²) ⊙ ∂L/∂a⟨k+1⟩)
        g = W_aa.T @ ((1 - a[k + 1] ** 2) * g)
        expected.append(g)
    got = state_gradients(model, x, y, loss="last")
    for g_k, e in zip(got, expected[::-1], strict=True):
        np.testing.assert_allclose(g_k, e, rtol=1e-10, atol=1e-15)
    norms = grad_norms_through_time(model, x, y)
    assert norms.shape == (T,)
    assert np.all(np.diff(norms) > 0)            # the farther from the loss, the smaller
    assert norms[0] < 0.05 * norms[-1]           # and geometrically so


def test_tanh_rnn_long_sequence_vanishes() -> None:
    model = models.RNN(N_X, 16, N_Y, seed=5)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((N_X, 2, 40)), rng.integers(0, 2, (N_Y, 2, 40)).astype(float)
    norms = grad_norms_through_time(model, x, y)
    assert norms[-1] > 0 and norms[0] / norms[-1] < 1e-6
    rate = np.exp(np.polyfit(np.arange(40), np.log(norms), 1)[0])
    assert rate > 1.0  # log-norm grows with k: decay per step back from the loss is 1/rate


@pytest.mark.parametrize("make", [
    lambda: models.RNN(N_X, N_A, N_Y, seed=1),
    lambda: models.GRU(N_X, N_A, N_Y, seed=1),
    lambda: models.GRU(N_X, N_A, N_Y, seed=1, reset_after=True),
    lambda: models.LSTM(N_X, N_A, N_Y, seed=1),
    lambda: models.LSTM(N_X, N_A, N_Y, seed=1, output="softmax"),
    lambda: models.RNN(N_X, N_A, N_Y, seed=1, output="linear"),
], ids=["rnn", "gru", "gru-reset-after", "lstm", "lstm-softmax", "rnn-linear"])
@pytest.mark.parametrize("loss", ["total", "last"])
def test_per_step_contributions_sum_to_the_full_gradient(make, loss: str) -> None:
    model = make()
    x, y = _data(2)
    a0 = np.random.default_rng(9).standard_normal((N_A, M))
    mats = per_step_weight_gradients(model, x, y, loss, a0=a0, include_bias=True,
                                     return_matrices=True)
    names = recurrent_weight_names(model, include_bias=True)
    recurrent = [n for n in model.parameters() if n not in ("W_y", "b_y")]
    assert sorted(names) == sorted(recurrent) and list(mats) == names
    J = sequence_loss(model, model(x, a0), y, loss)
    full = mg.grad(J, [model.parameters()[n] for n in names])
    for n, g in zip(names, full, strict=True):
        assert mats[n].shape == (T, *g.shape)
        np.testing.assert_allclose(mats[n].sum(axis=0), g, rtol=1e-11, atol=1e-15)
        assert np.count_nonzero(np.linalg.norm(mats[n].reshape(T, -1), axis=1)) >= T - 1
    norms = per_step_weight_gradients(model, x, y, loss, a0=a0)
    assert list(norms) == recurrent_weight_names(model)
    assert all(n.startswith("W_") for n in norms)
    for n, v in norms.items():
        np.testing.assert_allclose(v, np.linalg.norm(mats[n].reshape(T, -1), axis=1),
                                   rtol=1e-12)


def test_rnn_per_step_contribution_closed_form() -> None:
    model = models.RNN(N_X, N_A, N_Y, seed=4)
    x, y = _data(4)
    a, _ = _numpy_rnn(model, x)
    adj = state_gradients(model, x, y, loss="total")
    got = per_step_weight_gradients(model, x, y, return_matrices=True)["W_a"]
    for t in range(1, T + 1):  # (∂J/∂a⟨t⟩ ⊙ (1 − a⟨t⟩²)) [a⟨t−1⟩; x⟨t⟩]ᵀ
        expected = (adj[t - 1] * (1 - a[t] ** 2)) @ np.vstack([a[t - 1], x[:, :, t - 1]]).T
        np.testing.assert_allclose(got[t - 1], expected, rtol=1e-10, atol=1e-15)
    last = per_step_weight_gradients(model, x, y, loss="last")["W_a"]
    assert last[0] < last[-1]   # for L⟨T⟩, early steps contribute less


def test_losses_match_the_output_kind() -> None:
    x, y = _data(6)
    for output in ("sigmoid", "softmax", "linear"):
        model = models.LSTM(N_X, N_A, N_Y, seed=6, output=output)
        y_hat = model(x)
        p = y_hat.data
        if output == "sigmoid":
            per_step = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        elif output == "softmax":
            per_step = -(y * np.log(p))
        else:
            per_step = (p - y) ** 2
        assert sequence_loss(model, y_hat, y).item() == pytest.approx(per_step.sum() / M)
        assert sequence_loss(model, y_hat, y, "last").item() == pytest.approx(
            per_step[:, :, -1].sum() / M)


def test_cell_state_gradients_and_errors() -> None:
    x, y = _data(7)
    lstm = models.LSTM(N_X, N_A, N_Y, seed=7)
    c_norms = grad_norms_through_time(lstm, x, y, state="c")
    assert c_norms.shape == (T,) and np.all(c_norms > 0)
    gru = models.GRU(N_X, N_A, N_Y, seed=7)  # a⟨t⟩ = c⟨t⟩
    np.testing.assert_allclose(grad_norms_through_time(gru, x, y, state="c"),
                               grad_norms_through_time(gru, x, y, state="a"))
    rnn = models.RNN(N_X, N_A, N_Y, seed=7)
    with pytest.raises(ValueError, match="no cell state"):
        grad_norms_through_time(rnn, x, y, state="c")
    with pytest.raises(ValueError, match="loss must be one of"):
        grad_norms_through_time(rnn, x, y, loss="first")
    with pytest.raises(ValueError, match="shape of ŷ"):
        grad_norms_through_time(rnn, x, y[:, :, :-1])
    with pytest.raises(ValueError, match=r"RNN: a 2-D x must be integer token ids"):
        per_step_weight_gradients(rnn, x[0], y)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_per_step_contributions_with_token_ids_equal_one_hot(kind: str) -> None:
    model = getattr(models, kind)(N_X, N_A, N_Y, seed=8)
    rng = np.random.default_rng(8)
    ids = rng.integers(0, N_X, (M, T))
    one_hot = np.moveaxis(np.eye(N_X)[ids], -1, 0)                       # (n_x, m, T_x)
    y = rng.integers(0, 2, (N_Y, M, T)).astype(float)
    by_ids = per_step_weight_gradients(model, ids, y, return_matrices=True, include_bias=True)
    dense = per_step_weight_gradients(model, one_hot, y, return_matrices=True, include_bias=True)
    assert list(by_ids) == list(dense)
    for n in dense:
        np.testing.assert_allclose(by_ids[n], dense[n], rtol=0, atol=1e-13)


def test_gradient_diagnostics_refuse_fused_models() -> None:
    x, y = _data(9)
    fused = models.LSTM(N_X, N_A, N_Y, seed=9, fused=True)
    for run in (grad_norms_through_time, state_gradients, per_step_weight_gradients):
        with pytest.raises(ValueError, match=r"model must be a composed model \(fused=False\)"):
            run(fused, x, y)
