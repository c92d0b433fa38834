"""Messages a user can act on: every bad argument of the shape ops (concat, stack, split,
reshape, transpose, indexing) is an error naming the op, the argument and the expected value,
never a raw NumPy error or a silently different result; and `a ** b` has PyTorch's gradients
at a zero base (∂/∂b = 0, ∂/∂a = 0 for b = 0) without floating-point warnings."""

from __future__ import annotations

import re
import warnings

import _fd as fd
import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor
from minigrad.gradcheck import gradcheck


def raises(kind: type, text: str) -> pytest.RaisesContext:
    """pytest.raises matching `text` literally (messages are full of parentheses)."""
    return pytest.raises(kind, match=re.escape(text))


ONES2, ONES23 = Tensor(np.ones(2)), Tensor(np.ones((2, 3)))

# ------------------------------------------------------------------------------- stack


@pytest.mark.parametrize(("axis", "result_dims"), [(5, 2), (-3, 2), (2, 2)])
def test_stack_axis_out_of_range_names_axis_and_range(axis, result_dims):
    with raises(ValueError, f"stack: axis {axis} is out of range for 1-D inputs (the result "
                            f"has {result_dims} dims; axis must be in [-2, 1])"):
        mg.stack([ONES2, ONES2], axis=axis)


@pytest.mark.parametrize("axis", [None, 1.0, "0", True])
def test_stack_and_concat_axis_must_be_an_integer(axis):
    for fn in (mg.stack, mg.concat):
        with raises(TypeError, f"{fn.__name__}: axis must be an integer, got {axis!r}"):
            fn([ONES23, ONES23], axis=axis)


@pytest.mark.parametrize("fn", [mg.stack, mg.concat])
def test_stack_and_concat_refuse_generators_and_single_tensors(fn):
    name = fn.__name__
    with raises(TypeError, f"{name}: tensors must be a list or tuple of tensors, got a "
                           f"generator; pass {name}(list(...))"):
        fn(t for t in [ONES2, ONES2])
    with raises(TypeError, f"{name}: tensors must be a list or tuple of tensors, got a Tensor "
                           f"of shape (2, 3); pass {name}([a, b])"):
        fn(ONES23)


def test_stack_shape_mismatch_names_the_first_differing_pieces():
    pieces = [ONES23, ONES23, Tensor(np.ones((3, 2))), ONES23]
    with raises(ValueError, "stack: all pieces must have one shape, got (2, 3) and (3, 2) "
                            "(pieces 0 and 2)"):
        mg.stack(pieces)


def test_stack_negative_axis_and_valid_paths_unchanged():
    a, b = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True), Tensor(np.ones((2, 3)))
    for axis in range(-3, 3):
        z = mg.stack([a, b], axis=axis)
        np.testing.assert_array_equal(z.data, np.stack([a.data, b.data], axis=axis))
    z = mg.stack([a, b], axis=np.int64(-1))
    (z * np.arange(12.0).reshape(2, 3, 2)).sum().backward()
    np.testing.assert_array_equal(a.grad, np.arange(12.0).reshape(2, 3, 2)[..., 0])


# ------------------------------------------------------------------------------ concat


def test_concat_axis_none_says_how_to_join_flat():
    with raises(TypeError, "concat: axis must be an integer, got None (to join the pieces flat, "
                           "concat([a.reshape(-1), b.reshape(-1)]))"):
        mg.concat([ONES2, ONES2], axis=None)


@pytest.mark.parametrize("axis", [2, -3])
def test_concat_axis_out_of_range_names_axis_and_range(axis):
    with raises(ValueError, f"concat: axis {axis} is out of range for 2-D inputs (axis must be "
                            "in [-2, 1])"):
        mg.concat([ONES23, ONES23], axis=axis)


def test_concat_of_0d_pieces_suggests_stack():
    with raises(ValueError, "concat: 0-D inputs have no axis to join along; use stack (or "
                            "reshape them to 1-D)"):
        mg.concat([Tensor(1.0), Tensor(2.0)])


def test_concat_different_numbers_of_dims_are_named():
    with raises(ValueError, "concat: piece 0 has shape (2, 3) (2-D) and piece 1 has shape (2,) "
                            "(1-D); every piece needs the same number of dims"):
        mg.concat([ONES23, ONES2], axis=0)


def test_concat_shape_mismatch_names_the_first_differing_pieces():
    pieces = [ONES23, ONES23, Tensor(np.ones((2, 4))), Tensor(np.ones((3, 1)))]
    with raises(ValueError, "concat: shapes (2, 3) and (3, 1) (pieces 0 and 3) differ outside "
                            "axis 1"):
        mg.concat(pieces, axis=1)


