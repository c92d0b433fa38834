"""The notes' GRU cell (SPEC.md, "GRU") and the cuDNN/PyTorch "reset after" variant."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from minigrad import Tensor, sigmoid, tanh
from minigrad.ops.fused import gru_recurrence, gru_reset_after_recurrence

from .recurrent import RecurrentModel, register


@register
class GRU(RecurrentModel):
    """Gated recurrent unit with a dense output layer (the notes' "full GRU")::

        Γ_u   = σ(W_u [c⟨t-1⟩; x⟨t⟩] + b_u)
        Γ_r   = σ(W_r [c⟨t-1⟩; x⟨t⟩] + b_r)
        ĉ⟨t⟩ = tanh(W_c [Γ_r * c⟨t-1⟩; x⟨t⟩] + b_c)
        c⟨t⟩ = Γ_u * ĉ⟨t⟩ + (1 − Γ_u) * c⟨t-1⟩ ,   a⟨t⟩ = c⟨t⟩
        ŷ⟨t⟩ = g(W_y c⟨t⟩ + b_y)

    ``reset_after=True`` is the cuDNN/PyTorch variant: the reset gate multiplies the state's
    product *including its own bias* ``b_cc (n_a, 1)``, an extra parameter::

        ĉ⟨t⟩ = tanh(W_c[:, n_a:] x⟨t⟩ + b_c + Γ_r * (W_c[:, :n_a] c⟨t-1⟩ + b_cc))

    (``W_c[:, :n_a]`` = W_cc acts on the state, ``W_c[:, n_a:]`` = W_cx on the input; ``b_c`` is
    the input-side bias.) It is a different function of the weights, not a relabelling.

    Parameters ``W_u b_u W_r b_r W_c b_c [b_cc] W_y b_y``; every ``W_g`` is ``(n_a, n_a+n_x)``
    with state columns first, every bias ``(n_a, 1)``; all drawn from U(−1/√n_a, 1/√n_a).
    The GRU has one state, a⟨t⟩ = c⟨t⟩: give the initial state as ``c0`` or as ``a0`` (not both).
    """

    kind = "GRU"
    gates = ("u", "r", "c")
    state = "c"
    has_cell_state = True

    def __init__(self, n_x: int, n_a: int, n_y: int, *, reset_after: bool = False,
                 output: str = "sigmoid", seed: int | None = None,
                 dtype: Any = np.float64, fused: bool = False) -> None:
        if not isinstance(reset_after, bool | np.bool_):
            raise ValueError(f"GRU: reset_after must be a bool; got {reset_after!r}")
        self.reset_after = bool(reset_after)
        super().__init__(n_x, n_a, n_y, output=output, seed=seed, dtype=dtype, fused=fused)

    def parameter_shapes(self) -> dict[str, tuple[int, int]]:
        shapes = super().parameter_shapes()
        if not self.reset_after:
            return shapes
        names = list(shapes)
        names.insert(names.index("b_c") + 1, "b_cc")
        return {n: shapes.get(n, (self.n_a, 1)) for n in names}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "reset_after": self.reset_after}

    def _initial_states(self, a0: Any, c0: Any, m: int) -> tuple[Tensor, Tensor]:
        if a0 is not None and c0 is not None:
            raise ValueError("GRU: a⟨t⟩ = c⟨t⟩ in the GRU; give the initial state as a0 or c0, "
                             "not both")
        c0 = self._state("c0" if c0 is not None else "a0", c0 if c0 is not None else a0, m)
        return c0, c0

    def fused_call(self, x: Any, a0: Tensor, c0: Tensor, params: list[Tensor]) -> tuple:
        """The fused recurrence (``fused=True``): one record, Numba forward and BPTT."""
        run = gru_reset_after_recurrence if self.reset_after else gru_recurrence
        c_all = run(x, c0, *params, time_major=True)
        return c_all, c_all                                  # a⟨t⟩ = c⟨t⟩

    def cell(self, w: SimpleNamespace, px: SimpleNamespace, a_prev: Tensor,
             c_prev: Tensor) -> tuple[Tensor, Tensor]:
        """``w.W_gc = W_g[:, :n_a]``; ``px.g = W_g[:, n_a:] x⟨t⟩ + b_g`` (block identity)."""
        gamma_u = sigmoid(w.W_uc @ c_prev + px.u)    # Γ_u = σ(W_u [c⟨t-1⟩; x⟨t⟩] + b_u)
        gamma_r = sigmoid(w.W_rc @ c_prev + px.r)    # Γ_r = σ(W_r [c⟨t-1⟩; x⟨t⟩] + b_r)
        if self.reset_after:                         # ĉ = tanh(W_cx x + b_c + Γ_r*(W_cc c + b_cc))
            c_hat = tanh(px.c + gamma_r * (w.W_cc @ c_prev + self._params["b_cc"]))
        else:                                        # ĉ = tanh(W_c [Γ_r * c⟨t-1⟩; x⟨t⟩] + b_c)
            c_hat = tanh(w.W_cc @ (gamma_r * c_prev) + px.c)
        c = gamma_u * c_hat + (1 - gamma_u) * c_prev  # c⟨t⟩ = Γ_u * ĉ⟨t⟩ + (1 − Γ_u) * c⟨t-1⟩
        return c, c                                   # a⟨t⟩ = c⟨t⟩
