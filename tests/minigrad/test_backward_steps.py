"""`backward_steps`: the backward pass one record at a time, the same loop `backward()` runs."""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import Tensor


def _graph(seed: int = 0):
    rng = np.random.default_rng(seed)
    W = Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W")
    b = Tensor(rng.normal(size=(3, 1)), requires_grad=True, name="b")
    x = rng.normal(size=(4, 2))
    h = mg.tanh(W @ x + b)
    return W, b, (h * h + mg.sigmoid(h)).sum()   # h fans out to two consumers


def test_running_the_steps_to_the_end_gives_backwards_gradients():
    W1, b1, J1 = _graph()
    J1.backward()
    W2, b2, J2 = _graph()
    steps = list(mg.backward_steps(J2))
    np.testing.assert_array_equal(W2.grad, W1.grad)
    np.testing.assert_array_equal(b2.grad, b1.grad)
    tape = mg.show_tape(J2, print_it=False)
    assert [s.row for s in steps] == list(range(len(tape) - 1, -1, -1))  # bottom to top
    assert [s.op for s in steps] == [r.name for r in reversed(tape)]


def test_each_step_shows_the_rule_the_gradients_and_the_fan_out_sums():
    W, b, J = _graph()
    steps = {s.op: s for s in mg.backward_steps(J)}
    tanh = steps["tanh"]
    assert tanh.rule.startswith("y = tanh x")
    (y,) = tanh.saved                               # tanh keeps its own output
    (g_in,) = tanh.grads_in
    (label, g_out), = tanh.grads_out
    assert label == "#1"                            # the output of row 1 (the add)
    np.testing.assert_allclose(g_out, g_in * (1 - y**2), rtol=1e-15)
    # h is used twice (h * h and sigmoid(h)): the second gradient that reaches it is summed
    assert any(any(step.summed) for step in steps.values())
    add = steps["add"]
    labels = [lab for lab, _ in add.grads_out]
    assert labels == ["#0", "b(3, 1)"]


def test_a_leaf_used_twice_is_summed_and_stopping_early_leaves_grads_alone():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    J = (x * x).sum()
    steps = mg.backward_steps(J)
    first = next(steps)                              # the sum
    assert first.op == "sum" and x.grad is None
    mul = next(steps)
    assert mul.summed == [False, True]              # x's second gradient adds to the first
    assert x.grad is None                           # not yet: grads are written at the end
    for _ in steps:
        pass
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_stopping_early_leaves_nothing_behind_for_the_next_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    J = (mg.tanh(x) * x).sum()
    steps = mg.backward_steps(J, retain_graph=True)
    next(steps)
    next(steps)                                     # the mul has sent gradients to tanh and x
    steps.close()
    J.backward()
    t = np.tanh([1.0, 2.0])
    np.testing.assert_allclose(x.grad, t + np.array([1.0, 2.0]) * (1 - t**2), rtol=1e-14)
