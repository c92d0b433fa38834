"""The composed RNN, GRU (both reset variants) and LSTM are twice differentiable end to end.

For the notes' loss J (binary cross-entropy, summed over units and steps, / m), the tape's
Hessian-vector product H v (`minigrad.hvp`, reverse over reverse) w.r.t. every parameter and
the dense input x agrees with the four-point central difference of the first-order gradient
along v, d/dt ∇J(θ + t v) at t = 0, to 1e-8 relative; so with token-id input (parameters
only); `gradcheck(order=2)` passes on the same problems; the fused recurrences refuse
create_graph with an error that names the fix.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from tests.minigrad._fd import STENCILS, rel_error
from tests.models._model_cases import initial_states, make, variant_id

N_X, N_A, N_Y, M, T = 3, 4, 2, 2, 3
TOL = 1e-8
KINDS = [("RNN", {}), ("GRU", {}), ("GRU", {"reset_after": True}), ("LSTM", {})]


def problem(kind: str, opts: dict, ids: bool, seed: int = 0):
    """(J as a function of (parameters..., [x]) arrays, the point θ, a direction v)."""
    model = make(kind, N_X, N_A, N_Y, seed=seed, **opts)
    names = list(model.parameters())
    rng = np.random.default_rng([seed, 5])
    x = rng.integers(0, N_X, size=(M, T)) if ids else rng.normal(size=(N_X, M, T))
    a0, c0 = initial_states(kind, N_A, M, rng)
    if kind == "GRU":
        a0, c0 = None, a0  # the GRU's one state is c⟨t⟩
    y = rng.integers(0, 2, size=(N_Y, M, T)).astype(np.float64)

    def J(*tensors):
        for name, t in zip(names, tensors):
            setattr(model, name, t)          # the parameters J is differentiated by
        x_in = x if ids else tensors[len(names)]
        return mg.binary_cross_entropy(model(x_in, a0, c0), y, reduction="notes")

    theta = [p.data.copy() for p in model.parameters().values()] + ([] if ids else [x])
    v = [rng.normal(size=a.shape) for a in theta]
    return J, theta, v


def gradient(J, arrays):
    """∇J by the first-order tape (arrays)."""
    ts = [mg.Tensor(a, requires_grad=True) for a in arrays]
    return mg.grad(J(*ts), ts)


def fd_hvp(J, theta, v, h: float = 1e-3):
    """d/dt ∇J(θ + t v) at t = 0 by the four-point central stencil."""
    offsets, weights = STENCILS[4]
    out = [np.zeros_like(a) for a in theta]
    for k, w in zip(offsets, weights):
        for o, g in zip(out, gradient(J, [a + k * h * d for a, d in zip(theta, v)])):
            o += w * g / h
    return out


@pytest.mark.parametrize("ids", [False, True], ids=["dense", "token-ids"])
@pytest.mark.parametrize("variant", KINDS, ids=variant_id)
def test_hvp_of_J_matches_finite_differences_of_the_gradient(variant, ids: bool) -> None:
    J, theta, v = problem(*variant, ids=ids)
    hv = mg.hvp(J, tuple(theta), tuple(v))
    fd = fd_hvp(J, theta, v)
    assert len(hv) == len(theta)
    for i, (a, b) in enumerate(zip(hv, fd)):
        assert a.shape == theta[i].shape
        assert rel_error(a, b) < TOL, f"input {i}: relative error {rel_error(a, b):.2e}"
    assert rel_error(np.concatenate([a.ravel() for a in hv]),
                     np.concatenate([b.ravel() for b in fd])) < TOL


@pytest.mark.parametrize("variant", KINDS, ids=variant_id)
def test_gradcheck_order2_passes_on_the_models(variant) -> None:
    kind, opts = variant
    model = make(kind, N_X, N_A, N_Y, seed=1, **opts)
    rng = np.random.default_rng(3)
    x = mg.Tensor(rng.normal(size=(N_X, M, T)), requires_grad=True)
    y = rng.integers(0, 2, size=(N_Y, M, T)).astype(np.float64)
    inputs = {**model.parameters(), "x": x}
    report = mg.gradcheck(lambda: mg.binary_cross_entropy(model(x), y, reduction="notes"),
                          inputs, mode="directional", order=2)
    assert report.ok, str(report)
    assert len(report) == len(inputs)


@pytest.mark.parametrize("variant", KINDS, ids=variant_id)
def test_fused_recurrences_refuse_create_graph(variant) -> None:
    kind, opts = variant
    model = make(kind, N_X, N_A, N_Y, seed=0, fused=True, **opts)
    x = np.random.default_rng(0).normal(size=(N_X, M, T))
    params = list(model.parameters().values())
    J = mg.binary_cross_entropy(model(x), np.ones((N_Y, M, T)), reduction="notes")
    assert all(g is not None for g in mg.grad(J, params, retain_graph=True))  # order 1 works
    with pytest.raises(RuntimeError, match=r"recurrence.*create_graph=True.*fused=False"):
        mg.grad(J, params, create_graph=True)

    def loss(*tensors):
        for name, t in zip(model.parameters(), tensors):
            setattr(model, name, t)
        return mg.binary_cross_entropy(model(x), np.ones((N_Y, M, T)), reduction="notes")

    theta = tuple(p.data for p in params)
    with pytest.raises(RuntimeError, match=r"recurrence.*create_graph=True.*fused=False"):
        mg.hvp(loss, theta, theta)
