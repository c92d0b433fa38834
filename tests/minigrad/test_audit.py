"""minigrad.audit: names the one wrong op of a real tape, passes every built-in op."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import models
from minigrad import Function, Tensor
from minigrad.audit import COMPLEX_RTOL, FD_RTOL
from minigrad.audit_report import source_line
from models.inputs import OneHot, concat

# ---- custom ops planted in an LSTM's tape: correct ones and wrong ones --------------------------


class GoodTanh(Function):
    """y = tanh x; dy/dx = 1 − y²."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g * (1 - y * y),)


class TanhOffBy1e4(GoodTanh):
    """The gradient 1e-4 too large (relative)."""

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g * (1 - y * y) * (1 + 1e-4),)


class TanhTransposed(GoodTanh):
    """The right gradient, transposed (same shape for a square input)."""

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ((g * (1 - y * y)).T,)


class RealTanhOffBy1e4(TanhOffBy1e4):
    """As TanhOffBy1e4, but refuses complex input: the audit must use differences."""

    @staticmethod
    def forward(ctx, x):
        if x.dtype.kind == "c":
            raise TypeError("realtanhoffby1e4: real input only")
        return GoodTanh.forward(ctx, x)


class GoodColumnSum(Function):
    """y = x + 1 Σ_rows x (each column's sum added to it); ∂L/∂x = g + 1 Σ_rows g."""

    @staticmethod
    def forward(ctx, x):
        return x + x.sum(axis=0, keepdims=True)

    @staticmethod
    def backward(ctx, g):
        return (g + g.sum(axis=0, keepdims=True),)


class ColumnSumWithMean(GoodColumnSum):
    """The reduction of the gradient is a mean instead of a sum (the shape is right)."""

    @staticmethod
    def backward(ctx, g):
        return (g + g.mean(axis=0, keepdims=True),)


N_X, N_A, N_Y, M, T, BAD_STEP = 3, 4, 2, 4, 5, 3  # n_a = m: the hidden state is square


def lstm_loss(planted: type[Function], dtype=np.float64):
    """f() for audit: an LSTM unrolled from its cell, `planted` applied to a⟨3⟩."""
    model = models.LSTM(N_X, N_A, N_Y, seed=0, dtype=dtype)
    p = model.parameters()
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((N_X, M, T)).astype(dtype), requires_grad=True)
    y = (rng.random((N_Y, M)) > 0.5).astype(dtype)

    def f() -> Tensor:
        carry = (Tensor(np.zeros((N_A, M), dtype)), Tensor(np.zeros((N_A, M), dtype)))
        loss = 0.0
        for t in range(1, T + 1):
            with mg.scope(f"t={t}"):
                carry, _ = model.cell(p, carry, x[:, :, t - 1])
                if t == BAD_STEP:
                    carry = (planted.apply(carry[0]), carry[1])
            y_hat = mg.sigmoid(p["W_y"] @ carry[0] + p["b_y"])
            loss = loss + mg.binary_cross_entropy(y_hat, y)
        return loss

    return model, x, f


@pytest.mark.parametrize("bad", [TanhOffBy1e4, TanhTransposed, ColumnSumWithMean,
                                 RealTanhOffBy1e4])
def test_the_planted_wrong_op_and_only_it_fails(bad):
    _, _, f = lstm_loss(bad)
    report = mg.audit(f)
    assert not report.ok and not report
    assert len(report.failures) == 1, report
    (fail,) = report.failures
    assert fail.op == bad.__name__.lower()
    assert fail.scope == f"t={BAD_STEP}"
    assert "test_audit.py" in fail.where and "planted.apply" in fail.where
    assert fail.input_shapes == ((N_A, M),)
    assert report.ranked()[0] is fail and str(report).splitlines()[2].startswith(str(fail.index))
    rows = mg.show_tape(f(), print_it=False)
    assert rows[fail.index].name == fail.op
    assert len(report) == len(rows) > 100
    if bad is RealTanhOffBy1e4:  # refuses complex input: only differences could judge it
        assert fail.method.startswith("differences")
        assert FD_RTOL < fail.error < 1e-4
    else:
        assert fail.method == "complex step"
    if bad in (TanhOffBy1e4, RealTanhOffBy1e4):
        assert fail.error == pytest.approx(0.5e-4, rel=0.05)  # (1 + 1e-4 − 1) / (2 + 1e-4)
    else:
        assert fail.error > 1e-3


@pytest.mark.parametrize("good", [GoodTanh, GoodColumnSum])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correct_custom_ops_in_the_lstm_pass(good, dtype):
    _, _, f = lstm_loss(good, dtype)
    report = mg.audit(f)
    assert report.ok, report
    assert {c.method for c in report} == {"complex step"}
    assert max(c.error for c in report) < 1e-12