def test_concat_valid_paths_unchanged():
    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    z = mg.concat((a, np.ones((1, 3)), a), axis=np.int64(-2))
    np.testing.assert_array_equal(z.data, np.concatenate([a.data, np.ones((1, 3)), a.data]))
    z.sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))


# ------------------------------------------------------------------------------- split


def test_split_axis_out_of_range_names_shape_and_range():
    with raises(ValueError, "split: axis 3 is out of range for a tensor of shape (2,) (1-D; "
                            "axis must be in [-1, 0])"):
        mg.split(ONES2, 2, axis=3)


def test_split_of_a_0d_tensor_is_refused():
    with raises(ValueError, "split: a 0-D tensor has no axis to split along; reshape it to 1-D "
                            "first (x.reshape(1))"):
        mg.split(Tensor(1.0), 1)


@pytest.mark.parametrize("axis", [None, 0.0])
def test_split_axis_must_be_an_integer(axis):
    with raises(TypeError, f"split: axis must be an integer, got {axis!r}"):
        mg.split(ONES23, 2, axis=axis)


@pytest.mark.parametrize("bad", [2.0, "ab", [1.5], True, Tensor(np.array([1.0]))])
def test_split_points_must_be_integers(bad):
    """Today [1.5] is silently truncated to [1], 2.0 and "ab" give raw Python errors."""
    with raises(TypeError, "split: indices_or_sections must be a number of equal sections or a "
                           "list of integer split points"):
        mg.split(Tensor(np.arange(4.0)), bad)


def test_split_sections_must_be_positive():
    with raises(ValueError, "split: sections must be a positive integer, got 0"):
        mg.split(ONES2, 0)


def test_split_valid_paths_unchanged():
    x = Tensor(np.arange(10.0).reshape(2, 5), requires_grad=True)
    for ios, axis in [(5, 1), ([1, 3], -1), (np.array([-2]), 1), ([], 0), (2, np.int64(0))]:
        got = [p.data for p in mg.split(x, ios, axis=axis)]
        want = np.split(x.data, ios, axis=axis)
        assert [g.shape for g in got] == [w.shape for w in want]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    a, _, c = mg.split(x, [1, 4], axis=1)
    (a.sum() + 2 * c.sum()).backward()
    np.testing.assert_array_equal(x.grad, np.array([[1, 0, 0, 0, 2.0]] * 2))


# ----------------------------------------------------------------- reshape and transpose


@pytest.mark.parametrize(("shape", "kind", "text"), [
    ((4, 2), ValueError, "reshape: cannot reshape a tensor of shape (2, 3) (6 elements) into "
                         "(4, 2) (8 elements); the sizes must multiply to 6"),
    ((4, -1), ValueError, "reshape: cannot reshape a tensor of shape (2, 3) into (4, -1): 6 "
                          "elements do not divide by 4"),
    ((-1, -1), ValueError, "reshape: shape (-1, -1) has more than one -1; only one size can be "
                           "inferred"),
    ((-2, -3), ValueError, "reshape: shape (-2, -3) has the negative size -2; sizes are >= 0, "
                           "or -1 for the one inferred size"),
    ((3.0, 2), TypeError, "reshape: shape must be integers, got (3.0, 2) for a tensor of shape "
                          "(2, 3)"),
    ((None,), TypeError, "reshape: shape must be integers, got (None,) for a tensor of shape "
                         "(2, 3)"),
])
def test_reshape_errors_name_both_shapes_and_the_fix(shape, kind, text):
    with raises(kind, text):
        ONES23.reshape(*shape)
    with raises(kind, text):
        mg.ops.reshape(ONES23, shape)


def test_reshape_accepts_a_single_size_and_an_integer_array():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert mg.ops.reshape(x, 6).shape == (6,)
    assert x.reshape(np.array([3, 2])).shape == (3, 2)
    with raises(TypeError, "reshape: shape must be a sequence of integers, got None"):
        mg.ops.reshape(x, None)


@pytest.mark.parametrize("axes", [(0,), (1, 1), (0, 2), (0, -3), (0, 1, 2)])
def test_transpose_axes_must_be_a_permutation(axes):
    """(0, -3) on a 2-D tensor was silently taken as (0, 1)."""
    with raises(ValueError, f"transpose: axes {axes} are not a permutation of the axes of shape "
                            "(2, 3); pass each of 0..1 once (negative counts from the end), e.g. "
                            "(1, 0)"):
        ONES23.transpose(*axes)


def test_transpose_axes_must_be_integers():
    with raises(TypeError, "transpose: axes must be integers, got (0.0, 1)"):
        ONES23.transpose(0.0, 1)   # was silently accepted as (0, 1)
    with raises(TypeError, "transpose: axes must be integers, got 'ab'"):
        mg.ops.transpose(ONES23, "ab")
    assert mg.ops.transpose(Tensor(np.ones(3)), 0).shape == (3,)   # one axis, as NumPy takes it


