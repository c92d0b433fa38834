"""Generated modules: written once per source to the cache directory, imported from there,
found again by a new compiled function and by a new process; the NumPy module runs with
Numba's JIT disabled; ops the generator has no rule for are called by reference."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from _compile_helpers import assert_same, private_cache  # noqa: F401 (autouse fixture)

import minigrad as mg
from minigrad.compiler import cache, compile
from minigrad.compiler.backward import TRACED_VJPS
from minigrad.compiler.program import Program

ROOT = Path(__file__).resolve().parents[2]


def cell(W, b, a_prev, x_t):
    """A small RNN cell (module level: the same source in every process)."""
    return mg.tanh(W @ mg.concat([a_prev, x_t], axis=0) + b)


def args():
    rng = np.random.default_rng(0)
    W = mg.Tensor(rng.normal(size=(3, 5)), requires_grad=True, name="W_a")
    b = mg.Tensor(rng.normal(size=(3, 1)), requires_grad=True, name="b_a")
    return W, b, mg.Tensor(rng.normal(size=(3, 2)), requires_grad=True), rng.normal(size=(2, 2))


def test_cache_directory_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine" / "compiled"
    monkeypatch.delenv("MINIGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "minigrad" / "compiled"


def test_module_is_written_once_and_imported_from_the_cache() -> None:
    first = compile(cell)
    first(*args())
    path = first.last.path
    assert path.parent == cache.cache_dir() and path.read_text() == first.source
    assert first.last.module.__file__ == str(path)
    stamp, written = path.stat().st_mtime_ns, cache.STATS["written"]
    second = compile(cell)          # a new compiled function: traces, finds the file
    second(*args())
    assert second.last.path == path
    assert cache.STATS["written"] == written and path.stat().st_mtime_ns == stamp


def run_python(code: str, **env: str) -> str:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=full,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_new_process_reuses_the_module(private_cache) -> None:  # noqa: F811
    code = """
        import sys; sys.path.insert(0, "tests/compile")
        import test_compile_cache as t
        from minigrad.compiler import cache, compile
        f = compile(t.cell); f(*t.args())
        print(cache.STATS["written"], cache.STATS["reused"], f.last.path)
    """
    compile(cell)(*args())  # (this process wrote it, or found it)
    written, reused, path = run_python(code, MINIGRAD_CACHE_DIR=private_cache).split()
    assert (written, reused) == ("0", "1")
    assert Path(path).exists()


def test_numpy_module_runs_without_numba_jit(private_cache) -> None:  # noqa: F811
    code = """
        import sys; sys.path.insert(0, "tests/compile")
        import numpy as np
        import test_compile_cache as t
        from _compile_helpers import assert_same
        from minigrad.compiler import compile
        from minigrad.kernels import JIT_DISABLED
        W, b, a, x = t.args()
        assert_same(t.cell, compile(t.cell), (W, b, a, x), [W, b, a])
        print(JIT_DISABLED)
    """
    assert run_python(code, MINIGRAD_CACHE_DIR=private_cache, NUMBA_DISABLE_JIT="1") == "True"


class Cube(mg.Function):
    """A user's op: z = x³ written with an in-place write in backward (not traceable)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        out = np.empty_like(g)
        out[...] = 3 * x * x * g
        return (out,)


def test_user_functions_are_called_by_reference() -> None:
    def f(W, x):
        return Cube.apply(mg.tanh(W @ x)).sum() + mg.relu(W).sum()

    W = mg.Tensor(np.random.default_rng(1).normal(size=(3, 3)), requires_grad=True)
    x = mg.Tensor(np.ones((3, 2)))
    cf = compile(f)
    assert_same(f, cf, (W, x), [W])
    prog: Program = cf.last.program
    assert prog.fallbacks() == ["cube", "relu"]
    assert "_F_Cube" in cf.source and "_vjp(ctx_cube" in cf.source


def test_a_compiled_function_inside_another_is_called_by_reference() -> None:
    inner = compile(lambda W, x: mg.tanh(W @ x))

    def outer(W, x):
        h = inner(W, x)
        return inner(W, h) * h

    def eager(W, x):
        h = mg.tanh(W @ x)
        return mg.tanh(W @ h) * h

    W = mg.Tensor(np.random.default_rng(0).normal(size=(3, 3)), requires_grad=True, name="in")
    x = mg.Tensor(np.ones((3, 2)), requires_grad=True)
    compiled = compile(outer)
    assert_same(eager, compiled, (W, x), [W, x])
    assert compiled.last.program.fallbacks() == ["compiled:<lambda>"]
    assert "def forward(v_in, x)" in compiled.source  # a keyword as a name gets a prefix


def test_every_other_op_is_called_by_reference() -> None:
    """Ops without a generated rule still compile, and agree with the eager tape."""
    calls = {
        "max": lambda x: mg.max(x, axis=0), "min": lambda x: mg.min(x, axis=1),
        "prod": lambda x: mg.prod(x, axis=0), "cumsum": lambda x: mg.cumsum(x, axis=1),
        "var": lambda x: mg.var(x, axis=0), "std": lambda x: mg.std(x),
        "logsumexp": lambda x: mg.logsumexp(x, axis=0), "norm": lambda x: mg.norm(x),
        "sin": mg.sin if hasattr(mg, "sin") else None, "sqrt": getattr(mg, "sqrt", None),
        "clip": lambda x: mg.clip(x, 0.7, 1.5), "abs": getattr(mg, "abs", None),
        "einsum": lambda x: mg.einsum("ij,jk->ik", x, x), "softplus": getattr(mg, "softplus", None),
    }
    ops = {k: f for k, f in calls.items() if f is not None and hasattr(mg, k)}
    assert len(ops) >= 8

    def f(x):
        return tuple(op(x) for op in ops.values())

    x = mg.Tensor(np.random.default_rng(2).uniform(0.5, 2.0, size=(3, 3)), requires_grad=True)
    compiled = compile(f)
    assert_same(f, compiled, (x,), [x])
    prog = compiled.last.program
    not_traced = {n.op_name for n in prog.forward if n.fn not in TRACED_VJPS}
    assert set(prog.fallbacks()) == not_traced      # each called by reference in backward
    assert not_traced & {"max", "prod", "std", "norm", "einsum"} and not not_traced & {
        "sin", "sqrt", "softplus"}                 # rules that only combine ops are traced
