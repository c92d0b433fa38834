"""The tape: recording order, accumulation, fan-out, retain_graph, no_grad, detach, grad(),
long chains, custom and multi-output Functions, show_tape. (Saved-array protection and the
other guards are in test_errors.py.)"""

from __future__ import annotations

import gc
import re
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor


class Logged(mg.Function):
    """y = k·x, appending its tag to `log` when its backward runs."""

    log: list[str] = []

    @staticmethod
    def forward(ctx, x, *, tag, k=2.0):
        ctx.tag, ctx.k = tag, k
        return k * x

    @staticmethod
    def backward(ctx, g):
        Logged.log.append(ctx.tag)
        return (ctx.k * g,)


# ------------------------------------------------------------------------- recording order


def test_backward_replays_in_reverse_recording_order():
    Logged.log = []
    x = Tensor([1.0], requires_grad=True)
    a = Logged.apply(x, tag="a")
    b = Logged.apply(x, tag="b")  # independent of a: only recording order decides
    c = Logged.apply(a, tag="c")
    d = Logged.apply(b, tag="d")
    out = Logged.apply(c + d, tag="out")
    tape = mg.show_tape(out, print_it=False)
    assert [r.name for r in tape] == ["logged"] * 4 + ["add", "logged"]
    assert [getattr(r, "tag", "+") for r in tape] == ["a", "b", "c", "d", "+", "out"]
    out.sum().backward()
    assert Logged.log == ["out", "d", "c", "b", "a"]
    np.testing.assert_array_equal(x.grad, [16.0])


def test_tape_order_is_a_valid_topological_order_for_long_diamonds():
    x = Tensor(np.ones(2), requires_grad=True)
    h = x
    for _ in range(50):
        h = mg.tanh(h) * h + h  # each level fans out to three uses
    seqs = [r.seq for r in mg.show_tape(h, print_it=False)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 150


# ---------------------------------------------------------------- accumulation, fan-out


def test_grad_accumulates_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    np.testing.assert_array_equal(first, [2.0, 4.0])
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])
    assert x.grad is first  # accumulated in place (+=)
    x.zero_grad()
    assert x.grad is None


def test_fan_out_sums_gradients():
    x = Tensor([2.0, -1.0], requires_grad=True)
    y = x * x + mg.exp(x) + x.sum() * x  # x used by four ops
    y.sum().backward()
    # Σ_j S·x_j = S² with S = Σ x: its derivative 2S comes from both uses of x.
    want = 2 * x.data + np.exp(x.data) + 2 * x.data.sum()
    np.testing.assert_allclose(x.grad, want, rtol=1e-15)


def test_shared_gradient_arrays_are_not_aliased_between_leaves():
    a = Tensor([1.0], requires_grad=True)
    b = Tensor([1.0], requires_grad=True)
    (a + b).sum().backward()  # add passes the same g object to both inputs
    (a * 5.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [6.0])
    np.testing.assert_array_equal(b.grad, [1.0])


# ---------------------------------------------------------------------------- retain_graph


