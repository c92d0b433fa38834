"""What compile refuses, and how it says so: closed-over parameters, value reads while
tracing, arrays as keyword options, untraceable integer arguments; re-traces warn."""

from __future__ import annotations

import numpy as np
import pytest
from _compile_helpers import private_cache  # noqa: F401 (autouse fixture)

import minigrad as mg
from minigrad.compiler import TraceError, compile
from minigrad.modes import TracingValueError


def test_closed_over_parameter_is_named() -> None:
    W = mg.Tensor(np.ones((2, 2)), requires_grad=True, name="W_a")

    @compile
    def f(x):
        return mg.tanh(W @ x)

    with pytest.raises(TraceError, match=r"'W_a' of shape \(2, 2\).*not one of its arguments"):
        f(mg.Tensor(np.ones((2, 1)), requires_grad=True))


def test_closed_over_constant_is_allowed() -> None:
    bias = mg.Tensor(np.full((2, 1), 0.5))  # requires no grad: a constant of the program

    @compile
    def f(x):
        return x + bias

    x = mg.Tensor(np.ones((2, 1)), requires_grad=True)
    np.testing.assert_array_equal(f(x).data, np.full((2, 1), 1.5))


@pytest.mark.parametrize("read", [
    lambda t: bool(t.sum() > 0),
    lambda t: float(t.sum()),
    lambda t: t.sum().item(),
    lambda t: 1.0 if t.sum() else 0.0,
    lambda t: t > 0,
    lambda t: np.greater(t, 0),
    lambda t: np.asarray(t),
], ids=["bool_of_comparison", "float", "item", "if", "comparison", "np_greater", "asarray"])
def test_value_reads_while_tracing_raise(read) -> None:
    @compile
    def f(x):
        read(x * 2.0)
        return x

    with pytest.raises(TracingValueError, match="Control flow is frozen at trace time"):
        f(mg.Tensor(np.ones(3), requires_grad=True))
    assert mg.Tensor(np.ones(3)).sum() > 0  # outside tracing, reads work as always


def test_value_reads_of_constants_are_allowed() -> None:
    table = mg.Tensor(np.arange(3.0))

    @compile
    def f(x):
        return x * float(table.sum())  # a constant's value is the same on every call

    np.testing.assert_array_equal(f(mg.Tensor(np.ones(3))).data, np.full(3, 3.0))


def test_many_signatures_warn() -> None:
    f = compile(lambda x: x * 2.0)
    for n in range(1, 9):
        f(np.ones(n))
    with pytest.warns(RuntimeWarning, match="traced for 9 different signatures"):
        f(np.ones(9))


def test_signature_includes_static_values_and_flags() -> None:
    f = compile(lambda x, k: x * k)
    x = mg.Tensor(np.ones(2), requires_grad=True)
    f(x, 2.0)
    f(x, 2.0)
    f(x, 3.0)                        # another static number
    f(mg.Tensor(np.ones(2)), 3.0)    # another requires_grad flag
    f(x.data.astype(np.float32), 3.0)  # another dtype
    assert len(f.variants) == 4
    np.testing.assert_array_equal(f(x, 3.0).data, [3.0, 3.0])


def test_arrays_as_keyword_options_are_refused() -> None:
    f = compile(lambda x, scale=1.0: x * scale)
    with pytest.raises(TraceError, match="keyword argument scale= .* is an array"):
        f(np.ones(2), scale=np.ones(2))
    np.testing.assert_array_equal(f(np.ones(2), scale=2.0).data, [2.0, 2.0])


def test_unsupported_argument_type() -> None:
    f = compile(lambda x: x)
    with pytest.raises(TraceError, match="argument .* is a object"):
        f(object())


def test_integer_argument_used_untraceably() -> None:
    @compile
    def f(x, ids):
        return x * mg.Tensor(ids)  # converted to floats: its values would be frozen

    with pytest.raises(TraceError, match="integer argument ids"):
        f(mg.Tensor(np.ones(3), requires_grad=True), np.arange(3))


