"""models.interop against torch's documented equations (NumPy, always) and torch (if installed)."""

from __future__ import annotations

import numpy as np
import pytest
from _model_cases import make

import models
from models.interop import load_torch_state_dict, to_torch_state_dict


def sig(z):
    return 1 / (1 + np.exp(-z))


def torch_equations(kind, sd, x, output="sigmoid", nonlinearity="tanh"):
    """torch.nn.{RNN,LSTM,GRU} + Linear as documented, in torch's (T, m, n_x) row layout."""
    X = x.transpose(2, 1, 0)
    H = sd["weight_hh_l0"].shape[1]
    h = np.zeros((X.shape[1], H))
    c = np.zeros_like(h)
    Wi, Wh, bi, bh = sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"]
    outs = []
    for xt in X:
        gi, gh = xt @ Wi.T + bi, h @ Wh.T + bh
        if kind == "RNN":
            z = gi + gh
            h = np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
        elif kind == "LSTM":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
        else:
            (i_r, i_z, i_n), (h_r, h_z, h_n) = np.split(gi, 3, axis=1), np.split(gh, 3, axis=1)
            r, z = sig(i_r + h_r), sig(i_z + h_z)
            n = np.tanh(i_n + r * h_n)
            h = (1 - z) * n + z * h
        outs.append(h @ sd["out.weight"].T + sd["out.bias"])
    y = np.stack(outs).transpose(2, 1, 0)                   # (n_y, m, T)
    if output == "sigmoid":
        return sig(y)
    if output == "softmax":
        e = np.exp(y - y.max(axis=0))
        return e / e.sum(axis=0)
    return y


TORCH_MODELS = [("RNN", {}), ("RNN", {"activation": "relu"}), ("LSTM", {}),
                ("GRU", {"reset_after": True})]
IDS = ["RNN", "RNN-relu", "LSTM", "GRU-reset_after"]
NAMES = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "out.weight", "out.bias"]


