"""The Numba backend (`minigrad.compiler.codegen_numba`): fused element-wise kernels agree with
the NumPy backend and the eager tape to 1e-12, the schedule makes one kernel of the LSTM's gate
arithmetic, the kernels compile lazily and are loaded from Numba's cache by a new process.

Numba compiles few kernels here (two cells and two fixed functions, in this process); every
cell and input kind is also run through the Numba backend's code with `NUMBA_DISABLE_JIT=1`
in a subprocess, where the kernels are plain Python loops (same source, no compilation).
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _compile_helpers import TOL, assert_same, private_cache, run_and_grads  # noqa: F401

import minigrad as mg
from minigrad.compiler import codegen_numba, compile
from models import GRU, LSTM, RNN
from models.inputs import check_sequence

#: Tests that inspect Numba's compiled dispatchers (without the JIT, kernels are plain Python).
needs_jit = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                               reason="inspects Numba dispatchers; NUMBA_DISABLE_JIT=1")

MODELS = {"lstm": (LSTM, {}, 2), "gru": (GRU, {}, 1),
          "gru_reset_after": (GRU, {"reset_after": True}, 1), "rnn": (RNN, {}, 1)}


def unrolled(cell, p, carry, steps):
    """Run `cell` over the steps; J = Σ_t Σ (weighted) every carry and output of each step."""
    J = None
    for t, x_t in enumerate(steps):
        carry, out = cell(p, carry, x_t)
        for v in (*carry, *out):
            term = (v * v * (1.0 + 0.1 * t)).sum()
            J = term if J is None else J + term
    return (J,)


def check_cell(kind: str, tokens: bool, backend=codegen_numba.generate) -> None:
    """Numba backend vs NumPy backend vs eager, for one model's cell over 3 steps."""
    cls, options, n_carry = MODELS[kind]
    rng = np.random.default_rng(3)
    n_x, n_a, m, T = 5, 4, 3, 3
    model = cls(n_x, n_a, 2, seed=1, **options)
    x = rng.integers(0, n_x, size=(m, T)) if tokens else rng.normal(size=(n_x, m, T))
    steps = check_sequence(model.kind, n_x, np.float64, x).steps
    p = model.parameters()
    carry = tuple(mg.Tensor(rng.normal(size=(n_a, m)), requires_grad=True, name=f"s{k}")
                  for k in range(n_carry))
    fast = compile(lambda p, carry, x_t: model.cell(p, carry, x_t), backend=backend)
    ref = compile(lambda p, carry, x_t: model.cell(p, carry, x_t))
    params = [*p.values(), *carry]
    assert_same(lambda *a: unrolled(model.cell, *a), lambda *a: unrolled(fast, *a),
                (p, carry, steps), params)
    v0, g0 = run_and_grads(lambda *a: unrolled(ref, *a), (p, carry, steps), params)
    v1, g1 = run_and_grads(lambda *a: unrolled(fast, *a), (p, carry, steps), params)
    for a, b in zip(v0 + g0, v1 + g1):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, **TOL)
    assert "@njit(cache=True)" in fast.kernels and "_fused_fwd_0(" in fast.source


MASK = np.random.default_rng(5).normal(size=(4, 3)) > 0


def mixed(x, w, b):
    """Broadcasting (x (n, m), w (n, 1), b (1, m)), every fusable op, a reduction, a where on
    a constant mask and a maximum (whose backward is called by reference)."""
    z = w * x + b
    h = mg.tanh(z) * mg.sigmoid(-z) + mg.exp(-z * z) / (1.0 + z ** 2)
    g = mg.log(1.0 + h * h) - h / 3.0
    k = mg.where(MASK, g, 0.5 * g) ** 3
    r = mg.maximum(k, 0.1 * k)
    return (r * r).sum(axis=1, keepdims=True), k - 2.0 * g


