"""The whole-loop scan (`minigrad.compiler.scan_numba`): with a Numba-backend cell on a small
dense problem, scan's record runs one generated Numba function forward and one for BPTT; values
and every gradient agree with the eager unrolled model cells to 1e-12.

Numba compiles one whole loop here (the RNN cell's, the smallest); the LSTM and both GRU
variants run the same generated code as Python with `NUMBA_DISABLE_JIT=1` in a subprocess.
Token ids, GRU(reset_after=True) (a slice of W: its backward scatter_add has no loop form)
and large steps keep scan's per-step loop (checked too).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _compile_helpers import (  # noqa: F401 (private_cache: an autouse fixture)
    TOL,
    assert_scan_matches_unrolled,
    make_cell,
    private_cache,
    scan_case,
)

import minigrad as mg
from minigrad.compiler import codegen_numba, compile, scan, scan_numba
from models import GRU, LSTM, RNN

CASES = {"lstm": (LSTM, {}, 2), "gru": (GRU, {}, 1),
         "gru_reset_after": (GRU, {"reset_after": True}, 1), "rnn": (RNN, {}, 1)}


def check_scan(kind: str, tokens: bool = False, whole_loop: bool = True) -> None:
    """scan over a Numba-compiled model cell vs the eager unrolled cell: J, ys, every grad."""
    case = scan_case(*CASES[kind], tokens)
    model, names, zeros = case[0], case[1], case[4]
    cell = compile(make_cell(model, names, zeros), backend="numba")
    records = assert_scan_matches_unrolled(scan, cell, case)
    assert len(records) == 1
    assert records[0].fn.__name__.startswith("ScanLoop_" if whole_loop else "Scan_")



def test_rnn_whole_loop_compiled_by_numba() -> None:
    check_scan("rnn")


def test_the_generated_loops_read_as_bptt() -> None:
    """The module: one scan_forward loop over t, one scan_backward loop from T-1 down (the
    shapes of check_scan("rnn"): the same module, found in the cache)."""
    rng = np.random.default_rng(0)
    model = RNN(5, 4, 2, seed=2)
    names = ["W_a", "b_a"]
    cell = compile(make_cell(model, names), backend="numba")
    scan(cell, (mg.Tensor(np.zeros((4, 3)), requires_grad=True),),
         mg.Tensor(rng.normal(size=(5, 3, 7)), requires_grad=True),
         [model.parameters()[n] for n in names])
    source = cell.last.numba_loop.source
    assert "for t in range(T):" in source and "for t in range(T - 1, -1, -1):" in source
    assert "_mm_loop(W_a, " in source and "dW_a += g[" in source


def test_per_step_loop_where_the_whole_loop_does_not_apply(monkeypatch) -> None:
    """A step whose matmuls exceed LOOP_MAX_FLOPS keeps the per-step loop (token ids and
    GRU(reset_after=True): the subprocess test)."""
    program = compile(lambda a, x_t, W: (mg.tanh(W @ a + x_t),) * 2, backend="numba")
    rng = np.random.default_rng(1)
    W = mg.Tensor(rng.normal(size=(3, 3)), requires_grad=True)
    monkeypatch.setattr(scan_numba, "LOOP_MAX_FLOPS", 8)          # 3·3·2 = 18 > 8
    a_T, ys = scan(program, np.ones((3, 2)), rng.normal(size=(3, 2, 2)), [W])
    assert program.last.numba_loop is None
    prog = program.last.program
    values = codegen_numba.infer_values(prog)
    assert scan_numba.eligible(prog, values, 1) is None
    assert scan_numba.step_flops(prog, values) == 18


def run_python(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **env}, cwd=os.getcwd(), timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("kinds", [["lstm", "gru", "gru_reset_after", "rnn"]], ids=["cells"])
def test_every_cell_as_python_loops_without_jit(private_cache, kinds) -> None:  # noqa: F811
    code = f"""
        import sys; sys.path.insert(0, "tests/compile")
        import test_scan_numba as t
        from minigrad.kernels import JIT_DISABLED
        for kind in {kinds!r}:
            # GRU with reset_after slices W (its backward, scatter_add, has no loop form)
            t.check_scan(kind, whole_loop=kind != "gru_reset_after")
            t.check_scan(kind, tokens=True, whole_loop=False)
        print(JIT_DISABLED)
    """
    assert run_python(code, MINIGRAD_CACHE_DIR=private_cache, NUMBA_DISABLE_JIT="1") == "True"
