"""Every benchmark with one command, one summary table, results.json and a chart of the ratios.

Run ``python -m benchmarks.run_all`` (a few minutes) or ``python -m benchmarks.run_all --quick``
(a smoke run of well under a minute or two).

Each part runs in its own subprocess — :mod:`benchmarks.bench_ops`,
:mod:`benchmarks.bench_models`, :mod:`benchmarks.bench_compile`, :mod:`benchmarks.memory`,
:mod:`benchmarks.startup` — with the BLAS/OpenMP/XLA thread count set by ``--threads``
(default 1: on a 2-core machine shared with other work, a multi-threaded BLAS
waits for a busy core and small GEMMs become several times slower and erratic; one thread each
is the fair and repeatable setting; ``--threads 0`` leaves every library's default). Their tables
are printed as they finish; then a summary of ms/step, ratios and peak memory, the goals of
``benchmarks/README.md`` with their measured status, ``benchmarks/results/results.json`` and
``benchmarks/results/ratios.png`` (if matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._timing import fmt_ms, fmt_ratio, machine_info, table, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PARTS = ("ops", "models", "compile", "memory", "startup")
# The subprocesses of each part. The model benchmark runs each size in a fresh process of its
# own (one size's candidates still interleaved in one process): a course-size step measured right
# after the batch-size run was ~7% slower for minigrad than in a fresh process, not for torch.
RUNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ops": (("bench_ops",),),
    "models": (("bench_models", "--size", "batch"), ("bench_models", "--size", "course")),
    "compile": (("bench_compile",),),
    "memory": (("memory",),),
    "startup": (("startup",),),
}


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a child: PYTHONPATH to the repo and, if threads > 0, pinned thread counts."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MPLBACKEND", "Agg")
    if threads > 0:
        n = str(threads)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS"):
            env[var] = n
        xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + xla).strip() if threads == 1 \
            else env.get("XLA_FLAGS", "")
    return env


def run_part(part: str, quick: bool, env: dict[str, str]) -> dict[str, object]:
    """Run a part's benchmark subprocesses (tables stream), return their merged JSON results."""
    merged: dict[str, object] = {}
    for module, *args in RUNS[part]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.json"
            cmd = [sys.executable, "-m", f"benchmarks.{module}", *args, "--json", str(out)]
            proc = subprocess.run(cmd + (["--quick"] if quick else []), cwd=ROOT, env=env,
                                  check=False)
            if proc.returncode != 0 or not out.exists():
                return {"error": f"{' '.join(cmd)} exited with {proc.returncode}"}
            for key, value in json.loads(out.read_text()).items():  # sizes: one dict for all
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key].update(value)  # type: ignore[union-attr]
                else:
                    merged[key] = value
    return merged


def summary(res: dict[str, dict]) -> str:
    """One table (ms/step, ratios, peak memory per LSTM implementation) and the goals."""
    models, memory = res.get("models", {}), res.get("memory", {})
    sizes = models.get("sizes", {})
    names: list[str] = []
    for r in sizes.values():
        names += [row["name"] for row in r["rows"] if row["name"] not in names]
    mem_by_label = {"NumPy reference LSTM": "numpy", "minigrad LSTM (composed)": "composed",
                    "minigrad LSTM (fused)": "fused"}
    rows = []
    for name in names:
        line = [name]
        for size in ("batch", "course"):
            row = next((x for x in sizes.get(size, {}).get("rows", []) if x["name"] == name),
                       None)
            line += [fmt_ms(row["ms"] / 1e3) if row else "—",
                     fmt_ratio(row["ratios"].get("NumPy ref")) if row else "—"]
        m = memory.get("results", {}).get(mem_by_label.get(name, ""), {})
        line += [f"{m['peak_mb']:.0f}" if "peak_mb" in m else "—", fmt_ratio(m.get("peak_ratio"))]
        rows.append(line)
    T = memory.get("T_x", "?")
    head = ["implementation", "batch ms", "×NumPy", "course ms", "×NumPy", f"peak MB T={T}",
            "×NumPy"]
    return table(head, rows, "SUMMARY (ratios: to the hand-written NumPy LSTM, same run)")