def test_audit_leaves_the_callers_tensors_alone():
    model, x, f = lstm_loss(GoodTanh)
    before = {name: p.data.copy() for name, p in model.parameters().items()}
    x_before = x.data.copy()
    mg.audit(f)
    for name, p in model.parameters().items():
        assert p.grad is None
        np.testing.assert_array_equal(p.data, before[name])
    assert x.grad is None
    np.testing.assert_array_equal(x.data, x_before)
    J = f()
    J.backward()  # the user's own tape still works as usual
    assert x.grad is not None


def test_same_seed_same_report_and_the_seed_matters():
    _, _, f = lstm_loss(TanhOffBy1e4)
    a, b, c = mg.audit(f, seed=3), mg.audit(f, seed=3), mg.audit(f, seed=4)
    assert [r.error for r in a] == [r.error for r in b]
    assert [r.error for r in a] != [r.error for r in c]


# ---- every built-in op passes on a correct tape ------------------------------------------------


EVERY_OP = {
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "exp", "log", "tanh", "sigmoid", "relu",
    "softmax", "logsoftmax", "sum", "mean", "concat", "split", "stack", "reshape", "transpose",
    "index", "where", "maximum", "contiguous", "bce", "bce_logits", "cross_entropy",
    "lstm_recurrence", "gru_recurrence", "gru_reset_after_recurrence", "rnn_recurrence",
    "matmul_onehot", "swapaxes", "moveaxis", "broadcast_to", "scatter_add",
    "tile", "repeat", "flip", "roll", "pad", "triu", "tril", "diag", "diagonal", "trace",
    "max", "min", "prod", "cumsum", "cumprod", "var", "std", "logsumexp", "norm",
    "einsum", "tensordot", "outer", "inner", "copy",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh",
    "arccosh", "arctanh", "sqrt", "square", "abs", "sign", "floor", "ceil", "clip", "minimum",
    "mod", "expm1", "log1p", "logaddexp", "softplus",
}
NOT_ANALYTIC = {"relu", "maximum", "where", "max", "min", "var", "std", "norm", "abs", "sign",
                "floor", "ceil", "clip", "minimum", "mod", "arctan2"}
#: exported functions that record no op of their own: comparisons and logic (boolean arrays,
#: no gradient), constants, and functions made of other ops
NO_RECORD = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
             "logical_and", "logical_or", "logical_xor", "logical_not", "zeros_like",
             "ones_like", "dot", "argmax", "argmin", "all", "any", "astype"}


