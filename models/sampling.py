"""Sampling text from a character model, one step at a time, carrying the state."""

from __future__ import annotations

import numpy as np

import minigrad as mg

from .data import CharVocab
from .recurrent import RecurrentModel

__all__ = ["generate"]


def generate(model: RecurrentModel, vocab: CharVocab, length: int, *,
             temperature: float = 1.0, prime: str = "", rng: np.random.Generator) -> str:
    """``prime`` followed by ``length`` characters sampled one step at a time.

    The prime (a newline if empty) is read in one call; then each sampled id is fed back with the
    carried states ``a⟨t⟩`` (and ``c⟨t⟩``). Probabilities ``softmax(z / temperature)``;
    ``temperature = 0`` takes the most likely character. The model's outputs are the logits z
    (``output="linear"``); a ``softmax`` model's probabilities are turned back into log z.
    """
    if not temperature >= 0:
        raise ValueError(f"generate: temperature must be >= 0; got {temperature}")
    start = prime or ("\n" if "\n" in vocab else vocab.chars[0])
    ids = vocab.encode(start).reshape(1, -1)
    out: list[int] = []
    with mg.no_grad():
        a = c = None
        for _ in range(length):
            y_hat, st = model(ids, a, c, return_states=True)
            a = st.a[-1]  # the GRU's c⟨t⟩ is its a⟨t⟩: carry it once, as a0
            c = st.c[-1] if st.c is not None and st.c[-1] is not a else None
            z = np.real(y_hat.data[:, 0, -1]).astype(np.float64)
            if model.output == "softmax":
                z = np.log(np.maximum(z, np.finfo(np.float64).tiny))
            if temperature == 0:
                nxt = int(np.argmax(z))
            else:
                p = np.exp((z - z.max()) / temperature)
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            ids = np.array([[nxt]], dtype=np.int64)
    return prime + vocab.decode(out)