def goals(res: dict[str, dict]) -> tuple[str, list[dict[str, object]]]:
    """The goals of benchmarks/README.md, each with the measured figure and ok / OVER / n/a."""
    sizes = res.get("models", {}).get("sizes", {})

    def ms(size: str, name: str) -> float | None:
        rows = sizes.get(size, {}).get("rows", [])
        return next((r["ms"] for r in rows if r["name"] == name), None)

    pub = res.get("models", {}).get("published_ms", {})
    out: list[dict[str, object]] = []

    def goal(text: str, num: float | None, den: float | None, limit: float, how: str) -> None:
        ratio = None if num is None or den is None else num / den
        status = "n/a" if ratio is None else ("ok" if ratio <= limit else "OVER")
        out.append({"goal": text, "ratio": ratio, "limit": limit, "status": status, "vs": how})

    def paired(size: str, name: str, base: str) -> float | None:
        """The row's ratio to a baseline measured in the same rounds (median of round ratios)."""
        rows = sizes.get(size, {}).get("rows", [])
        return next((r["ratios"].get(base) for r in rows if r["name"] == name), None)

    def goal_vs(text: str, size: str, impl: str, base: str, limit: float,
                fallback: tuple[float | None, str]) -> None:
        """A goal against a baseline: paired ratio when it ran, else the fallback denominator."""
        r = paired(size, impl, base)
        if r is not None:
            goal(text, r, 1.0, limit, "measured")
        else:
            goal(text, ms(size, impl), fallback[0], limit, fallback[1])

    ref_name = "NumPy reference LSTM"
    pub_ref = pub.get("hand-written NumPy forward+BPTT", {})
    indicative = "published ratio to NumPy (load-normalised; indicative)"

    def versus(size: str, measured: str, published: str) -> tuple[float | None, str]:
        """Denominator: the measured baseline, or else published × (this run's NumPy / pub.)."""
        t = ms(size, measured)
        if t is not None:
            return t, "measured"
        ref, pub_t, pub_n = ms(size, ref_name), pub.get(published, {}).get(size), \
            pub_ref.get(size)
        if ref is None or pub_t is None or not pub_n:
            return None, "n/a"
        return pub_t * ref / pub_n, indicative

    torch_pub = "PyTorch eager, cell composed of primitives"
    for size in ("batch", "course"):
        for impl in ("minigrad LSTM (composed)", "minigrad LSTM (user-written cell)"):
            goal_vs(f"{impl} ≤ 1.0× PyTorch composed [{size}]", size, impl, "torch composed",
                    1.0, versus(size, "PyTorch LSTM (composed cell)", torch_pub))
    fused = "minigrad LSTM (fused)"
    goal_vs("fused ≤ 1.0× nn.LSTM [batch]", "batch", fused, "nn.LSTM", 1.0,
            versus("batch", "PyTorch nn.LSTM", "PyTorch nn.LSTM (fused C++)"))
    goal_vs("fused ≤ 0.8× NumPy reference [batch]", "batch", fused, "NumPy ref", 0.8,
            (ms("batch", "NumPy reference LSTM"), "measured"))
    goal_vs("fused ≤ 1.0× JAX [course]", "course", fused, "JAX", 1.0,
            (ms("course", "JAX LSTM (jit + lax.scan)"), "measured"))
    mem = res.get("memory", {}).get("results", {})
    for impl in ("composed", "fused"):
        m = mem.get(impl, {})
        goal(f"peak memory {impl} ≤ 1.2× NumPy [batch T={res.get('memory', {}).get('T_x')}]",
             m.get("peak_mb"), mem.get("numpy", {}).get("peak_mb"), 1.2, "measured")
    st = res.get("startup", {}).get("results", {})
    for impl in ("composed", "fused"):
        w = st.get(impl, {}).get("warm", {})
        goal(f"import + 1st step {impl}, warm cache ≤ 1.5 s", w.get("import_plus_first_s"),
             1.0, 1.5, "seconds")
    ops = res.get("ops", {}).get("rows", [])
    chain = [r["overhead_us_per_op"] for r in ops if r["ops_per_call"] > 1]
    goal("tape overhead per op (worst, chained) ≤ 1.5 µs", max(chain) if chain else None, 1.0,
         1.5, "µs")
    rows = [[g["goal"], "—" if g["ratio"] is None else f"{g['ratio']:.2f}", f"{g['limit']:g}",
             g["status"], g["vs"]] for g in out]
    title = "GOALS (benchmarks/README.md)"
    return table(["goal", "measured", "limit", "status", "against"], rows, title), out


