"""`Tensor`: an ndarray, its `.grad`, the tape record that made it, and operator sugar.

Everything a Tensor can do is an op in `minigrad.ops`; this module only turns Python syntax
(`a @ b + c`, `t[0]`, `t.sum()`) into calls of those ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tape import Record, run_backward

__all__ = ["Tensor", "as_tensor"]

_KEEP = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.complex128))


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Numbers, lists, bool/int arrays -> float64; float32/float64/complex128 arrays kept."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in _KEEP:
            raise TypeError(f"Tensor: dtype must be float32, float64 or complex128, got {dtype}")
        arr = np.asarray(data)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"Tensor: cannot make a numeric tensor from {arr.dtype} data")
        return arr.astype(dtype, copy=False)
    arr = np.asarray(data)
    if arr.dtype in _KEEP:
        return arr
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr.astype(np.float64)
    if kind == "c":
        return arr.astype(np.complex128)
    raise TypeError(
        f"Tensor: cannot make a numeric tensor from {type(data).__name__} data of dtype "
        f"{arr.dtype}; pass numbers, lists of numbers or numeric arrays"
    )


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    `Tensor(data, requires_grad=False, dtype=None)`: numbers, lists and int/bool arrays become
    float64; float32, float64 and complex128 arrays keep their dtype (and are not copied).
    After `loss.backward()`, every leaf with `requires_grad=True` holds dloss/dleaf in `.grad`.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_out", "name", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None
    ) -> None:
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._node: Record | None = None
        self._out = 0  # which output of its record this is (ops like split have several)
        self.name = name

    @classmethod
    def _make(
        cls, data: np.ndarray, requires_grad: bool, node: Record | None, out: int = 0
    ) -> Tensor:
        """Fast constructor used by ops (no conversion, no checks)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._node = node
        t._out = out
        t.name = None
        return t

    # --- array-like properties ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The array's dtype (float64, float32 or complex128)."""
        return self.data.dtype

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self._node is None

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        """The transpose (axes reversed), as an op on the tape."""
        return _ops.transpose(self)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Any:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item(): tensor of shape {self.shape} has {self.size} elements, not 1"
            )
        return self.data.item()

    def detach(self) -> Tensor:
        """The same data, cut from the tape (requires_grad=False)."""
        return Tensor._make(self.data, False, None)

    def __repr__(self) -> str:
        body = np.array2string(self.data, prefix="Tensor(", separator=", ", threshold=20)
        extra = ""
        if self.name:
            extra += f", name={self.name!r}"
        if self._node is not None:
            extra += f", grad_fn={self._node.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        if self.dtype != np.float64:
            extra += f", dtype={self.dtype}"
        return f"Tensor({body}{extra})"

    # --- autograd ---------------------------------------------------------------------------
    def _seed(self, grad: Any) -> np.ndarray:
        """The cotangent that starts backward from this tensor (checked)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad, so there is nothing to "
                "differentiate. Create the inputs you want gradients for with "
                "Tensor(..., requires_grad=True) and do not compute under no_grad()."
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: the output has shape {self.shape}, not a scalar, so it needs a "
                    f"seed gradient of that shape: call t.backward(grad) with an array of shape "
                    f"{self.shape}, or reduce first, e.g. t.sum().backward()."
                )
            return np.ones_like(self.data)
        g = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=self.dtype)
        if g.shape != self.shape:
            raise ValueError(
                f"backward: seed gradient has shape {g.shape} but the output has shape "
                f"{self.shape}; they must match."
            )
        return g

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        `grad` is the seed dL/d(self) (required unless self is a scalar). The graph's saved
        arrays are freed afterwards unless `retain_graph=True`.
        """
        run_backward(self, self._seed(grad), retain_graph)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def show_tape(self) -> Any:
        """Print and return the tape that produced this tensor (see `minigrad.show_tape`)."""
        from .show import show_tape

        return show_tape(self)

    # --- operator sugar -------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _ops.Add.apply(self, other if isinstance(other, Tensor) else _lift(other, self))

    def __radd__(self, other: Any) -> Tensor:
        return _ops.Add.apply(_lift(other, self), self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.Sub.apply(self, other if isinstance(other, Tensor) else _lift(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.Sub.apply(_lift(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.Mul.apply(self, other if isinstance(other, Tensor) else _lift(other, self))

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.Mul.apply(_lift(other, self), self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.Div.apply(self, other if isinstance(other, Tensor) else _lift(other, self))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.Div.apply(_lift(other, self), self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.power(_lift(other, self), self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensors do not support item assignment (it would rewrite history on the tape). "
            "Build a new tensor, e.g. with minigrad.where or minigrad.concat, or write into "
            "t.data outside of any recorded computation."
        )

    __hash__ = object.__hash__

    # --- methods that are ops -------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Σ over `axis` (all axes by default)."""
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Arithmetic mean over `axis` (all axes by default)."""
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        """Same data, new shape (`t.reshape(2, 3)` or `t.reshape((2, 3))`)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes (reverse them by default), like `ndarray.transpose`."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)


def _lift(x: Any, like: Tensor) -> Any:
    """Python numbers take the tensor's dtype (so float32 stays float32); the rest is as is."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        kind = like.data.dtype.kind
        return Tensor._make(np.asarray(x, dtype=like.data.dtype if kind in "fc" else None),
                            False, None)
    return x


def as_tensor(x: Any) -> Tensor:
    """`x` if it is a Tensor, else a constant Tensor (requires_grad=False) of it."""
    return x if isinstance(x, Tensor) else Tensor(x)


# The operators above call the ops' Functions directly (one Python call less per operator: the
# hot path of every model). The ops need `Tensor`, so `minigrad/ops/__init__.py` plugs itself
# in here once it is loaded (importing minigrad always loads it).
_ops: Any = None