def test_integer_argument_as_index_is_data() -> None:
    @compile
    def f(W, ids):
        return W[:, ids] * 2.0

    W = mg.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    for ids in ([0, 2], [3, 3]):
        out = f(W, np.array(ids))
        np.testing.assert_array_equal(out.data, W.data[:, ids] * 2.0)
        out.sum().backward()
        expected = np.zeros((3, 4))
        np.add.at(expected, (slice(None), np.array(ids)), 2.0)
        np.testing.assert_array_equal(W.grad, expected)  # repeated ids add up
        W.grad = None
    assert len(f.variants) == 1


def test_source_before_the_first_call() -> None:
    f = compile(lambda x: x)
    with pytest.raises(RuntimeError, match="has not been called yet"):
        f.source  # noqa: B018


def test_create_graph_through_a_compiled_record_names_it() -> None:
    @compile
    def cube(x):
        return x * x * x

    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = cube(x).sum()
    np.testing.assert_array_equal(mg.grad(y, x, retain_graph=True)[0], [3.0, 12.0])
    with pytest.raises(RuntimeError, match="compiled:cube: its backward runs on arrays only"):
        mg.grad(y, x, create_graph=True)


def test_closed_over_parameter_reached_through_ops_on_it_alone() -> None:
    W = mg.Tensor(np.ones((2, 2)), requires_grad=True, name="W_y")

    @compile
    def f(x):
        return (W * 2.0) @ x       # W * 2.0 involves no argument: a constant to the trace

    with pytest.raises(TraceError, match="'W_y' of shape"):
        f(mg.Tensor(np.ones((2, 1))))

    @compile
    def g(x):
        return W.sum()             # returned directly

    with pytest.raises(TraceError, match="'W_y' of shape"):
        g(mg.Tensor(np.ones((2, 1))))


def test_no_grad_inside_the_function_stops_the_gradient() -> None:
    def f(x):
        with mg.no_grad():
            scale = x * 2.0        # computed from x on every call, but not differentiated
        return x * scale

    x = mg.Tensor(np.array([1.0, 3.0]), requires_grad=True)
    cf = compile(f)
    for v in ([1.0, 3.0], [2.0, 5.0]):
        x.data[...] = v
        cf(x).sum().backward()
        np.testing.assert_array_equal(x.grad, 2.0 * np.array(v))  # d/dx (x · const) = const
        x.grad = None


def test_generated_code_is_checked_against_the_tape_once() -> None:
    """A backend whose backward is off by 1.5 is caught on the first call of a signature."""
    from minigrad.compiler.check import CompileMismatch
    from minigrad.compiler.codegen_numpy import generate

    def off(prog):
        source, namespace = generate(prog)
        return source + ("\n_exact = backward\n\n\ndef backward(*args):\n"
                         "    return tuple(None if g is None else 1.5 * g for g in _exact(*args))\n"
                         ), namespace

    f = compile(lambda x, W: mg.tanh(W @ x), backend=off)
    x = mg.Tensor(np.ones((2, 1)))
    W = mg.Tensor(np.eye(2), requires_grad=True)
    with pytest.raises(CompileMismatch, match="disagrees with the eager tape in the gradient"):
        f(x, W)
    g = compile(lambda x, W: mg.tanh(W @ x))   # the NumPy backend passes the same check
    np.testing.assert_allclose(g(x, W).data, np.tanh(np.ones((2, 1))), rtol=1e-15)


def test_integer_arguments_through_copies_but_not_reordering_views() -> None:
    @compile
    def gather(W, ids):
        return W[:, ids.copy()]                # a copy is the same data: followed

    W = mg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(gather(W, np.array([2, 0])).data, W.data[:, [2, 0]])
    np.testing.assert_array_equal(gather(W, np.array([1, 1])).data, W.data[:, [1, 1]])

    @compile
    def reversed_gather(W, ids):
        return W[:, ids[::-1]]                 # a reordering view: not followed, refused

    with pytest.raises(TraceError, match="through an operation compile does not follow"):
        reversed_gather(W, np.array([2, 0]))
