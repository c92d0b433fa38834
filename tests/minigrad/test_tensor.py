"""`Tensor`: construction rules, properties, methods, operators and NumPy interplay."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

# ------------------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    ("data", "shape"),
    [(3, ()), (2.5, ()), (True, ()), ([1, 2, 3], (3,)), ([[1.0, 2.0]], (1, 2)),
     (np.arange(6).reshape(2, 3), (2, 3)), (np.array([True, False]), (2,)),
     (np.array([1, 2], dtype=np.int8), (2,)), (np.array([1, 2], dtype=np.uint32), (2,)),
     (np.array([0.5], dtype=np.float16), (1,))],
)
def test_numbers_lists_int_bool_become_float64(data, shape):
    t = Tensor(data)
    assert t.dtype == np.float64
    assert t.shape == shape
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_float32_float64_complex128_arrays_keep_dtype(dtype):
    a = np.arange(4).astype(dtype)
    t = Tensor(a)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, a)


def test_python_complex_becomes_complex128():
    assert Tensor(1 + 2j).dtype == np.complex128
    assert Tensor(np.ones(2, np.complex64)).dtype == np.complex128


def test_explicit_dtype():
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert Tensor(np.ones(2), dtype="complex128").dtype == np.complex128
    with pytest.raises(TypeError, match="float32, float64 or complex128"):
        Tensor([1, 2], dtype=np.int64)


@pytest.mark.parametrize("bad", ["abc", ["a", "b"], np.array(["x"]), [object()], None,
                                 np.array([{}], dtype=object)])
def test_strings_and_objects_are_rejected(bad):
    with pytest.raises(TypeError, match="Tensor"):
        Tensor(bad)


def test_tensor_from_tensor_shares_data():
    a = Tensor([1.0, 2.0])
    assert Tensor(a).data is a.data


# ------------------------------------------------------------------------------ properties


def test_properties():
    a = np.arange(6.0).reshape(2, 3)
    t = Tensor(a, requires_grad=True)
    assert t.data is a
    assert t.grad is None
    assert t.requires_grad is True
    assert Tensor(a).requires_grad is False
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == np.float64
    assert isinstance(t.T, Tensor) and t.T.shape == (3, 2)
    np.testing.assert_array_equal(t.T.data, a.T)
    assert t.T.requires_grad  # .T is an op on the tape
    assert Tensor(np.ones((2, 3, 4))).T.shape == (4, 3, 2)


def test_requires_grad_propagates():
    w = Tensor([1.0], requires_grad=True)
    c = Tensor([2.0])
    assert (w * c).requires_grad
    assert not (c * c).requires_grad
    assert not (c * 3).requires_grad


# ------------------------------------------------------------------------------ methods


def test_numpy_item_detach():
    a = np.array([[1.5]])
    t = Tensor(a, requires_grad=True)
    assert t.numpy() is a
    assert t.item() == 1.5 and isinstance(t.item(), float)
    d = (t * 2).detach()
    assert d.requires_grad is False and d.is_leaf
    assert d.grad is None
    np.testing.assert_array_equal(d.data, [[3.0]])
    assert mg.show_tape(d, print_it=False) == []
    with pytest.raises(ValueError, match=r"item\(\).*\(1, 2\).*2 elements"):
        Tensor([1.0, 2.0]).reshape(1, 2).item()


def test_sum_mean_reshape_transpose_methods():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(a)
    np.testing.assert_array_equal(t.sum().data, a.sum())
    np.testing.assert_array_equal(t.sum(axis=1).data, a.sum(axis=1))
    np.testing.assert_array_equal(t.sum(axis=(0, 2), keepdims=True).data,
                                  a.sum(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(t.mean(axis=-1).data, a.mean(axis=-1))
    np.testing.assert_allclose(t.mean().data, a.mean())
    assert t.reshape(6, 4).shape == (6, 4)
    assert t.reshape((4, -1)).shape == (4, 6)
    assert t.reshape([24]).shape == (24,)
    np.testing.assert_array_equal(t.transpose().data, a.transpose())
    np.testing.assert_array_equal(t.transpose(1, 0, 2).data, a.transpose(1, 0, 2))
    np.testing.assert_array_equal(t.transpose((2, 0, 1)).data, a.transpose(2, 0, 1))


def test_item_assignment_is_refused():
    t = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="item assignment"):
        t[0] = 5.0


# ------------------------------------------------------------------------------ operators

OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.__name__)
@pytest.mark.parametrize("other_kind", ["tensor", "array", "number", "list"])
def test_operators_with_tensors_arrays_numbers_on_either_side(op, other_kind):
    x = np.array([[0.5, 1.5], [2.0, 1.25]])
    y = np.array([0.75, 2.0])
    other = {"tensor": Tensor(y), "array": y, "number": 1.5, "list": [0.75, 2.0]}[other_kind]
    yv = 1.5 if other_kind == "number" else y
    t = Tensor(x, requires_grad=True)
    left, right = op(t, other), op(other, t)
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    np.testing.assert_allclose(left.data, op(x, yv), rtol=1e-15)
    np.testing.assert_allclose(right.data, op(yv, x), rtol=1e-15)
    assert left.requires_grad and right.requires_grad


@pytest.mark.parametrize("op", [*OPS, operator.matmul], ids=lambda o: o.__name__)
def test_ndarray_on_the_left_defers_to_tensor(op):
    # Tensor.__array_ufunc__ = None: ndarray ⊕ Tensor calls Tensor's reflected operator
    # instead of NumPy looping over the tensor as an object.
    a = np.array([[1.0, 2.0], [3.0, 0.5]])
    t = Tensor([[0.5, 1.0], [2.0, 1.5]], requires_grad=True)
    r = op(a, t)
    assert type(r) is Tensor and r.dtype == np.float64 and r.requires_grad
    np.testing.assert_allclose(r.data, op(a, t.data), rtol=1e-15)
    r.sum().backward()
    assert t.grad is not None and t.grad.shape == (2, 2)


def test_matmul_operator_forms():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    ta = Tensor(a)
    np.testing.assert_array_equal((ta @ b).data, a @ b)
    np.testing.assert_array_equal((ta @ Tensor(b)).data, a @ b)
    np.testing.assert_array_equal((a @ Tensor(b)).data, a @ b)
    np.testing.assert_array_equal((b.T @ ta.T).data, b.T @ a.T)


def test_unary_minus_and_plus():
    t = Tensor([1.0, -2.0], requires_grad=True)
    np.testing.assert_array_equal((-t).data, [-1.0, 2.0])
    assert (+t) is t
    (-t).sum().backward()
    np.testing.assert_array_equal(t.grad, [-1.0, -1.0])


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.__name__)
@pytest.mark.parametrize("scalar", [2, 2.5, -1])
def test_float32_stays_float32_with_python_scalars(op, scalar):
    t = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    assert op(t, scalar).dtype == np.float32
    assert op(scalar, t).dtype == np.float32
    op(t, scalar).sum().backward()
    assert t.grad.dtype == np.float32


def test_float32_through_every_op():
    t = Tensor(np.array([[0.5, 1.0], [1.5, 2.0]], dtype=np.float32), requires_grad=True)
    outs = [mg.sigmoid(t), mg.tanh(t), mg.relu(t), mg.exp(t), mg.log(t), mg.softmax(t),
            mg.log_softmax(t), t @ t, t.sum(), t.mean(axis=0), t.T, t[0], t.reshape(4),
            mg.concat([t, t]), mg.stack([t, t]), mg.maximum(t, t * 2), -t, t**2]
    for o in outs:
        assert o.dtype == np.float32, o
    mg.sum(mg.stack([o.sum() for o in outs])).backward()
    assert t.grad.dtype == np.float32


def test_np_asarray_shares_and_np_functions_accept_tensors():
    a = np.arange(3.0)
    t = Tensor(a)
    assert np.asarray(t) is a
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.asarray([t, t]), [a, a])


def test_np_array_copies():
    t = Tensor(np.arange(3.0))
    c = np.array(t)
    assert not np.shares_memory(c, t.data)


def test_empty_list_index():
    t = Tensor(np.ones((2, 3)), requires_grad=True)
    assert t[[]].shape == (0, 3)


def test_len_and_repr():
    t = Tensor(np.ones((3, 2)), requires_grad=True, name="W_a")
    assert len(t) == 3
    r = repr(t)
    assert r.startswith("Tensor(") and "W_a" in r and "requires_grad=True" in r
    assert "grad_fn=mul" in repr(t * 2)
    assert "float32" in repr(Tensor(np.ones(2, np.float32)))
