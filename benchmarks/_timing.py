"""Shared timing helpers: interleaved round-robin repetitions, medians, plain-text tables.

The machines are small (2 cores) and shared, so a single timing is noise. Every benchmark here
measures its candidates *interleaved in one process*: round ``r`` times each candidate once (in
an order that rotates from round to round), so a burst of load from elsewhere hits all of them
alike, and reports the **median** over rounds. Ratios are *paired*: the median over rounds of
``time(a in round r) / time(b in round r)`` (:meth:`Timing.ratio_to`), so a slow stretch of the
machine, which hits both candidates of a round, cancels out of the ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata


@dataclass
class Timing:
    """Seconds per call of one candidate: one sample per round (mean of ``inner`` calls)."""

    name: str
    samples: list[float] = field(default_factory=list)
    inner: int = 1

    @property
    def median(self) -> float:
        """Median seconds per call over the rounds."""
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05 = ±5 % noise band, roughly)."""
        if len(self.samples) < 4:
            return float("nan")
        q = statistics.quantiles(self.samples, n=4)
        return (q[2] - q[0]) / self.median

    def ratio_to(self, base: Timing) -> float:
        """Median over rounds of this candidate's time / ``base``'s time in the same round."""
        pairs = [a / b for a, b in zip(self.samples, base.samples) if b > 0]
        return statistics.median(pairs) if pairs else float("nan")

    def to_json(self) -> dict[str, object]:
        """Plain-data view for results.json (seconds)."""
        return {"median_s": self.median, "iqr_rel": self.spread, "rounds": len(self.samples),
                "inner": self.inner, "samples_s": self.samples}


def calibrate(fn: Callable[[], object], target_s: float) -> int:
    """How many calls of ``fn`` take about ``target_s`` (at least 1); also warms ``fn`` up."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4 if dt < target_s / 20 else 2


def interleaved(
    candidates: Mapping[str, Callable[[], object]],
    rounds: int = 15,
    sample_s: float = 0.02,
    collect: bool = True,
) -> dict[str, Timing]:
    """Time every candidate ``rounds`` times, round-robin, rotating the order each round.

    Each sample runs a candidate ``inner`` times back to back (``inner`` chosen once so that a
    sample lasts about ``sample_s``) and records the mean per call. With ``collect`` a
    ``gc.collect()`` runs before each sample, so that garbage left by one candidate is not
    charged to the next; the garbage collector stays enabled inside the sample, as users have it.
    """
    names = list(candidates)
    inner = {n: calibrate(candidates[n], sample_s) for n in names}
    out = {n: Timing(n, inner=inner[n]) for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, n = candidates[name], inner[name]
            if collect:
                gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[name].samples.append((time.perf_counter() - t0) / n)
    return out


def fmt_ratio(x: float | None) -> str:
    """``1.23×``, or ``—`` when missing."""
    return "—" if x is None or x != x else f"{x:.2f}×"


def fmt_ms(seconds: float | None) -> str:
    """Milliseconds with three significant-ish digits, or ``—``."""
    if seconds is None or seconds != seconds:
        return "—"
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    """A plain-text table with right-aligned columns after the first."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w)
                         in enumerate(zip(r, widths, strict=True)))

    parts = [title] if title else []
    parts += [line(cells[0]), "  ".join("-" * w for w in widths)]
    parts += [line(r) for r in cells[1:]]
    return "\n".join(parts)


def machine_info() -> dict[str, object]:
    """What the numbers were measured on (for results.json and the printed header)."""
    import numpy as np

    info: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "blas_threads_env": {k: os.environ[k] for k in
                             ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                              "OPENBLAS_CORETYPE", "NUMBA_DISABLE_JIT") if k in os.environ},
    }
    for pkg in ("numba", "jax", "torch"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    return info


def write_json(obj: object, path: str | None) -> None:
    """Write ``obj`` as JSON to ``path`` (NumPy scalars and NaN handled); nothing if no path."""
    if not path:
        return

    def default(o: object) -> object:
        if hasattr(o, "item"):
            return o.item()  # type: ignore[union-attr]
        if hasattr(o, "tolist"):
            return o.tolist()  # type: ignore[union-attr]
        raise TypeError(f"not JSON-serialisable: {type(o).__name__}")

    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, default=default)


def parse_bench_args(doc: str, quick_help: str,
                     add: Callable[[argparse.ArgumentParser], object] | None = None
                     ) -> argparse.Namespace:
    """The benchmarks' common command line: ``--quick`` (what ``quick_help`` says), ``--json
    PATH``, and whatever ``add(parser)`` adds; the description is the first line of ``doc``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    if add is not None:
        add(ap)
    return ap.parse_args()


def print_and_save(res: dict, render: Callable[[dict], str], path: str | None) -> None:
    """Print ``render(res)`` and write ``res`` as JSON to ``path`` (if given)."""
    print(render(res))
    write_json(res, path)
