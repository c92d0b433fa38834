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

from types import SimpleNamespace
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .recurrent import RecurrentModel

__all__ = [
    "grad_norms_through_time",
    "per_step_weight_gradients",
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
    y_hat, hs = _forward_states(model, x, a0, c0, state)
    J = sequence_loss(model, y_hat, y, loss)
    return mg.grad(J, hs)


def grad_norms_through_time(model: RecurrentModel, x: Any, y: Any, loss: str = "last", *,
                            a0: Any = None, c0: Any = None, state: str = "a") -> np.ndarray:
    """‖∂L/∂a⟨k⟩‖_F for k = 1..T_x (array of length T_x; Frobenius norm over (n_a, m)).

    With ``loss="last"`` this is the vanishing-gradient curve: how strongly the last step's
    loss reaches back to the state k steps earlier.
    """
    grads = state_gradients(model, x, y, loss, a0=a0, c0=c0, state=state)
    return np.array([float(np.linalg.norm(g)) for g in grads])


def _dense_steps(model: RecurrentModel, x: Any) -> tuple[list[Any], int]:
    """x⟨1⟩..x⟨T_x⟩ as (n_x, m) arrays or Tensor slices, and the batch size m."""
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim != 3 or arr.shape[0] != model.n_x:
        raise ValueError(f"x must be a dense sequence (n_x, m, T_x) = ({model.n_x}, m, T_x); "
                         f"got shape {arr.shape}")
    if isinstance(x, Tensor):
        return [x[:, :, t] for t in range(arr.shape[2])], arr.shape[1]
    arr = arr.astype(model.dtype, copy=False)
    return [np.ascontiguousarray(arr[:, :, t]) for t in range(arr.shape[2])], arr.shape[1]


def per_step_weight_gradients(model: RecurrentModel, x: Any, y: Any, loss: str = "total", *,
                              a0: Any = None, c0: Any = None, include_bias: bool = False,
                              return_matrices: bool = False) -> dict[str, np.ndarray]:
    """name → ‖∂J/∂W|_t‖_F for t = 1..T_x, for each recurrent weight W (W_a; W_u W_r W_c; ...).

    The model is unrolled with a separate leaf copy W⁽ᵗ⁾ of every recurrent weight at each
    step (same values); the cell equations are the model's own ``cell``. Since J depends on W
    only through its copies, the chain rule gives ∂J/∂W = Σ_t ∂J/∂W⁽ᵗ⁾, and ∂J/∂W⁽ᵗ⁾ is
    step t's contribution. ``include_bias`` adds the biases b_g; ``return_matrices`` returns
    the contributions themselves, name → array (T_x, *W.shape), instead of their norms.
    """
    if isinstance(x, np.ndarray) and x.ndim == 2 and np.issubdtype(x.dtype, np.integer):
        x = np.moveaxis(np.eye(model.n_x, dtype=model.dtype)[x], -1, 0)  # ids → one-hot
    xs, m = _dense_steps(model, x)
    T = len(xs)
    params = model.parameters()
    n_a, s = model.n_a, model.state
    names = [f"W_{g}" for g in model.gates]
    if include_bias:
        names += [f"b_{g}" for g in model.gates]
    copies: dict[str, list[Tensor]] = {
        n: [Tensor(params[n].data, requires_grad=True) for _ in range(T)] for n in names
    }
    a, c = model._initial_states(a0, c0, m)
    a_list: list[Tensor] = []
    for t in range(T):
        W = {g: copies[f"W_{g}"][t] for g in model.gates}
        b = {g: copies[f"b_{g}"][t] if include_bias else params[f"b_{g}"] for g in model.gates}
        w = SimpleNamespace(**{f"W_{g}{s}": W[g][:, :n_a] for g in model.gates})
        px = SimpleNamespace(**{g: W[g][:, n_a:] @ xs[t] + b[g] for g in model.gates})
        a, c = model.cell(w, px, a, c)
        a_list.append(a)
    y_hat = model._output_layer(mg.concat(a_list, axis=1) if T > 1 else a_list[0], m, T)
    J = sequence_loss(model, y_hat, y, loss)
    flat = [tensor for n in names for tensor in copies[n]]
    grads = mg.grad(J, flat)
    result: dict[str, np.ndarray] = {}
    for i, n in enumerate(names):
        mats = np.stack(grads[i * T:(i + 1) * T])
        result[n] = mats if return_matrices else np.linalg.norm(mats.reshape(T, -1), axis=1)
    return result