def chart(res: dict[str, dict], path: Path) -> str:
    """Bar chart of the ratios; returns a note (written, or why not)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "chart skipped: matplotlib is not installed"
    sizes = res.get("models", {}).get("sizes", {})
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5), gridspec_kw={"width_ratios": [3, 2, 1.2]})
    ax = axes[0]
    names = [r["name"] for r in sizes.get("batch", sizes.get("course", {"rows": []}))["rows"]
             if r["lstm"]]
    names += [r["name"] for r in sizes.get("course", {"rows": []})["rows"]
              if r["lstm"] and r["name"] not in names]
    w = 0.38
    for i, size in enumerate(("batch", "course")):
        by = {r["name"]: r["ratios"].get("NumPy ref") for r in sizes.get(size, {}).get("rows", [])}
        vals = [by.get(n) or 0.0 for n in names]
        bars = ax.bar([j + (i - 0.5) * w for j in range(len(names))], vals, w, label=size)
        ax.bar_label(bars, labels=[f"{v:.2f}" if v else "" for v in vals], fontsize=7)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7,
                  rotation=30, ha="right")
    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}×")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_ylabel("time / hand-written NumPy LSTM (log)")
    ax.set_title("LSTM training step")
    ax.legend()
    ops = [r for r in res.get("ops", {}).get("rows", []) if r["ops_per_call"] > 1]
    bars = axes[1].bar([f"{r['op']}\n{tuple(r['shape'])}" for r in ops],
                       [r["overhead_us_per_op"] for r in ops], color="tab:green")
    axes[1].bar_label(bars, fmt="%.2f", fontsize=7)
    axes[1].axhline(1.5, color="r", ls="--", lw=1, label="target 1.5 µs")
    axes[1].set_ylabel("µs per op beyond NumPy")
    axes[1].set_title("tape overhead per op (chained)")
    axes[1].legend()
    mem = res.get("memory", {}).get("results", {})
    labels = [k for k in mem if "peak_ratio" in mem[k]]
    bars = axes[2].bar(labels, [mem[k]["peak_ratio"] for k in labels], color="tab:purple")
    axes[2].bar_label(bars, fmt="%.2f×", fontsize=7)
    axes[2].axhline(1.2, color="r", ls="--", lw=1, label="target 1.2×")
    axes[2].set_title(f"peak memory, batch T={res.get('memory', {}).get('T_x')}")
    axes[2].set_ylabel("peak RSS / NumPy reference")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart written to {path.relative_to(ROOT)}"


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run of every part")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP/XLA threads in every child (default 1; 0 = defaults)")
    ap.add_argument("--only", choices=PARTS, action="append", help="run only this part")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    ap.add_argument("--replot", action="store_true",
                    help="only redraw the summary and chart from an existing results.json")
    a = ap.parse_args()
    if a.replot:
        res = json.loads((a.out / "results.json").read_text())
        print(summary(res), goals(res)[0], chart(res, a.out / "ratios.png"), sep="\n\n")
        return
    env = thread_env(a.threads)
    res: dict[str, dict] = {}
    for part in a.only or PARTS:
        load = os.getloadavg()[0]
        print(f"\n=== {part} === (load average {load:.2f} on {os.cpu_count()} CPUs)", flush=True)
        res[part] = run_part(part, a.quick, env) | {"load_avg_before": load}
        if "error" in res[part]:
            print(f"  {res[part]['error']}")
    print()
    print(summary(res))
    print()
    goal_text, goal_rows = goals(res)
    print(goal_text)
    a.out.mkdir(parents=True, exist_ok=True)
    info = machine_info() | {"threads": a.threads, "quick": a.quick}
    write_json({"machine": info, "goals": goal_rows, **res}, str(a.out / "results.json"))
    print(f"\nresults written to {(a.out / 'results.json')}")
    print(chart(res, a.out / "ratios.png"))
    print(f"(threads per library: {a.threads or 'library defaults'}; load average at the end: "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs — medians of interleaved rounds, "
          "yet still noisy on a shared machine)")


if __name__ == "__main__":
    main()
