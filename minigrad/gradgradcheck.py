"""Second-order gradient checks: `gradcheck(f, inputs, order=2)` (PyTorch's `gradgradcheck`).

The tape's first-order gradient of φ(θ) = Σ v_out ⊙ f(θ) is a function of the inputs,
G(θ) = ∇φ(θ). Its derivative is checked like any gradient, after one more reduction with a
fixed random cotangent w (standard normal, seeded, one array per input):

    ψ(θ) = ⟨w, G(θ)⟩ = Σ_i Σ w_i ⊙ G_i(θ),        ∇ψ = H w,   H = ∇²φ  (symmetric)

    analytic  H w by the tape: G recorded with create_graph=True, ⟨w, G⟩ differentiated again
    numeric   finite differences of ψ, where each ψ(θ ± ε e_k) runs f and the first-order
              tape (`minigrad.grad`, arrays, no create_graph) at the perturbed point

so the second derivatives the engine records are compared with differences of the first
derivatives it computes, in every mode of `gradcheck`: "full" (every entry of H w), "sampled"
(`samples` of them), "directional" (⟨H w, v⟩ along one random unit v, the 4-point stencil)
and "complex" (Im ψ(θ + i h e_k)/h). The complex step applies: a backward written with
operators is analytic wherever its forward is (d/dz tanh z = 1 − tanh² z holds for complex z),
so G(θ + i h e_k) is the complex extension of G and Im ψ / h its derivative without
cancellation; as at first order it needs analytic ops end to end (no relu, maximum, abs).

A wrong second derivative, e.g. a backward whose Tensor form treats a value it uses as a
constant (right numbers at first order, a missing term at second), makes H w differ from the
differences of ψ, whichever mode is used (a random w and, for "directional", v, catch every
wrong entry of H with probability 1).

Steps and thresholds are `gradcheck`'s (DEFAULTS), with ψ in the place of φ: the step grows
with s = Σ|w ⊙ G| (ψ's rounding scale) and the noise floor is 16·u·s/ε. Measured relative
errors of correct second derivatives (the three models at n_x = 3, n_a = 4, T_x = 3..30,
m = 2..16, every input; the notes' sizes, directional; the test functions): full/sampled
≤ 1e-9, directional ≤ 4e-11, complex ≤ 5e-16, against rtol 1e-6 (1e-12 complex), so the
margins of order 1 hold; a lost term of a second derivative gave relative errors ≥ 1e-3.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .autograd import grad as _grad
from .gradcheck import ComplexStepError, _ComplexWarning, _Evaluator, checked_output
from .modes import _switched
from .tensor import Tensor

__all__ = ["GradEvaluator"]


class GradEvaluator(_Evaluator):
    """ψ(θ) = ⟨w, G(θ)⟩ with G(θ) = ∇ Σ v_out ⊙ f(θ) by the first-order tape, and the tape's
    H w (`analytic`). Used by `gradcheck(order=2)` where order 1 evaluates φ."""

    def __init__(self, f: Callable[[], Any], tensors: list[Tensor],
                 progress: Callable[[int], Any] | None) -> None:
        super().__init__(f, np.ones(()), progress)
        self.tensors = tensors
        self.w: list[np.ndarray] = []

    def analytic(self, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
        """H w by the tape (reverse over reverse) and ψ's rounding scale Σ|w ⊙ G|. Draws
        v_out, then w, from `rng`; the graphs are released afterwards."""
        with _switched("grad_enabled", True):
            out, v = checked_output(self, rng)
            gs = _grad(out, self.tensors, v, create_graph=True, allow_unused=True)
            self.w = [rng.standard_normal(t.shape) for t in self.tensors]
            terms = [(g * w).sum() for g, w in zip(gs, self.w) if g is not None]
            scale = sum(float(np.sum(np.abs(w * g.data))) for g, w in zip(gs, self.w)
                        if g is not None)
            psi = sum(terms[1:], terms[0]) if terms else None
            if psi is None or not psi.requires_grad:  # G does not depend on θ: H = 0
                hw: list[Any] = [None] * len(self.tensors)
            else:
                hw = _grad(psi, self.tensors, retain_graph=False, allow_unused=True)
        return [np.zeros(t.shape) if h is None else np.asarray(h, dtype=np.float64)
                for h, t in zip(hw, self.tensors)], scale

    def _psi(self) -> Any:
        """ψ at the inputs' current data: f, then its first-order gradient (arrays)."""
        with _switched("grad_enabled", True):
            out = self.output()
            if not out.requires_grad:
                return 0.0
            seed = self.v.reshape(self.shape).astype(out.dtype)
            gs = _grad(out, self.tensors, seed, retain_graph=False, allow_unused=True)
        return sum(np.sum(w * g) for g, w in zip(gs, self.w) if g is not None)

    def real(self) -> float:
        return float(np.real(self._psi()))

    def imag(self) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("error", _ComplexWarning)
            psi = self._psi()
        if not np.iscomplexobj(psi):
            raise ComplexStepError(
                "gradcheck(mode='complex', order=2): f() or its gradient came out real for "
                "complex inputs, so an op dropped the imaginary part; the complex step needs "
                "analytic ops end to end. Use mode='full' instead.")
        return float(np.imag(psi))
