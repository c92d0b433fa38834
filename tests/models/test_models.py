"""Forward pass, parameters, states, token ids and input checking of models.RNN/GRU/LSTM."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _model_cases import OUTPUTS, VARIANTS, initial_states, make, mg_loss, param_arrays, ref_options
from _model_cases import variant_id as vid
from _model_reference import forward as ref_forward
from _model_reference import one_hot, targets

import minigrad as mg
import models

EXPECTED_NAMES = {
    "RNN": ["W_a", "b_a", "W_y", "b_y"],
    "GRU": ["W_u", "b_u", "W_r", "b_r", "W_c", "b_c", "W_y", "b_y"],
    "LSTM": ["W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o", "W_y", "b_y"],
}


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_forward_equals_numpy_spec(variant, output):
    kind, opts = variant
    n_x, n_a, n_y, m, T = 5, 7, 4, 3, 6
    rng = np.random.default_rng(1)
    model = make(kind, n_x, n_a, n_y, output, seed=3, **opts)
    x = rng.normal(size=(n_x, m, T))
    a0, c0 = initial_states(kind, n_a, m, rng)
    y_hat = model(x, a0, c0)
    assert isinstance(y_hat, mg.Tensor) and y_hat.shape == (n_y, m, T)
    want, _, _ = ref_forward(kind, param_arrays(model), x, a0, c0, **ref_options(model))
    np.testing.assert_allclose(y_hat.data, want, rtol=0, atol=1e-12)
    # default zero initial states
    want0, _, _ = ref_forward(kind, param_arrays(model), x, **ref_options(model))
    np.testing.assert_allclose(model(x).data, want0, rtol=0, atol=1e-12)
    if output == "softmax":
        np.testing.assert_allclose(y_hat.data.sum(axis=0), 1.0, atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_single_step_single_example(variant):
    kind, opts = variant
    rng = np.random.default_rng(4)
    model = make(kind, 3, 4, 2, "softmax", seed=1, **opts)
    for m, T in ((1, 1), (1, 3), (2, 1)):
        x = rng.normal(size=(3, m, T))
        want, _, _ = ref_forward(kind, param_arrays(model), x, **ref_options(model))
        np.testing.assert_allclose(model(x).data, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("T", [65, 130])
def test_long_sequences(T):
    """Long sequences: values and the number of states are unchanged."""
    rng = np.random.default_rng(5)
    model = models.GRU(3, 4, 2, seed=1)
    x = rng.normal(size=(3, 2, T))
    want, _, _ = ref_forward("GRU", param_arrays(model), x)
    y_hat, states = model(x, return_states=True)
    assert len(states.a) == T
    np.testing.assert_allclose(y_hat.data, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_parameters_names_shapes_and_init(kind):
    n_x, n_a, n_y = 6, 9, 4
    model = make(kind, n_x, n_a, n_y, seed=11)
    params = model.parameters()
    assert list(params) == EXPECTED_NAMES[kind]
    k = 1 / np.sqrt(n_a)
    for name, p in params.items():
        want = (n_y, n_a) if name == "W_y" else (n_y, 1) if name == "b_y" else \
            (n_a, n_a + n_x) if name.startswith("W") else (n_a, 1)
        assert p.shape == want, name
        assert p.requires_grad and p.dtype == np.float64
        assert np.all(np.abs(p.data) <= k), name
        if p.data.size >= 30:                                  # U(-k, k) has std k/√3
            assert abs(np.std(p.data) - k / np.sqrt(3)) < 0.25 * k, name
    assert model.W_y is params["W_y"]
    same = make(kind, n_x, n_a, n_y, seed=11).parameters()
    other = make(kind, n_x, n_a, n_y, seed=12).parameters()
    for name in params:
        np.testing.assert_array_equal(params[name].data, same[name].data)
        assert not np.array_equal(params[name].data, other[name].data)
    rebuilt = type(model)(**model.config())
    for name in params:
        np.testing.assert_array_equal(params[name].data, rebuilt.parameters()[name].data)


def test_gru_reset_after_parameters_and_forget_bias():
    gru = models.GRU(3, 4, 2, reset_after=True, seed=0)
    assert list(gru.parameters()) == ["W_u", "b_u", "W_r", "b_r", "W_c", "b_c", "b_cc",
                                      "W_y", "b_y"]
    assert gru.b_cc.shape == (4, 1)
    plain = models.LSTM(3, 4, 2, seed=5)
    biased = models.LSTM(3, 4, 2, seed=5, forget_bias=1.0)
    np.testing.assert_allclose(biased.b_f.data, plain.b_f.data + 1.0)
    np.testing.assert_array_equal(biased.b_u.data, plain.b_u.data)


def test_float32_model():
    model = models.LSTM(3, 4, 2, seed=0, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in model.parameters().values())
    y = model(np.random.default_rng(0).normal(size=(3, 2, 5)))
    assert y.dtype == np.float32
    ref, _, _ = ref_forward("LSTM", {k: v.astype(np.float64) for k, v in
                                     param_arrays(model).items()},
                            np.random.default_rng(0).normal(size=(3, 2, 5)))
    np.testing.assert_allclose(y.data, ref, atol=1e-5)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_writing_parameter_data_changes_the_model(kind):
    model = make(kind, 3, 4, 2)
    x = np.random.default_rng(0).normal(size=(3, 2, 5))
    before = model(x).data.copy()
    model.W_y.data[...] = 0.0
    model.b_y.data[...] = 0.0
    np.testing.assert_array_equal(model(x).data, 0.5)
    assert not np.allclose(before, 0.5)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_zero_grad_and_input_tensor_gradient(kind):
    model = make(kind, 3, 4, 2)
    x = mg.Tensor(np.random.default_rng(0).normal(size=(3, 2, 5)), requires_grad=True)
    model(x).sum().backward()
    assert all(p.grad is not None and np.any(p.grad) for p in model.parameters().values())
    assert x.grad is not None and x.grad.shape == (3, 2, 5) and np.any(x.grad)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters().values())


@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_token_ids_equal_one_hot(variant):
    kind, opts = variant
    n_x, n_a, n_y, m, T = 11, 5, 3, 4, 7
    rng = np.random.default_rng(2)
    ids = rng.integers(0, n_x, size=(m, T))
    y = targets("sigmoid", n_y, m, T, rng)
    results = []
    for x in (ids, one_hot(ids, n_x)):
        model = make(kind, n_x, n_a, n_y, seed=4, **opts)
        J = mg_loss("sigmoid", model(x), y)
        grads = mg.grad(J, list(model.parameters().values()))
        results.append((J.item(), grads))
    (j_ids, g_ids), (j_hot, g_hot) = results
    assert abs(j_ids - j_hot) <= 1e-12 * abs(j_hot)
    for a, b in zip(g_ids, g_hot, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_return_states_values_and_gradients(kind):
    n_x, n_a, n_y, m, T = 3, 4, 2, 2, 5
    rng = np.random.default_rng(6)
    model = make(kind, n_x, n_a, n_y, seed=1)
    x = rng.normal(size=(n_x, m, T))
    y = targets("sigmoid", n_y, m, T, rng)
    y_hat, states = model(x, return_states=True)
    assert isinstance(states, models.States)
    P = param_arrays(model)
    _, A, C = ref_forward(kind, P, x)
    assert len(states.a) == T
    for t in range(T):
        assert states.a[t].shape == (n_a, m)
        np.testing.assert_allclose(states.a[t].data, A[t], atol=1e-12)
    if kind == "RNN":
        assert states.c is None
    else:
        assert len(states.c) == T
        for t in range(T):
            np.testing.assert_allclose(states.c[t].data, C[t], atol=1e-12)
    J = mg_loss("sigmoid", y_hat, y)
    probe = [states.a[1]] + ([states.c[1]] if kind == "LSTM" else [])
    grads = mg.grad(J, probe)
    h = 1e-5
    for which, g in zip(("a", "c"), grads, strict=False):
        num = np.zeros((n_a, m))
        for i in np.ndindex(n_a, m):
            e = np.zeros((n_a, m))
            e[i] = h
            Js = [mg_loss_np(kind, P, x, y, which, s * e) for s in (1, -1)]
            num[i] = (Js[0] - Js[1]) / (2 * h)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)


def mg_loss_np(kind, P, x, y, which, delta):
    from _model_reference import loss

    kw = {"delta_a": {1: delta}} if which == "a" else {"delta_c": {1: delta}}
    return loss("sigmoid", ref_forward(kind, P, x, **kw)[0], y)


def test_block_matrix_identity_values_and_gradients():
    """W_a [a; x] = W_aa a + W_ax x, and the engine differentiates both sides alike."""
    rng = np.random.default_rng(0)
    n_a, n_x, m = 4, 3, 5
    W = mg.Tensor(rng.normal(size=(n_a, n_a + n_x)), requires_grad=True)
    a = mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True)
    x = mg.Tensor(rng.normal(size=(n_x, m)), requires_grad=True)
    R = rng.normal(size=(n_a, m))
    lhs = W @ mg.concat([a, x], axis=0)
    rhs = W[:, :n_a] @ a + W[:, n_a:] @ x
    np.testing.assert_allclose(lhs.data, rhs.data, rtol=1e-14, atol=1e-14)
    g_lhs = mg.grad((lhs * R).sum(), [W, a, x])
    g_rhs = mg.grad((rhs * R).sum(), [W, a, x])
    for gl, gr in zip(g_lhs, g_rhs, strict=True):
        np.testing.assert_allclose(gl, gr, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(g_lhs[0], R @ np.vstack([a.data, x.data]).T, rtol=1e-13)


def test_no_hand_written_backward_in_models():
    src = Path(models.__file__).parent
    for path in ["recurrent.py", "rnn.py", "gru.py", "lstm.py"]:
        text = (src / path).read_text()
        assert not re.search(r"def backward|Function\b|save_for_backward", text), path


BAD_INPUTS = [
    ("LSTM", {"x": np.zeros((99, 4, 10))}, r"\(n_x, m, T_x\) = \(100, m, T_x\).*\(99, 4, 10\)"),
    ("RNN", {"x": np.zeros((100, 4))}, r"integer token ids.*float64.*\(100, 4\)"),
    ("GRU", {"x": np.zeros((100, 4, 10, 1))}, r"\(100, m, T_x\).*\(100, 4, 10, 1\)"),
    ("GRU", {"x": np.zeros(100)}, r"\(100, m, T_x\).*\(100,\)"),
    ("RNN", {"x": np.zeros((100, 0, 3))}, r"\(100, m, T_x\).*\(100, 0, 3\)"),
    ("RNN", {"x": np.zeros((100, 4, 10)), "a0": np.zeros((100, 3))},
     r"a0 must be \(n_a, m\) = \(50, 4\); got \(100, 3\)"),
    ("LSTM", {"x": np.zeros((100, 4, 10)), "c0": np.zeros((50, 3))},
     r"c0 must be \(n_a, m\) = \(50, 4\); got \(50, 3\)"),
    ("LSTM", {"x": np.zeros((100, 2, 3)), "a0": mg.Tensor(np.zeros((50, 4)))},
     r"a0 must be \(n_a, m\) = \(50, 2\); got \(50, 4\)"),
    ("GRU", {"x": np.zeros((100, 4, 10)), "a0": np.zeros((50, 4)), "c0": np.zeros((50, 4))},
     r"a0 or c0, not both"),
    ("RNN", {"x": np.zeros((100, 4, 10)), "c0": np.zeros((50, 4))}, r"no cell state"),
    ("RNN", {"x": np.array([[0, 5], [100, 1]])}, r"\[0, 100\).*\[0, 100\].*\(2, 2\)"),
    ("GRU", {"x": np.array([[-1, 5]])}, r"\[0, n_x\) = \[0, 100\).*\[-1, 5\]"),
    ("LSTM", {"x": mg.Tensor(np.zeros((100, 4)))}, r"\(100, m, T_x\).*\(100, 4\)"),
]


@pytest.mark.parametrize("kind,kwargs,pattern", BAD_INPUTS)
def test_bad_input_raises_with_shapes(kind, kwargs, pattern):
    model = make(kind, 100, 50, 5)
    with pytest.raises(ValueError, match=pattern) as info:
        model(**kwargs)
    assert str(info.value).startswith(kind + ":")


@pytest.mark.parametrize("ctor,kwargs", [
    (models.RNN, {"activation": "sigmoid"}), (models.RNN, {"output": "relu"}),
    (models.GRU, {"reset_after": "yes"}), (models.LSTM, {"forget_bias": float("nan")}),
    (models.LSTM, {"dtype": np.int64}), (models.RNN, {"seed": 1.5}),
])
def test_bad_hyper_parameters(ctor, kwargs):
    with pytest.raises(ValueError):
        ctor(3, 4, 2, **kwargs)
    with pytest.raises(ValueError, match="n_a must be a positive integer"):
        ctor(3, 0, 2)


def test_no_grad_forward():
    model = models.GRU(3, 4, 2, seed=0)
    with mg.no_grad():
        y = model(np.ones((3, 1, 4)))
    assert not y.requires_grad
