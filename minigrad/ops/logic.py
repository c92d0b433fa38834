"""Comparisons and logic: NumPy boolean arrays out, no gradient (a mask is a constant).

`a < b` on Tensors already gives a boolean array; these are the same as functions
(`mg.less(a, b)`, `np.less(t, 0)`), for `where` and for masks such as `t[t > 0]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor

__all__ = ["all", "any", "argmax", "argmin", "equal", "greater", "greater_equal", "less",
           "less_equal", "logical_and", "logical_not", "logical_or", "logical_xor", "not_equal"]


def values(x: Any) -> Any:
    """The array behind a Tensor, for reading values only (comparisons, masks); anything else
    unchanged. A mask computed from values is a constant: no gradient flows through it."""
    return x.data if isinstance(x, Tensor) else x


def equal(a: Any, b: Any) -> np.ndarray:
    """a == b element-wise, as a boolean array."""
    return np.equal(values(a), values(b))


def not_equal(a: Any, b: Any) -> np.ndarray:
    """a != b element-wise, as a boolean array."""
    return np.not_equal(values(a), values(b))


def less(a: Any, b: Any) -> np.ndarray:
    """a < b element-wise, as a boolean array."""
    return np.less(values(a), values(b))


def less_equal(a: Any, b: Any) -> np.ndarray:
    """a <= b element-wise, as a boolean array."""
    return np.less_equal(values(a), values(b))


def greater(a: Any, b: Any) -> np.ndarray:
    """a > b element-wise, as a boolean array."""
    return np.greater(values(a), values(b))


def greater_equal(a: Any, b: Any) -> np.ndarray:
    """a >= b element-wise, as a boolean array."""
    return np.greater_equal(values(a), values(b))


def logical_and(a: Any, b: Any) -> np.ndarray:
    """a and b element-wise (non-zero is true), as a boolean array."""
    return np.logical_and(values(a), values(b))


def logical_or(a: Any, b: Any) -> np.ndarray:
    """a or b element-wise (non-zero is true), as a boolean array."""
    return np.logical_or(values(a), values(b))


def logical_xor(a: Any, b: Any) -> np.ndarray:
    """a xor b element-wise (non-zero is true), as a boolean array."""
    return np.logical_xor(values(a), values(b))


def logical_not(a: Any) -> np.ndarray:
    """not a element-wise (zero is true), as a boolean array."""
    return np.logical_not(values(a))


def argmax(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the largest value (flat if axis is None), like `np.argmax`: integers, no
    gradient."""
    return np.argmax(values(a), axis=axis, keepdims=keepdims)


def argmin(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the smallest value (flat if axis is None), like `np.argmin`."""
    return np.argmin(values(a), axis=axis, keepdims=keepdims)


def all(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where every element (along `axis`) is non-zero, like `np.all`."""
    return np.all(values(a), axis=axis, keepdims=keepdims)


def any(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where some element (along `axis`) is non-zero, like `np.any`."""
    return np.any(values(a), axis=axis, keepdims=keepdims)


NUMPY = {np.equal: equal, np.not_equal: not_equal, np.less: less, np.less_equal: less_equal,
         np.greater: greater, np.greater_equal: greater_equal, np.logical_and: logical_and,
         np.logical_or: logical_or, np.logical_xor: logical_xor, np.logical_not: logical_not,
         np.argmax: argmax, np.argmin: argmin, np.all: all, np.any: any}
METHODS = {"argmax": argmax, "argmin": argmin, "all": all, "any": any}
