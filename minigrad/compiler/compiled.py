"""`compile`: trace a function once per signature, then run its generated code as one record.

    @compile
    def cell(carry, x_t, W, b):
        a_prev, = carry
        a = tanh(W @ concat([a_prev, x_t]) + b)
        return (a,), a

    (a,), y = cell((a0,), x[:, :, 0], W, b)   # first call: trace, generate, write, import
    print(cell.source)                         # the forward and backward it runs

The signature of a call is the structure of its arguments, each leaf's kind, shape, dtype and
`requires_grad`, the static values (Python numbers) and the keyword options. A new signature
traces again (complex-step gradient checks, say, trace a complex variant); many signatures of
one function warn, since a shape that changes every call means tracing every call. The first
call of a signature also checks the generated code against the eager tape once (`check.py`).
"""

from __future__ import annotations

import functools
import inspect
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..function import Function
from ..modes import STATE
from ..tape import Record
from ..tensor import Tensor
from .backward import trace_backward
from .cache import load_module
from .check import check_against_tape
from .codegen_numpy import generate
from .program import Program
from .trace import TraceError, flatten, trace_forward, unflatten

__all__ = ["CompiledFunction", "compile"]

#: Re-traces of one function beyond this many signatures warn.
MAX_SIGNATURES = 8


@dataclass
class Variant:
    """One signature's compiled form."""

    program: Program
    source: str
    module: ModuleType
    path: Path
    function: type  # the Function subclass whose record stands for one call
    out_tree: Any
    float_index: list[int]  # which leaves are the record's inputs
    int_index: list[int]    # which are integer arrays (an option of the record)
    detach: list[bool]      # outputs no gradient flows from
    scan_class: Any = None  # the Function of `scan` over this cell, made on first use


class CompiledFunction:
    """A function compiled per signature (see the module docstring)."""

    def __init__(self, fn: Any, backend: Any = generate) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.backend = backend
        self.variants: dict[Any, Variant] = {}
        self.last: Variant | None = None
        self._params = _param_names(fn)

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {len(self.variants)} signature(s)>"

    @property
    def source(self) -> str:
        """The generated module of the most recent call's signature."""
        if self.last is None:
            raise RuntimeError(f"compile: '{self.__name__}' has not been called yet, so there "
                               "is no source: call it once (it traces on its first call)")
        return self.last.source

    @property
    def kernels(self) -> str:
        """The generated Numba kernels of the most recent call's signature ('' if none)."""
        self.source  # noqa: B018 - raises the same error before the first call
        return getattr(self.last.module, "KERNELS", "")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves: list[Any] = []
        variant = self.variant(args, kwargs, leaves)
        return self._run(variant, leaves)

    def variant(self, args: tuple, kwargs: dict[str, Any], leaves: list[Any]) -> Variant:
        """The compiled form for the signature of `fn(*args, **kwargs)` (traced if new);
        appends the arguments' leaves to `leaves`."""
        key = (_walk(args, leaves), _static_key(self.__name__, kwargs) if kwargs else ())
        try:
            variant = self.variants.get(key)
        except TypeError:  # an unhashable static argument: flatten says which
            variant = None
        if variant is None:
            paths: list[tuple[str, Any]] = []
            tree = flatten(tuple(args), "", paths)
            named = [(self._name_of(path), leaf) for path, leaf in paths]
            variant = self.variants[key] = self._compile(tree, named, kwargs)
            if len(self.variants) == MAX_SIGNATURES + 1:
                warnings.warn(
                    f"compile: '{self.__name__}' has been traced for {len(self.variants)} "
                    "different signatures (shapes, dtypes, requires_grad flags, static "
                    "arguments); each new one traces and generates code again. Keep shapes "
                    "fixed (use scan for sequences) or call it without compile.",
                    RuntimeWarning, stacklevel=3)
        self.last = variant
        return variant

    def _name_of(self, path: str) -> str:
        """`_0_1` (argument 0, item 1) as `carry_1` with the function's parameter names."""
        parts = path.strip("_").split("_")
        k = int(parts[0])
        params = self._params
        head = params[k] if k < len(params) else (f"{params[-1]}_{k - len(params) + 1}"
                                                  if params else f"arg{k}")
        return "_".join([head, *parts[1:]])

    def _compile(self, tree: Any, leaves: list[tuple[str, Any]], kwargs: dict) -> Variant:
        prog, tracer, _ = trace_forward(self.fn, self.__name__, tree, leaves, kwargs)
        trace_backward(prog, tracer)
        source, namespace = self.backend(prog)
        module, path = load_module(source, namespace)
        check_against_tape(self.fn, tree, leaves, kwargs, prog, module)
        kinds = [a.kind for a in prog.args]
        return Variant(prog, source, module, path, _record_class(self.__name__, prog, module),
                       prog.out_tree,  # type: ignore[attr-defined]
                       [i for i, k in enumerate(kinds) if k == "float"],
                       [i for i, k in enumerate(kinds) if k == "int"],
                       [s is None for s in prog.seeds])

    def _run(self, v: Variant, leaves: list[Any]) -> Any:
        ints = tuple([leaves[i] for i in v.int_index])
        outs = v.function.apply(*[leaves[i] for i in v.float_index], ints=ints)
        if True in v.detach:  # (as in eager: no gradient can flow from these outputs)
            outs = [o.detach() if d else o for o, d in zip(outs, v.detach)]
        return unflatten(v.out_tree, iter(outs))