def random_sd(kind, n_x, n_a, n_y, rng):
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    shapes = [(G * n_a, n_x), (G * n_a, n_a), (G * n_a,), (G * n_a,), (n_y, n_a), (n_y,)]
    return {k: rng.uniform(-0.5, 0.5, size=s) for k, s in zip(NAMES, shapes, strict=True)}


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("kind,opts", TORCH_MODELS, ids=IDS)
def test_export_matches_torch_equations(kind, opts, output):
    n_x, n_a, n_y = 3, 5, 4
    model = make(kind, n_x, n_a, n_y, output, seed=2, **opts)
    x = np.random.default_rng(0).normal(size=(n_x, 2, 6))
    sd = to_torch_state_dict(model)
    assert list(sd) == NAMES
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    assert sd["weight_ih_l0"].shape == (G * n_a, n_x) and sd["bias_hh_l0"].shape == (G * n_a,)
    want = torch_equations(kind, sd, x, output, opts.get("activation", "tanh"))
    np.testing.assert_allclose(model(x).data, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind,opts", TORCH_MODELS, ids=IDS)
def test_import_matches_torch_equations(kind, opts):
    n_x, n_a, n_y = 4, 3, 2
    rng = np.random.default_rng(1)
    sd = random_sd(kind, n_x, n_a, n_y, rng)            # non-zero bias_hh everywhere
    model = make(kind, n_x, n_a, n_y, seed=0, **opts)
    load_torch_state_dict(model, sd)
    x = rng.normal(size=(n_x, 3, 5))
    want = torch_equations(kind, sd, x, "sigmoid", opts.get("activation", "tanh"))
    np.testing.assert_allclose(model(x).data, want, rtol=0, atol=1e-12)
    again = make(kind, n_x, n_a, n_y, seed=5, **opts)     # export → import is the identity
    load_torch_state_dict(again, to_torch_state_dict(model))
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(again.parameters()[name].data, p.data)


def test_documented_maps_in_spec_terms():
    lstm = models.LSTM(2, 3, 1, seed=0)
    sd = to_torch_state_dict(lstm)
    np.testing.assert_array_equal(sd["weight_hh_l0"][3:6], lstm.W_f.data[:, :3])   # f block
    np.testing.assert_array_equal(sd["weight_ih_l0"][6:9], lstm.W_c.data[:, 3:])   # g block
    np.testing.assert_array_equal(sd["bias_ih_l0"][:3], lstm.b_u.data[:, 0])       # i block
    gru = models.GRU(2, 3, 1, reset_after=True, seed=0)
    sd = to_torch_state_dict(gru)
    np.testing.assert_array_equal(sd["weight_hh_l0"][3:6], -gru.W_u.data[:, :3])  # z = −W_u
    np.testing.assert_array_equal(sd["bias_ih_l0"][3:6], -gru.b_u.data[:, 0])
    np.testing.assert_array_equal(sd["bias_hh_l0"][6:], gru.b_cc.data[:, 0])
    rnn = models.RNN(2, 3, 1, seed=0)
    sd = to_torch_state_dict(rnn)
    np.testing.assert_array_equal(sd["bias_ih_l0"], rnn.b_a.data[:, 0])
    np.testing.assert_array_equal(sd["bias_hh_l0"], 0.0)


def test_notes_gru_has_no_torch_map():
    gru = models.GRU(2, 3, 1)
    with pytest.raises(ValueError, match="reset_after=True"):
        to_torch_state_dict(gru)
    with pytest.raises(ValueError, match="reset_after=True"):
        load_torch_state_dict(gru, random_sd("GRU", 2, 3, 1, np.random.default_rng(0)))


def test_bad_state_dicts():
    model = models.LSTM(4, 3, 2)
    sd = random_sd("LSTM", 4, 3, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"weight_ih_l0 must be \(12, 4\); got \(12, 5\)"):
        load_torch_state_dict(model, {**sd, "weight_ih_l0": np.zeros((12, 5))})
    with pytest.raises(ValueError, match=r"missing \['out.bias'\]"):
        load_torch_state_dict(model, {k: v for k, v in sd.items() if k != "out.bias"})
    with pytest.raises(ValueError, match="weight_ih_l1"):
        load_torch_state_dict(model, {**sd, "weight_ih_l1": np.zeros((12, 3))})
    before = model.W_c.data.copy()
    with pytest.raises(ValueError):
        load_torch_state_dict(model, {**sd, "out.weight": np.zeros((3, 3))})
    np.testing.assert_array_equal(model.W_c.data, before)     # nothing written on error


class FakeTorchTensor:
    """Duck-typed stand-in for a torch tensor (detach().cpu().numpy())."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def test_accepts_tensor_like_values():
    sd = random_sd("RNN", 2, 3, 1, np.random.default_rng(0))
    model = models.RNN(2, 3, 1)
    load_torch_state_dict(model, {k: FakeTorchTensor(v.astype(np.float32)) for k, v in sd.items()})
    np.testing.assert_allclose(model.W_y.data[0], sd["out.weight"][0], rtol=1e-7)


@pytest.mark.parametrize("kind,opts", TORCH_MODELS, ids=IDS)
def test_against_torch(kind, opts):
    torch = pytest.importorskip("torch")
    n_x, n_a, n_y = 3, 4, 2
    rng = np.random.default_rng(3)
    model = make(kind, n_x, n_a, n_y, "linear", seed=1, **opts)
    extra = {"nonlinearity": opts["activation"]} if "activation" in opts else {}
    layer = getattr(torch.nn, kind)(n_x, n_a, **extra).double()
    out = torch.nn.Linear(n_a, n_y).double()
    with torch.no_grad():
        for param in layer.parameters():
            param.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, size=tuple(param.shape))))
    sd = {**dict(layer.state_dict()), **{f"out.{k}": v for k, v in out.state_dict().items()}}
    load_torch_state_dict(model, sd)
    x = rng.normal(size=(n_x, 2, 5))
    with torch.no_grad():
        h = layer(torch.from_numpy(x.transpose(2, 1, 0).copy()))[0]
        want = out(h).numpy().transpose(2, 1, 0)
    np.testing.assert_allclose(model(x).data, want, rtol=0, atol=1e-12)
    back = to_torch_state_dict(model)
    layer2 = getattr(torch.nn, kind)(n_x, n_a, **extra).double()
    layer2.load_state_dict({k: torch.from_numpy(v) for k, v in back.items() if "out." not in k})
    with torch.no_grad():
        h2 = layer2(torch.from_numpy(x.transpose(2, 1, 0).copy()))[0]
    np.testing.assert_allclose(h2.numpy(), h.numpy(), atol=1e-12)
