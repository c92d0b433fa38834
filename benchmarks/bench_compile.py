"""minigrad.compile benchmark: the literal LSTM cell compiled, per step and as scan.

Run ``python -m benchmarks.bench_compile`` (``--quick`` for a smoke run; ``--size``, ``--skip
memory``, ``--skip compile-time``). One BLAS thread is what the numbers mean: run it with
``OPENBLAS_NUM_THREADS=1`` (``benchmarks.run_all`` pins it by default).

The training step of ``bench_models`` (forward over T_x, output layer, loss, BPTT to every
parameter; float64) with the notes' LSTM cell written literally from minigrad primitives:

* *eager tape*: the cell called per step on the tape (``bench_models.user_written_lstm``);
* *compiled cell per step*: ``compile(cell)`` called per step, T records (NumPy backend; Numba
  backend: fused element-wise kernels, ``minigrad.compiler.codegen_numba``);
* *scan*: ``scan(cell, (a0, c0), x, params)``, one record whose backward is BPTT over the
  cell's generated backward (the NumPy and the Numba backend's step code);
* *hand-written fused*: ``models.LSTM(fused=True)``; the hand-written NumPy reference; PyTorch
  eager (the same cell) and JAX ``jit`` + ``lax.scan`` when importable.

Times are medians of interleaved rounds (``benchmarks._timing``); ratios are paired per round.
Also measured: peak resident memory at T_x=500 (batch size, fresh subprocess each, as
``benchmarks.memory``) and the compile time of the cell with the Numba backend, cold (empty
``MINIGRAD_CACHE_DIR``) and warm (a new process, the cache present).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._timing import fmt_ms, fmt_ratio, interleaved, parse_bench_args, table
from benchmarks.bench_models import (
    JAX_SCAN,
    REF,
    SIZES,
    TORCH_COMPOSED,
    Problem,
    _mg_loss,
    jax_scan,
    make_problem,
    minigrad_model,
    numpy_reference,
    torch_composed,
    user_written_lstm,
)

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o")
EAGER = "eager tape (literal cell)"
FUSED = "hand-written fused (models.LSTM fused=True)"


def lstm_cell(carry: tuple, x_t: Any, W_c: Any, b_c: Any, W_u: Any, b_u: Any, W_f: Any,
              b_f: Any, W_o: Any, b_o: Any) -> tuple:
    """The notes' LSTM cell, literally: ((a⟨t-1⟩, c⟨t-1⟩), x⟨t⟩) → ((a⟨t⟩, c⟨t⟩), a⟨t⟩)."""
    import minigrad as mg

    a_prev, c_prev = carry
    ax = mg.concat([a_prev, x_t], axis=0)
    c_hat = mg.tanh(W_c @ ax + b_c)
    gamma_u = mg.sigmoid(W_u @ ax + b_u)
    gamma_f = mg.sigmoid(W_f @ ax + b_f)
    gamma_o = mg.sigmoid(W_o @ ax + b_o)
    c = gamma_u * c_hat + gamma_f * c_prev
    a = gamma_o * mg.tanh(c)
    return (a, c), a


def _params(p: Problem) -> dict[str, Any]:
    import minigrad as mg

    return {k: mg.Tensor(v.copy(), requires_grad=True, name=k) for k, v in p.params.items()}


def compiled_per_step(p: Problem, backend: str) -> Callable[[], float]:
    """The compiled cell called once per time step (T records), output layer and loss eager."""
    import minigrad as mg
    from minigrad.compiler import compile

    P, loss = _params(p), _mg_loss(p)
    cell = compile(lstm_cell, backend=backend)
    ps = [P[k] for k in NAMES]
    xs = [np.ascontiguousarray(p.x[:, :, t]) for t in range(p.T_x)]

    def step() -> float:
        for t in P.values():
            t.grad = None
        carry = (mg.Tensor(np.zeros((p.n_a, p.m))), mg.Tensor(np.zeros((p.n_a, p.m))))
        outs = []
        for x_t in xs:
            carry, a = cell(carry, x_t, *ps)
            outs.append(P["W_y"] @ a + P["b_y"])
        J = loss(mg.stack(outs, axis=2))
        J.backward()
        return J.item()

    return step


