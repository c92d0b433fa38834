"""Guards of the models: all-or-nothing loading, parameter assignment, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from _model_cases import param_arrays
from _model_reference import forward as ref_forward

import minigrad as mg
import models

KINDS = [models.RNN, models.GRU, models.LSTM]


def _shifted(model, by=1.0):
    return {k: v + by for k, v in param_arrays(model).items()}


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("cls", KINDS)
def test_load_state_dict_is_all_or_nothing(cls, fused):
    model = cls(3, 4, 2, seed=0, fused=fused)
    before = param_arrays(model)
    new = _shifted(model)
    model.b_y.data.setflags(write=False)          # the last parameter cannot be written
    with pytest.raises(ValueError, match=r"load_state_dict: the arrays of \['b_y'\] are read-only"):
        model.load_state_dict(new)
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)
    model.b_y.data.setflags(write=True)
    bad = dict(new, b_y=np.zeros((2, 2)))          # a wrong shape, checked before any write
    with pytest.raises(ValueError, match=r"b_y must be \(2, 1\); got \(2, 2\)"):
        model.load_state_dict(bad)
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)
    with pytest.raises(ValueError, match="W_y must hold floats"):
        model.load_state_dict(dict(new, W_y=np.array(["a"] * 2 * 4).reshape(2, 4)))
    with pytest.raises(ValueError, match="arrays must be a mapping"):
        model.load_state_dict(list(new.values()))
    model.load_state_dict(new)
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(p.data, new[name], err_msg=name)


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
def test_load_state_dict_while_a_graph_is_alive_is_never_partial(fused):
    model = models.LSTM(3, 4, 2, seed=1, fused=fused)
    x = np.random.default_rng(0).normal(size=(3, 2, 5))
    J = mg.binary_cross_entropy(model(x), np.full((2, 2, 5), 0.5))  # noqa: F841 (kept alive)
    before, new = param_arrays(model), _shifted(model)
    try:
        model.load_state_dict(new)
        want = new
    except ValueError:
        want = before
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(p.data, want[name], err_msg=name)


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
def test_assigning_a_parameter_replaces_the_one_forward_uses(fused):
    model = models.LSTM(3, 4, 2, seed=2, fused=fused)
    x = np.random.default_rng(1).normal(size=(3, 2, 5))
    W_c = mg.Tensor(np.random.default_rng(2).normal(size=(4, 7)), requires_grad=True)
    model.W_c = W_c
    assert model.W_c is W_c and model.parameters()["W_c"] is W_c and W_c.name == "W_c"
    want, _, _ = ref_forward("LSTM", param_arrays(model), x)
    np.testing.assert_allclose(model(x).data, want, rtol=0, atol=1e-12)
    model(x).sum().backward()
    assert W_c.grad is not None and np.any(W_c.grad)
    with pytest.raises(ValueError, match=r"parameter W_c must be replaced by a Tensor of shape "
                                         r"\(4, 7\) and dtype float64; got shape \(7, 4\)"):
        model.W_c = mg.Tensor(np.zeros((7, 4)), requires_grad=True)
    with pytest.raises(TypeError, match=r"W_u must be replaced by a leaf Tensor.*got ndarray"):
        model.W_u = np.zeros((4, 7))
    with pytest.raises(TypeError, match="got a computed Tensor"):
        model.b_u = model.b_u * 2.0
    assert model.parameters()["W_c"] is W_c
    model.note = "any other attribute is set as usual"
    assert model.note.startswith("any")


@pytest.mark.parametrize("a0,pattern", [
    ("zeros", r"LSTM: a0 must be None, a Tensor or an array of numbers of shape \(n_a, m\) = "
              r"\(4, 2\); got str 'zeros'"),
    ([["a", "b"]] * 4, r"LSTM: a0 must be None, a Tensor or an array of numbers"),
])
def test_non_numeric_initial_state(a0, pattern):
    model = models.LSTM(3, 4, 2)
    with pytest.raises(ValueError, match=pattern):
        model(np.zeros((3, 2, 5)), a0)
    with pytest.raises(ValueError, match=pattern.replace("a0", "c0")):
        model(np.zeros((3, 2, 5)), None, a0)


@pytest.mark.parametrize("ctor,kwargs,pattern", [
    (models.LSTM, {"forget_bias": None}, r"LSTM: forget_bias must be a finite number; got None"),
    (models.LSTM, {"forget_bias": "1"}, r"LSTM: forget_bias must be a finite number; got '1'"),
    (models.RNN, {"seed": -1}, r"RNN: seed must be a non-negative int or None; got -1"),
    (models.GRU, {"seed": True}, r"GRU: seed must be a non-negative int or None; got True"),
])
def test_bad_hyper_parameters_name_the_argument(ctor, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        ctor(3, 4, 2, **kwargs)


@pytest.mark.parametrize("fused", [False, True])
def test_writes_after_forward_are_caught_in_composed_and_fused_models(fused):
    """A write to x after forward is caught (fused: the record saves x) or cannot change the
    gradient (composed: the graph keeps its own copies); a write to a parameter is caught."""
    model = models.LSTM(3, 4, 2, seed=1, fused=fused)
    x = np.random.default_rng(0).normal(size=(3, 2, 5))
    model(x).sum().backward()
    expected = model.W_c.grad.copy()
    model.zero_grad()
    J = model(x).sum()
    x[0, 0, 0] += 1.0                                # the user's own input array
    if fused:
        with pytest.raises(RuntimeError, match=r"an array of shape \(3, 2, 5\) it saved"):
            J.backward()
    else:
        J.backward()
        np.testing.assert_allclose(model.W_c.grad, expected, rtol=1e-12, atol=1e-15)
    x[0, 0, 0] -= 1.0
    model.zero_grad()
    J = model(x).sum()
    model.W_f.data[0, 0] += 1.0                      # a parameter, in place
    if fused:                                        # the record stacked its own copy of W
        J.backward()                                 # (a changed W_f would move it by ~1e-1)
        np.testing.assert_allclose(model.W_c.grad, expected, rtol=1e-12, atol=1e-15)
    else:
        with pytest.raises(RuntimeError, match="'W_f' was changed after the forward"):
            J.backward()
    model.zero_grad()
    J = model(x).sum()                              # forward again: fine
    J.backward()
    assert np.all(np.isfinite(model.W_f.grad))
