"""Plain-NumPy implementation of SPEC.md, written independently of models/ (test oracle).

Literal transcription: per time step, stack [state; x⟨t⟩] with np.vstack and multiply the full
W_g (n_a, n_a+n_x). Token ids are turned into one-hot columns here.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


OUT = {"sigmoid": sigmoid, "softmax": softmax0, "linear": lambda z: z}
ACT = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}


def one_hot(ids, n_x):
    """(m, T) integer ids → (n_x, m, T) one-hot columns."""
    m, T = ids.shape
    x = np.zeros((n_x, m, T))
    x[ids, np.arange(m)[:, None], np.arange(T)[None, :]] = 1.0
    return x


def forward(kind, P, x, a0=None, c0=None, *, output="sigmoid", activation="tanh",
            reset_after=False, delta_a=None, delta_c=None):
    """Return (ŷ (n_y, m, T), [a⟨1⟩..], [c⟨1⟩..]) following SPEC.md line by line.

    ``delta_a``/``delta_c``: {t: array} added to a⟨t⟩ / c⟨t⟩ right after they are computed
    (0-based t), to finite-difference ∂J/∂a⟨t⟩ through the rest of the unrolled graph.
    """
    n_y, n_a = P["W_y"].shape
    n_x, m, T = x.shape
    a = np.zeros((n_a, m)) if a0 is None else a0
    c = np.zeros((n_a, m)) if c0 is None else c0
    if kind == "GRU" and c0 is None:
        c = a
    delta_a, delta_c = delta_a or {}, delta_c or {}
    g = OUT[output]
    ys, As, Cs = [], [], []
    for t in range(T):
        xt = x[:, :, t]
        if kind == "RNN":
            a = ACT[activation](P["W_a"] @ np.vstack([a, xt]) + P["b_a"])
        elif kind == "GRU":
            s = np.vstack([c, xt])
            gu = sigmoid(P["W_u"] @ s + P["b_u"])
            gr = sigmoid(P["W_r"] @ s + P["b_r"])
            if reset_after:
                Wcc, Wcx = P["W_c"][:, :n_a], P["W_c"][:, n_a:]
                ch = np.tanh(Wcx @ xt + P["b_c"] + gr * (Wcc @ c + P["b_cc"]))
            else:
                ch = np.tanh(P["W_c"] @ np.vstack([gr * c, xt]) + P["b_c"])
            c = gu * ch + (1 - gu) * c
            c = c + delta_c.get(t, 0.0) + delta_a.get(t, 0.0)
            a = c
        elif kind == "LSTM":
            s = np.vstack([a, xt])
            ch = np.tanh(P["W_c"] @ s + P["b_c"])
            gu = sigmoid(P["W_u"] @ s + P["b_u"])
            gf = sigmoid(P["W_f"] @ s + P["b_f"])
            go = sigmoid(P["W_o"] @ s + P["b_o"])
            c = gu * ch + gf * c + delta_c.get(t, 0.0)
            a = go * np.tanh(c)
        if kind != "GRU":
            a = a + delta_a.get(t, 0.0)
        As.append(a)
        Cs.append(c)
        ys.append(g(P["W_y"] @ a + P["b_y"]))
    return np.stack(ys, axis=2), As, Cs


def loss(output, y_hat, y):
    """The loss used with each output kind: BCE (notes), categorical CE (notes), MSE (mean)."""
    m = y_hat.shape[1]
    if output == "sigmoid":
        return -np.sum(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)) / m
    if output == "softmax":
        return -np.sum(y * np.log(y_hat)) / m
    return np.mean((y_hat - y) ** 2)


def targets(output, n_y, m, T, rng):
    if output == "sigmoid":
        return (rng.random((n_y, m, T)) < 0.5).astype(float)
    if output == "softmax":
        return one_hot(rng.integers(0, n_y, size=(m, T)), n_y)
    return rng.normal(size=(n_y, m, T))
