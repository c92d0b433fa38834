"""Tensor semantics PyTorch and NumPy users rely on: per-thread modes, comparisons, conversions,
NumPy functions on Tensors, and backward through ops that saved nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

# ------------------------------------------------------------------------- modes are per thread


def test_no_grad_in_one_thread_does_not_touch_another_threads_backward():
    stop = threading.Event()
    inside = threading.Event()

    def idle_in_no_grad() -> None:
        with mg.no_grad():
            inside.set()
            stop.wait(10)

    other = threading.Thread(target=idle_in_no_grad)
    other.start()
    try:
        assert inside.wait(10)
        assert mg.is_grad_enabled()            # this thread's mode is its own
        for _ in range(100):
            x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
            (mg.tanh(x) * x).sum().backward()
            t = np.tanh([1.0, 2.0])
            np.testing.assert_allclose(x.grad, t + np.array([1.0, 2.0]) * (1 - t**2),
                                       rtol=1e-14)
    finally:
        stop.set()
        other.join()


def test_threads_backpropagate_concurrently_with_the_right_gradients():
    """Odd threads keep entering no_grad() for their forwards while even threads record and
    backpropagate: each thread's mode is its own."""
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            for _ in range(50):
                w = Tensor(rng.normal(size=(3, 3)), requires_grad=True)
                x = rng.normal(size=(3, 2))
                if seed % 2:
                    with mg.no_grad():
                        assert not mg.tanh(w @ x).requires_grad
                    continue
                mg.tanh(w @ x).sum().backward()
                expected = (1 - np.tanh(w.data @ x) ** 2) @ x.T
                np.testing.assert_allclose(w.grad, expected, rtol=1e-12, atol=1e-14)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_anomaly_mode_is_per_thread():
    seen = []
    with mg.detect_anomaly():
        t = threading.Thread(target=lambda: seen.append(mg.modes.is_anomaly_enabled()))
        t.start()
        t.join()
        assert mg.modes.is_anomaly_enabled()
    assert seen == [False]


def test_no_grad_decorating_a_generator_applies_inside_it():
    x = Tensor(np.ones(2), requires_grad=True)

    @mg.no_grad()
    def steps(n):
        for _ in range(n):
            got = yield (x * 2.0, mg.is_grad_enabled())
            assert got is None

    outputs = []
    for y, enabled in steps(3):
        outputs.append(y)
        assert not enabled                     # inside the generator: no grad
        assert mg.is_grad_enabled()            # outside, between its steps: grad mode on
    assert all(not y.requires_grad for y in outputs)
    assert (x * 2.0).requires_grad


def test_no_grad_generator_returns_its_value_and_closes():
    @mg.no_grad()
    def gen():
        yield 1
        return "done"

    g = gen()
    assert next(g) == 1
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"


# ------------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparisons_are_element_wise_and_return_numpy_booleans(op):
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)  # noqa: F841 (read by eval)
    b = np.array([2.0, 2.0, 2.0])  # noqa: F841
    expected = eval(f"a.data {op} b")
    for got in (eval(f"a {op} b"), eval(f"a {op} Tensor(b)"), eval(f"b {op} a") if op in
                ("==", "!=") else eval(f"Tensor(b) {op} a")):
        assert isinstance(got, np.ndarray) and got.dtype == bool
    np.testing.assert_array_equal(eval(f"a {op} b"), expected)
    np.testing.assert_array_equal(eval(f"a {op} 2.0"), eval(f"a.data {op} 2.0"))


def test_comparison_masks_work_with_where_and_indexing():
    x = Tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    y = mg.where(x > 0, x, 0.0 * x).sum() + x[x < 0].sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0, 1.0])


def test_tensors_stay_hashable_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b}) == 2


# ------------------------------------------------------------------------------- conversions


def test_bool_of_a_many_element_tensor_raises_like_numpy():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))
    assert bool(Tensor([3.0])) and not bool(Tensor(0.0))


def test_float_int_and_format_of_one_element_tensors():
    t = Tensor([[2.5]])
    assert float(t) == 2.5 and int(t) == 2
    assert f"{t:.3f}" == "2.500"
    assert f"{Tensor(1.0):>6.1f}" == "   1.0"
    with pytest.raises(ValueError, match="2 elements"):
        float(Tensor([1.0, 2.0]))
    assert "Tensor(" in f"{Tensor([1.0, 2.0])}"


def test_numpy_functions_record_minigrad_ops_and_the_others_say_what_to_use():
    t = Tensor(np.arange(3.0), requires_grad=True)
    np.testing.assert_array_equal(np.asarray(t), [0.0, 1.0, 2.0])
    s = np.sum(np.exp(t) * 2.0)          # numpy functions and ufuncs record the minigrad ops
    assert isinstance(s, Tensor) and s.record.name == "sum"
    s.backward()
    np.testing.assert_allclose(t.grad, 2 * np.exp(np.arange(3.0)), rtol=1e-15)
    with pytest.raises(TypeError, match=r"numpy.fft .*t.data"):
        np.fft.fft(t)
    with pytest.raises(TypeError, match=r"numpy.add.at does not take minigrad Tensors"):
        np.add.at(t, [0], 1.0)
    with pytest.raises(TypeError, match=r"numpy.exp does not take minigrad Tensors with out="):
        np.exp(t, out=np.empty(3))


def test_ndarray_operators_on_tensors_record_the_op():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (np.array([3.0, 4.0]) * x + np.array([1.0, 1.0])).sum()
    assert isinstance(y, Tensor)
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# ----------------------------------------------------------- backward twice, like PyTorch


def test_second_backward_through_ops_that_saved_nothing_works():
    x = Tensor(np.arange(6.0), requires_grad=True)
    pieces = mg.split(x, 3)
    y = (pieces[0] + pieces[2]).sum()       # split, add, sum: nothing saved
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 0.0, 0.0, 2.0, 2.0])


def test_second_backward_through_an_op_that_saved_arrays_names_it():
    x = Tensor(np.arange(3.0), requires_grad=True)
    y = mg.tanh(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="'tanh' were freed.*retain_graph=True"):
        y.backward()
