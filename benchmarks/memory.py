"""Peak resident memory of one LSTM training step, each implementation in a fresh subprocess.

Run ``python -m benchmarks.memory`` (``--T 500`` is the default; ``--quick`` uses T_x=100).

The case is the memory goal's (goal 3 of benchmarks/README.md): the "batch" LSTM (m=32,
n_x=64, n_a=128, n_y=64, sigmoid + BCE) at T_x=500, forward + BPTT. Each implementation runs
in its own ``python`` process, which

1. imports what it needs and builds the data and the model,
2. runs one warm-up step at T_x=2 (Numba compilation or cache loading happens here, not below),
3. resets the kernel's peak counter (``echo 5 > /proc/self/clear_refs``; where that is not
   allowed, the peak falls back to ``ru_maxrss`` over the whole process),
4. records the resident size (``VmRSS``) as its *baseline*, runs one T_x=500 step, and reads
   the peak (``VmHWM``, the OS's own high-water mark of resident memory).

Reported: *peak* (what ``top`` would show at worst), *step* = peak − baseline (the memory the
training step itself needed), and both as ratios to the hand-written NumPy reference.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

IMPLS = ("numpy", "composed", "fused")
LABELS = {"numpy": "NumPy reference LSTM", "composed": "minigrad LSTM (composed)",
          "fused": "minigrad LSTM (fused)"}
ROOT = Path(__file__).resolve().parents[1]


def _status_kb(field: str) -> int | None:
    """A ``VmXXX`` line of /proc/self/status in kB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False when not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(impl: str, T_x: int) -> dict[str, object]:
    """Runs inside the subprocess: one warm-up step, then the measured step."""
    import numpy as np

    from benchmarks.bench_models import make_problem, minigrad_model, numpy_reference

    steps = []
    for T in (2, T_x):
        p = make_problem("batch", T_x=T)
        if impl == "numpy":
            step = numpy_reference(p)
        else:
            step = minigrad_model(p, "LSTM", fused=(impl == "fused"))
            if step is None:
                return {"impl": impl, "skipped": "models.LSTM does not accept fused=True yet"}
        steps.append(step)
    steps[0]()                        # warm-up (compiles / loads Numba caches)
    del steps[0]
    import gc

    gc.collect()
    reset = _reset_peak()
    base = _status_kb("VmRSS")
    J = steps[0]()
    peak = _status_kb("VmHWM") if reset else None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    peak = peak if peak is not None else maxrss
    return {"impl": impl, "T_x": T_x, "baseline_mb": (base or 0) / 1024, "peak_mb": peak / 1024,
            "step_mb": (peak - (base or 0)) / 1024, "peak_source": "VmHWM" if reset else
            "ru_maxrss", "loss": float(J), "numpy": np.__version__}


def measure(impl: str, T_x: int) -> dict[str, object]:
    """Run :func:`child` in a fresh interpreter and parse its JSON line."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--child", impl,
                           "--T", str(T_x)], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=1800, check=False)
    if proc.returncode != 0:
        return {"impl": impl, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, T_x: int | None = None) -> dict[str, object]:
    """Measure every implementation; ratios are to the NumPy reference."""
    T = T_x or (100 if quick else 500)
    res = {impl: measure(impl, T) for impl in IMPLS}
    ref = res["numpy"]
    for r in res.values():
        if "peak_mb" in r and "peak_mb" in ref:
            r["peak_ratio"] = r["peak_mb"] / ref["peak_mb"]
            r["step_ratio"] = r["step_mb"] / ref["step_mb"]
    return {"T_x": T, "case": "batch LSTM (m=32, n_x=64, n_a=128, n_y=64)", "results": res,
            "target_peak_ratio": 1.2}


def render(res: dict[str, object]) -> str:
    """The printed table."""
    from benchmarks._timing import fmt_ratio, table

    rows, notes = [], []
    for impl, r in res["results"].items():  # type: ignore[union-attr]
        if "peak_mb" not in r:
            notes.append(f"  note: {LABELS[impl]}: {r.get('skipped') or r.get('error')}")
            continue
        rows.append([LABELS[impl], f"{r['peak_mb']:.0f}", f"{r['baseline_mb']:.0f}",
                     f"{r['step_mb']:.0f}", fmt_ratio(r.get("peak_ratio")),
                     fmt_ratio(r.get("step_ratio"))])
    head = ["implementation", "peak MB", "baseline MB", "step MB", "peak ×NumPy", "step ×NumPy"]
    title = (f"Peak resident memory, {res['case']}, T_x={res['T_x']}, one training step "
             f"(fresh subprocess each; target peak ≤ {res['target_peak_ratio']}× NumPy)")
    return "\n".join([table(head, rows, title)] + notes)


def main() -> None:
    """Command-line entry point (also the subprocess's, with ``--child``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    ap.add_argument("--T", type=int, default=None, help="sequence length (default 500)")
    ap.add_argument("--quick", action="store_true", help="T_x=100 (smoke run)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.T or 500)))
        return
    from benchmarks._timing import print_and_save  # not before: the children import only NumPy

    print_and_save(run(quick=a.quick, T_x=a.T), render, a.json)


if __name__ == "__main__":
    main()