def test_retain_graph_allows_a_second_backward():
    x = Tensor([3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [12.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_second_backward_without_retain_graph_raises():
    x = Tensor([3.0], requires_grad=True)
    y = mg.tanh(x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


class StopGradient(mg.Function):
    """y = x with no gradient to x (its backward returns None for an input on the tape)."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return (None,)


def test_records_cut_off_by_a_none_gradient_are_released_too():
    w = Tensor(np.ones(3), requires_grad=True)
    x = Tensor(np.arange(3.0), requires_grad=True)
    hidden = w * x                      # saves w and x
    y = (StopGradient.apply(hidden) * x).sum()
    y.backward()
    assert w.grad is None               # no gradient reached w ...
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 2.0])
    assert hidden.record.released       # ... but the record that saved it was released
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_the_tape_does_not_keep_intermediates_nobody_saved():
    import weakref

    x = Tensor(np.linspace(-1.0, 1.0, 5), requires_grad=True)
    h = x * 3.0                          # mul saves x and 3, not its output
    s = mg.tanh(h + 1.0)                 # add saves nothing; tanh saves only its own output
    y = (s * s).sum()
    gone = weakref.ref(h.data)
    del h
    assert gone() is None                # freed: no record holds h or its array
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * s.data * (1 - s.data**2) * 3.0, rtol=1e-13)
    assert "#0" in str(mg.show_tape(y, print_it=False))  # the tape still reads in full


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_fan_out_to_many_consumers_sums_every_contribution(shape):
    x0 = np.full(shape, 2.0) if shape else np.float64(2.0)
    x = Tensor(np.array(x0), requires_grad=True)
    h = x * 1.0                                  # an op output read by five later ops
    s = h + h                                    # add hands the same g to both of its inputs
    y = (s + h * h + h * 3.0 + mg.tanh(h)).sum()
    y.backward()
    want = 2 + 2 * x0 + 3 + (1 - np.tanh(x0) ** 2)
    np.testing.assert_allclose(x.grad, want, rtol=1e-14)
    assert np.shape(x.grad) == shape


# --------------------------------------------------------------------------- no_grad, detach


def test_no_grad_context_records_nothing():
    x = Tensor([1.0], requires_grad=True)
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = mg.tanh(x * 2)
    assert mg.is_grad_enabled()
    assert y.requires_grad is False and y.is_leaf
    assert mg.show_tape(y, print_it=False) == []
    assert x.data.flags.writeable  # nothing saved, nothing locked


def test_no_grad_decorator_and_restore_on_error():
    @mg.no_grad()
    def step(t):
        assert not mg.is_grad_enabled()
        return t * 2

    x = Tensor([1.0], requires_grad=True)
    assert step(x).requires_grad is False
    assert step.__name__ == "step"
    assert mg.is_grad_enabled()
    with pytest.raises(KeyError), mg.no_grad():
        raise KeyError("inside no_grad")
    assert mg.is_grad_enabled()
    with mg.no_grad(), mg.no_grad():
        pass
    assert mg.is_grad_enabled()


def test_same_no_grad_instance_is_reentrant():
    ng = mg.no_grad()
    with ng:
        with ng:
            pass
        assert not mg.is_grad_enabled()
    enabled = mg.is_grad_enabled()
    mg.modes.STATE.grad_enabled = True  # repair the global switch for the other tests
    assert enabled


def test_detach_cuts_the_tape():
    x = Tensor([2.0], requires_grad=True)
    y = x * x
    z = y.detach() * x  # gradient only through the second factor
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0])
    assert y.detach().data is y.data


# ------------------------------------------------------------------------------ grad()


def test_grad_of_leaves_and_intermediates_does_not_touch_dot_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    unused = Tensor([[5.0]], requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    with pytest.raises(RuntimeError, match=r"input 2 \(shape \(1, 1\)\) is not used.*"
                       "allow_unused=True"):
        mg.grad(y, [x, h, unused], retain_graph=True)
    gx, gh, gu = mg.grad(y, [x, h, unused], retain_graph=True, allow_unused=True)
    np.testing.assert_array_equal(gx, 18 * x.data)
    np.testing.assert_array_equal(gh, 2 * h.data)
    assert gu is None
    assert x.grad is None and unused.grad is None
    (gx2,) = mg.grad(y, x)  # single tensor input, graph was retained
    np.testing.assert_array_equal(gx2, gx)
    assert gx2 is not gx


def test_grad_with_seed_and_fan_in_to_intermediate():
    x = Tensor(np.array([[1.0, -2.0]]), requires_grad=True)
    h = mg.tanh(x)
    y = h * h + h  # h feeds two ops: its total derivative is the sum
    seed = np.array([[0.5, 2.0]])
    (gh,) = mg.grad(y, [h], grad_outputs=seed)
    np.testing.assert_allclose(gh, seed * (2 * h.data + 1), rtol=1e-15)
    with pytest.raises(TypeError, match="Tensors"):
        mg.grad(Tensor([1.0], requires_grad=True) * 2, [np.ones(1)], grad_outputs=np.ones(1))


def test_grad_of_a_leaf_output():
    x = Tensor([1.0, 2.0], requires_grad=True)
    other = Tensor([1.0], requires_grad=True)
    gx, go = mg.grad(x, [x, other], grad_outputs=np.array([3.0, 4.0]), allow_unused=True)
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    assert go is None


def test_grad_wrt_constant_input_is_not_silently_zero():
    x, w = Tensor([2.0]), Tensor([3.0], requires_grad=True)
    y = (x * w).sum()
    try:
        (gx,) = mg.grad(y, [x])
    except (RuntimeError, ValueError) as err:  # refusing, PyTorch-style, is fine
        assert "requires_grad" in str(err)
    else:  # so is the true derivative
        np.testing.assert_array_equal(gx, [3.0])


# --------------------------------------------------------------------------- long chains


def test_100k_op_chain_backpropagates_without_recursion():
    limit = sys.getrecursionlimit()
    x = Tensor(np.array(1.5), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y
    assert limit < 100_000  # the chain is longer than any recursive walk could go
    y.backward()
    assert x.grad == 1.0
    del y
    gc.collect()  # freeing 100k linked records must not recurse either
    assert x.data.flags.writeable


# --------------------------------------------------------------------------- custom Function


class ScaledSquare(mg.Function):
    """y = k·x², saving x; ∂y/∂x = 2k·x."""

    @staticmethod
    def forward(ctx, x, *, k=1.0):
        ctx.save_for_backward(x)
        ctx.k = k
        return k * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (2 * ctx.k * x * g,)


class MulAdd(mg.Function):
    """z = a·b + c, with a list return and None for c."""

    name = "muladd"

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        return a * b + c

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return [g * b, g * a, None]


def test_custom_function_forward_backward_and_options():
    x = Tensor([1.0, -2.0], requires_grad=True)
    y = ScaledSquare.apply(x, k=3.0)
    np.testing.assert_array_equal(y.data, [3.0, 12.0])
    (rec,) = mg.show_tape(y, print_it=False)
    assert rec.name == "scaledsquare" and rec.k == 3.0
    assert rec.saved_tensors[0] is x.data
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, -12.0])
    with pytest.raises(RuntimeError, match="freed.*retain_graph=True"):
        rec.saved_tensors  # noqa: B018


def test_custom_function_converts_inputs_and_broadcasts_gradients():
    a = Tensor([[1.0], [2.0]], requires_grad=True)  # (2, 1) against (3,): broadcast to (2, 3)
    b = np.array([1.0, 2.0, 3.0])
    c = Tensor(np.ones((2, 3)), requires_grad=True)
    z = MulAdd.apply(a, b, c)
    assert z.shape == (2, 3) and mg.show_tape(z, print_it=False)[0].name == "muladd"
    z.sum().backward()
    np.testing.assert_array_equal(a.grad, [[6.0], [6.0]])  # reduced by the engine
    assert c.grad is None  # backward returned None for it
    assert MulAdd.apply(np.ones(2), [1.0, 2.0], 3.0).requires_grad is False


def test_custom_function_wrong_gradient_count_or_shape():
    class TooMany(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return (np.ones((5, 7)),)

    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="toomany: backward returned 2 gradients for 1 input"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"badshape.*\(5, 7\).*\(2, 3\)"):
        BadShape.apply(x).sum().backward()


# ------------------------------------------------------------------- multi-output records


def test_split_is_one_record_and_unused_pieces_get_zero_gradient():
    x = Tensor(np.arange(6.0), requires_grad=True)
    a, b, c = mg.split(x, [1, 4])
    assert [p.shape for p in (a, b, c)] == [(1,), (3,), (2,)]
    y = (c * 3.0).sum()
    tape = mg.show_tape(y, print_it=False)
    assert [r.name for r in tape] == ["split", "mul", "sum"]
    assert repr(tape[0]).endswith("split: (6,) -> ((1,), (3,), (2,))>")
    assert "#0[2]" in str(tape)  # mul reads the third output of the split
    y.backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 0, 0, 3, 3])


def test_backward_and_grad_from_split_pieces():
    x = Tensor(np.arange(6.0), requires_grad=True)
    a, b, c = mg.split(x, 3)
    b.backward(np.array([1.0, 2.0]))  # the root itself is one output of a multi-output record
    np.testing.assert_array_equal(x.grad, [0, 0, 1, 2, 0, 0])
    a, b, c = mg.split(x, 3)
    y = (a * b).sum() + (c * c).sum()
    ga, gb, gc, gx = mg.grad(y, [a, b, c, x])
    np.testing.assert_array_equal(ga, b.data)
    np.testing.assert_array_equal(gb, a.data)
    np.testing.assert_array_equal(gc, 2 * c.data)
    np.testing.assert_array_equal(gx, np.concatenate([ga, gb, gc]))


def test_custom_function_with_two_outputs():
    class Two(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0, x * 3.0

        @staticmethod
        def backward(ctx, g1, g2):
            return (2.0 * g1 + 3.0 * g2,)

    x = Tensor([1.0, 2.0], requires_grad=True)
    p, q = Two.apply(x)
    (p * q).sum().backward()  # 6x² -> 12x
    np.testing.assert_array_equal(x.grad, [12.0, 24.0])
    x.zero_grad()
    p, q = Two.apply(x)
    q.sum().backward()  # p unused: its gradient slot is zeros
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# --------------------------------------------------------------------------- show_tape


def test_show_tape_table(capsys):
    w = Tensor(np.ones((4, 7)), requires_grad=True, name="W_a")
    b = Tensor(np.zeros((4, 1)), requires_grad=True, name="b_a")
    x = Tensor(np.ones((7, 2)))
    y = mg.tanh(w @ x + b).sum()
    view = mg.show_tape(y)
    printed = capsys.readouterr().out
    assert printed.strip() == str(view).strip()
    lines = printed.strip().splitlines()
    rows = [re.sub(r"\s+", " ", ln).strip() for ln in lines[2:-1]]
    assert rows == [
        "0 matmul W_a(4, 7), const(7, 2) -> (4, 2)",
        "1 add #0, b_a(4, 1) -> (4, 2)",
        "2 tanh #1 -> (4, 2)",
        "3 sum #2 -> ()",
    ]
    assert "4 records" in lines[-1]
    assert repr(view[0]).endswith("matmul: (4, 7), (7, 2) -> (4, 2)>")
    assert repr(view) == "<tape: 4 records>"
    assert y.show_tape() == view
    assert "empty tape" in str(mg.show_tape(w, print_it=False))
