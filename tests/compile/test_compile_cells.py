"""The notes' three cells, compiled: dense and token-id input, carry and flat forms, chained
over time steps; gradcheck in every mode; no_grad, retain_graph, grad and show_tape."""

from __future__ import annotations

import numpy as np
import pytest
from _compile_helpers import TOL, assert_same, private_cache  # noqa: F401 (autouse fixture)

import minigrad as mg
from minigrad.compiler import compile
from models import GRU, LSTM, RNN
from models.inputs import check_sequence

MODELS = [(LSTM, {}, 2), (GRU, {}, 1), (GRU, {"reset_after": True}, 1), (RNN, {}, 1)]


def unrolled(cell, p, carry, steps):
    """Run `cell` over the steps; J = Σ_t Σ (weighted) every carry and output of each step."""
    J = None
    for t, x_t in enumerate(steps):
        carry, out = cell(p, carry, x_t)
        w = 1.0 + 0.1 * t
        for v in (*carry, *out):
            term = (v * v * w).sum()
            J = term if J is None else J + term
    return (J,)


@pytest.mark.parametrize("tokens", [False, True], ids=["dense", "token_ids"])
@pytest.mark.parametrize("kind,options,n_carry", MODELS,
                         ids=["lstm", "gru", "gru_reset_after", "rnn"])
def test_cells_match_the_eager_tape(kind, options, n_carry, tokens) -> None:
    rng = np.random.default_rng(3)
    n_x, n_a, m, T = 5, 4, 3, 3
    model = kind(n_x, n_a, 2, seed=1, **options)
    x = rng.integers(0, n_x, size=(m, T)) if tokens else rng.normal(size=(n_x, m, T))
    steps = check_sequence(model.kind, n_x, np.float64, x).steps
    p = model.parameters()
    carry = tuple(mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True, name=f"s{k}")
                  for k in range(n_carry))
    cell = compile(lambda p, carry, x_t: model.cell(p, carry, x_t))
    eager = lambda p, carry, steps: unrolled(model.cell, p, carry, steps)  # noqa: E731
    fast = lambda p, carry, steps: unrolled(cell, p, carry, steps)  # noqa: E731
    assert_same(eager, fast, (p, carry, steps), [*p.values(), *carry])
    assert len(cell.variants) == 1  # every step (other token ids) ran the same code
    # W [s; e_ids] (models/inputs.py) writes into an array in its backward: called by reference
    assert cell.last.program.fallbacks() == (["matmul_onehot"] if tokens else [])


def lstm_flat(W_c, b_c, W_u, b_u, W_f, b_f, W_o, b_o, a_prev, c_prev, x_t):
    """The flat form: parameters and state as separate arguments, (a, c) out."""
    ax = mg.concat([a_prev, x_t], axis=0)
    c_hat = mg.tanh(W_c @ ax + b_c)
    g_u = mg.sigmoid(W_u @ ax + b_u)
    g_f = mg.sigmoid(W_f @ ax + b_f)
    g_o = mg.sigmoid(W_o @ ax + b_o)
    c = g_u * c_hat + g_f * c_prev
    return g_o * mg.tanh(c), c


def flat_problem(m: int = 2, n_x: int = 3, n_a: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    names = ["W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o"]
    params = [mg.Tensor(rng.normal(size=(n_a, n_a + n_x) if n[0] == "W" else (n_a, 1)) * 0.5,
                        requires_grad=True, name=n) for n in names]
    a = mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True, name="a_prev")
    c = mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True, name="c_prev")
    x = rng.normal(size=(n_x, m))
    return params, a, c, x


def test_flat_form_and_its_source() -> None:
    params, a, c, x = flat_problem()
    cell = compile(lstm_flat)
    assert_same(lstm_flat, cell, (*params, a, c, x), [*params, a, c])
    src = cell.source
    assert "def forward(W_c, b_c, W_u, b_u, W_f, b_f, W_o, b_o, a_prev, c_prev, x_t):" in src
    assert "dW_c = " in src and "db_c = np.sum(" in src       # named gradients, unbroadcast sum
    assert "+= (the value is used more than once)" in src      # fan-out of [a; x] to 4 products
    assert "c_hat = mg.tanh(W_c @ ax + b_c)" in src            # the user's line as a comment
    assert "_vjp" not in src                                   # every backward was generated


