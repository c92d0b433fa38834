"""minigrad.optim: SGD, Adam, gradient clipping, optimizer state round trips."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim import SGD, Adam, clip_grad_norm, clip_grad_value


def make_params(rng, shapes=((3, 2), (4,))):
    return [mg.Tensor(rng.normal(size=s), requires_grad=True) for s in shapes]


def quadratic_grads(params, targets):
    """J = Σ ½‖p − target‖² → p.grad = p − target, set through the engine."""
    for p in params:
        p.grad = None
    J = sum(((p - t) * (p - t)).sum() * 0.5 for p, t in zip(params, targets, strict=True))
    J.backward()
    return J.item()


def test_sgd_plain_and_momentum_match_formulas():
    rng = np.random.default_rng(0)
    for momentum in (0.0, 0.9):
        params = make_params(rng)
        targets = [rng.normal(size=p.shape) for p in params]
        ref = [p.data.copy() for p in params]
        buf = [None] * len(params)
        opt = SGD(params, lr=0.1, momentum=momentum)
        for _ in range(4):
            quadratic_grads(params, targets)
            opt.step()
            for i, t in enumerate(targets):
                g = ref[i] - t
                buf[i] = g if buf[i] is None else momentum * buf[i] + g
                ref[i] = ref[i] - 0.1 * (buf[i] if momentum else g)
        for p, r in zip(params, ref, strict=True):
            np.testing.assert_allclose(p.data, r, rtol=1e-14, atol=1e-15)


def adam_reference(p, grads, lr, b1, b2, eps):
    m = v = 0.0
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def test_adam_matches_formula_and_keeps_identity():
    rng = np.random.default_rng(1)
    p = mg.Tensor(rng.normal(size=(3, 3)), requires_grad=True)
    data_id = id(p.data)
    grads = [rng.normal(size=(3, 3)) for _ in range(5)]
    opt = Adam([p], lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    start = p.data.copy()
    for g in grads:
        p.grad = g.copy()
        opt.step()
    np.testing.assert_allclose(p.data, adam_reference(start, grads, 0.01, 0.8, 0.99, 1e-6),
                               rtol=1e-13)
    assert id(p.data) == data_id                     # updated in place
    assert opt.betas == (0.8, 0.99) and opt.step_count == 5


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = make_params(np.random.default_rng(2))
    before = b.data.copy()
    a.grad = np.ones(a.shape)
    for opt in (SGD([a, b], lr=0.5, momentum=0.5), Adam({"a": a, "b": b}.values())):
        opt.step()
        np.testing.assert_array_equal(b.data, before)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_clip_grad_norm():
    a, b = make_params(np.random.default_rng(3))
    a.grad, b.grad = np.full(a.shape, 3.0), np.full(b.shape, 4.0)
    norm = np.sqrt(6 * 9 + 4 * 16)
    assert clip_grad_norm([a, b], 100.0) == pytest.approx(norm)
    np.testing.assert_array_equal(a.grad, 3.0)                   # below max: untouched
    assert clip_grad_norm([a, b], 2.0) == pytest.approx(norm)
    new = np.sqrt(np.sum(a.grad**2) + np.sum(b.grad**2))
    assert new == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_allclose(a.grad / b.grad[0], 0.75)          # direction kept
    c = mg.Tensor(np.zeros(2), requires_grad=True)               # no grad: ignored
    assert clip_grad_norm([c], 1.0) == 0.0


def test_clip_grad_value():
    a, b = make_params(np.random.default_rng(4))
    a.grad = np.array([[-7.0, 1.0], [5.5, -5.0], [0.0, 9.0]])
    clip_grad_value([a, b], 5)
    np.testing.assert_array_equal(a.grad, [[-5, 1], [5, -5], [0, 5]])
    assert b.grad is None


@pytest.mark.parametrize("make_opt", [lambda ps: SGD(ps, lr=0.05, momentum=0.9),
                                      lambda ps: Adam(ps, lr=0.05)], ids=["SGD", "Adam"])
def test_state_dict_resume_is_exact(make_opt, tmp_path):
    rng = np.random.default_rng(5)
    targets = [rng.normal(size=(3, 2)), rng.normal(size=(4,))]
    init = make_params(rng)

    def fresh():
        return [mg.Tensor(p.data.copy(), requires_grad=True) for p in init]

    straight = fresh()
    opt = make_opt(straight)
    for _ in range(6):
        quadratic_grads(straight, targets)
        opt.step()

    first = fresh()
    opt1 = make_opt(first)
    for _ in range(3):
        quadratic_grads(first, targets)
        opt1.step()
    np.savez(tmp_path / "opt.npz", **opt1.state_dict())
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        state = {k: f[k] for k in f.files}
    resumed = [mg.Tensor(p.data.copy(), requires_grad=True) for p in first]
    opt2 = make_opt(resumed)
    opt2.load_state_dict(state)
    assert opt2.step_count == 3
    for _ in range(3):
        quadratic_grads(resumed, targets)
        opt2.step()
    for p, q in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_errors():
    params = make_params(np.random.default_rng(6))
    adam = Adam(params)
    for p in params:
        p.grad = np.ones(p.shape)
    adam.step()
    state = adam.state_dict()
    assert set(state) >= {"type", "lr", "beta1", "beta2", "eps", "step", "m.0", "v.1"}
    with pytest.raises(ValueError, match="state is for Adam"):
        SGD(params, lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"m.0 has shape \(2, 3\)"):
        Adam(params).load_state_dict({**state, "m.0": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="unexpected entry 'm.2'"):
        Adam(params).load_state_dict({**state, "m.2": np.zeros(4)})
    with pytest.raises(ValueError, match=r"missing entries \['step'\]"):
        Adam(params).load_state_dict({k: v for k, v in state.items() if k != "step"})


@pytest.mark.parametrize("bad", [
    lambda ps: SGD([], lr=0.1), lambda ps: SGD(ps, lr=-1.0), lambda ps: SGD(ps, lr=0.1,
                                                                          momentum=-0.5),
    lambda ps: Adam(ps, betas=(1.0, 0.9)), lambda ps: Adam(ps, eps=float("nan")),
    lambda ps: Adam([ps[0], ps[0]]), lambda ps: clip_grad_norm(ps, -1.0),
])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        bad(make_params(np.random.default_rng(7)))
    with pytest.raises(TypeError, match="not a Tensor"):
        SGD([np.zeros(3)], lr=0.1)


def test_training_a_model_reduces_the_loss():
    import models

    rng = np.random.default_rng(8)
    model = models.LSTM(4, 8, 4, output="softmax", seed=0)
    ids = rng.integers(0, 4, size=(8, 6))
    y = np.eye(4)[ids].transpose(2, 0, 1)              # learn to echo the current token
    opt = Adam(model.parameters().values(), lr=0.05)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        J = -(mg.log(model(ids)) * y).sum() / 8
        J.backward()
        clip_grad_norm(model.parameters().values(), 5.0)
        opt.step()
        losses.append(J.item())
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.parametrize("make_opt", [lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                      lambda ps: Adam(ps, lr=0.1)], ids=["SGD", "Adam"])
def test_step_with_a_live_graph_updates_and_that_graph_then_refuses_backward(make_opt):
    """An evaluation forward outside no_grad() must not block step(); backward through that
    stale graph afterwards is an error, not a gradient of parameters that have changed."""
    rng = np.random.default_rng(9)
    params = make_params(rng)
    targets = [rng.normal(size=p.shape) for p in params]
    opt = make_opt(params)
    quadratic_grads(params, targets)
    before = [p.data.copy() for p in params]
    live = (params[1] * params[1]).sum()               # saves params[1].data for backward
    opt.step()
    assert opt.step_count == 1
    assert not np.array_equal(params[1].data, before[1])
    with pytest.raises(RuntimeError, match="changed after the forward"):
        live.backward()


def test_step_on_a_read_only_array_that_no_graph_holds():
    p = mg.Tensor(np.ones(3), requires_grad=True)
    p.data.setflags(write=False)
    p.grad = np.ones(3)
    with pytest.raises(RuntimeError, match=r"parameter #0 \(shape \(3,\)\) is read-only \(its"):
        SGD([p], lr=0.1).step()


def test_clipping_never_writes_into_gradient_arrays():
    """Gradients may be read-only (shared, or saved by a graph): clipping replaces them."""
    a, b = make_params(np.random.default_rng(10))
    ga, gb = np.full(a.shape, 3.0), np.full(b.shape, -40.0)
    for g in (ga, gb):
        g.setflags(write=False)
    a.grad, b.grad = ga, gb
    clip_grad_value([a, b], 5.0)
    np.testing.assert_array_equal(b.grad, -5.0)
    a.grad, b.grad = ga, gb
    clip_grad_norm([a, b], 1.0)
    assert np.sqrt(np.sum(a.grad**2) + np.sum(b.grad**2)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(ga, 3.0)             # the originals are untouched
    np.testing.assert_array_equal(gb, -40.0)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("step", -1, r"step must be an integer ≥ 0 \(the number of steps taken\); got -1"),
    ("step", np.float64(2.5), "step must be an integer ≥ 0"),
    ("step", np.array([1, 2]), "step must be an integer ≥ 0"),
    ("lr", -0.1, r"lr must be a finite number ≥ 0; got -0.1"),
    ("lr", np.float64(np.inf), "lr must be a finite number ≥ 0"),
    ("beta1", 1.0, r"beta1 must be a number in \[0, 1\); got 1.0"),
    ("beta2", np.float64(np.nan), r"beta2 must be a number in \[0, 1\)"),
    ("eps", -1e-8, "eps must be a finite number ≥ 0"),
])
def test_load_state_dict_validates_hyperparameters_and_step(key, value, message):
    """A checkpoint with step −1 made the next Adam step divide by 1 − β⁰ = 0; now every value
    is checked, and a refused state changes nothing."""
    params = make_params(np.random.default_rng(8))
    for p in params:
        p.grad = np.ones(p.shape)
    adam = Adam(params, lr=0.01)
    adam.step()
    before = adam.state_dict()
    with pytest.raises(ValueError, match=rf"Adam.load_state_dict: {message}"):
        adam.load_state_dict({**before, key: value})
    after = adam.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    adam.load_state_dict({**before, "step": np.int64(0)})  # the valid edge: t = 1 next
    adam.step()
    assert all(np.all(np.isfinite(p.data)) for p in params)


def test_sgd_load_state_dict_validates_momentum():
    params = make_params(np.random.default_rng(9))
    sgd = SGD(params, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="SGD.load_state_dict: momentum must be a finite"):
        sgd.load_state_dict({**sgd.state_dict(), "momentum": -0.9})


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_optimizers_refuse_non_leaf_tensors(cls):
    w = mg.Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: parameter 1 \(shape \(2, 2\)\) is the "
                                         r"result of an op, not a leaf tensor.*parameters"):
        cls([w, w * 2.0], lr=0.1)
    cls([w, mg.Tensor(np.zeros(3))], lr=0.1)  # leaves, with or without requires_grad
