"""The traced program: the small IR between the tape and the generated source.

A `Program` is straight-line code over *named values*. Every name is a Python identifier that
the generated source uses as a local variable, so a program reads like the module made from it.

- `args`: the flattened arguments of the compiled function, in call order. A `float` arg is a
  Tensor or float/complex array (it may require grad); an `int` arg is an integer or boolean
  array (token ids, masks): data that changes per call, never differentiated. Python numbers
  and keyword options are static: they are part of the signature, not arguments.
- `forward`: the nodes of the forward pass, in recording order. `outputs`: the names (or
  `Const`s) the function returns, flattened. `residuals`: the forward names that `backward`
  reads (values the VJPs need, runtime ctx objects of ops whose backward is called).
- `backward`: the nodes of the backward pass, in the order they run. Its free names are the
  residuals and `seeds` (per output: the name of its cotangent, None if no gradient flows from
  it). `grads`: per float arg, the name of its gradient, None when it needs none.
- `types`: the shape and dtype of every forward value, by name.

A `Node` is one line of code:

    kind "op"     outputs = fn.forward(*inputs, **options)  -- a recorded op. A code generator
                  writes it as an expression when it has one for `fn` (see the backend's
                  table), else as a call of `fn.forward` by reference, keeping the runtime ctx
                  in `ctx_name` when a "vjp" node needs it.
    kind "vjp"    outputs = fn.backward(<ctx_name of the forward node>, *inputs) -- an op whose
                  backward is called by reference (its rule could not be traced on Tensors);
                  `needs` says which of the forward op's inputs want a gradient, `outputs` has
                  None where the rule returns None.
    kind "ufunc"  outputs[0] = fn(*inputs) -- NumPy arithmetic on integer arrays (token ids
                  shifted by n_a, say), followed so that int args stay data, not constants.
    kind "alias"  outputs[0] = inputs[0] -- the first contribution to a gradient, named d<value>.

Inputs are value names (`str`) or `Const`s (constants: closed-over arrays that require no
grad, Python numbers an op turned into arrays, zeros for unused outputs). Options hold static
Python values; a `Ref` in them (possibly nested in tuples, as in an index) is a traced integer
array. `where` is the user's source line that recorded the op; `comment` says what the line is.

A code generator (a *backend*) is a function `Program -> (source text, namespace)`: the
namespace binds the names the source uses but cannot spell (constants, Function classes).
`codegen_numpy.generate` is the reference backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Arg", "Const", "Node", "Program", "Ref", "ref_names"]


@dataclass(frozen=True)
class Ref:
    """A traced integer array inside an op's options (e.g. the ids in an index `W[:, ids]`)."""

    name: str


def ref_names(value: Any) -> list[str]:
    """The names of the `Ref`s in an option value, nested in tuples, lists and dicts."""
    if isinstance(value, Ref):
        return [value.name]
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in ref_names(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in ref_names(v)]
    return []


@dataclass(eq=False)
class Const:
    """A constant input: the value is bound by the loader (small scalars are written inline)."""

    value: Any


@dataclass(eq=False)
class Node:
    """One line of generated code (see the module docstring for the kinds)."""

    kind: str
    fn: Any
    inputs: list[Any]
    options: dict[str, Any]
    outputs: list[str | None]
    where: str | None = None
    comment: str = ""
    ctx: Any = None               # the trace-time record of an "op" node
    ctx_name: str | None = None   # the runtime ctx's name, when a "vjp" node calls its backward
    needs: tuple[bool, ...] = ()  # "vjp": which inputs of the forward op want a gradient
    no_grad: bool = False         # recorded inside no_grad(): no gradient flows through it
    input_ids: tuple[int, ...] = ()  # id() of the arrays the op got (to place what it saved)

    @property
    def op_name(self) -> str:
        """The op's name as the tape prints it."""
        if self.kind == "ufunc":
            return self.fn.__name__
        return getattr(self.fn, "name", None) or self.fn.__name__.lower()


@dataclass
class Arg:
    """One flattened argument."""

    name: str
    kind: str                 # "float" or "int"
    shape: tuple[int, ...]
    dtype: np.dtype
    requires_grad: bool = False


@dataclass
class Program:
    """A traced function: forward and backward as named straight-line code."""

    name: str
    args: list[Arg]
    forward: list[Node]
    outputs: list[Any]
    backward: list[Node] = field(default_factory=list)
    seeds: list[str | None] = field(default_factory=list)
    grads: list[str | None] = field(default_factory=list)
    residuals: list[str] = field(default_factory=list)
    types: dict[str, tuple[tuple[int, ...], np.dtype]] = field(default_factory=dict)

    @property
    def float_args(self) -> list[Arg]:
        """The differentiable arguments, in order (the compiled record's inputs)."""
        return [a for a in self.args if a.kind == "float"]

    @property
    def int_args(self) -> list[Arg]:
        """The integer-array arguments (passed to the record as an option)."""
        return [a for a in self.args if a.kind == "int"]

    def fallbacks(self) -> list[str]:
        """The ops called by reference (forward or backward) rather than generated."""
        return sorted({n.op_name for n in self.backward if n.kind == "vjp"})
