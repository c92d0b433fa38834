"""The notes' RNN cell (SPEC.md, "RNN"), built only from minigrad primitives."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minigrad import Tensor, relu, tanh
from minigrad.ops.fused import rnn_recurrence

from .inputs import concat
from .recurrent import RecurrentModel, register

ACTIVATIONS = {"tanh": tanh, "relu": relu}


class RNNSteps(NamedTuple):
    """What one RNN step computed besides a⟨t⟩: the pre-activation z⟨t⟩ (n_a, m)."""

    z: Any


@register
class RNN(RecurrentModel):
    """Elman RNN with a dense output layer::

        a⟨t⟩ = f(W_a [a⟨t-1⟩; x⟨t⟩] + b_a)      f = tanh (default) or relu
        ŷ⟨t⟩ = g(W_y a⟨t⟩ + b_y)                g = sigmoid, softmax (over n_y) or linear

    Parameters: ``W_a (n_a, n_a+n_x)`` (state columns first), ``b_a (n_a, 1)``,
    ``W_y (n_y, n_a)``, ``b_y (n_y, 1)``, drawn from U(−1/√n_a, 1/√n_a) with ``seed``.
    Call ``model(x, a0=None)``; the RNN has no cell state (``c0`` must be None).
    """

    kind = "RNN"
    recurrent_parameters = ("W_a", "b_a")
    has_cell_state = False

    def __init__(self, n_x: int, n_a: int, n_y: int, *, activation: str = "tanh",
                 output: str = "sigmoid", seed: int | None = None,
                 dtype: Any = np.float64, fused: bool = False) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"RNN: activation must be one of {tuple(ACTIVATIONS)}; "
                             f"got {activation!r}")
        self.activation = activation
        super().__init__(n_x, n_a, n_y, output=output, seed=seed, dtype=dtype, fused=fused)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "activation": self.activation}

    def fused_call(self, x: Any, carry: tuple, params: list[Tensor]) -> tuple:
        """The fused recurrence (``fused=True``): one record, Numba forward and BPTT."""
        (a0,) = carry
        return rnn_recurrence(x, a0, *params, activation=self.activation, time_major=True), None

    def cell(self, p: dict[str, Tensor], carry: tuple, x_t: Any) -> tuple[tuple, RNNSteps]:
        """One step: ((a⟨t-1⟩,), x⟨t⟩) → ((a⟨t⟩,), z⟨t⟩); f is the model's ``activation``."""
        f = ACTIVATIONS[self.activation]
        (a_prev,) = carry
        z = p["W_a"] @ concat([a_prev, x_t]) + p["b_a"]       # W_a [a⟨t-1⟩; x⟨t⟩] + b_a
        a = f(z)                                                 # a⟨t⟩ = f(z⟨t⟩)
        return (a,), RNNSteps(z)