def test_transpose_valid_paths_unchanged():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    for axes in [(2, 0, 1), (-1, 0, 1), (np.int64(1), 2, 0)]:
        np.testing.assert_array_equal(x.transpose(axes).data, x.data.transpose(axes))
    c = np.arange(24.0).reshape(4, 2, 3)
    (x.transpose(2, 0, 1) * c).sum().backward()
    np.testing.assert_array_equal(x.grad, c.transpose(1, 2, 0))


# ---------------------------------------------------------------------------- indexing


@pytest.mark.parametrize(("index", "text"), [
    (5, "index: cannot index a tensor of shape (2, 3) with 5: index 5 is out of bounds for "
        "axis 0 with size 2"),
    ((0, 0, 0), "index: cannot index a tensor of shape (2, 3) with (0, 0, 0): too many indices"),
    (1.0, "index: cannot index a tensor of shape (2, 3) with 1.0: only integers, slices"),
    (np.array([0, 5]), "index: cannot index a tensor of shape (2, 3) with an int64 array of "
                       "shape (2,): index 5 is out of bounds for axis 0 with size 2"),
    (np.array([0.0]), "index: cannot index a tensor of shape (2, 3) with a float64 array of "
                      "shape (1,): arrays used as indices must be of integer (or boolean) type"),
    (np.array([True, False, True]), "index: cannot index a tensor of shape (2, 3) with a bool "
                                    "array of shape (3,): boolean index did not match"),
    ([[0], [0, 1]], "index: the list [[0], [0, 1]] is not a rectangular list of integers; "
                    "index with integers, slices or a NumPy integer or boolean array"),
])
def test_index_errors_name_the_shape_and_the_index(index, text):
    with raises(IndexError, text):
        ONES23[index]


def test_index_valid_paths_unchanged():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    ids = np.array([2, 0, 2])
    (x[1] + x[:, ids].sum(axis=0) + x[-1, ..., None][0]).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 0, 2], [5, 1, 3.0]])


# --------------------------------------------------------------------------------- pow


def test_pow_gradients_at_a_zero_base_are_the_analytic_values_without_warnings():
    """a = 0: ∂(a**b)/∂b = 0 for b ≥ 0 (PyTorch, HIPS autograd); ∂/∂a = b·0^(b−1) is 0 for
    b = 0 and b > 1, and 1 for b = 1. Today ∂/∂b is NaN and both warn."""
    b0 = np.array([0.0, 1.0, 2.0, 3.5, 2.0])
    a0 = np.array([0.0, 0.0, 0.0, 0.0, 1.5])
    a, b = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = a**b
        z.backward(np.ones(5))
    np.testing.assert_array_equal(z.data, [1.0, 0.0, 0.0, 0.0, 2.25])
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 0.0, 0.0, 3.0])
    np.testing.assert_allclose(b.grad, [0.0, 0.0, 0.0, 0.0, 2.25 * np.log(1.5)], rtol=1e-15)


def test_pow_zero_base_broadcast_and_float32():
    a = Tensor(np.zeros((2, 1), dtype=np.float32), requires_grad=True)
    b = Tensor(np.array([[0.0, 1.0, 2.0]], dtype=np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (a**b).sum().backward()
    assert a.grad.dtype == b.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad, [[1.0], [1.0]])
    np.testing.assert_array_equal(b.grad, [[0.0, 0.0, 0.0]])


def test_pow_gradient_matches_finite_differences_for_positive_bases():
    rng = np.random.default_rng(3)
    a0, b0 = rng.uniform(0.05, 3.0, (3, 4)), rng.uniform(-2.0, 3.0, (1, 4))
    b0[0, 1] = 0.0                                    # exponent 0: ∂/∂a = 0 exactly
    c = rng.normal(size=(3, 4))
    a, b = Tensor(a0.copy(), requires_grad=True), Tensor(b0.copy(), requires_grad=True)
    (a**b * c).sum().backward()
    for t, arr in [(a, a0), (b, b0)]:
        num = fd.numeric_grad(lambda: float(np.sum(a0**b0 * c)), arr, h=1e-3)
        assert fd.rel_error(t.grad, num) < 1e-8
    assert np.all(a.grad[:, 1] == 0.0)


def test_pow_complex_step_still_works_for_positive_bases():
    rng = np.random.default_rng(4)
    a = Tensor(rng.uniform(0.5, 2.0, (2, 3)), requires_grad=True)
    b = Tensor(rng.uniform(-1.5, 2.5, (2, 3)), requires_grad=True)
    gradcheck(lambda: (a**b).sum(), [a, b], mode="complex")
