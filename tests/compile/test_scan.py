"""scan: the notes' cells over time as one record, against the eager unrolled cells (values
and every gradient to 1e-12), dense and token-id input; gradcheck; refusals."""

from __future__ import annotations

import numpy as np
import pytest
from _compile_helpers import TOL, private_cache  # noqa: F401 (autouse fixture)

import minigrad as mg
from minigrad.compiler import TraceError, scan
from models import GRU, LSTM, RNN
from models.inputs import OneHot

CASES = [(LSTM, {}, 2), (GRU, {}, 1), (GRU, {"reset_after": True}, 1), (RNN, {}, 1)]


def make_cell(model, names, zeros=None):
    """The model's literal cell in scan's form: (carry, x_t, *params) -> (carry, a⟨t⟩)."""
    def cell(carry, x_t, *ps):
        if zeros is not None:
            x_t = OneHot(x_t, zeros)
        carry, _ = model.cell(dict(zip(names, ps)), carry, x_t)
        return carry, carry[0]
    return cell


@pytest.mark.parametrize("tokens", [False, True], ids=["dense", "token_ids"])
@pytest.mark.parametrize("kind,options,n_carry", CASES,
                         ids=["lstm", "gru", "gru_reset_after", "rnn"])
def test_scan_matches_the_unrolled_cells(kind, options, n_carry, tokens) -> None:
    rng = np.random.default_rng(7)
    n_x, n_a, m, T = 5, 4, 3, 5
    model = kind(n_x, n_a, 2, seed=2, **options)
    names = [n for n in model.parameters() if n not in ("W_y", "b_y")]
    params = [model.parameters()[n] for n in names]
    if tokens:
        x = rng.integers(0, n_x, size=(m, T))
        zeros = np.zeros((n_x, m))
        steps = [OneHot(np.ascontiguousarray(x[:, t]), zeros) for t in range(T)]
    else:
        x = mg.Tensor(rng.normal(size=(n_x, m, T)), requires_grad=True)
        zeros, steps = None, None
    init = tuple(mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True) for _ in range(n_carry))
    cell = make_cell(model, names, zeros)
    w = rng.normal(size=(n_a, m, T))
    wanted = params + list(init) + ([] if tokens else [x])

    carry, ys = scan(cell, init, x, params)
    J = (ys * w).sum() + (carry[-1] * carry[-1]).sum()
    assert [r.name for r in mg.tape.tape_of(J)].count("scan:cell") == 1
    J.backward()
    got = [t.grad.copy() for t in wanted]
    for t in wanted:
        t.grad = None

    carry0, outs = init, []
    eager = make_cell(model, names)
    for t in range(T):
        carry0, y = eager(carry0, steps[t] if tokens else x[:, :, t], *params)
        outs.append(y)
    J0 = (mg.stack(outs, axis=-1) * w).sum() + (carry0[-1] * carry0[-1]).sum()
    J0.backward()
    np.testing.assert_allclose(J.data, J0.data, **TOL)
    np.testing.assert_allclose(ys.data, mg.stack(outs, axis=-1).data, **TOL)
    for t, g in zip(wanted, got):
        np.testing.assert_allclose(g, t.grad, **TOL)


def test_scan_gradcheck_and_no_grad() -> None:
    rng = np.random.default_rng(0)
    W = mg.Tensor(rng.normal(size=(3, 5)) * 0.5, requires_grad=True, name="W_a")
    b = mg.Tensor(rng.normal(size=(3, 1)), requires_grad=True, name="b_a")
    xs = mg.Tensor(rng.normal(size=(2, 2, 4)), requires_grad=True)
    a0 = mg.Tensor(rng.normal(size=(3, 2)), requires_grad=True)

    def cell(a, x_t, W, b):
        a = mg.tanh(W @ mg.concat([a, x_t], axis=0) + b)
        return a, a * a

    def J():
        a_T, ys = scan(cell, a0, xs, (W, b))
        return (ys * ys).sum() + a_T.sum()

    for mode in ("full", "complex"):
        mg.assert_gradcheck(J, [W, b, xs, a0], mode=mode)
    with mg.no_grad():
        a_T, ys = scan(cell, a0, xs, (W, b))
    assert not ys.requires_grad and ys.shape == (3, 2, 4)


def test_scan_refuses_a_carry_that_changes_shape() -> None:
    with pytest.raises(TraceError, match="carry must keep its shapes"):
        scan(lambda a, x_t: (mg.concat([a, x_t]), a), np.ones((2, 1)), np.ones((1, 1, 3)))
    with pytest.raises(TypeError, match=r"params\[0\] must be a float Tensor"):
        scan(lambda a, x_t, k: (a, a), np.ones(2), np.ones((2, 3)), (np.arange(2),))