def scanned(p: Problem, backend: str) -> Callable[[], float]:
    """scan over the compiled cell: one record for the recurrence, one GEMM for the output."""
    from minigrad.compiler import compile, scan

    P, loss = _params(p), _mg_loss(p)
    cell = compile(lstm_cell, backend=backend)
    ps = [P[k] for k in NAMES]
    n_a, m, T = p.n_a, p.m, p.T_x

    def step() -> float:
        for t in P.values():
            t.grad = None
        init = (np.zeros((n_a, m)), np.zeros((n_a, m)))
        _, ys = scan(cell, init, p.x, ps)                            # (n_a, m, T)
        z = (P["W_y"] @ ys.reshape(n_a, m * T) + P["b_y"]).reshape(p.n_y, m, T)
        J = loss(z)
        J.backward()
        return J.item()

    return step


def model_scan(p: Problem, kind: str, backend: str, **options: Any) -> Callable[[], float]:
    """``models.<kind>``'s own literal cell run by scan (what ``fused=True`` could become)."""
    import models
    from minigrad.compiler import compile, scan

    model = getattr(models, kind)(p.n_x, p.n_a, p.n_y, output="linear", seed=0, **options)
    P, loss = model.parameters(), _mg_loss(p)
    names = [n for n in P if n not in ("W_y", "b_y")]
    n_carry = 2 if kind == "LSTM" else 1

    def cell(carry: tuple, x_t: Any, *ps: Any) -> tuple:
        carry, _ = model.cell(dict(zip(names, ps)), carry, x_t)
        return carry, carry[0]

    compiled = compile(cell, backend=backend)
    n_a, m, T = p.n_a, p.m, p.T_x

    def step() -> float:
        model.zero_grad()
        init = tuple(np.zeros((n_a, m)) for _ in range(n_carry))
        _, ys = scan(compiled, init, p.x, [P[n] for n in names])
        z = (P["W_y"] @ ys.reshape(n_a, m * T) + P["b_y"]).reshape(p.n_y, m, T)
        J = loss(z)
        J.backward()
        return J.item()

    return step


def run_models(size: str, quick: bool) -> dict[str, Any]:
    """scan over each model's own cell (NumPy and Numba step code) vs its hand-written fused
    recurrence (``fused=True``), interleaved; ratios to the fused row of the same model."""
    p = make_problem(size)
    rows = []
    for kind, options in (("LSTM", {}), ("GRU", {}), ("RNN", {})):
        fused = minigrad_model(p, kind, fused=True)
        cands = {"fused": fused, "scan numpy": model_scan(p, kind, "numpy", **options),
                 "scan numba": model_scan(p, kind, "numba", **options)}
        first = {n: float(f()) for n, f in cands.items()}
        agree = max(abs(v - first["fused"]) / abs(first["fused"]) for v in first.values())
        t = interleaved(cands, rounds=3 if quick else 11, sample_s=0.005 if quick else 0.05)
        rows.append({"model": kind, "fused_ms": t["fused"].median * 1e3, "agree": agree,
                     **{n: t[n].ratio_to(t["fused"]) for n in ("scan numpy", "scan numba")}})
    return {"size": size, "rows": rows}


def candidates(p: Problem) -> tuple[dict[str, Callable[[], float]], list[str]]:
    cands: dict[str, Callable[[], float]] = {REF: numpy_reference(p),
                                             EAGER: user_written_lstm(p)}
    for backend in ("numpy", "numba"):
        cands[f"compiled cell per step ({backend})"] = compiled_per_step(p, backend)
    for backend in ("numpy", "numba"):
        cands[f"scan ({backend} step code)"] = scanned(p, backend)
    cands[FUSED] = minigrad_model(p, "LSTM", fused=True)  # type: ignore[assignment]
    notes = []
    for name, factory in ((TORCH_COMPOSED, torch_composed), (JAX_SCAN, jax_scan)):
        step, why = factory(p)
        if step is None:
            notes.append(f"{name}: skipped ({why})")
        else:
            cands[name] = step
    return cands, notes


