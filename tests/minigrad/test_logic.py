"""Comparisons and logic: NumPy boolean arrays, no gradient, usable by `where` and as masks."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

A = np.array([[1.0, -2.0, 3.0], [0.0, 5.0, -1.0]])
B = np.array([0.5, -2.0, 4.0])


@pytest.mark.parametrize(("fn", "ref", "op"), [
    (mg.equal, np.equal, lambda a, b: a == b),
    (mg.not_equal, np.not_equal, lambda a, b: a != b),
    (mg.less, np.less, lambda a, b: a < b),
    (mg.less_equal, np.less_equal, lambda a, b: a <= b),
    (mg.greater, np.greater, lambda a, b: a > b),
    (mg.greater_equal, np.greater_equal, lambda a, b: a >= b),
    (mg.logical_and, np.logical_and, None),
    (mg.logical_or, np.logical_or, None),
    (mg.logical_xor, np.logical_xor, None),
])
def test_comparisons_give_numpy_booleans_with_broadcasting(fn, ref, op):
    a, b = Tensor(A, requires_grad=True), Tensor(B)
    expected = ref(A, B)
    for got in (fn(a, b), fn(A, b), fn(a, B), ref(a, b), ref(A, b)) + (
            (op(a, b), op(a, B), op(A, b)) if op else ()):
        assert type(got) is np.ndarray and got.dtype == np.bool_
        np.testing.assert_array_equal(got, expected)


def test_logical_not_and_masks_in_where_and_indexing():
    x = Tensor(A, requires_grad=True)
    np.testing.assert_array_equal(mg.logical_not(x), A == 0)
    mask = mg.logical_and(x > -1.5, x < 4.0)
    y = mg.where(mask, x * x, 0.0) + x[x > 0].sum()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.where(mask, 2 * A, 0.0) + 6 * (A > 0))
    with pytest.raises(TypeError, match="where: cond must be a boolean array"):
        mg.where(x.data, x, 0.0)


def test_index_and_truth_queries_are_numpy_values():
    t = Tensor([[1.0, 5.0], [3.0, 0.0]], requires_grad=True)
    assert t.argmax() == 1 and np.argmax(t) == 1 and mg.argmin(t) == 3
    np.testing.assert_array_equal(t.argmax(axis=0), [1, 0])
    np.testing.assert_array_equal(t.argmin(axis=1, keepdims=True), [[0], [1]])
    assert t.any() and not t.all() and not np.all(t)
    np.testing.assert_array_equal(t.all(axis=1), [True, False])
    assert t.tolist() == [[1.0, 5.0], [3.0, 0.0]]


def test_copy_and_astype_pass_the_gradient_and_cast_it_back():
    t = Tensor([[1.0, 5.0], [3.0, 0.5]], requires_grad=True)
    u = t.astype(np.float32)
    assert u.dtype == np.float32 and t.copy().record.name == "copy"
    (u * u + t.copy()).sum().backward()
    assert t.grad.dtype == np.float64
    np.testing.assert_allclose(t.grad, 2 * t.data + 1, rtol=1e-6)
    assert t.astype(np.float64) is t
    with pytest.raises(TypeError, match="astype: cannot cast float64 to complex128"):
        t.astype(np.complex128)
    with pytest.raises(TypeError, match="astype: dtype must be float32, float64 or complex128"):
        t.astype(np.int64)
