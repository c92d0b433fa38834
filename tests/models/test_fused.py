"""fused=True runs the recurrence as one record of Numba kernels: the composed model is its
specification, so outputs and every gradient must agree to 1e-12, and every gradcheck mode
(complex step included) must pass."""

import numpy as np
import pytest

import minigrad as mg
import models

CASES = [
    (models.RNN, {}),
    (models.RNN, {"activation": "relu"}),
    (models.GRU, {}),
    (models.GRU, {"reset_after": True}),
    (models.LSTM, {"forget_bias": 1.0}),
]
IDS = [f"{cls.__name__}{'-' + '-'.join(map(str, kw.values())) if kw else ''}" for cls, kw in CASES]
N_X, N_A, N_Y, M, T = 3, 4, 2, 2, 6


def _loss(model, x, y, a0=None, c0=None):
    y_hat = model(x, a0, c0)
    if model.output == "softmax":
        return -(mg.log(y_hat) * y).sum() / M
    if model.output == "linear":
        return mg.mse(y_hat, y)
    return mg.binary_cross_entropy(y_hat, y)


def _run(model, x_arr, y, a0_arr, c0_arr):
    """Loss and the gradients of every parameter, of x (when dense), of a0 and c0."""
    x = mg.Tensor(x_arr.copy(), requires_grad=True) if x_arr.ndim == 3 else x_arr
    a0 = mg.Tensor(a0_arr.copy(), requires_grad=True)
    c0 = mg.Tensor(c0_arr.copy(), requires_grad=True) if isinstance(model, models.LSTM) else None
    model.zero_grad()
    J = _loss(model, x, y, a0, c0)
    J.backward()
    grads = {n: p.grad for n, p in model.parameters().items()}
    grads["a0"] = a0.grad
    if c0 is not None:
        grads["c0"] = c0.grad
    if isinstance(x, mg.Tensor):
        grads["x"] = x.grad
    return J.item(), grads


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("token_ids", [False, True], ids=["dense", "ids"])
@pytest.mark.parametrize(("cls", "kw"), CASES, ids=IDS)
def test_fused_equals_composed(cls, kw, output, token_ids):
    rng = np.random.default_rng(7)
    x = rng.integers(0, N_X, (M, T)) if token_ids else rng.standard_normal((N_X, M, T))
    y = rng.random((N_Y, M, T))
    if output == "softmax":
        y = y / y.sum(axis=0, keepdims=True)
    a0, c0 = rng.standard_normal((N_A, M)), rng.standard_normal((N_A, M))
    composed = cls(N_X, N_A, N_Y, output=output, seed=3, **kw)
    fused = cls(N_X, N_A, N_Y, output=output, seed=3, fused=True, **kw)
    np.testing.assert_allclose(fused(x, a0).data if cls is not models.LSTM else fused(x).data,
                               composed(x, a0).data if cls is not models.LSTM else composed(x).data,
                               rtol=1e-12, atol=1e-14)
    J1, g1 = _run(composed, x, y, a0, c0)
    J2, g2 = _run(fused, x, y, a0, c0)
    assert abs(J1 - J2) <= 1e-12 * abs(J1)
    assert g1.keys() == g2.keys()
    for name in g1:
        scale = np.abs(g1[name]).max() + 1e-300
        assert np.abs(g1[name] - g2[name]).max() <= 1e-12 * scale, name


@pytest.mark.parametrize("mode", ["full", "sampled", "directional", "complex"])
@pytest.mark.parametrize(("cls", "kw"), CASES, ids=IDS)
def test_fused_passes_every_gradcheck_mode(cls, kw, mode):
    if mode == "complex" and kw.get("activation") == "relu":
        pytest.skip("relu is not analytic: no complex step")
    rng = np.random.default_rng(1)
    model = cls(N_X, N_A, N_Y, seed=5, fused=True, **kw)
    x = mg.Tensor(rng.standard_normal((N_X, M, T)), requires_grad=True)
    y = (rng.random((N_Y, M, T)) > 0.5).astype(float)
    inputs = {**model.parameters(), "x": x}
    report = mg.gradcheck(lambda: mg.binary_cross_entropy(model(x), y), inputs, mode=mode,
                          samples=8 if mode == "sampled" else None)
    assert report.ok, str(report)


def test_fused_states_are_values_only():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N_X, M, T))
    composed = models.LSTM(N_X, N_A, N_Y, seed=0)
    fused = models.LSTM(N_X, N_A, N_Y, seed=0, fused=True)
    _, s1 = composed(x, return_states=True)
    _, s2 = fused(x, return_states=True)
    for a, b in zip(s1.a + s1.c, s2.a + s2.c):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-12, atol=1e-15)
        assert not b.requires_grad  # ∂J/∂a⟨t⟩ needs the composed model
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.grad(mg.binary_cross_entropy(fused(x), np.full((N_Y, M, T), 0.5)), s2.a[:1])


def test_fused_is_one_record_and_survives_save_load(tmp_path):
    model = models.GRU(N_X, N_A, N_Y, seed=0, fused=True)
    J = mg.binary_cross_entropy(model(np.ones((N_X, M, T))), np.full((N_Y, M, T), 0.5))
    names = [r.name for r in mg.show_tape(J, print_it=False)]
    assert names.count("gru_recurrence") == 1 and "tanh" not in names
    model.save(tmp_path / "g.npz")
    loaded = models.GRU.load(tmp_path / "g.npz")
    assert loaded.fused and loaded.config() == model.config()
    with pytest.raises(ValueError, match="fused must be a bool"):
        models.LSTM(N_X, N_A, N_Y, fused="yes")
