"""Backpropagation-through-time diagnostics: where the gradient goes, step by step.

For a model unrolled over T_x steps with hidden states a⟨1⟩..a⟨T_x⟩:

* :func:`state_gradients` / :func:`grad_norms_through_time` — the adjoints ∂L/∂a⟨k⟩ and their
  norms. With ``loss="last"``, L = L⟨T_x⟩ (the last step's loss), and for a vanilla RNN

      ∂L/∂a⟨k⟩ = W_aaᵀ (f'(z⟨k+1⟩) ⊙ ∂L/∂a⟨k+1⟩),   so for a linear RNN  (W_aaᵀ)^{T_x−k} ∂L/∂a⟨T_x⟩:

  a product of T_x−k Jacobians, which shrinks (or grows) geometrically with the distance from
  the loss — the vanishing (exploding) gradient. ``loss="total"`` uses the notes' J = Σ_t L⟨t⟩.
* :func:`per_step_weight_gradients` — how much each time step contributes to ∂J/∂W for each
  recurrent weight W: ∂J/∂W = Σ_t ∂J/∂W|_t, where ∂J/∂W|_t is the gradient through the t-th
  use of W (for the RNN, (∂J/∂a⟨t⟩ ⊙ f'(z⟨t⟩)) [a⟨t−1⟩; x⟨t⟩]ᵀ).

Norms are Frobenius norms of the (n_a, m) (resp. (n_a, n_a+n_x)) arrays, i.e. summed over the
batch. The loss matches the model's output: sigmoid → binary cross-entropy, softmax →
−Σ y log ŷ, linear → squared error, each with the notes' reduction (Σ over units and steps,
mean over the m examples).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .inputs import check_sequence
from .recurrent import RecurrentModel

__all__ = [
    "grad_norms_through_time",
    "per_step_weight_gradients",
    "recurrent_weight_names",
    "sequence_loss",
    "state_gradients",
]

LOSSES = ("last", "total")


def sequence_loss(model: RecurrentModel, y_hat: Tensor, y: Any, loss: str = "total") -> Tensor:
    """J = Σ_t L⟨t⟩ ("total") or L⟨T_x⟩ ("last") for ŷ, y of shape (n_y, m, T_x).

    L⟨t⟩ is binary cross-entropy for a sigmoid output, −Σ y log ŷ for softmax (ŷ is already a
    probability), squared error for a linear output; summed over units, averaged over m.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    y_arr = y.data if isinstance(y, Tensor) else np.asarray(y, dtype=np.float64)
    if y_arr.shape != y_hat.shape:
        raise ValueError(f"y must have the shape of ŷ (n_y, m, T_x) = {y_hat.shape}; "
                         f"got {y_arr.shape}")
    if loss == "last":
        y_hat, y_arr = y_hat[:, :, -1], y_arr[:, :, -1]
    m = y_hat.shape[1]
    if model.output == "sigmoid":
        return mg.binary_cross_entropy(y_hat, y_arr, reduction="notes")
    if model.output == "softmax":
        return -(mg.log(y_hat) * y_arr).sum() * (1.0 / m)
    return mg.mse(y_hat, y_arr, reduction="notes")


def _forward_states(model: RecurrentModel, x: Any, a0: Any, c0: Any, state: str
                    ) -> tuple[Tensor, list[Tensor]]:
    y_hat, states = model(x, a0, c0, return_states=True)
    if state == "a":
        return y_hat, states.a
    if state == "c":
        if states.c is None:
            raise ValueError(f"{model.kind} has no cell state c⟨t⟩; use state='a'")
        return y_hat, states.c
    raise ValueError(f"state must be 'a' or 'c'; got {state!r}")


