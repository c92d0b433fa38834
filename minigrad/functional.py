"""Function transforms on top of the tape: `vjp`, `jvp`, `jacobian`, `hvp`, `hessian`.

Each takes a function f and the point x to differentiate at, like `torch.autograd.functional`:
x is a Tensor/array (f is called as f(x)) or a tuple of them (f(*x)); a list is one array, as
NumPy reads it. Vectors v, u, tangents have x's (or f(x)'s) structure and shapes (a tuple or
list of arrays for a tuple x). f must compute its result with minigrad ops and
return a Tensor. The inputs are never modified: f sees fresh leaf Tensors holding copies of
their values, so neither x's arrays nor any `.grad` change. Results are NumPy arrays (in x's
structure), or with `create_graph=True` Tensors on the tape that can be differentiated again:
then x's Tensors that require grad are used as they are (not copied), so the result depends
on them, as in PyTorch.

Only reverse mode is built in. Everything here is made of reverse passes:

    vjp       uᵀJ                     1 reverse pass
    jvp       J t  (forward mode)     the double-VJP trick, ~2-3 reverse passes (see `jvp`)
    jacobian  J                       m reverse passes (rows) or n JVPs (columns)
    hvp       H v = ∇⟨∇f, v⟩          reverse over reverse, ~2-3 reverse passes
    hessian   H                       n reverse passes over the recorded gradient
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from .autograd import grad
from .modes import _switched
from .ops import stack
from .tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vjp"]

JACOBIAN_MODES = ("auto", "rev", "fwd")
_F = TypeVar("_F", bound=Callable[..., Any])


def _grad_mode_on(transform: _F) -> _F:
    """Run the transform with recording on, also inside `no_grad()` (its passes need a tape;
    the results are arrays, or Tensors with create_graph, either way as documented)."""

    @functools.wraps(transform)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _switched("grad_enabled", True):
            return transform(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ---- inputs, outputs and vectors --------------------------------------------------------------


def _leaves(name: str, x: Any, create_graph: bool) -> tuple[list[Tensor], bool]:
    """x as a list of Tensors that require grad (copies, or x's own Tensors with create_graph),
    and whether x was a tuple."""
    is_tuple = isinstance(x, tuple)  # (a list is an array, as NumPy reads it)
    items = list(x) if is_tuple else [x]
    if is_tuple and not items:
        raise ValueError(f"{name}: x is an empty tuple; give at least one input")
    out = []
    for i, a in enumerate(items):
        label = f"input {i}" if is_tuple else "x"
        if isinstance(a, Tensor):
            if create_graph and a.requires_grad:
                out.append(a)
                continue
            data = a.data
        else:
            try:
                data = Tensor(a).data
            except TypeError as err:
                raise TypeError(f"{name}: {label} must be a Tensor or an array of numbers; "
                                f"got {type(a).__name__}") from err
        if data.dtype.kind != "f":
            raise TypeError(f"{name}: {label} must be real (float32 or float64); got "
                            f"{data.dtype}: derivatives of complex functions are not defined here")
        out.append(Tensor(np.array(data, copy=True), requires_grad=True))
    return out, is_tuple


def _call(name: str, f: Callable[..., Any], xs: list[Tensor], is_tuple: bool) -> Tensor:
    """f(x) or f(*x), checked to be a Tensor."""
    if not callable(f):
        raise TypeError(f"{name}: f must be a callable; got {type(f).__name__}")
    y = f(*xs) if is_tuple else f(xs[0])
    if not isinstance(y, Tensor):
        raise TypeError(f"{name}: f must return a minigrad Tensor computed from its inputs with "
                        f"minigrad ops; got {type(y).__name__} (was it computed on .data or "
                        "with NumPy on arrays?)")
    return y


def _scalar(name: str, y: Tensor) -> None:
    if y.size != 1:
        raise ValueError(f"{name}: f must return a scalar (one element) to have a Hessian; got "
                         f"shape {y.shape}. Reduce it first, e.g. f(x).sum(), or use jacobian")


def _vectors(name: str, arg: str, v: Any, like: list[Tensor], is_tuple: bool) -> list[np.ndarray]:
    """v in the structure and shapes of `like` (x, or f's output), as arrays of their dtype."""
    items = list(v) if isinstance(v, (tuple, list)) and is_tuple else [v]
    if len(items) != len(like):
        raise ValueError(f"{name}: {arg} must have one entry per input ({len(like)}); got "
                         f"{len(items)}")
    out = []
    for i, (a, t) in enumerate(zip(items, like)):
        arr = np.asarray(a.data if isinstance(a, Tensor) else a)
        where = f"{arg}[{i}]" if is_tuple else arg
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: {where} must be a real array; got dtype {arr.dtype}")
        if arr.shape != t.shape:
            raise ValueError(f"{name}: {where} must have the shape of what it multiplies, "
                             f"{t.shape}; got {arr.shape}")
        out.append(arr.astype(t.dtype))
    return out


def _dot(gs: Sequence[Any], vs: Sequence[Any]) -> Any:
    """⟨g, v⟩ = Σ_i Σ g_i ⊙ v_i on the tape (None entries of gs count as zero)."""
    terms = [(g * v).sum() for g, v in zip(gs, vs) if g is not None]
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _grads(y: Any, xs: list[Tensor], seed: Any = None, *, create_graph: bool = False,
           retain_graph: bool | None = None) -> list[Any]:
    """∂⟨seed, y⟩/∂x_i for each i; zeros (or zero constants) where y does not depend on x_i."""
    if y is None or not y.requires_grad:
        gs: list[Any] = [None] * len(xs)
    else:
        gs = grad(y, xs, seed, retain_graph=retain_graph, create_graph=create_graph,
                  allow_unused=True)
    zero = (lambda t: Tensor(np.zeros(t.shape, t.dtype))) if create_graph else (
        lambda t: np.zeros(t.shape, t.dtype))
    return [zero(t) if g is None else g for g, t in zip(gs, xs)]


def _shape_like(items: list[Any], is_tuple: bool) -> Any:
    return tuple(items) if is_tuple else items[0]


def _value(y: Tensor, create_graph: bool) -> Any:
    return y if create_graph else np.array(y.data, copy=True)


# ---- the transforms ---------------------------------------------------------------------------


@_grad_mode_on
def vjp(f: Callable[..., Any], x: Any, u: Any = None, *, create_graph: bool = False
        ) -> tuple[Any, Any]:
    """(f(x), uᵀJ): the vector-Jacobian product, one reverse pass.

    (uᵀJ)_j = Σ_i u_i ∂f_i/∂x_j, u shaped like f(x) (None: f must return a scalar, u = 1).
    The result has x's structure.
    """
    xs, is_tuple = _leaves("vjp", x, create_graph)
    y = _call("vjp", f, xs, is_tuple)
    if u is None:
        if y.size != 1:
            raise ValueError(f"vjp: f returned shape {y.shape}, so u (shaped like f(x)) is "
                             "needed; u may be omitted only for a scalar output")
        seed = np.ones(y.shape, y.dtype)
    else:
        (seed,) = _vectors("vjp", "u", u, [y], False)
    gs = _grads(y, xs, seed, create_graph=create_graph)
    return _value(y, create_graph), _shape_like(gs, is_tuple)


@_grad_mode_on
def jvp(f: Callable[..., Any], primals: Any, tangents: Any, *, create_graph: bool = False
        ) -> tuple[Any, Any]:
    """(f(x), J t): forward mode, the Jacobian-vector product (J t)_i = Σ_j ∂f_i/∂x_j t_j.

    Computed by the double-VJP trick, not by a dedicated forward pass: for a dummy cotangent
    u (shaped like f(x), value irrelevant), g(u) = Jᵀu is linear in u, and recorded with
    create_graph it is a function of u on the tape; then ∂⟨g(u), t⟩/∂u = ∂⟨u, J t⟩/∂u = J t.
    Why: every op has exactly one derivative rule, its VJP (written once, running on arrays
    and on Tensors); a forward pass would need a second rule (a JVP) per op that could drift
    from the first. The price is ~2-3 reverse passes (a recorded backward, then its backward)
    instead of ~1 forward pass. `tangents` has the structure and shapes of `primals`.
    """
    xs, is_tuple = _leaves("jvp", primals, create_graph)
    ts = _vectors("jvp", "tangents", tangents, xs, is_tuple)
    y = _call("jvp", f, xs, is_tuple)
    u = Tensor(np.zeros(y.shape, y.dtype), requires_grad=True)
    gs = _grads(y, xs, u, create_graph=True)
    (jt,) = _grads(_dot(gs, ts), [u], create_graph=create_graph)
    return _value(y, create_graph), jt


@_grad_mode_on
def hvp(f: Callable[..., Any], x: Any, v: Any, *, create_graph: bool = False) -> Any:
    """H v, the Hessian of a scalar f (any one-element shape) at x times v: reverse over
    reverse.

    H v = ∇ₓ⟨∇ₓf(x), v⟩ (H is symmetric): the gradient is recorded (create_graph), dotted with
    v, and differentiated again: ~2-3 reverse passes, never forming H. For a tuple x the
    blocks are summed: (H v)_i = Σ_j ∂²f/∂x_i∂x_j v_j. v and the result have x's structure.
    """
    xs, is_tuple = _leaves("hvp", x, create_graph)
    vs = _vectors("hvp", "v", v, xs, is_tuple)
    y = _call("hvp", f, xs, is_tuple)
    _scalar("hvp", y)
    gs = _grads(y, xs, create_graph=True)
    hv = _grads(_dot(gs, vs), xs, create_graph=create_graph, retain_graph=create_graph)
    return _shape_like(hv, is_tuple)


@_grad_mode_on
def hessian(f: Callable[..., Any], x: Any, *, create_graph: bool = False) -> Any:
    """The Hessian H_jk = ∂²f/∂x_j∂x_k of a scalar f, for small inputs.

    Shape x.shape + x.shape; for a tuple x, nested blocks like `jax.hessian`:
    H[i][j] = ∂²f/∂x_i∂x_j of shape x_i.shape + x_j.shape. The gradient is recorded once
    (create_graph) and each of its n = Σ x_i.size entries is differentiated: n reverse passes
    over the gradient's graph and n² numbers, so keep n small (hvp never forms H).
    """
    xs, is_tuple = _leaves("hessian", x, create_graph)
    y = _call("hessian", f, xs, is_tuple)
    _scalar("hessian", y)
    gs = _grads(y, xs, create_graph=True)
    blocks = [_rows(g, xs, create_graph) for g in gs]
    if not is_tuple:
        return blocks[0][0]
    return tuple(tuple(row) for row in blocks)


def _rows(y: Tensor, xs: list[Tensor], create_graph: bool) -> list[Any]:
    """∂y/∂x_j for each j, by one reverse pass per entry of y: shapes y.shape + x_j.shape."""
    rows: list[list[Any]] = [[] for _ in xs]
    for k in range(y.size):
        seed = np.zeros(y.size, y.dtype)
        seed[k] = 1
        for j, g in enumerate(_grads(y, xs, seed.reshape(y.shape), create_graph=create_graph,
                                     retain_graph=True)):
            rows[j].append(g)
    return [_assemble(r, y.shape + t.shape, create_graph) for r, t in zip(rows, xs)]


def _assemble(rows: list[Any], shape: tuple[int, ...], create_graph: bool) -> Any:
    if create_graph:
        return stack(rows, axis=0).reshape(shape)
    return np.stack(rows, axis=0).reshape(shape)


@_grad_mode_on
def jacobian(f: Callable[..., Any], x: Any, *, mode: str = "auto", create_graph: bool = False
             ) -> Any:
    """The Jacobian J_ij = ∂f_i/∂x_j, of shape f(x).shape + x.shape (a tuple of those blocks
    for a tuple x).

    mode="rev" builds it a row at a time (one reverse pass per output entry: m passes),
    "fwd" a column at a time (one JVP per input entry: n double-VJPs, which share one recorded
    backward), "auto" picks "rev" when m ≤ n (tall J: few outputs) and "fwd" otherwise. Both
    give the same numbers; only the cost differs.
    """
    if mode not in JACOBIAN_MODES:
        raise ValueError(f"jacobian: mode must be one of {JACOBIAN_MODES}; got {mode!r}")
    xs, is_tuple = _leaves("jacobian", x, create_graph)
    y = _call("jacobian", f, xs, is_tuple)
    n = sum(t.size for t in xs)
    if mode == "rev" or (mode == "auto" and y.size <= n):
        blocks = _rows(y, xs, create_graph)
    else:
        blocks = _columns(y, xs, create_graph)
    return _shape_like(blocks, is_tuple)


def _columns(y: Tensor, xs: list[Tensor], create_graph: bool) -> list[Any]:
    """∂y/∂x_j column by column: J e_k = ∂⟨Jᵀu, e_k⟩/∂u, with Jᵀu recorded once."""
    u = Tensor(np.zeros(y.shape, y.dtype), requires_grad=True)
    gs = _grads(y, xs, u, create_graph=True)
    blocks = []
    for g, t in zip(gs, xs):
        cols = []
        for k in range(t.size):
            e = np.zeros(t.size, t.dtype)
            e[k] = 1
            seed = e.reshape(t.shape)
            (col,) = _grads(g if g.requires_grad else None, [u], seed,
                            create_graph=create_graph, retain_graph=True)
            cols.append(col)
        if create_graph:
            block = stack(cols, axis=-1).reshape(y.shape + t.shape)
        else:
            block = np.stack(cols, axis=-1).reshape(y.shape + t.shape)
        blocks.append(block)
    return blocks
