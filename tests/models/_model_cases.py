"""Shared helpers for the model tests: building models, losses, reference calls."""

from __future__ import annotations

import numpy as np

import minigrad as mg
import models

# (class name, extra constructor options): every variant the models offer.
VARIANTS = [
    ("RNN", {}),
    ("RNN", {"activation": "relu"}),
    ("GRU", {}),
    ("GRU", {"reset_after": True}),
    ("LSTM", {}),
    ("LSTM", {"forget_bias": 1.0}),
]
OUTPUTS = ["sigmoid", "softmax", "linear"]


def variant_id(v):
    kind, opts = v
    return kind + "".join(f"-{k}={val}" for k, val in opts.items())


def make(kind, n_x, n_a, n_y, output="sigmoid", seed=0, **opts):
    return getattr(models, kind)(n_x, n_a, n_y, output=output, seed=seed, **opts)


def ref_options(model):
    """Keyword arguments of _model_reference.forward matching ``model``."""
    return {"output": model.output, "activation": getattr(model, "activation", "tanh"),
            "reset_after": getattr(model, "reset_after", False)}


def mg_loss(output, y_hat, y):
    """The loss of each output kind, on the tape (same definitions as _model_reference.loss)."""
    if output == "sigmoid":
        return mg.binary_cross_entropy(y_hat, y)
    if output == "softmax":
        return -(mg.log(y_hat) * y).sum() / y_hat.shape[1]
    return mg.mse(y_hat, y)


def param_arrays(model):
    return {k: v.data.copy() for k, v in model.parameters().items()}


def initial_states(kind, n_a, m, rng):
    """Random a0 (and c0 for the LSTM) as the model and the reference take them."""
    a0 = 0.5 * rng.normal(size=(n_a, m))
    c0 = 0.5 * rng.normal(size=(n_a, m)) if kind == "LSTM" else None
    return a0, c0


def as_array(t):
    return np.asarray(t.data if isinstance(t, mg.Tensor) else t)
