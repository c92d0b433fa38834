"""Hand-written NumPy forward + BPTT of SPEC.md's LSTM: the no-overhead reference.

This is what a careful NumPy programmer writes when there is no autograd at all. It computes
exactly the equations of ``shared/SPEC.md`` (state-first concatenation, ``(n_x, m, T_x)`` layout)::

    ĉ⟨t⟩ = tanh(W_c [a⟨t-1⟩; x⟨t⟩] + b_c)        Γ_u = σ(W_u [a⟨t-1⟩; x⟨t⟩] + b_u)
    Γ_f  = σ(W_f [a⟨t-1⟩; x⟨t⟩] + b_f)            Γ_o = σ(W_o [a⟨t-1⟩; x⟨t⟩] + b_o)
    c⟨t⟩ = Γ_u * ĉ⟨t⟩ + Γ_f * c⟨t-1⟩               a⟨t⟩ = Γ_o * tanh(c⟨t⟩)
    z⟨t⟩ = W_y a⟨t⟩ + b_y                           ŷ⟨t⟩ = g(z⟨t⟩)

with the loss the benchmark uses: ``g = σ`` with the notes' binary cross-entropy
``J = (1/m) Σ_t Σ_units [-y log ŷ - (1-y) log(1-ŷ)]`` ("sigmoid"), or ``g = softmax`` over the
n_y axis with cross-entropy ``J = -(1/m) Σ_t Σ_units y log ŷ`` ("softmax"). Both give the same
output-layer gradient ``∂J/∂z⟨t⟩ = (ŷ⟨t⟩ - y⟨t⟩) / m``.

The tricks are the standard ones, none of which changes the function:

* The four gate matrices are stacked, ``W = [W_c; W_u; W_f; W_o]`` of shape ``(4 n_a, n_a + n_x)``,
  and split by columns into ``W_a = W[:, :n_a]`` (acts on the state, which comes first) and
  ``W_x = W[:, n_a:]``. By the block-matrix identity ``W [a; x] = W_a a + W_x x``.
* Everything that does not depend on the recurrence is done for all time steps in one GEMM:
  the input projection ``W_x X + b``, the output layer ``W_y A + b_y`` and, in backward,
  ``∂W_y``, ``∂W`` and ``∂A`` from the output layer. The time loop does one GEMM per step
  (``W_a a⟨t-1⟩`` forward, ``W_aᵀ ∂z⟨t⟩`` backward) plus element-wise work on ``(n_a, m)`` slices.
* Time-indexed buffers are laid out ``(rows, T_x, m)`` so that ``buf.reshape(rows, T_x m)``
  is a free view for the batched GEMMs; the gate pre-activations are overwritten in place by the
  gate values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

GATES = ("c", "u", "f", "o")
"""Gate order in the stacked matrix: ĉ, Γ_u, Γ_f, Γ_o (SPEC.md's parameter order)."""

PARAM_NAMES = ("W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o", "W_y", "b_y")


def init_params(
    n_x: int, n_a: int, n_y: int, seed: int | None = 0, dtype: type = np.float64
) -> dict[str, np.ndarray]:
    """SPEC.md-named LSTM parameters drawn from U(-1/√n_a, 1/√n_a) (PyTorch's default)."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(n_a)
    shapes = {"W_y": (n_y, n_a), "b_y": (n_y, 1)}
    for g in GATES:
        shapes[f"W_{g}"] = (n_a, n_a + n_x)
        shapes[f"b_{g}"] = (n_a, 1)
    return {name: rng.uniform(-k, k, shapes[name]).astype(dtype) for name in PARAM_NAMES}


class ReferenceLSTM:
    """LSTM with stacked gate weights and a hand-written backward pass (BPTT).

    Parameters are stored stacked: ``W`` ``(4n_a, n_a+n_x)``, ``b`` ``(4n_a, 1)``, ``W_y``,
    ``b_y``. :meth:`params` and :meth:`split` give SPEC.md-named views of them.
    """

    def __init__(self, params: Mapping[str, np.ndarray], output: str = "sigmoid") -> None:
        if output not in ("sigmoid", "softmax"):
            raise ValueError("ReferenceLSTM: output must be 'sigmoid' or 'softmax', "
                             f"not {output!r}")
        self.output = output
        arrays = {k: np.asarray(v) for k, v in params.items()}
        self.n_a = arrays["W_c"].shape[0]
        self.n_x = arrays["W_c"].shape[1] - self.n_a
        self.n_y = arrays["W_y"].shape[0]
        self.W = np.concatenate([arrays[f"W_{g}"] for g in GATES], axis=0)
        self.b = np.concatenate([arrays[f"b_{g}"] for g in GATES], axis=0)
        self.W_y = arrays["W_y"].copy()
        self.b_y = arrays["b_y"].copy()

    @classmethod
    def from_model(cls, model: object, output: str = "sigmoid") -> ReferenceLSTM:
        """Copy the parameters of a ``models.LSTM`` (anything with ``.parameters()``)."""
        named = {k: np.asarray(t.data) for k, t in model.parameters().items()}  # type: ignore[attr-defined]
        return cls(named, output=output)

    def split(self, W: np.ndarray, b: np.ndarray, W_y: np.ndarray, b_y: np.ndarray
              ) -> dict[str, np.ndarray]:
        """Name stacked arrays (parameters or gradients) with SPEC.md's names (views)."""
        n = self.n_a
        out: dict[str, np.ndarray] = {}
        for i, g in enumerate(GATES):
            out[f"W_{g}"] = W[i * n:(i + 1) * n]
            out[f"b_{g}"] = b[i * n:(i + 1) * n]
        out["W_y"], out["b_y"] = W_y, b_y
        return {k: out[k] for k in PARAM_NAMES}

    def params(self) -> dict[str, np.ndarray]:
        """SPEC.md-named views of the stacked parameters (writing into them changes the model)."""
        return self.split(self.W, self.b, self.W_y, self.b_y)

    def step_sgd(self, grads: Mapping[str, np.ndarray], lr: float) -> None:
        """Plain SGD update from :meth:`loss_and_grads`' stacked gradients (``W -= lr ∂W``)."""
        for name in ("W", "b", "W_y", "b_y"):
            getattr(self, name)[...] -= lr * grads[name]

    def forward(self, x: np.ndarray, a0: np.ndarray | None = None,
                c0: np.ndarray | None = None) -> np.ndarray:
        """ŷ of shape ``(n_y, m, T_x)`` for ``x`` of shape ``(n_x, m, T_x)`` (no loss, no cache)."""
        y_hat = self._forward(x, a0, c0)[0]
        return np.ascontiguousarray(y_hat.transpose(0, 2, 1))

    def _forward(self, x: np.ndarray, a0: np.ndarray | None, c0: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                            np.ndarray, np.ndarray]:
        """Forward over all steps; returns ŷ ``(n_y, T, m)`` and the caches BPTT needs."""
        n_x, m, T = x.shape
        if n_x != self.n_x:
            raise ValueError(f"ReferenceLSTM: x has n_x={n_x}, expected {self.n_x} "
                             "(layout (n_x, m, T_x))")
        n_a, dt = self.n_a, self.W.dtype
        W_a, W_x = self.W[:, :n_a], self.W[:, n_a:]
        X = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=dt)       # (n_x, T, m)
        # Input projection of every step at once; overwritten in place by the gate values.
        G = (W_x @ X.reshape(n_x, T * m) + self.b).reshape(4 * n_a, T, m)
        A = np.empty((n_a, T + 1, m), dt)                               # A[:, t+1] = a⟨t+1⟩
        C = np.empty((n_a, T + 1, m), dt)
        A[:, 0] = 0.0 if a0 is None else a0
        C[:, 0] = 0.0 if c0 is None else c0
        TC = np.empty((n_a, T, m), dt)                                  # tanh(c⟨t⟩)
        tmp = np.empty((4 * n_a, m), dt)
        with np.errstate(over="ignore"):                                # exp(-z) → inf is fine
            for t in range(T):
                g = G[:, t]
                np.matmul(W_a, A[:, t], out=tmp)
                g += tmp                                                # z = W_a a + W_x x + b
                np.tanh(g[:n_a], out=g[:n_a])                           # ĉ
                s = g[n_a:]                                             # σ(z) = 1 / (1 + e^-z)
                np.negative(s, out=s)
                np.exp(s, out=s)
                s += 1.0
                np.reciprocal(s, out=s)
                c_hat, gu, gf, go = g[:n_a], g[n_a:2 * n_a], g[2 * n_a:3 * n_a], g[3 * n_a:]
                c = C[:, t + 1]
                np.multiply(gu, c_hat, out=c)
                c += gf * C[:, t]                                       # c = Γu ĉ + Γf c⟨t-1⟩
                np.tanh(c, out=TC[:, t])
                np.multiply(go, TC[:, t], out=A[:, t + 1])              # a = Γo tanh(c)
            Z = (self.W_y @ A[:, 1:].reshape(n_a, T * m) + self.b_y).reshape(self.n_y, T, m)
            y_hat = self._activate(Z)
        return y_hat, X, G, A, C, TC, Z

    def _activate(self, Z: np.ndarray) -> np.ndarray:
        """Output activation over the n_y axis (in place on ``Z``)."""
        if self.output == "sigmoid":
            np.negative(Z, out=Z)
            np.exp(Z, out=Z)
            Z += 1.0
            return np.reciprocal(Z, out=Z)
        Z -= Z.max(axis=0, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=0, keepdims=True)
        return Z

    def loss(self, y_hat: np.ndarray, Y: np.ndarray, m: int) -> float:
        """The notes' J for ŷ and targets in ``(n_y, T, m)`` layout, summed and divided by m."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.output == "sigmoid":
                # Σ -y log ŷ - (1-y) log(1-ŷ), with 0·log 0 = 0 so exact 0/1 outputs are fine.
                terms = np.where(Y > 0, Y * np.log(y_hat), 0.0)
                terms += np.where(Y < 1, (1.0 - Y) * np.log1p(-y_hat), 0.0)
            else:
                terms = np.where(Y > 0, Y * np.log(y_hat), 0.0)
        return float(-terms.sum() / m)

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, a0: np.ndarray | None = None,
                       c0: np.ndarray | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """J and its gradient with respect to every parameter, by hand-written BPTT.

        ``x`` is ``(n_x, m, T_x)``, ``y`` is ``(n_y, m, T_x)``. The gradients are returned
        stacked under ``W``, ``b``, ``W_y``, ``b_y`` (use :meth:`split` for SPEC.md names),
        plus ``a0``/``c0`` (∂J/∂a⟨0⟩, ∂J/∂c⟨0⟩).
        """
        n_x, m, T = x.shape
        n_a = self.n_a
        y_hat, X, G, A, C, TC, _ = self._forward(x, a0, c0)
        Y = np.ascontiguousarray(y.transpose(0, 2, 1), dtype=y_hat.dtype)  # (n_y, T, m)
        J = self.loss(y_hat, Y, m)

        # Output layer, every step at once: ∂J/∂z = (ŷ - y)/m.
        dZ = (y_hat - Y).reshape(self.n_y, T * m)
        dZ /= m
        A_flat = A[:, 1:].reshape(n_a, T * m)
        dW_y = dZ @ A_flat.T
        db_y = dZ.sum(axis=1, keepdims=True)
        dA = (self.W_y.T @ dZ).reshape(n_a, T, m)                      # ∂J/∂a⟨t⟩ via ŷ⟨t⟩ only

        # Back through time. dG[:, t] holds ∂J/∂(gate pre-activations) at step t.
        W_aT = self.W[:, :n_a].T
        dG = np.empty((4 * n_a, T, m), G.dtype)
        da_next = np.zeros((n_a, m), G.dtype)
        dc_next = np.zeros((n_a, m), G.dtype)
        for t in range(T - 1, -1, -1):
            g, dg = G[:, t], dG[:, t]
            c_hat, gu, gf, go = g[:n_a], g[n_a:2 * n_a], g[2 * n_a:3 * n_a], g[3 * n_a:]
            tc = TC[:, t]
            da = dA[:, t]
            da += da_next                                               # ∂J/∂a⟨t⟩
            # ∂J/∂c⟨t⟩ = ∂J/∂c⟨t+1⟩ Γf⟨t+1⟩ + ∂J/∂a⟨t⟩ Γo (1 - tanh² c)
            dc = go * da
            dc *= 1.0 - tc * tc
            dc += dc_next
            # Pre-activation gradients: tanh' = 1 - ĉ², σ' = Γ (1 - Γ).
            np.multiply(dc, gu, out=dg[:n_a])
            dg[:n_a] *= 1.0 - c_hat * c_hat
            np.multiply(dc, c_hat, out=dg[n_a:2 * n_a])
            np.multiply(dc, C[:, t], out=dg[2 * n_a:3 * n_a])
            np.multiply(da, tc, out=dg[3 * n_a:])
            s = g[n_a:]
            dg[n_a:] *= s * (1.0 - s)
            np.multiply(dc, gf, out=dc_next)                            # ∂J/∂c⟨t-1⟩ (direct)
            np.matmul(W_aT, dg, out=da_next)                            # ∂J/∂a⟨t-1⟩ (recurrent)

        # Parameter gradients, summed over every step in one GEMM each.
        dG_flat = dG.reshape(4 * n_a, T * m)
        dW = np.empty_like(self.W)
        np.matmul(dG_flat, A[:, :T].reshape(n_a, T * m).T, out=dW[:, :n_a])
        np.matmul(dG_flat, X.reshape(n_x, T * m).T, out=dW[:, n_a:])
        db = dG_flat.sum(axis=1, keepdims=True)
        return J, {"W": dW, "b": db, "W_y": dW_y, "b_y": db_y, "a0": da_next, "c0": dc_next}

    def named_grads(self, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """SPEC.md-named views of the stacked gradients returned by :meth:`loss_and_grads`."""
        return self.split(grads["W"], grads["b"], grads["W_y"], grads["b_y"])