def every_op_loss(dtype):
    """f() whose tape holds every op minigrad exports (and the models' fused and one-hot ops)."""
    rng = np.random.default_rng(7)

    def leaf(*shape, shift=0.0):
        return Tensor((shift + rng.standard_normal(shape)).astype(dtype), requires_grad=True)

    A, B, C = leaf(3, 4), leaf(4, 3), leaf(3, 4)
    v, pos = leaf(4), leaf(3, 4, shift=3.0)
    small = Tensor((0.3 * rng.standard_normal((3, 4))).astype(dtype), requires_grad=True)
    labels = np.eye(3)[:, rng.integers(0, 3, size=4)].astype(dtype)
    targets = (rng.random((3, 4)) > 0.5).astype(dtype)
    ids = rng.integers(0, 5, size=(2, 3))
    x = leaf(5, 2, 3)
    rnn = models.RNN(5, 3, 2, seed=1, dtype=dtype, fused=True)
    rnn_relu = models.RNN(5, 3, 2, seed=1, dtype=dtype)
    gru = models.GRU(5, 3, 2, seed=2, dtype=dtype, fused=True)
    gru_after = models.GRU(5, 3, 2, seed=3, dtype=dtype, fused=True, reset_after=True)
    lstm = models.LSTM(5, 3, 2, seed=4, dtype=dtype, fused=True)
    lstm_ids = models.LSTM(5, 3, 2, seed=5, dtype=dtype)

    def f() -> Tensor:
        z = (A + C) * (A - 2.0) / pos + A**2 + pos**C + (-A)        # add mul sub div pow neg
        z = z + mg.exp(C) * mg.log(pos) + mg.tanh(A) - mg.sigmoid(C) + mg.relu(A)
        z = mg.maximum(z, C) + mg.where(A.data > 0, A, C)
        s = mg.softmax(z, axis=0) + mg.log_softmax(z, axis=1)
        m = A @ B + (v @ B).reshape(3, 1) + (A @ v).reshape(3, 1)     # 2-D, 1-D·2-D, 2-D·1-D
        m = m @ mg.contiguous(B.T[:, :3]).T + mg.matmul(v, v)          # and 1-D·1-D
        parts = mg.split(mg.concat([s, m], axis=1), [2, 5], axis=1)
        st = mg.stack(parts[:1] + [parts[1][:, :2]], axis=2).transpose(1, 0, 2)
        picked = A[:, np.array([0, 2, 2, 1])] + A[np.array([2, 0])].sum() + A[1:, ::2].mean()
        picked = picked + mg.scatter_add(v, np.array([0, 2, 0, 1]), (3,)).reshape(3, 1)
        axes = mg.expand_dims(A, 0).swapaxes(0, 2).squeeze(2).ravel().sum()
        axes = axes + mg.moveaxis(mg.broadcast_to(v, (2, 4)), 0, 1).flatten().sum()
        picked = picked + axes + mg.dot(A, B).sum()
        arranged = mg.tile(v, (2, 1)).sum() + A.repeat([1, 0, 2], axis=0).sum() + mg.roll(
            mg.flip(C, 1), (1, -1), (0, 1))[0].sum() + mg.pad(A, 1, mode="reflect").mean()
        arranged = arranged + (mg.triu(A, 1) * mg.tril(C)).sum() + mg.diag(v).sum() + (
            mg.diagonal(A, 1) * mg.diag(B)).sum() + mg.trace(A @ B)
        picked = picked + arranged
        picked = picked + mg.einsum("ij,jk->ik", A, B).sum() + mg.tensordot(A, B, 1).sum()
        picked = picked + mg.outer(v, v).sum() + mg.inner(A, C).sum() + A.copy().sum()
        out = st.sum() + mg.sum(picked, axis=0).sum() + mg.mean(z * z, axis=1).sum()
        out = out + mg.mse(mg.sigmoid(z), targets) + mg.binary_cross_entropy(
            mg.sigmoid(A), targets) + mg.binary_cross_entropy_with_logits(C, targets)
        out = out + A.max(axis=0).sum() + mg.min(C, axis=1).sum() + pos.prod(axis=0).sum()
        out = out + mg.cumsum(A, axis=1).sum() + pos.cumprod(1).sum() + A.var(0, ddof=1).sum()
        out = out + A.std(1).sum() + mg.logsumexp(z, axis=0).sum() + mg.norm(A, axis=1).sum()
        out = out + mg.cross_entropy(z, labels) + mg.cross_entropy(z, labels, reduction="none"
                                                                   ).sum()
        e = mg.sin(A) + mg.cos(C) + mg.tan(small) + mg.arcsin(small) + mg.arccos(small)
        e = e + mg.arctan(A) + mg.arctan2(A, pos) + mg.sinh(A) + mg.cosh(C) + mg.arcsinh(A)
        e = e + mg.arccosh(pos) + mg.arctanh(small) + mg.sqrt(pos) + mg.square(A) + mg.abs(A)
        e = e + mg.sign(A) * A + mg.floor(pos) * A + mg.ceil(pos) * C + mg.clip(A, -0.5, C)
        e = e + mg.minimum(A, C) + mg.mod(A, pos) + mg.expm1(small) + mg.log1p(pos)
        out = out + (e + mg.logaddexp(A, C) + mg.softplus(C)).sum()
        for model in (rnn, gru, gru_after, lstm):
            out = out + model(x).sum()
        rnn_relu_cell = models.RNN(5, 3, 2, seed=1, dtype=dtype)
        out = out + rnn_relu(x).mean() + lstm_ids(ids).sum() + rnn_relu_cell(ids).sum()
        return out

    return f


def test_every_exported_op_is_in_the_every_op_tape():
    exported = set(mg.__all__) & set(mg.ops.__all__)  # the ops minigrad exports
    assert len(exported) >= 20
    renamed = {"log_softmax": "logsoftmax", "binary_cross_entropy": "bce",
               "binary_cross_entropy_with_logits": "bce_logits", "mse": "sub", "power": "pow",
               "getitem": "index", "expand_dims": "reshape", "squeeze": "reshape",
               "ravel": "reshape", "flatten": "reshape"}
    assert {renamed.get(n, n) for n in exported - NO_RECORD} <= EVERY_OP
    names = {r.name for r in mg.show_tape(every_op_loss(np.float64)(), print_it=False)}
    assert names >= EVERY_OP, EVERY_OP - names


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_builtin_op_passes(dtype):
    report = mg.audit(every_op_loss(dtype))
    assert report.ok, report
    by_op: dict[str, set[str]] = {}
    for c in report:
        by_op.setdefault(c.op, set()).add(c.method.split()[0])
        assert c.checked, c
    assert set(by_op) >= EVERY_OP
    for op in NOT_ANALYTIC:  # not analytic: refuse complex input
        assert by_op[op] == {"differences"}
    for op in EVERY_OP - NOT_ANALYTIC:
        assert by_op[op] == {"complex"}, op
    for c in report:
        assert c.error <= (COMPLEX_RTOL if c.method == "complex step" else FD_RTOL) / 100, c