def state_gradients(model: RecurrentModel, x: Any, y: Any, loss: str = "last", *,
                    a0: Any = None, c0: Any = None, state: str = "a") -> list[np.ndarray]:
    """[∂L/∂a⟨1⟩, ..., ∂L/∂a⟨T_x⟩], each (n_a, m): the adjoint of each hidden state.

    ∂L/∂a⟨k⟩ is the total derivative through every later step (the BPTT adjoint), taken with
    ``minigrad.grad(L, states.a)``. ``state="c"`` gives ∂L/∂c⟨k⟩ instead (LSTM, GRU).
    """
    _composed_only(model, "state_gradients")
    y_hat, hs = _forward_states(model, x, a0, c0, state)
    J = sequence_loss(model, y_hat, y, loss)
    return mg.grad(J, hs)


def grad_norms_through_time(model: RecurrentModel, x: Any, y: Any, loss: str = "last", *,
                            a0: Any = None, c0: Any = None, state: str = "a") -> np.ndarray:
    """‖∂L/∂a⟨k⟩‖_F for k = 1..T_x (array of length T_x; Frobenius norm over (n_a, m)).

    With ``loss="last"`` this is the vanishing-gradient curve: how strongly the last step's
    loss reaches back to the state k steps earlier.
    """
    _composed_only(model, "grad_norms_through_time")
    grads = state_gradients(model, x, y, loss, a0=a0, c0=c0, state=state)
    return np.array([float(np.linalg.norm(g)) for g in grads])


def recurrent_weight_names(model: RecurrentModel, include_bias: bool = False) -> list[str]:
    """The recurrent weights W_* (not W_y) in the notes' order, then their biases b_* if asked."""
    names = [n for n in model.parameters() if n not in ("W_y", "b_y")]
    return [n for n in names if n.startswith("W")] + \
        ([n for n in names if n.startswith("b")] if include_bias else [])


def per_step_weight_gradients(model: RecurrentModel, x: Any, y: Any, loss: str = "total", *,
                              a0: Any = None, c0: Any = None, include_bias: bool = False,
                              return_matrices: bool = False) -> dict[str, np.ndarray]:
    """name → ‖∂J/∂W|_t‖_F for t = 1..T_x, for each recurrent weight W (W_a; W_u W_r W_c; ...).

    The model's own ``cell`` is run step by step with a separate leaf copy W⁽ᵗ⁾ of every
    recurrent weight at each step t (same values). Since J depends on W only through its
    copies, the chain rule gives ∂J/∂W = Σ_t ∂J/∂W⁽ᵗ⁾, and ∂J/∂W⁽ᵗ⁾ is step t's contribution.
    ``include_bias`` adds the biases b_*; ``return_matrices`` returns the contributions
    themselves, name → array (T_x, *W.shape), instead of their norms.
    """
    _composed_only(model, "per_step_weight_gradients")
    seq = check_sequence(model.kind, model.n_x, model.dtype, x)
    params = model.parameters()
    names = recurrent_weight_names(model, include_bias)
    copies = {n: [Tensor(params[n].data, requires_grad=True) for _ in range(seq.T)]
              for n in names}
    carry = model.initial_carry(a0, c0, seq.m)
    a_list: list[Tensor] = []
    for t, x_t in enumerate(seq.steps):
        p_t = {**params, **{n: copies[n][t] for n in names}}   # step t's own copies
        carry, _ = model.cell(p_t, carry, x_t)
        a_list.append(carry[0])
    a_all = mg.concat(a_list, axis=1) if seq.T > 1 else a_list[0]
    J = sequence_loss(model, model.output_layer(a_all, seq.m, seq.T), y, loss)
    grads = mg.grad(J, [tensor for n in names for tensor in copies[n]])
    result: dict[str, np.ndarray] = {}
    for i, n in enumerate(names):
        mats = np.stack(grads[i * seq.T:(i + 1) * seq.T])
        result[n] = mats if return_matrices else np.linalg.norm(mats.reshape(seq.T, -1), axis=1)
    return result


def _composed_only(model: RecurrentModel, function: str) -> None:
    """Gradient diagnostics need the per-step records of the composed model."""
    if model.fused:
        raise ValueError(f"{function}: model must be a composed model (fused=False); the fused "
                         f"recurrence records no per-step states. Rebuild it with "
                         f"type(model)(**{{**model.config(), 'fused': False}}) and "
                         f"load_state_dict(model.state_dict())")
