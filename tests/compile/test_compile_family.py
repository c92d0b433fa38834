"""Compiled vs eager over a Hypothesis-generated family of functions: random expression DAGs
over 1–3 inputs (with broadcasting) built from the ops that compile to generated code, plus
the ops that are called by reference. Values and every gradient agree to 1e-12."""

from __future__ import annotations

import numpy as np
from _compile_helpers import assert_same, private_cache  # noqa: F401 (autouse fixture)
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.compiler import compile
from minigrad.compiler.backward import TRACED_VJPS

UNARY = ["neg", "tanh", "sigmoid", "exp_tanh", "log_sq", "pow2", "pow3", "sum_axis", "mean_all",
         "transpose", "softmax", "log_softmax", "slice", "reshape", "concat_self", "where",
         "broadcast", "relu", "square_mm", "sin", "sqrt_sq", "softplus", "arctan", "log1p_sq"]
BINARY = ["add", "sub", "mul", "div", "maximum"]


def apply_unary(op: str, x: mg.Tensor, k: int) -> mg.Tensor:
    """One unary step of the family; `k` picks an axis or variant."""
    ax = k % x.ndim if x.ndim else None
    if op == "neg":
        return -x
    if op == "tanh":
        return mg.tanh(x)
    if op == "sigmoid":
        return mg.sigmoid(x)
    if op == "exp_tanh":
        return mg.exp(mg.tanh(x))
    if op == "log_sq":
        return mg.log(x * x + 1.0)
    if op == "pow2":
        return x ** 2
    if op == "pow3":
        return mg.tanh(x) ** 3
    if op == "sum_axis":
        return x.sum(axis=ax, keepdims=bool(k % 2)) if ax is not None else x.sum()
    if op == "mean_all":
        return x.mean()
    if op == "transpose":
        return x.T
    if op == "softmax" and x.ndim:
        return mg.softmax(x, axis=ax)
    if op == "log_softmax" and x.ndim:
        return mg.log_softmax(mg.tanh(x), axis=ax)
    if op == "slice" and x.ndim and x.shape[0] > 1:
        return x[1:] if k % 2 else x[:1]
    if op == "reshape":
        return x.reshape(-1)
    if op == "concat_self" and x.ndim:
        return mg.concat([x, mg.tanh(x)], axis=ax)
    if op == "where" and x.ndim:
        cond = (np.arange(x.size).reshape(x.shape) % 2) == 0   # a constant mask
        return mg.where(cond, x, -2.0 * x)
    if op == "broadcast":
        return mg.broadcast_to(x, (2,) + x.shape)
    if op == "relu":
        return mg.relu(x + 0.5)
    if op == "square_mm" and x.ndim == 2:
        return x @ x.T
    if op == "sin":
        return mg.sin(x)
    if op == "sqrt_sq":
        return mg.sqrt(x * x + 1.0)
    if op == "softplus":
        return mg.softplus(x)
    if op == "arctan":
        return mg.arctan(x)
    if op == "log1p_sq":
        return mg.log1p(x * x)
    return mg.tanh(x)


def apply_binary(op: str, a: mg.Tensor, b: mg.Tensor) -> mg.Tensor:
    """One binary step (shapes broadcast)."""
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / (1.5 + mg.tanh(b))
    return mg.maximum(a, b + 0.25)


@st.composite
def family(draw: st.DrawFn) -> tuple:
    """(input arrays, requires_grad flags, steps, outputs)."""
    base = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    n_in = draw(st.integers(1, 3))
    inputs = []
    for _ in range(n_in):
        keep = draw(st.integers(0, len(base)))       # a suffix of the base shape
        shape = [s if draw(st.booleans()) else 1 for s in base[len(base) - keep:]]
        seed = draw(st.integers(0, 2**16))
        inputs.append(np.random.default_rng(seed).uniform(-2, 2, size=shape))
    flags = [draw(st.booleans()) for _ in range(n_in)]
    flags[0] = True
    steps = []
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(UNARY)), draw(st.integers(0, 100)),
                          draw(st.integers(0, 3))))
        else:
            steps.append(("b", draw(st.sampled_from(BINARY)), draw(st.integers(0, 100)),
                          draw(st.integers(0, 100))))
    n_out = draw(st.integers(1, 2))
    return inputs, flags, steps, n_out


def build(steps: list, n_out: int):
    """The function the steps describe: f(*xs) -> one or two of its values."""
    def f(*xs):
        pool = list(xs)
        for kind, op, i, j in steps:
            a = pool[i % len(pool)]
            if kind == "u":
                pool.append(apply_unary(op, a, j))
                continue
            b = pool[j % len(pool)]
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                pool.append(mg.tanh(a))
                continue
            pool.append(apply_binary(op, a, b))
        outs = pool[-n_out:] if len(pool) > len(xs) else [mg.tanh(pool[0])]
        return tuple(outs) if len(outs) > 1 else outs[0]
    return f


@given(family())
def test_random_functions_match_the_eager_tape(case: tuple) -> None:
    inputs, flags, steps, n_out = case
    params = [mg.Tensor(x, requires_grad=r, name=f"x{k}")
              for k, (x, r) in enumerate(zip(inputs, flags))]
    f = build(steps, n_out)
    cf = compile(f)
    assert_same(f, cf, tuple(params), [p for p in params if p.requires_grad])
    assert_same(f, cf, tuple(params), [p for p in params if p.requires_grad])  # cached variant
    assert len(cf.variants) == 1


def test_the_family_covers_generated_and_referenced_backwards() -> None:
    """Most ops of the family trace their VJP; relu and maximum are called by reference."""
    x = mg.Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    ops = UNARY + BINARY
    f = build([("u", op, 0, 1) for op in UNARY] + [("b", op, 0, 1) for op in BINARY],
              len(ops))
    cf = compile(f)
    assert_same(f, cf, (x,), [x])
    prog = cf.last.program
    assert set(prog.fallbacks()) == {"relu", "maximum"}
    traced = {n.fn for n in prog.forward if n.kind == "op"} & TRACED_VJPS
    assert len(traced) >= 20