def test_one_record_on_the_tape_and_backward_options() -> None:
    params, a, c, x = flat_problem()
    cell = compile(lstm_flat)
    a1, c1 = cell(*params, a, c, x)
    a2, c2 = cell(*params, a1, c1, x)
    J = (a2 * a2).sum() + c2.sum()
    rows = [r.name for r in mg.tape.tape_of(J)]
    assert rows.count("compiled:lstm_flat") == 2
    g1 = mg.grad(J, params[0], retain_graph=True)[0]
    g2 = mg.grad(J, params[0])[0]                               # retained: a second pass works
    np.testing.assert_array_equal(g1, g2)
    with pytest.raises(RuntimeError, match="retain_graph"):
        J.backward()                                            # freed by the last pass


def test_no_grad_runs_forward_only() -> None:
    params, a, c, x = flat_problem()
    cell = compile(lstm_flat)
    with mg.no_grad():
        a1, c1 = cell(*params, a, c, x)
    assert not a1.requires_grad and a1.record is None
    a0, c0 = lstm_flat(*params, a, c, x)
    np.testing.assert_allclose(a1.data, a0.data, **TOL)


@pytest.mark.parametrize("mode", ["full", "sampled", "directional", "complex"])
def test_gradcheck_every_mode(mode: str) -> None:
    params, a, c, x = flat_problem(m=2, n_x=2, n_a=3)
    cell = compile(lstm_flat)

    def J():
        a1, c1 = cell(*params, a, c, x)
        a2, c2 = cell(*params, a1, c1, x)
        return (a2 * a2).sum() + (c2 * c1).sum()

    mg.assert_gradcheck(J, [*params, a, c], mode=mode)
    if mode == "complex":  # the complex step traced a complex variant
        assert {v.program.args[0].dtype for v in cell.variants.values()} == {
            np.dtype(np.float64), np.dtype(np.complex128)}


def test_losses_compile_with_the_cell() -> None:
    """A whole step with its loss: bce (called by reference) and cross_entropy."""
    params, a, c, x = flat_problem()
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=(4, 2)) > 0.5).astype(float)
    onehot = np.eye(4)[:, rng.integers(0, 4, size=2)]

    def step(*args):
        a1, c1 = lstm_flat(*args)
        return (mg.binary_cross_entropy(mg.sigmoid(a1), y) + mg.cross_entropy(a1, onehot)
                + mg.binary_cross_entropy_with_logits(c1, y) + mg.mse(a1, c1))

    cell = compile(step)
    assert_same(step, cell, (*params, a, c, x), [*params, a, c])
    assert set(cell.last.program.fallbacks()) == {"bce", "cross_entropy"}


def test_show_tape_backward_steps_and_audit_see_one_row() -> None:
    params, a, c, x = flat_problem()
    cell = compile(lstm_flat)

    def J():
        a1, c1 = cell(*params, a, c, x)
        return (a1 * a1).sum() + c1.sum()

    loss = J()
    assert "compiled:lstm_flat" in str(mg.show_tape(loss))
    steps = list(mg.backward_steps(loss))
    assert [s.op for s in steps][-1] == "compiled:lstm_flat"
    np.testing.assert_allclose(params[0].grad, mg.grad(J(), params[0])[0], **TOL)
    report = mg.audit(J)        # ⟨u, J v⟩ = ⟨Jᵀu, v⟩ for the compiled record as for any op
    assert report.ok and "compiled:lstm_flat" in str(report)


def test_backward_frees_the_residuals_unless_retained() -> None:
    params, a, c, x = flat_problem()
    cell = compile(lstm_flat)
    a1, _ = cell(*params, a, c, x)
    a1.sum().backward(retain_graph=True)
    assert a1.record.residuals is not None
    a1.sum().backward()
    assert a1.record.residuals is None and a1.record.released
