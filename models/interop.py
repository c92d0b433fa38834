"""Exchange weights with ``torch.nn.RNN/GRU/LSTM`` + ``torch.nn.Linear`` (torch is not imported).

State dicts use torch's names for a one-layer, unidirectional layer (``weight_ih_l0 (G·n_a, n_x)``,
``weight_hh_l0 (G·n_a, n_a)``, ``bias_ih_l0``, ``bias_hh_l0`` of shape ``(G·n_a,)``) plus the
output layer ``out.weight (n_y, n_a)`` = W_y and ``out.bias (n_y,)`` = b_y. For every recurrent
weight W_g of SPEC.md, ``W_g[:, :n_a]`` (state columns) goes to ``weight_hh`` and ``W_g[:, n_a:]``
(input columns) to ``weight_ih``. The maps, in SPEC.md's terms:

- RNN (G = 1): ``weight_ih = W_a[:, n_a:]``, ``weight_hh = W_a[:, :n_a]``,
  ``bias_ih + bias_hh = b_a`` (exported as ``bias_ih = b_a``, ``bias_hh = 0``; imports sum them).
  torch's ``nonlinearity`` must match the model's ``activation`` (tanh or relu).
- LSTM (G = 4): torch's gate order ``i, f, g, o`` = ``Γ_u, Γ_f, ĉ, Γ_o``, so the row blocks are
  ``[W_u; W_f; W_c; W_o]`` and ``bias_ih + bias_hh = [b_u; b_f; b_c; b_o]`` (exported in bias_ih).
- GRU (G = 3), only ``GRU(reset_after=True)``: torch's order is ``r, z, n`` with ``r = Γ_r``,
  ``n = ĉ`` and ``z = 1 − Γ_u``. Since 1 − σ(s) = σ(−s), ``z = σ(−W_u[c; x] − b_u)``, so the z block
  is ``−W_u`` and its bias ``−b_u``. Blocks: ``weight_ih = [W_r; −W_u; W_c][:, n_a:]``,
  ``weight_hh = [W_r; −W_u; W_c][:, :n_a]``, ``bias_ih = [b_r; −b_u; b_c]``,
  ``bias_hh = [0; 0; b_cc]``. torch's n-gate biases cannot be merged (b_hn sits inside r * (·)):
  ``bias_in = b_c`` and ``bias_hn = b_cc``; r and z biases import as sums.
  The notes' GRU (reset_after=False) has no torch equivalent and raises ValueError.
- The output activation (sigmoid/softmax/linear) is not part of the state dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .gru import GRU
from .lstm import LSTM
from .recurrent import RecurrentModel
from .rnn import RNN

__all__ = ["to_torch_state_dict", "load_torch_state_dict", "torch_blocks"]

KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "out.weight", "out.bias")


def torch_blocks(model: RecurrentModel) -> list[tuple[str, float]]:
    """(SPEC gate letter, sign) for each of torch's gate blocks, in torch's order."""
    if isinstance(model, RNN):
        return [("a", 1.0)]
    if isinstance(model, LSTM):
        return [("u", 1.0), ("f", 1.0), ("c", 1.0), ("o", 1.0)]
    if isinstance(model, GRU):
        if not model.reset_after:
            raise ValueError("GRU(reset_after=False) is the notes' GRU, whose reset gate acts on "
                             "c⟨t-1⟩ before the matrix product; torch.nn.GRU applies it after "
                             "(W_hn h + b_hn), a different function. Use GRU(reset_after=True).")
        return [("r", 1.0), ("u", -1.0), ("c", 1.0)]
    raise TypeError(f"no torch mapping for {type(model).__name__}")


def to_torch_state_dict(model: RecurrentModel) -> dict[str, np.ndarray]:
    """NumPy arrays under torch's names (see the module docstring for the maps)."""
    blocks = torch_blocks(model)
    p = {name: t.data for name, t in model.parameters().items()}
    n_a = model.n_a
    weights = [sign * p[f"W_{g}"] for g, sign in blocks]
    bias_ih = np.concatenate([sign * p[f"b_{g}"][:, 0] for g, sign in blocks])
    bias_hh = np.zeros_like(bias_ih)
    if isinstance(model, GRU):
        bias_hh[2 * n_a:] = p["b_cc"][:, 0]
    return {
        "weight_ih_l0": np.concatenate([w[:, n_a:] for w in weights]),
        "weight_hh_l0": np.concatenate([w[:, :n_a] for w in weights]),
        "bias_ih_l0": bias_ih,
        "bias_hh_l0": bias_hh,
        "out.weight": p["W_y"].copy(),
        "out.bias": p["b_y"][:, 0].copy(),
    }


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):              # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def load_torch_state_dict(model: RecurrentModel, state_dict: Mapping[str, Any]) -> None:
    """Inverse of ``to_torch_state_dict``: write torch's weights into ``model``'s parameters.

    Accepts NumPy arrays or torch tensors. Extra keys (other layers, ``_reverse`` directions,
    ``proj``) and shape mismatches raise ValueError naming the key and the shapes.
    """
    blocks = torch_blocks(model)
    G, n_a, n_x, n_y = len(blocks), model.n_a, model.n_x, model.n_y
    expected = {"weight_ih_l0": (G * n_a, n_x), "weight_hh_l0": (G * n_a, n_a),
                "bias_ih_l0": (G * n_a,), "bias_hh_l0": (G * n_a,),
                "out.weight": (n_y, n_a), "out.bias": (n_y,)}
    keys = set(state_dict.keys())
    missing, extra = sorted(set(KEYS) - keys), sorted(keys - set(KEYS))
    if missing or extra:
        raise ValueError(f"{model.kind}: a one-layer unidirectional torch state dict has keys "
                         f"{list(KEYS)}; missing {missing}, unexpected {extra}")
    sd = {k: _array(state_dict[k]) for k in KEYS}
    for k, shape in expected.items():
        if sd[k].shape != shape:
            raise ValueError(f"{model.kind}(n_x={n_x}, n_a={n_a}, n_y={n_y}): {k} must be "
                             f"{shape}; got {sd[k].shape}")
    new: dict[str, np.ndarray] = {}
    for j, (g, sign) in enumerate(blocks):
        rows = slice(j * n_a, (j + 1) * n_a)
        new[f"W_{g}"] = sign * np.concatenate([sd["weight_hh_l0"][rows], sd["weight_ih_l0"][rows]],
                                              axis=1)
        if isinstance(model, GRU) and g == "c":   # n gate: b_in outside r * (·), b_hn inside
            new["b_c"] = sd["bias_ih_l0"][rows, None]
            new["b_cc"] = sd["bias_hh_l0"][rows, None]
        else:
            new[f"b_{g}"] = sign * (sd["bias_ih_l0"][rows] + sd["bias_hh_l0"][rows])[:, None]
    new["W_y"] = sd["out.weight"]
    new["b_y"] = sd["out.bias"][:, None]
    model.load_state_dict(new)