def test_a_kink_near_the_point_falls_back_to_a_smaller_step():
    x = Tensor(np.array([[1e-4, -0.5], [2.0, -3e-5]]), requires_grad=True)
    report = mg.audit(lambda: (mg.relu(x) * mg.relu(x)).sum())
    (relu,) = [c for c in report if c.op == "relu"][:1]
    assert report.ok, report
    assert relu.method in ("differences h=1e-05", "differences h=1e-07")


class AbsTimes(Function):
    """y = |x| x, which runs on complex input without being analytic there; dy/dx = 2|x|."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x) * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (2 * np.abs(x) * g,)


def test_a_non_analytic_op_that_takes_complex_input_is_judged_by_differences():
    x = Tensor(np.array([[0.7, -1.3], [2.0, -0.4]]), requires_grad=True)
    report = mg.audit(lambda: AbsTimes.apply(x).sum())
    (check,) = [c for c in report if c.op == "abstimes"]
    assert report.ok and check.method.startswith("differences"), report


def test_constants_and_integer_inputs_get_no_tangent():
    w = Tensor(np.ones((3, 1)), requires_grad=True)
    y = np.array([[0.0], [1.0], [1.0]])
    report = mg.audit(lambda: mg.binary_cross_entropy(mg.sigmoid(w), y))
    bce = [c for c in report if c.op == "bce"][0]
    assert bce.checked == (0,) and bce.input_shapes == ((3, 1), (3, 1))
    onehot = mg.audit(lambda: (Tensor(np.ones((2, 4)), requires_grad=True)
                               @ concat([Tensor(np.ones((1, 3))), OneHot(np.array([0, 2, 2]),
                                                                         np.zeros((3, 3)))]))
                      .sum())
    assert onehot.ok and [c.checked for c in onehot if c.op == "matmul_onehot"] == [(0,)]


# ---- what the report says, and errors ----------------------------------------------------------


def test_report_table_and_source_line():
    _, _, f = lstm_loss(ColumnSumWithMean)
    report = mg.audit(f)
    text = report.table(top=3)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "op", "inputs", "scope", "source", "line", "method",
                                "error", "pass"]
    assert "columnsumwithmean" in lines[2] and lines[2].endswith("FAIL")
    assert lines[-1].startswith(f"FAIL (1 of {len(report)} records)")
    assert f"... {len(report) - 3} more records, all passed" in text
    assert len(str(report).splitlines()) == len(report) + 3
    assert source_line('File "/a/b/cell.py", line 12, in f: c = x + 1') == "cell.py:12  c = x + 1"
    assert source_line(None) == "?"


def test_records_made_outside_the_audit_cannot_be_checked():
    w = Tensor(np.ones(3), requires_grad=True)
    h = mg.tanh(w)  # recorded before audit runs f
    report = mg.audit(lambda: (h * 2.0).sum())
    assert [c.op for c in report.failures] == ["tanh"]
    assert "outside keeping_inputs()" in report.failures[0].note


def test_backward_that_raises_is_reported_not_raised():
    class Broken(GoodTanh):
        @staticmethod
        def backward(ctx, g):
            raise ValueError("oops")

    w = Tensor(np.ones(3), requires_grad=True)
    report = mg.audit(lambda: Broken.apply(w).sum())
    assert [c.op for c in report.failures] == ["broken"]
    assert "ValueError: oops" in report.failures[0].note


@pytest.mark.parametrize("f, err, match", [
    (3, TypeError, "audit: f must be a callable"),
    (lambda: 1.0, TypeError, "audit: f\\(\\) must return a minigrad.Tensor"),
    (lambda: Tensor(np.ones(2), requires_grad=True) * 2, ValueError, "scalar Tensor"),
    (lambda: Tensor(1.0, requires_grad=True), ValueError, "no tape behind it"),
])
def test_errors_name_the_argument(f, err, match):
    with pytest.raises(err, match=match):
        mg.audit(f)


def test_bad_tolerances_are_refused():
    with pytest.raises(ValueError, match="audit: fd_rtol must be a finite number > 0"):
        mg.audit(lambda: Tensor(1.0, requires_grad=True) * 2, fd_rtol=0)
