"""scan: the notes' cells over time as one record, against the eager unrolled cells (values
and every gradient to 1e-12), dense and token-id input; gradcheck; refusals."""

from __future__ import annotations

import numpy as np
import pytest
from _compile_helpers import (  # noqa: F401 (private_cache: an autouse fixture)
    TOL,
    assert_scan_matches_unrolled,
    make_cell,
    private_cache,
    scan_case,
)

import minigrad as mg
from minigrad.compiler import TraceError, scan
from models import GRU, LSTM, RNN

CASES = [(LSTM, {}, 2), (GRU, {}, 1), (GRU, {"reset_after": True}, 1), (RNN, {}, 1)]


@pytest.mark.parametrize("tokens", [False, True], ids=["dense", "token_ids"])
@pytest.mark.parametrize("kind,options,n_carry", CASES,
                         ids=["lstm", "gru", "gru_reset_after", "rnn"])
def test_scan_matches_the_unrolled_cells(kind, options, n_carry, tokens) -> None:
    case = scan_case(kind, options, n_carry, tokens)
    model, names, zeros = case[0], case[1], case[4]
    records = assert_scan_matches_unrolled(scan, make_cell(model, names, zeros), case)
    assert [r.name for r in records] == ["scan:cell"]


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