def mixed_args(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = mg.Tensor(rng.normal(size=(4, 3)), requires_grad=True, name="x")
    w = mg.Tensor(rng.normal(size=(4, 1)), requires_grad=True, name="w")
    b = mg.Tensor(rng.normal(size=(1, 3)), requires_grad=True, name="b")
    return (x, w, b), [x, w, b]


def vector(u, v):
    """1-D values and a scalar output: sub, neg, div, pow with a negative exponent."""
    s = -(u - v) / (2.0 + v * v) + (1.5 + u * u) ** -0.5
    return s.sum(), s * v


def check_functions(backend=codegen_numba.generate) -> None:
    args, params = mixed_args()
    assert_same(mixed, compile(mixed, backend=backend), args, params)
    rng = np.random.default_rng(1)
    u = mg.Tensor(rng.normal(size=7), requires_grad=True, name="u")
    v = mg.Tensor(rng.normal(size=7), requires_grad=True, name="v")
    assert_same(vector, compile(vector, backend=backend), (u, v), [u, v])


# ------------------------------------------------------------------------- compiled by Numba


@pytest.mark.parametrize("kind,tokens", [("lstm", False), ("gru", True)],
                         ids=["lstm-dense", "gru-token_ids"])
def test_cells_compiled_by_numba(kind: str, tokens: bool) -> None:
    check_cell(kind, tokens)


def test_fixed_functions_compiled_by_numba() -> None:
    check_functions()


def test_lstm_gate_arithmetic_is_one_kernel_each_way() -> None:
    """Forward: the 4 matmuls first, then all 13 element-wise ops in one kernel; backward: the
    gate derivatives in one kernel before the weight gradients' matmuls."""
    rng = np.random.default_rng(0)
    model = LSTM(3, 4, 2, seed=0)
    p = model.parameters()
    carry = tuple(mg.Tensor(rng.normal(size=(4, 2)), requires_grad=True) for _ in range(2))
    cell = compile(lambda p, carry, x_t: model.cell(p, carry, x_t)[0], backend="numba")
    prog_source, namespace = codegen_numba.generate(_program(cell, p, carry, rng))
    fwd = prog_source.split("def forward(")[1].split("def backward(")[0]
    assert fwd.count("_mm(") == 4 and fwd.count("_fused_fwd_") == 1
    assert "13 element-wise ops over (4, 2)" in prog_source
    bwd = prog_source.split("def backward(")[1]
    assert bwd.index("_fused_bwd_") < bwd.index("_mm(")   # gate derivatives first
    assert "_tanh(" not in fwd and "_sigmoid(" not in fwd  # fused, not NumPy lines
    # above the size threshold the transcendental group runs as the NumPy lines
    big, _ = codegen_numba.generate(_program(cell, p, carry, rng), max_size=4)
    assert "_fused_fwd_" not in big.split("def forward(")[1].split("def backward(")[0]
    assert "_tanh(" in big


def _program(cell, p, carry, rng):
    cell(p, carry, rng.normal(size=(3, 2)))
    return cell.last.program


@needs_jit
def test_kernels_compile_once_per_signature_and_the_flag() -> None:
    """A signature's kernels compile on its first call (the compile self-check runs its forward
    and backward once), each for the one set of argument types it is called with; later calls
    compile nothing."""
    args, params = mixed_args(2)
    f = compile(mixed, backend="numba")
    with mg.no_grad():
        f(*args)
    module = f.last.module
    kernels = [getattr(module, n) for n in dir(module) if n.startswith("_fused_")]
    assert len(kernels) >= 3
    assert [len(k.signatures) for k in kernels] == [1] * len(kernels)
    J, k = f(*args)
    (J.sum() + k.sum()).backward()
    assert [len(k.signatures) for k in kernels] == [1] * len(kernels)
    with pytest.raises(ValueError, match="backend must be"):
        compile(mixed, backend="cuda")


@needs_jit
def test_kernels_do_not_depend_on_the_callers_line_numbers() -> None:
    """The same function two lines further down a script: the module differs (its comments
    name the lines), the kernels' module does not (so Numba's cache still holds)."""
    code = "def f(x, w):\n    return (mg.tanh(w * x) * x,)\n"
    made = []
    for pad in ("", "\n\n"):
        scope = {"mg": mg}
        exec(builtins.compile(pad + code, "user_script.py", "exec"), scope)  # noqa: S102
        made.append(compile(scope["f"], backend="numba"))
    rng = np.random.default_rng(4)
    x = mg.Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    w = mg.Tensor(rng.normal(size=(3, 1)), requires_grad=True)
    for f in made:
        f(x, w)
    assert made[0].source != made[1].source
    assert made[0].kernels == made[1].kernels and "_fused_fwd_0" in made[0].kernels
    k0, k1 = (f.last.module._fused_fwd_0.py_func.__code__.co_filename for f in made)
    assert k0 == k1 != str(made[0].last.path)


# ------------------------------------------------------------------------- subprocesses


def run_python(code: str, **env: str) -> str:
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=full, cwd=os.getcwd(), timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_every_cell_as_python_loops_without_jit(private_cache) -> None:  # noqa: F811
    """NUMBA_DISABLE_JIT=1: the generated kernels run as Python (each cell, dense and token
    ids; the fixed functions with kernels and with every transcendental group as NumPy)."""
    code = """
        import sys; sys.path.insert(0, "tests/compile")
        import test_numba_backend as t
        from minigrad.compiler import codegen_numba
        from minigrad.kernels import JIT_DISABLED
        for kind in t.MODELS:
            for tokens in (False, True):
                t.check_cell(kind, tokens)
        t.check_functions()
        t.check_functions(codegen_numba.backend(max_size=0))
        print(JIT_DISABLED)
    """
    assert run_python(code, MINIGRAD_CACHE_DIR=private_cache, NUMBA_DISABLE_JIT="1") == "True"


@needs_jit
def test_a_new_process_loads_the_kernels_from_numbas_cache(private_cache) -> None:  # noqa: F811
    code = """
        import sys; sys.path.insert(0, "tests/compile")
        import test_numba_backend as t
        from minigrad.compiler import compile
        f = compile(t.mixed, backend="numba")
        args, params = t.mixed_args(3)
        J, k = f(*args)
        (J.sum() + k.sum()).backward()
        kernels = [getattr(f.last.module, n) for n in dir(f.last.module)
                   if n.startswith("_fused_")]
        print(sum(k.stats.cache_hits.get(s, 0) for k in kernels for s in k.signatures),
              sum(k.stats.cache_misses.get(s, 0) for k in kernels for s in k.signatures))
    """
    run_python(code, MINIGRAD_CACHE_DIR=private_cache)           # cold: compiles, writes
    hits, misses = run_python(code, MINIGRAD_CACHE_DIR=private_cache).split()
    assert int(misses) == 0 and int(hits) >= 2


def test_importing_minigrad_does_not_import_the_backend() -> None:
    code = """
        import sys, minigrad
        minigrad.compile, minigrad.scan  # (load the compiler)
        print("minigrad.compiler" in sys.modules, "minigrad.compiler.codegen_numba" in sys.modules)
    """
    assert run_python(code) == "True False"
