"""The notes' GRU cell (SPEC.md, "GRU") and the cuDNN/PyTorch "reset after" variant."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minigrad import Tensor, sigmoid, tanh
from minigrad.ops.fused import gru_recurrence, gru_reset_after_recurrence

from .inputs import check_state, concat
from .recurrent import RecurrentModel, register


class GRUGates(NamedTuple):
    """What one GRU step computed besides c⟨t⟩: Γ_u, Γ_r and ĉ⟨t⟩, each (n_a, m)."""

    gamma_u: Any
    gamma_r: Any
    c_hat: Any


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

    Parameters ``W_u b_u W_r b_r W_c b_c [b_cc] W_y b_y``; every ``W_*`` is ``(n_a, n_a+n_x)``
    with state columns first, every bias ``(n_a, 1)``; all drawn from U(−1/√n_a, 1/√n_a).
    The GRU has one state, a⟨t⟩ = c⟨t⟩: give the initial state as ``c0`` or as ``a0`` (not both).
    """

    kind = "GRU"
    recurrent_parameters = ("W_u", "b_u", "W_r", "b_r", "W_c", "b_c")
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

    def initial_carry(self, a0: Any, c0: Any, m: int) -> tuple:
        """``(c⟨0⟩,)``, given as ``c0`` or as ``a0`` (a⟨t⟩ = c⟨t⟩), zeros if neither."""
        if a0 is not None and c0 is not None:
            raise ValueError("GRU: a⟨t⟩ = c⟨t⟩ in the GRU; give the initial state as a0 or c0, "
                             "not both")
        name, value = ("c0", c0) if c0 is not None else ("a0", a0)
        return (check_state(self.kind, name, value, (self.n_a, m), self.dtype),)

    def fused_call(self, x: Any, carry: tuple, params: list[Tensor]) -> tuple:
        """The fused recurrence (``fused=True``): one record, Numba forward and BPTT."""
        run = gru_reset_after_recurrence if self.reset_after else gru_recurrence
        c_all = run(x, carry[0], *params, time_major=True)
        return c_all, c_all                                  # a⟨t⟩ = c⟨t⟩

    def cell(self, p: dict[str, Tensor], carry: tuple, x_t: Any) -> tuple[tuple, GRUGates]:
        """One step: ((c⟨t-1⟩,), x⟨t⟩) → ((c⟨t⟩,), gates), SPEC.md line by line."""
        (c_prev,) = carry
        cx = concat([c_prev, x_t])                            # [c⟨t-1⟩; x⟨t⟩]
        gamma_u = sigmoid(p["W_u"] @ cx + p["b_u"])           # Γ_u = σ(W_u [c; x] + b_u)
        gamma_r = sigmoid(p["W_r"] @ cx + p["b_r"])           # Γ_r = σ(W_r [c; x] + b_r)
        if self.reset_after:            # ĉ = tanh(W_cx x + b_c + Γ_r * (W_cc c + b_cc))
            n_a = c_prev.shape[0]
            W_cc, W_cx = p["W_c"][:, :n_a], p["W_c"][:, n_a:]
            c_hat = tanh(W_cx @ x_t + p["b_c"] + gamma_r * (W_cc @ c_prev + p["b_cc"]))
        else:                           # ĉ = tanh(W_c [Γ_r * c⟨t-1⟩; x⟨t⟩] + b_c)
            c_hat = tanh(p["W_c"] @ concat([gamma_r * c_prev, x_t]) + p["b_c"])
        c = gamma_u * c_hat + (1 - gamma_u) * c_prev           # c⟨t⟩ = Γ_u ĉ + (1 − Γ_u) c⟨t-1⟩
        return (c,), GRUGates(gamma_u, gamma_r, c_hat)
