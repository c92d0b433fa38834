"""Start-up time: ``import minigrad`` plus the first course-size LSTM training step.

Run ``python -m benchmarks.startup`` (``--quick`` for fewer repetitions).

Each measurement is a fresh ``python`` process that times, with ``time.perf_counter``:
``import minigrad, models`` (numpy included, as a user pays it), building the course-size LSTM
(m=1, n_x=27, n_a=50, n_y=27, T_x=25, linear output + cross-entropy), the first training step
and a second one (for comparison: the steady-state cost). The wall time of the whole process
(interpreter start-up included) is recorded too.

Two cache states, for the composed and (when available) the fused LSTM:

* **warm**: ``NUMBA_CACHE_DIR`` points at a directory that one earlier, unmeasured run filled,
  as on a user's second run;
* **cold**: ``NUMBA_CACHE_DIR`` points at a new empty directory every time, so every jitted
  function used on the way is compiled, as on a user's very first run.

Target (goal 4 of benchmarks/README.md): import + first step ≤ 1.5 s with a warm cache.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.5

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import minigrad as mg
import models
t1 = time.perf_counter()
fused = sys.argv[1] == "fused"
n_x = n_y = 27
rng = np.random.default_rng(0)
x = np.eye(n_x)[rng.integers(0, n_x, size=(1, 25))].transpose(2, 0, 1).copy()
y = np.eye(n_y)[rng.integers(0, n_y, size=(1, 25))].transpose(2, 0, 1).copy()
try:
    model = (models.LSTM(n_x, 50, n_y, output="linear", seed=0, fused=True) if fused
             else models.LSTM(n_x, 50, n_y, output="linear", seed=0))
except TypeError:
    print(json.dumps({"skipped": "models.LSTM does not accept fused=True yet"}))
    sys.exit(0)
t2 = time.perf_counter()
times = []
for _ in range(2):
    s = time.perf_counter()
    model.zero_grad()
    J = mg.cross_entropy(model(x), y)
    J.backward()
    times.append(time.perf_counter() - s)
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "first_step_s": times[0],
                  "second_step_s": times[1], "import_plus_first_s": t1 - t0 + times[0],
                  "loss": J.item()}))
"""


def _one(impl: str, cache_dir: str) -> dict[str, float | str]:
    """One fresh interpreter with ``NUMBA_CACHE_DIR=cache_dir``; its timings as a dict."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, impl], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=900, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


def _median(runs: list[dict[str, float | str]]) -> dict[str, float | str]:
    """Field-wise median of the successful runs (or the first error / skip)."""
    good = [r for r in runs if "import_s" in r]
    if not good:
        return runs[0]
    return {k: statistics.median(float(r[k]) for r in good) for k in good[0]} | {
        "runs": len(good)}


def run(quick: bool = False) -> dict[str, object]:
    """Warm and cold start-up for the composed and the fused LSTM (median of repeats)."""
    reps = 1 if quick else 3
    res: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="minigrad-bench-") as tmp:
        for impl in ("composed", "fused"):
            warm_dir = os.path.join(tmp, f"warm-{impl}")
            first = _one(impl, warm_dir)                     # fills the warm cache, not measured
            if "import_s" not in first:
                res[impl] = {"warm": first, "cold": first}
                continue
            warm = [_one(impl, warm_dir) for _ in range(reps)]
            cold = [_one(impl, os.path.join(tmp, f"cold-{impl}-{i}")) for i in range(reps)]
            res[impl] = {"warm": _median(warm), "cold": _median(cold)}
    return {"results": res, "target_s": TARGET_S, "repeats": reps}


def render(res: dict[str, object]) -> str:
    """The printed table."""
    from benchmarks._timing import table

    rows, notes = [], []
    for impl, by_cache in res["results"].items():  # type: ignore[union-attr]
        for cache in ("warm", "cold"):
            r = by_cache[cache]
            if "import_s" not in r:
                notes.append(f"  note: {impl} LSTM: {r.get('skipped') or r.get('error')}")
                break
            ok = "ok" if r["import_plus_first_s"] <= res["target_s"] else "OVER"
            rows.append([f"LSTM {impl}, {cache} Numba cache", f"{r['import_s']:.3f}",
                         f"{r['first_step_s']:.3f}", f"{r['import_plus_first_s']:.3f}",
                         f"{r['second_step_s'] * 1e3:.2f} ms", f"{r['process_wall_s']:.3f}",
                         ok if cache == "warm" else ""])
    head = ["case", "import s", "1st step s", "import+1st s", "2nd step", "process s",
            f"≤{res['target_s']}s"]
    title = (f"Start-up, course-size LSTM, fresh interpreter each (median of "
             f"{res['repeats']})")
    return "\n".join([table(head, rows, title)] + notes)


def main() -> None:
    """Command-line entry point."""
    from benchmarks._timing import parse_bench_args, print_and_save

    a = parse_bench_args(__doc__, "one repetition of each (smoke run)")
    print_and_save(run(quick=a.quick), render, a.json)


if __name__ == "__main__":
    main()
