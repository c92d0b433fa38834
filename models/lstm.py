"""The notes' LSTM cell (SPEC.md, "LSTM"), built only from minigrad primitives."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minigrad import Tensor, sigmoid, tanh
from minigrad.ops.fused import lstm_recurrence

from .inputs import concat
from .recurrent import RecurrentModel, register


class LSTMGates(NamedTuple):
    """What one LSTM step computed besides its carry: ĉ⟨t⟩, Γ_u, Γ_f, Γ_o, each (n_a, m)."""

    c_hat: Any
    gamma_u: Any
    gamma_f: Any
    gamma_o: Any


@register
class LSTM(RecurrentModel):
    """Long short-term memory with a dense output layer::

        ĉ⟨t⟩ = tanh(W_c [a⟨t-1⟩; x⟨t⟩] + b_c)
        Γ_u   = σ(W_u [a⟨t-1⟩; x⟨t⟩] + b_u)      update (input) gate
        Γ_f   = σ(W_f [a⟨t-1⟩; x⟨t⟩] + b_f)      forget gate
        Γ_o   = σ(W_o [a⟨t-1⟩; x⟨t⟩] + b_o)      output gate
        c⟨t⟩ = Γ_u * ĉ⟨t⟩ + Γ_f * c⟨t-1⟩
        a⟨t⟩ = Γ_o * tanh(c⟨t⟩)
        ŷ⟨t⟩ = g(W_y a⟨t⟩ + b_y)

    Parameters ``W_c b_c W_u b_u W_f b_f W_o b_o W_y b_y``; every ``W_*`` is ``(n_a, n_a+n_x)``
    (state columns first), every bias ``(n_a, 1)``; all drawn from U(−1/√n_a, 1/√n_a), then
    ``forget_bias`` is added to ``b_f``. Call ``model(x, a0=None, c0=None)``.
    """

    kind = "LSTM"
    recurrent_parameters = ("W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o")
    has_cell_state = True

    def __init__(self, n_x: int, n_a: int, n_y: int, *, output: str = "sigmoid",
                 forget_bias: float = 0.0, seed: int | None = None,
                 dtype: Any = np.float64, fused: bool = False) -> None:
        if (isinstance(forget_bias, bool) or not isinstance(forget_bias, int | float | np.number)
                or not np.isfinite(forget_bias)):
            raise ValueError(f"LSTM: forget_bias must be a finite number; got {forget_bias!r}")
        self.forget_bias = float(forget_bias)
        super().__init__(n_x, n_a, n_y, output=output, seed=seed, dtype=dtype, fused=fused)
        self._params["b_f"].data[...] += self.forget_bias

    def config(self) -> dict[str, Any]:
        return {**super().config(), "forget_bias": self.forget_bias}

    def fused_call(self, x: Any, carry: tuple, params: list[Tensor]) -> tuple:
        """The fused recurrence (``fused=True``): one record, Numba forward and BPTT."""
        a0, c0 = carry
        return lstm_recurrence(x, a0, c0, *params, return_c=True, time_major=True)

    @staticmethod
    def cell(p: dict[str, Tensor], carry: tuple, x_t: Any) -> tuple[tuple, LSTMGates]:
        """One step: ((a⟨t-1⟩, c⟨t-1⟩), x⟨t⟩) → ((a⟨t⟩, c⟨t⟩), gates), SPEC.md line by line."""
        a_prev, c_prev = carry
        ax = concat([a_prev, x_t])                             # [a⟨t-1⟩; x⟨t⟩]
        c_hat = tanh(p["W_c"] @ ax + p["b_c"])                # ĉ⟨t⟩ = tanh(W_c [a; x] + b_c)
        gamma_u = sigmoid(p["W_u"] @ ax + p["b_u"])           # Γ_u = σ(W_u [a; x] + b_u)
        gamma_f = sigmoid(p["W_f"] @ ax + p["b_f"])           # Γ_f = σ(W_f [a; x] + b_f)
        gamma_o = sigmoid(p["W_o"] @ ax + p["b_o"])           # Γ_o = σ(W_o [a; x] + b_o)
        c = gamma_u * c_hat + gamma_f * c_prev                # c⟨t⟩ = Γ_u * ĉ⟨t⟩ + Γ_f * c⟨t-1⟩
        a = gamma_o * tanh(c)                                 # a⟨t⟩ = Γ_o * tanh(c⟨t⟩)
        return (a, c), LSTMGates(c_hat, gamma_u, gamma_f, gamma_o)
