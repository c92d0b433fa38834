"""`Tensor`: an ndarray, its `.grad`, the tape record that made it, and operator sugar.

Everything a Tensor can do is an op in `minigrad.ops` (imported at the bottom of this module,
once `Tensor` exists, since the ops need it); this module only turns Python syntax
(`a @ b + c`, `t[0]`, `t.sum()`, `a < b`) into calls of those ops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .modes import STATE as _MODES
from .modes import refuse_value_read

if TYPE_CHECKING:  # pragma: no cover
    from .tape import Record

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
    `record` is the tape record that made the tensor (None for a leaf), and `output_index`
    which of that record's outputs it is (ops like `split` have several).
    """

    __slots__ = ("data", "grad", "requires_grad", "record", "output_index", "name",
                 "_hooks", "_retains", "__weakref__")  # (the last two: set only by hooks.py)

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None
    ) -> None:
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.record: Record | None = None
        self.output_index = 0
        self.name = name

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, record: Record | None,
              output_index: int) -> Tensor:
        """Constructor used by ops (no conversion, no checks)."""
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad = data, None, requires_grad
        t.record, t.output_index, t.name = record, output_index, None
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
        return self.record is None

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        """The transpose (axes reversed), as an op on the tape."""
        return ops.transpose(self)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Any:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if _MODES.tracer is not None:  # value reads while minigrad.compile traces
            refuse_value_read(self, "np.asarray(t)")
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype)

    def numpy(self) -> np.ndarray:
        """The array: shared with a leaf; a writable copy of a recorded (read-only) result."""
        return self.data if self.data.flags.writeable else self.data.copy()

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if _MODES.tracer is not None:
            refuse_value_read(self, "t.item() (or float(t), int(t))")
        if self.data.size != 1:
            raise ValueError(
                f"item(): tensor of shape {self.shape} has {self.size} elements, not 1"
            )
        return self.data.item()

    def tolist(self) -> Any:
        """The values as nested Python lists (`ndarray.tolist`)."""
        return self.data.tolist()

    def __bool__(self) -> bool:
        if _MODES.tracer is not None:
            refuse_value_read(self, "bool(t) (an `if` or `while` on a tensor)")
        if self.data.size != 1:
            raise ValueError(
                f"The truth value of a tensor of shape {self.shape} is ambiguous: use "
                "(t != 0).any() or .all() on the comparison, or t.item() for one element."
            )
        return bool(self.data.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if spec and self.data.size == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    def detach(self) -> Tensor:
        """The same data, cut from the tape (requires_grad=False)."""
        return Tensor._make(self.data, False, None, 0)

    def __repr__(self) -> str:
        body = np.array2string(self.data, prefix="Tensor(", separator=", ", threshold=20)
        extra = ""
        if self.name:
            extra += f", name={self.name!r}"
        if self.record is not None:
            extra += f", grad_fn={self.record.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        if self.dtype != np.float64:
            extra += f", dtype={self.dtype}"
        return f"Tensor({body}{extra})"

    # --- autograd ---------------------------------------------------------------------------
    def seed(self, grad: Any = None, keep_tensor: bool = False) -> Any:
        """The cotangent dL/d(self) that starts backward from this tensor (checked). A Tensor
        seed stays a Tensor with `keep_tensor` (create_graph: the seed may be differentiated)."""
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
            g = np.ones_like(self.data)
        elif isinstance(grad, Tensor):
            g = grad if keep_tensor else grad.data
        else:
            g = np.asarray(grad, dtype=self.dtype)
        if g.shape != self.shape:
            raise ValueError(
                f"backward: seed gradient has shape {g.shape} but the output has shape "
                f"{self.shape}; they must match."
            )
        return Tensor._make(g, False, None, 0) if keep_tensor and type(g) is np.ndarray else g

    def backward(self, grad: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        `grad` is the seed dL/d(self) (required unless self is a scalar). The graph's saved
        arrays are freed afterwards unless `retain_graph=True`. With `create_graph=True` the
        backward pass is recorded too: `.grad` becomes a Tensor that can be differentiated
        again (and the graph is kept).
        """
        autograd.backward(self, grad, retain_graph, create_graph)

    def register_hook(self, fn: Any) -> Any:
        """Call `fn(grad)` when backward computes d(loss)/d(self); a non-None result replaces
        the gradient. Returns a handle whose `.remove()` unregisters it."""
        return hooks.register_hook(self, fn)

    def retain_grad(self) -> None:
        """Keep this intermediate tensor's gradient in `.grad` after backward (as leaves do)."""
        hooks.retain_grad(self)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def show_tape(self) -> Any:
        """Print and return the tape that produced this tensor (see `minigrad.show_tape`)."""
        from .show import show_tape

        return show_tape(self)

    # --- operator sugar: every operator is an op, constants are converted by Function.apply --
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        if not isinstance(other, Tensor) and getattr(type(other), "__array_ufunc__", 0) is None:
            return NotImplemented  # NumPy's convention: `other` handles the product itself
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensors do not support item assignment (it would rewrite history on the tape). "
            "Build a new tensor, e.g. with minigrad.where or minigrad.concat, or write into "
            "t.data outside of any recorded computation."
        )

    # Comparisons compare values element-wise and return NumPy boolean arrays (no gradient
    # flows through a comparison); tensors stay hashable by identity.
    def _compared(self, other: Any, op: str) -> None:
        """While minigrad.compile traces: a mask computed from a traced value is a value read."""
        refuse_value_read(self, f"the comparison t {op} ...")
        if isinstance(other, Tensor):
            refuse_value_read(other, f"the comparison ... {op} t")

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        if _MODES.tracer is not None:
            self._compared(other, "==")
        return ops.equal(self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        if _MODES.tracer is not None:
            self._compared(other, "!=")
        return ops.not_equal(self, other)

    def __lt__(self, other: Any) -> np.ndarray:
        if _MODES.tracer is not None:
            self._compared(other, "<")
        return ops.less(self, other)

    def __le__(self, other: Any) -> np.ndarray:
        if _MODES.tracer is not None:
            self._compared(other, "<=")
        return ops.less_equal(self, other)

    def __gt__(self, other: Any) -> np.ndarray:
        if _MODES.tracer is not None:
            self._compared(other, ">")
        return ops.greater(self, other)

    def __ge__(self, other: Any) -> np.ndarray:
        if _MODES.tracer is not None:
            self._compared(other, ">=")
        return ops.greater_equal(self, other)

    __hash__ = object.__hash__

    def __array_ufunc__(self, ufunc: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """`np.exp(t)`, `ndarray * t`: the minigrad op NumPy's ufunc stands for, recorded.

        This is what lets one backward rule, written in NumPy, run on arrays (numbers) and on
        Tensors (a recorded graph, for `create_graph=True`). Unknown ufuncs, ufunc methods
        (`np.add.at`) and `out=` get a clear error instead of a silently dropped tape.
        """
        op = ops.NUMPY.get(ufunc)
        if _MODES.tracer is not None and ufunc in ops.logic.NUMPY:
            for x in args:  # a comparison or logic ufunc: a mask read from a traced value
                if isinstance(x, Tensor):
                    refuse_value_read(x, f"numpy.{ufunc.__name__}(t, ...)")
        if method == "__call__" and op is not None and "out" not in kwargs:
            return op(*args, **kwargs)
        what = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise TypeError(
            f"numpy.{what} does not take minigrad Tensors"
            f"{' with out=' if 'out' in kwargs else ''} (it would drop the tape): use the "
            "minigrad op to record it, or apply NumPy to t.data for a plain array."
        )

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """`np.sum(t, axis=0)`, `np.where(c, t, 0)`: the minigrad op of that name, recorded."""
        op = ops.NUMPY.get(func)
        if op is not None:
            return op(*args, **kwargs)
        name = func.__name__
        raise TypeError(
            f"numpy.{name} does not take minigrad Tensors (it would drop the tape): use "
            f"minigrad.{name}(t) or t.{name}() to record it where minigrad has it, or "
            f"numpy.{name}(t.data) for a plain array."
        )

    # --- methods that are ops -------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Σ over `axis` (all axes by default)."""
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Arithmetic mean over `axis` (all axes by default)."""
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        """Same data, new shape (`t.reshape(2, 3)` or `t.reshape((2, 3))`)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes (reverse them by default), like `ndarray.transpose`."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)


def as_tensor(x: Any) -> Tensor:
    """`x` if it is a Tensor, else a constant Tensor (requires_grad=False) of it."""
    return x if isinstance(x, Tensor) else Tensor(x)


from . import autograd, hooks, ops  # noqa: E402  (they need `Tensor`, defined above)
