"""The benchmarks' hand-written NumPy LSTM computes exactly what minigrad's LSTM computes.

``benchmarks/reference_lstm.py`` is the no-overhead reference the speed ratios are taken against,
so it must be the same function with the same gradients: loss and every parameter gradient (and
∂J/∂a⟨0⟩, ∂J/∂c⟨0⟩) agree with ``models.LSTM`` + minigrad's backward to 1e-12.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# benchmarks/ is not an installed package: make the repository root importable under any runner
# (first on the path, so that ``models`` is the package and not the tests/models folder).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import minigrad as mg  # noqa: E402
import models  # noqa: E402
from benchmarks.reference_lstm import PARAM_NAMES, ReferenceLSTM, init_params  # noqa: E402

TOL = 1e-12


def _data(output: str, n_x: int, n_y: int, m: int, T: int, seed: int
          ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_x, m, T))
    if output == "sigmoid":
        y = (rng.random((n_y, m, T)) < 0.5).astype(np.float64)
    else:
        y = np.eye(n_y)[rng.integers(0, n_y, size=(m, T))].transpose(2, 0, 1)
    return x, y


def _minigrad(output: str, x: np.ndarray, y: np.ndarray, a0: np.ndarray, c0: np.ndarray,
              n_x: int, n_a: int, n_y: int, seed: int
              ) -> tuple[models.LSTM, float, dict[str, np.ndarray]]:
    """models.LSTM's loss and gradients: sigmoid + BCE, or linear output + cross_entropy."""
    model = models.LSTM(n_x, n_a, n_y, output="sigmoid" if output == "sigmoid" else "linear",
                        seed=seed)
    a0_t, c0_t = mg.Tensor(a0, requires_grad=True), mg.Tensor(c0, requires_grad=True)
    out = model(x, a0=a0_t, c0=c0_t)
    J = mg.binary_cross_entropy(out, y) if output == "sigmoid" else mg.cross_entropy(out, y)
    J.backward()
    grads = {k: np.array(t.grad) for k, t in model.parameters().items()}
    grads["a0"], grads["c0"] = np.array(a0_t.grad), np.array(c0_t.grad)
    return model, J.item(), grads


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize(("n_x", "n_a", "n_y", "m", "T"), [(3, 4, 2, 2, 6), (5, 3, 4, 1, 9)])
def test_reference_equals_minigrad(output: str, n_x: int, n_a: int, n_y: int, m: int,
                                   T: int) -> None:
    x, y = _data(output, n_x, n_y, m, T, seed=1)
    rng = np.random.default_rng(2)
    a0, c0 = rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))
    model, J_mg, g_mg = _minigrad(output, x, y, a0, c0, n_x, n_a, n_y, seed=3)

    ref = ReferenceLSTM.from_model(model, output=output)
    J_ref, g = ref.loss_and_grads(x, y, a0, c0)
    assert J_ref == pytest.approx(J_mg, rel=TOL, abs=TOL)
    named = ref.named_grads(g)
    assert list(named) == list(PARAM_NAMES) == list(g_mg)[:len(PARAM_NAMES)]
    for name in PARAM_NAMES:
        assert named[name].shape == g_mg[name].shape, name
        np.testing.assert_allclose(named[name], g_mg[name], rtol=TOL, atol=TOL, err_msg=name)
    for name in ("a0", "c0"):
        np.testing.assert_allclose(g[name], g_mg[name], rtol=TOL, atol=TOL, err_msg=name)


def test_reference_forward_equals_model() -> None:
    """ŷ of the reference equals model(x) for both output kinds."""
    n_x, n_a, n_y, m, T = 4, 5, 3, 2, 7
    x, _ = _data("sigmoid", n_x, n_y, m, T, seed=4)
    for output in ("sigmoid", "softmax"):
        model = models.LSTM(n_x, n_a, n_y, output=output, seed=5)
        ref = ReferenceLSTM.from_model(model, output=output)
        np.testing.assert_allclose(ref.forward(x), np.asarray(model(x).data), rtol=TOL, atol=TOL)


def test_stacked_layout_and_views() -> None:
    """W stacks W_c, W_u, W_f, W_o (state columns first); params() views write through."""
    p = init_params(3, 4, 2, seed=0)
    ref = ReferenceLSTM(p)
    assert ref.W.shape == (16, 7) and ref.b.shape == (16, 1)
    for name, arr in ref.params().items():
        np.testing.assert_array_equal(arr, p[name])
    ref.params()["W_f"][0, 0] = 42.0
    assert ref.W[8, 0] == 42.0
    with pytest.raises(ValueError, match="n_x"):
        ref.forward(np.zeros((5, 1, 2)))


def test_reference_detects_a_wrong_gradient() -> None:
    """The comparison can fail: a perturbed parameter changes the reference's gradients."""
    n_x, n_a, n_y, m, T = 3, 4, 2, 2, 5
    x, y = _data("sigmoid", n_x, n_y, m, T, seed=6)
    zeros = np.zeros((n_a, m))
    model, _, g_mg = _minigrad("sigmoid", x, y, zeros, zeros, n_x, n_a, n_y, seed=7)
    ref = ReferenceLSTM.from_model(model)
    ref.W[0, 0] += 1e-6
    named = ref.named_grads(ref.loss_and_grads(x, y)[1])
    assert max(np.max(np.abs(named[k] - g_mg[k])) for k in PARAM_NAMES) > 1e-10
