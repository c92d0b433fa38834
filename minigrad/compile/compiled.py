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
one function warn, since a shape that changes every call means tracing every call.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..function import Function
from ..modes import STATE
from ..tensor import Tensor
from .backward import trace_backward
from .cache import load_module
from .codegen_numpy import generate
from .program import Program
from .trace import TraceError, flatten, trace_forward, tree_key, unflatten

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
        leaves: list[tuple[str, Any]] = []
        tree = flatten(tuple(args), "", leaves)
        named = [(self._name_of(path), leaf) for path, leaf in leaves]
        key = (tree_key(tree), tuple(_leaf_key(leaf) for _, leaf in named),
               _static_key(self.__name__, kwargs))
        variant = self.variants.get(key)
        if variant is None:
            variant = self.variants[key] = self._compile(tree, named, kwargs)
            if len(self.variants) == MAX_SIGNATURES + 1:
                warnings.warn(
                    f"compile: '{self.__name__}' has been traced for {len(self.variants)} "
                    "different signatures (shapes, dtypes, requires_grad flags, static "
                    "arguments); each new one traces and generates code again. Keep shapes "
                    "fixed (use scan for sequences) or call it without compile.",
                    RuntimeWarning, stacklevel=2)
        self.last = variant
        return self._run(variant, [leaf for _, leaf in named])

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
        return Variant(prog, source, module, path, _record_class(self.__name__, prog, module),
                       prog.out_tree)  # type: ignore[attr-defined]

    def _run(self, v: Variant, leaves: list[Any]) -> Any:
        floats, ints = [], []
        for arg, leaf in zip(v.program.args, leaves):
            (floats if arg.kind == "float" else ints).append(leaf)
        outs = v.function.apply(*floats, ints=tuple(ints))
        outs = [o if seed else o.detach()  # (as in eager: no gradient can flow from it)
                for o, seed in zip(outs, v.program.seeds)]
        return unflatten(v.out_tree, iter(outs))


def compile(fn: Any = None, *, backend: Any = "numpy") -> Any:  # noqa: A001 - torch/jax name
    """Compile `fn` (decorator `@compile` or `compile(fn)`): on each new signature, trace it on
    the tape, generate NumPy code for its forward and backward, and from then on run that code
    as one tape record `compiled:<name>` whose backward is the generated backward.
    `backend`: "numpy" (the reference), "numba" (fused element-wise kernels, `codegen_numba`)
    or a function Program -> (source, namespace)."""
    if fn is None:
        return functools.partial(compile, backend=backend)
    if isinstance(fn, CompiledFunction):
        return fn
    if not callable(fn):
        raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
    return CompiledFunction(fn, backend=_backend(backend))


def _backend(backend: Any) -> Any:
    """A backend name or function as the function Program -> (source, namespace)."""
    if backend == "numpy":
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


def _leaf_key(leaf: Any) -> tuple:
    data = leaf.data if isinstance(leaf, Tensor) else np.asarray(leaf)
    rg = isinstance(leaf, Tensor) and leaf.requires_grad
    return (data.shape, data.dtype.str, rg)


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


def _record_class(name: str, prog: Program, module: ModuleType) -> type:
    """The Function whose one record stands for a call of this signature."""
    seeds = [k for k, s in enumerate(prog.seeds) if s]
    forward_fn, backward_fn = module.forward, module.backward

    class Compiled(Function):
        """A compiled function: its generated forward, and its generated backward."""

        twice_differentiable = False

        @staticmethod
        def forward(ctx: Any, *arrays: np.ndarray, ints: tuple = ()) -> tuple:
            outs, residuals = forward_fn(*arrays, *ints)
            if STATE.grad_enabled:  # (under no_grad nothing is recorded: drop the residuals)
                ctx.save_for_backward(*arrays)  # (guarded against writes, freed by backward)
                ctx.residuals = residuals
            return tuple(outs)

        @staticmethod
        def backward(ctx: Any, *grads: np.ndarray) -> tuple:
            ctx.saved_tensors  # noqa: B018 - raises if a backward already freed this record
            return backward_fn(*ctx.residuals, *[grads[k] for k in seeds])

    Compiled.name = f"compiled:{name}"
    Compiled.__name__ = Compiled.__qualname__ = f"Compiled_{name}"
    Compiled.program = prog  # type: ignore[attr-defined]
    return Compiled
