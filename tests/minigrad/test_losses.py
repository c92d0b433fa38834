"""Losses that never produce garbage: range checks, PyTorch's clamped BCE, empty batches."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor
from minigrad.optim import Adam


@pytest.mark.parametrize("bad", [1.5, -0.1, 1 + 1e-12])
def test_bce_refuses_predictions_outside_0_1(bad: float) -> None:
    with pytest.raises(ValueError, match=r"binary_cross_entropy: y_hat must be probabilities "
                                         r"in \[0, 1\].*binary_cross_entropy_with_logits"):
        mg.binary_cross_entropy(Tensor([[0.5, bad]]), np.array([[1.0, 0.0]]))


def test_bce_nan_prediction_propagates() -> None:
    loss = mg.binary_cross_entropy(Tensor([[np.nan, 0.5]]), np.array([[1.0, 0.0]]), "sum")
    assert np.isnan(loss.item())


@pytest.mark.filterwarnings("error")
def test_bce_clamps_each_log_at_minus_100_like_pytorch() -> None:
    """torch.nn.functional.binary_cross_entropy: −max(log ŷ, −100) per wrong certain element."""
    yh = Tensor([[0.0, 1.0, 0.0, 1.0, 1e-50]], requires_grad=True)
    y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]])
    loss = mg.binary_cross_entropy(yh, y, reduction="none")
    np.testing.assert_array_equal(loss.data, [[100.0, 100.0, 0.0, 0.0, 100.0]])
    loss.backward(np.ones((1, 5)))
    # (1 − y)/max(1 − ŷ, 1e-12) − y/max(ŷ, 1e-12): finite, pointing the right way, exact for ŷ = y
    np.testing.assert_array_equal(yh.grad, [[-1e12, 1e12, 1.0, -1.0, -1e12]])


def test_bce_gradient_is_exact_inside() -> None:
    yh = Tensor([[0.2, 0.7, 1e-9]], requires_grad=True)
    y = np.array([[1.0, 0.25, 1.0]])
    mg.binary_cross_entropy(yh, y, reduction="sum").backward()
    np.testing.assert_allclose(yh.grad, (1 - y) / (1 - yh.data) - y / yh.data, rtol=1e-15)


@pytest.mark.filterwarnings("error")
def test_confidently_wrong_sigmoid_output_trains_finitely() -> None:
    """σ(±1000) is exactly 0 or 1: J, every gradient and the parameters after an Adam step stay
    finite (without the clamp: J = inf, NaN gradients, NaN parameters)."""
    W = Tensor(np.array([[1000.0, -1000.0]]), requires_grad=True)
    b = Tensor(np.zeros((1, 1)), requires_grad=True)
    x = np.array([[1.0, 0.0, 0.003], [0.0, 1.0, 0.0]])  # z = [1000, −1000, 3]
    y = np.array([[0.0, 1.0, 0.0]])  # every prediction wrong, the first two certainly
    opt = Adam([W, b], lr=0.1)
    J = mg.binary_cross_entropy(mg.sigmoid(W @ x + b), y)  # (100 + 100 + softplus(3)) / m
    assert J.item() == pytest.approx((200.0 + np.log1p(np.exp(3.0))) / 3, rel=1e-12)
    J.backward()
    assert np.all(np.isfinite(W.grad)) and np.all(np.isfinite(b.grad))
    opt.step()
    assert np.all(np.isfinite(W.data)) and np.all(np.isfinite(b.data))
    assert W.data[0, 0] < 1000.0  # the third example's gradient moved the weight


@pytest.mark.parametrize("reduction", ["notes", "sum", "mean", "none"])
def test_bce_with_logits_agrees_with_clamped_bce_where_unclamped(reduction: str) -> None:
    z = np.array([[-3.0, 0.5, 2.0]])
    y = np.array([[1.0, 0.0, 0.3]])
    a = mg.binary_cross_entropy_with_logits(Tensor(z), y, reduction)
    b = mg.binary_cross_entropy(mg.sigmoid(Tensor(z)), y, reduction)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


@pytest.mark.parametrize("target_grad", [False, True])
def test_cross_entropy_with_an_empty_batch_is_a_clear_error(target_grad: bool) -> None:
    logits = Tensor(np.zeros((3, 0, 4)), requires_grad=True)
    y = Tensor(np.zeros((3, 0, 4)), requires_grad=target_grad)
    msg = r"cross_entropy: reduction='notes' averages over the batch axis 1, which is empty"
    with pytest.raises(ValueError, match=msg + r" \(shape \(3, 0, 4\), m = 0\)"):
        mg.cross_entropy(logits, y)
    assert mg.cross_entropy(logits, y, reduction="sum").item() == 0.0


@pytest.mark.parametrize("loss", [mg.binary_cross_entropy, mg.binary_cross_entropy_with_logits,
                                  mg.mse])
def test_other_losses_with_an_empty_batch_are_a_clear_error(loss) -> None:
    with pytest.raises(ValueError, match=rf"{loss.__name__}: reduction='notes'.*m = 0"):
        loss(Tensor(np.zeros((2, 0, 3))), np.zeros((2, 0, 3)), reduction="notes")