def run_size(size: str, quick: bool) -> dict[str, Any]:
    p = make_problem(size)
    cands, notes = candidates(p)
    first = {n: float(f()) for n, f in cands.items()}   # also compiles / warms up
    agree = max(abs(v - first[REF]) / abs(first[REF]) for v in first.values())
    timings = interleaved(cands, rounds=3 if quick else 15, sample_s=0.005 if quick else 0.05)
    bases = [b for b in (REF, EAGER, TORCH_COMPOSED, JAX_SCAN, FUSED) if b in timings]
    rows = [{"name": n, "ms": t.median * 1e3, "iqr_rel": t.spread,
             "ratios": {b: t.ratio_to(timings[b]) for b in bases}} for n, t in timings.items()]
    return {"size": size, "dims": SIZES[size], "rows": rows, "bases": bases, "notes": notes,
            "loss_max_rel_diff": agree}


# ---- memory and compile time, in fresh processes ---------------------------------------------
MEM_IMPLS = {"numpy": REF, "scan-numpy": "scan (numpy step code)",
             "scan-numba": "scan (numba step code)", "fused": FUSED}


def mem_child(impl: str, T_x: int) -> dict[str, Any]:
    """In a subprocess: warm-up step at T_x=2, then the peak of one T_x step (memory.py)."""
    import gc

    from benchmarks.memory import _reset_peak, _status_kb

    steps = []
    for T in (2, T_x):
        pb = make_problem("batch", T_x=T)
        steps.append(numpy_reference(pb) if impl == "numpy" else
                     minigrad_model(pb, "LSTM", fused=True) if impl == "fused" else
                     scanned(pb, impl.split("-")[1]))
    steps.pop(0)()
    gc.collect()
    reset = _reset_peak()
    base = _status_kb("VmRSS") or 0
    steps[0]()
    peak = _status_kb("VmHWM") if reset else None
    return {"impl": impl, "peak_mb": (peak or 0) / 1024, "step_mb": ((peak or 0) - base) / 1024,
            "reset": reset}


def compile_child() -> dict[str, Any]:
    """In a subprocess: import, then the first call + backward of the compiled cell (Numba)."""
    t0 = time.perf_counter()
    import minigrad as mg
    from minigrad.compiler import compile

    t1 = time.perf_counter()
    p = make_problem("course")
    P = _params(p)
    cell = compile(lstm_cell, backend="numba")
    a0 = mg.Tensor(np.zeros((p.n_a, p.m)), requires_grad=True)
    t2 = time.perf_counter()
    (a, c), y = cell((a0, a0 * 1.0), p.x[:, :, 0], *[P[k] for k in NAMES])
    (a.sum() + c.sum() + y.sum()).backward()
    t3 = time.perf_counter()
    return {"import_s": t1 - t0, "first_call_s": t3 - t2}


def _child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), full.get("PYTHONPATH", "")]).rstrip(":")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_compile", *args],
                          capture_output=True, text=True, cwd=ROOT, env=full, timeout=1800,
                          check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_memory(T_x: int) -> dict[str, Any]:
    res = {impl: _child(["--mem-child", impl, "--T", str(T_x)]) for impl in MEM_IMPLS}
    ref = res["numpy"].get("peak_mb")
    for r in res.values():
        if ref and "peak_mb" in r:
            r["peak_ratio"] = r["peak_mb"] / ref
    return {"T_x": T_x, "results": res}


def run_compile_time(repeats: int) -> dict[str, Any]:
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            cold.append(_child(["--compile-child"], {"MINIGRAD_CACHE_DIR": d}))
            warm.append(_child(["--compile-child"], {"MINIGRAD_CACHE_DIR": d}))
    med = lambda rs: float(np.median([r.get("first_call_s", np.nan) for r in rs]))  # noqa: E731
    return {"cold_s": med(cold), "warm_s": med(warm), "cold": cold, "warm": warm}


