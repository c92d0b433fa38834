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
* :func:`gate_lens` / :func:`plot_gate_lens` — the per-gate view: per step, the fraction of
  saturated σ gates next to ‖∂J/∂a⟨k⟩‖, as arrays and as one heat map, to see *why* the
  gradient survives (LSTM: the direct path ∂c⟨t⟩/∂c⟨t−1⟩ = diag(Γ_f) ≈ I where Γ_f ≈ 1) or
  vanishes (RNN: a saturated tanh has f'(z) = 1 − a⟨t⟩² ≈ 0, and every step multiplies by it).

Norms are Frobenius norms of the (n_a, m) (resp. (n_a, n_a+n_x)) arrays, i.e. summed over the
batch. The loss matches the model's output: sigmoid → binary cross-entropy, softmax →
−Σ y log ŷ, linear → squared error, each with the notes' reduction (Σ over units and steps,
mean over the m examples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .inputs import check_sequence
from .recurrent import RecurrentModel

if TYPE_CHECKING:   # matplotlib is imported only when a figure is asked for
    from matplotlib.figure import Figure

__all__ = [
    "GateLens",
    "gate_lens",
    "grad_norms_through_time",
    "per_step_weight_gradients",
    "plot_gate_lens",
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


class GateLens(NamedTuple):
    """Per-step gate statistics and state-gradient norms of one forward/backward pass.

    Row ``i`` of the ``(n_rows, T_x)`` arrays is gate ``rows[i]`` (LSTM ``Γ_u Γ_f Γ_o``, GRU
    ``Γ_u Γ_r``; the tanh RNN has no gates, so its one row is a⟨t⟩ = tanh(z⟨t⟩) itself), column
    ``t−1`` is step t; each entry averages over the n_a units and the m examples:

    * ``saturation`` — fraction of values within ``eps`` of a flat end: min(s, 1 − s) ≤ eps for
      a σ output s, 1 − |a| ≤ eps for the RNN's tanh (where f'(z) = 1 − a² ≤ 2·eps).
    * ``near_one`` — fraction within ``eps`` of the upper end (s ≥ 1 − eps, a ≥ 1 − eps):
      an open gate; ``saturation − near_one`` is the fraction shut (near 0, or −1 for tanh).
    * ``mean`` — the mean value.

    ``grad_norms[k−1]`` = ‖∂J/∂a⟨k⟩‖_F and, for the LSTM (whose c⟨t⟩ is a second state),
    ``cell_grad_norms[k−1]`` = ‖∂J/∂c⟨k⟩‖_F (``None`` otherwise; the GRU's c⟨t⟩ is a⟨t⟩).
    J is ``sequence_loss(model, ŷ, y, loss)``.
    """

    kind: str
    rows: tuple[str, ...]
    saturation: np.ndarray
    near_one: np.ndarray
    mean: np.ndarray
    grad_norms: np.ndarray
    cell_grad_norms: np.ndarray | None
    eps: float
    loss: str


def _gate_rows(model: RecurrentModel, states: Any, gates: Any
               ) -> tuple[list[str], list[list[np.ndarray]], bool]:
    """The σ gates the forward pass handed out (row labels, per-step values), or for the tanh
    RNN its states a⟨t⟩; the flag says whether the rows are tanh values in [−1, 1]."""
    names = [f for f in gates._fields if f.startswith("gamma_")]
    if names:
        return ([f"Γ_{f[len('gamma_'):]}" for f in names],
                [[g.data for g in getattr(gates, f)] for f in names], False)
    if getattr(model, "activation", None) == "tanh":
        return ["tanh a⟨t⟩"], [[a.data for a in states.a]], True
    raise ValueError(f"gate_lens: model must have σ gates (GRU, LSTM) or be a tanh RNN; a "
                     f"{model.kind} with activation={getattr(model, 'activation', None)!r} has "
                     f"no saturating nonlinearity")


def gate_lens(model: RecurrentModel, x: Any, y: Any, loss: str = "last", *, a0: Any = None,
              c0: Any = None, eps: float = 0.01) -> GateLens:
    """Per step t: how saturated each gate is, and ‖∂J/∂a⟨t⟩‖_F (see :class:`GateLens`).

    Runs ``model(x, a0, c0, return_states=True, return_gates=True)`` once and reads the gates
    it computed (nothing is recomputed); the adjoints are ``minigrad.grad(J, states.a)``
    (and ``states.c`` for the LSTM). With ``loss="last"`` (J = L⟨T_x⟩), ‖∂J/∂a⟨k⟩‖ is how
    strongly the last step's loss reaches back k steps; ``loss="total"`` is J = Σ_t L⟨t⟩.
    """
    _composed_only(model, "gate_lens")
    if isinstance(eps, bool) or not isinstance(eps, int | float | np.floating) \
            or not 0.0 < eps < 0.5:
        raise ValueError(f"gate_lens: eps must be a number in (0, 0.5); got {eps!r}")
    y_hat, states, gates = model(x, a0, c0, return_states=True, return_gates=True)
    rows, values, is_tanh = _gate_rows(model, states, gates)
    J = sequence_loss(model, y_hat, y, loss)
    separate_c = states.c is not None and states.c[0] is not states.a[0]
    grads = mg.grad(J, states.a + (states.c if separate_c else []))
    T = len(states.a)
    norms = np.array([float(np.linalg.norm(g)) for g in grads])
    sat, one, mean = (np.empty((len(rows), T)) for _ in range(3))
    for i, per_step in enumerate(values):
        for t, v in enumerate(per_step):
            v = np.asarray(v, dtype=np.float64)
            dist = 1.0 - np.abs(v) if is_tanh else np.minimum(v, 1.0 - v)
            sat[i, t] = np.mean(dist <= eps)
            one[i, t] = np.mean(1.0 - v <= eps)
            mean[i, t] = np.mean(v)
    return GateLens(model.kind, tuple(rows), sat, one, mean, norms[:T],
                    norms[T:] if separate_c else None, float(eps), loss)


def plot_gate_lens(lenses: GateLens | Sequence[GateLens], *,
                   titles: Sequence[str] | None = None) -> Figure:
    """One matplotlib figure: a column per lens (e.g. an RNN next to an LSTM), two heat maps
    over time steps t = 1..T_x in each — top, the saturated fraction of each gate (rows =
    gates, colour 0..1); bottom, log₁₀ ‖∂J/∂a⟨k⟩‖_F (and log₁₀ ‖∂J/∂c⟨k⟩‖_F for an LSTM) on one
    colour scale shared by all columns, so the gradients are comparable across models.

    ``titles`` (one per lens) defaults to the models' kinds. Uses ``matplotlib.pyplot``
    (imported here, not with the module); close the figure with ``plt.close(fig)``.
    """
    one = isinstance(lenses, GateLens)
    lenses = [lenses] if one else list(lenses)
    if not lenses or not all(isinstance(lens, GateLens) for lens in lenses):
        raise ValueError("plot_gate_lens: lenses must be a GateLens or a non-empty sequence of "
                         "GateLens (from gate_lens)")
    titles = [lens.kind for lens in lenses] if titles is None else list(titles)
    if len(titles) != len(lenses) or not all(isinstance(s, str) for s in titles):
        raise ValueError(f"plot_gate_lens: titles must be {len(lenses)} string(s), one per "
                         f"lens; got {titles!r}")
    import matplotlib.pyplot as plt

    grad_rows = [_log_grad_rows(lens) for lens in lenses]
    finite = np.concatenate([g.compressed() for g in grad_rows])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    n_gates = max(len(lens.rows) for lens in lenses)
    n_grad = max(g.shape[0] for g in grad_rows)
    fig, axes = plt.subplots(
        2, len(lenses), squeeze=False, figsize=(4.8 * len(lenses), 1.0 + 0.6 * (n_gates + n_grad)),
        sharex="col", gridspec_kw={"height_ratios": [n_gates, n_grad]}, constrained_layout=True)
    for j, (lens, g, title) in enumerate(zip(lenses, grad_rows, titles)):
        T = lens.saturation.shape[1]
        top, bottom = axes[0, j], axes[1, j]
        end = "±1" if lens.rows == ("tanh a⟨t⟩",) else "0 or 1"
        sat_image = top.imshow(lens.saturation, aspect="auto", vmin=0.0, vmax=1.0,
                               cmap="magma", interpolation="nearest",
                               extent=(0.5, T + 0.5, len(lens.rows) - 0.5, -0.5))
        top.set_yticks(range(len(lens.rows)), labels=list(lens.rows))
        top.set_title(f"{title}: fraction within {lens.eps:g} of {end}")
        grad_image = bottom.imshow(g, aspect="auto", vmin=lo, vmax=hi, cmap="viridis",
                                   interpolation="nearest",
                                   extent=(0.5, T + 0.5, g.shape[0] - 0.5, -0.5))
        labels = ["∂J/∂a⟨k⟩"] + (["∂J/∂c⟨k⟩"] if g.shape[0] == 2 else [])
        bottom.set_yticks(range(g.shape[0]), labels=labels)
        target = "L⟨T_x⟩" if lens.loss == "last" else "Σ_t L⟨t⟩"
        bottom.set_title(f"log₁₀ of the gradient norm, J = {target}")
        bottom.set_xlabel("time step")
    fig.colorbar(sat_image, ax=list(axes[0]), label="saturated fraction")
    fig.colorbar(grad_image, ax=list(axes[1]), label="log₁₀ ‖∂J/∂state‖_F")
    return fig


def _log_grad_rows(lens: GateLens) -> np.ma.MaskedArray:
    """log₁₀ of the (1 or 2, T_x) gradient norms; a zero norm is masked (drawn blank)."""
    rows = [lens.grad_norms] + ([lens.cell_grad_norms] if lens.cell_grad_norms is not None
                                else [])
    return np.ma.log10(np.ma.masked_less_equal(np.vstack(rows), 0.0))