def compile(fn: Any = None, *, backend: Any = None) -> Any:  # noqa: A001 - torch/jax's name
    """Compile `fn` (decorator `@compile` or `compile(fn)`): on each new signature, trace it on
    the tape, generate NumPy code for its forward and backward, and from then on run that code
    as one tape record `compiled:<name>` whose backward is the generated backward.

    `backend`: None or "numpy" (the reference NumPy generator), "numba" (fused element-wise
    kernels, `codegen_numba`) or a code generator `Program -> (source, namespace)`."""
    if fn is None:
        return functools.partial(compile, backend=backend)
    gen = _backend(backend)
    if isinstance(fn, CompiledFunction):
        if backend is None or gen is fn.backend:
            return fn
        fn = fn.fn
    if not callable(fn):
        raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
    return CompiledFunction(fn, gen)


def _backend(backend: Any) -> Any:
    """A backend name or function as the function Program -> (source, namespace)."""
    if backend is None or backend == "numpy":
        return generate
    if backend == "numba":
        from .codegen_numba import generate as numba_generate  # (imports numba's njit)

        return numba_generate
    if callable(backend):
        return backend
    raise ValueError(f"compile: backend must be 'numpy', 'numba' or a function Program -> "
                     f"(source, namespace); got {backend!r}")


def _param_names(fn: Any) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind not in (p.VAR_KEYWORD,)]


def _walk(value: Any, leaves: list[Any]) -> Any:
    """The signature of `value` (structure, static values, each leaf's shape, dtype and
    requires_grad), appending its leaves in `flatten`'s order: one pass, on every call."""
    kind = type(value)
    if kind is Tensor:
        leaves.append(value)
        data = value.data
        return (data.shape, data.dtype, value.requires_grad)
    if kind is np.ndarray:
        leaves.append(value)
        return (value.shape, value.dtype)
    if kind is tuple or kind is list:
        return (kind, *[_walk(v, leaves) for v in value])
    if kind is dict:
        return (dict, *[(k, _walk(value[k], leaves)) for k in sorted(value)])
    if isinstance(value, (Tensor, np.ndarray, tuple, list)):  # subclasses, named tuples
        data = value.data if isinstance(value, Tensor) else value
        if isinstance(value, (Tensor, np.ndarray)):
            leaves.append(value)
            return (kind, data.shape, data.dtype, getattr(value, "requires_grad", False))
        return (kind, *[_walk(v, leaves) for v in value])
    return (kind, value)  # a static value (unhashable ones are refused by flatten)


def _static_key(name: str, kwargs: dict[str, Any]) -> tuple:
    items = []
    for k in sorted(kwargs):
        v = kwargs[k]
        if isinstance(v, (Tensor, np.ndarray)):
            raise TraceError(f"compile: keyword argument {k}= of '{name}' is an array; keyword "
                             "arguments are static options (numbers, strings, tuples): pass "
                             "arrays positionally")
        try:
            hash(v)
        except TypeError:
            raise TraceError(f"compile: keyword argument {k}={v!r} of '{name}' is not hashable; "
                             "keyword arguments are static options (numbers, strings, "
                             "tuples)") from None
        items.append((k, type(v).__name__, v))
    return tuple(items)


class FreeResiduals:
    """`record.release()` of a compiled record: the engine's release (after a backward without
    retain_graph), and the residuals kept in the attribute `what` dropped with it."""

    __slots__ = ("ref", "what")

    def __init__(self, ctx: Any, what: str) -> None:
        self.ref, self.what = weakref.ref(ctx), what  # (weak: no cycle keeps the ctx alive)

    def __call__(self) -> None:
        ctx = self.ref()
        if ctx is not None:
            Record.release(ctx)
            setattr(ctx, self.what, None)


def _record_class(name: str, prog: Program, module: ModuleType) -> type:
    """The Function whose one record stands for a call of this signature."""
    seeds = [k for k, s in enumerate(prog.seeds) if s]
    floats = [a.name for a in prog.float_args]
    saved_args = [floats.index(r) for r in prog.residuals if r in floats]
    forward_fn, backward_fn = module.forward, module.backward

    class Compiled(Function):
        """A compiled function: its generated forward, and its generated backward."""

        twice_differentiable = False

        @staticmethod
        def forward(ctx: Any, *arrays: np.ndarray, ints: tuple = ()) -> tuple:
            outs, residuals = forward_fn(*arrays, *ints)
            if STATE.grad_enabled:  # (under no_grad nothing is recorded: drop the residuals)
                # the arguments backward reads (guarded against writes) and an output (so that
                # `saved_tensors` raises after a backward without retain_graph freed it)
                ctx.save_for_backward(*[arrays[i] for i in saved_args],
                                      *[o for o in outs if type(o) is np.ndarray][:1])
                ctx.residuals = residuals
                ctx.release = FreeResiduals(ctx, "residuals")
            return tuple(outs)

        @staticmethod
        def backward(ctx: Any, *grads: np.ndarray) -> tuple:
            ctx.saved_tensors  # noqa: B018 - raises if a backward already freed this record
            return backward_fn(*ctx.residuals, *[grads[k] for k in seeds])

    Compiled.name = f"compiled:{name}"
    Compiled.__name__ = Compiled.__qualname__ = f"Compiled_{name}"
    Compiled.program = prog  # type: ignore[attr-defined]
    return Compiled