def render(res: dict[str, Any]) -> str:
    out = []
    for r in res["sizes"].values():
        d = r["dims"]
        short = {REF: "NumPy ref", EAGER: "eager", TORCH_COMPOSED: "torch", JAX_SCAN: "JAX",
                 FUSED: "fused"}
        rows = [[row["name"], fmt_ms(row["ms"] / 1e3)]
                + [fmt_ratio(row["ratios"][b]) for b in r["bases"]]
                + [f"±{row['iqr_rel'] * 50:.0f}%"] for row in r["rows"]]
        title = (f"[{r['size']}] LSTM training step, m={d['m']} n_x={d['n_x']} n_a={d['n_a']} "
                 f"T_x={d['T_x']}, median of interleaved rounds")
        out.append(table(["implementation", "ms/step"] + [f"× {short[b]}" for b in r["bases"]]
                         + ["noise"], rows, title))
        out.append(f"  first-step losses agree to {r['loss_max_rel_diff']:.1e} (relative)")
        out += [f"  note: {n}" for n in r["notes"]]
        out.append("")
    for r in res.get("models", []):
        rows = [[row["model"], fmt_ms(row["fused_ms"] / 1e3), fmt_ratio(row["scan numpy"]),
                 fmt_ratio(row["scan numba"]), f"{row['agree']:.0e}"] for row in r["rows"]]
        out.append(table(["model", "fused ms", "scan (numpy) × fused", "scan (numba) × fused",
                          "losses agree"], rows,
                         f"[{r['size']}] scan over the model's own cell vs its fused=True"))
        out.append("")
    if "memory" in res:
        m = res["memory"]
        rows = [[MEM_IMPLS[k], f"{r['peak_mb']:.0f}" if "peak_mb" in r else r.get("error"),
                 f"{r['step_mb']:.0f}" if "step_mb" in r else "—",
                 fmt_ratio(r.get("peak_ratio"))] for k, r in m["results"].items()]
        out.append(table(["implementation", "peak MB", "step MB", "peak × NumPy"], rows,
                         f"Peak resident memory, batch LSTM step, T_x={m['T_x']} (target ≤ 1.2×)"))
        out.append("")
    if "compile_time" in res:
        c = res["compile_time"]
        out.append(f"Compile time of the LSTM cell (Numba backend, first call + backward): "
                   f"cold {c['cold_s']:.2f} s (target ≤ 5), warm {c['warm_s']:.2f} s "
                   "(target ≤ 0.5)")
    return "\n".join(out)


def main() -> None:
    """Command-line entry point (and the subprocesses', with --mem-child / --compile-child)."""
    if "--mem-child" in sys.argv:
        k = sys.argv.index("--mem-child")
        print(json.dumps(mem_child(sys.argv[k + 1], int(sys.argv[sys.argv.index("--T") + 1]))))
        return
    if "--compile-child" in sys.argv:
        print(json.dumps(compile_child()))
        return
    a = parse_bench_args(__doc__, "few rounds, T_x=100 for memory (smoke run)", lambda ap: (
        ap.add_argument("--size", choices=tuple(SIZES), action="append"),
        ap.add_argument("--skip", choices=("models", "memory", "compile-time"), action="append",
                        default=[])))
    res: dict[str, Any] = {"sizes": {s: run_size(s, a.quick) for s in (a.size or SIZES)}}
    if "models" not in a.skip:
        res["models"] = [run_models(s, a.quick) for s in (a.size or SIZES)]
    if "memory" not in a.skip:
        res["memory"] = run_memory(100 if a.quick else 500)
    if "compile-time" not in a.skip:
        res["compile_time"] = run_compile_time(1 if a.quick else 3)
    print(render(res))
    if a.json:
        from benchmarks._timing import write_json

        write_json(res, a.json)


if __name__ == "__main__":
    main()
