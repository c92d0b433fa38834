"""Training the models: losses, one optimizer step, divergence checks, memory estimates.

What ``minigrad train`` runs, importable from notebooks:

* :func:`make_model` / :func:`make_optimizer` — a model with linear outputs (the LSTM's forget
  bias starting at 1) and Adam or the course's plain SGD;
* :func:`adding_loss` — ``MSE(ŷ⟨T⟩, y)`` on the adding problem; :func:`charlm_loss` — the
  cross-entropy in nats per character, ``J = -(1/(m T_x)) Σ_{i,t} log softmax(z⟨t⟩_i)[y⟨t⟩_i]``;
* :func:`train_step` — zero the gradients, J, backward, clip, step;
* :func:`divergence` — what is not finite after a step (the loss, or a parameter), if anything;
* :func:`training_memory` — an estimate of the bytes a run needs, checked before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import optim

from .data import one_hot
from .recurrent import RecurrentModel, model_class

__all__ = ["adding_loss", "charlm_loss", "divergence", "make_model", "make_optimizer",
           "train_step", "training_memory"]


def make_model(cell: str, n_x: int, n_a: int, n_y: int, seed: int,
               fused: bool = False) -> RecurrentModel:
    """A ``cell`` model ("rnn", "gru", "lstm") with linear outputs; the LSTM's forget-gate
    bias starts at 1."""
    cls = model_class(cell)
    extra: dict[str, Any] = {"forget_bias": 1.0} if cls.kind == "LSTM" else {}
    return cls(n_x, n_a, n_y, output="linear", seed=seed, fused=fused, **extra)


def make_optimizer(model: RecurrentModel, kind: str, lr: float) -> Any:
    """Adam, or the course's plain SGD (then gradients are clipped element-wise to ±clip)."""
    if kind not in ("adam", "sgd"):
        raise ValueError(f"make_optimizer: kind must be 'adam' or 'sgd'; got {kind!r}")
    return (optim.Adam if kind == "adam" else optim.SGD)(list(model.parameters().values()), lr=lr)


def adding_loss(model: RecurrentModel, x: np.ndarray, y: np.ndarray) -> mg.Tensor:
    """``MSE(ŷ⟨T⟩, y)``: the output at the last step, ``(1, m)``, against the sums ``(1, m)``."""
    return mg.mse(model(x)[:, :, -1], y)


def charlm_loss(model: RecurrentModel, x_ids: np.ndarray, y_ids: np.ndarray) -> mg.Tensor:
    """Cross-entropy in nats per character of the logits for ids ``(m, T_x)`` vs next ids."""
    logits = model(x_ids)
    m, T = x_ids.shape
    return mg.cross_entropy(logits, one_hot(y_ids, model.n_y), reduction="sum") / (m * T)


def train_step(model: RecurrentModel, opt: Any, loss_fn: Callable[[], mg.Tensor],
               clip: float, optim_kind: str) -> float:
    """One update: zero the gradients, J, backward, clip (norm for Adam, ±clip for SGD), step.

    Returns J before the update. A non-finite J is returned without updating the parameters."""
    model.zero_grad()
    loss = loss_fn()
    value = float(loss.item())
    if not math.isfinite(value):
        return value
    loss.backward()
    params = list(model.parameters().values())
    if clip > 0:
        if optim_kind == "sgd":
            optim.clip_grad_value(params, clip)
        else:
            optim.clip_grad_norm(params, clip)
    opt.step()
    return value


def divergence(model: RecurrentModel, loss: float) -> str | None:
    """What went non-finite: ``"the loss is nan"``, ``"parameter W_a has 3 non-finite
    entries"``, or None when the loss and every parameter are finite."""
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    for name, p in model.parameters().items():
        bad = p.data.size - int(np.count_nonzero(np.isfinite(p.data)))
        if bad:
            return f"parameter {name} has {bad} non-finite entries"
    return None


def training_memory(cell: str, n_x: int, n_a: int, n_y: int, m: int, T: int, *,
                    dense_input: bool = True) -> int:
    """Estimated peak bytes of one float64 training step, kept to the leading terms.

    Parameters P = Σ_g n_a (n_a + n_x + 1) + n_y (n_a + 1), stored four times (values,
    gradients, two Adam moments); per time step and sequence, the tape keeps the concatenated
    [a⟨t-1⟩; x⟨t⟩] (n_a + n_x rows, n_a for token ids), about four arrays of n_a per gate, the
    states, and the outputs, and backward holds as much again.
    """
    cls = model_class(cell)
    gates = sum(1 for name in cls(1, 1, 1).parameter_shapes() if name.startswith("W_")) - 1
    params = gates * n_a * (n_a + n_x + 1) + n_y * (n_a + 1)
    column = (n_a + (n_x if dense_input else 0)) + 4 * gates * n_a + 2 * n_a + 3 * n_y
    activations = 2 * T * m * column + (n_x * m * T if dense_input else 0)
    return 8 * (4 * params + activations)
