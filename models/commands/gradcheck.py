"""``minigrad gradcheck``: check backpropagation through time against numeric derivatives.

For each model (RNN, GRU, LSTM) at the notes' dimensions (RNN and GRU: n_x = 1000, n_a = 100,
n_y = 50; LSTM: n_x = 100, n_a = 100, n_y = 50; T_x = 10), with the notes' loss

    J = (1/m) Σ_t Σ_units −y log ŷ − (1 − y) log(1 − ŷ),   ŷ = σ(W_y a⟨t⟩ + b_y), y ∈ {0, 1},

every parameter and the inputs x, a⟨0⟩ (and c⟨0⟩ for the LSTM) are checked with
``minigrad.gradcheck``, and a table per model is printed. Exit status 1 if any check fails.

Default mode: the notes' weights have 110,000 entries (W_a of the RNN), so "full" would take
2·110,000 forward passes per weight. The default run therefore does two cheap checks that
complement each other, on every input:

* directional — ⟨∇J, v⟩ against a 4-point difference along one random unit direction v: every
  entry of the gradient takes part (a bug in any block of W shows), 4 forward passes;
* sampled — 32 random entries compared one by one (a bug that cancels in one direction shows).

``--mode full|sampled|directional|complex`` runs one mode instead; ``--dims small`` (n_x = 3,
n_a = 4, n_y = 2, m = 2, T_x = 6) makes "full" and "complex" cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import minigrad as mg
import models
from minigrad.gradcheck import DEFAULTS, evaluations_needed
from minigrad.gradcheck_report import GradcheckReport
from models.commands._common import CELLS, Progress

__all__ = ["DIMS", "build_problem", "check_model", "format_table", "register", "run"]

#: (n_x, n_a, n_y, m, T_x) per model kind and --dims.
DIMS: dict[str, dict[str, tuple[int, int, int, int, int]]] = {
    "notes": {"rnn": (1000, 100, 50, 4, 10), "gru": (1000, 100, 50, 4, 10),
              "lstm": (100, 100, 50, 4, 10)},
    "small": {k: (3, 4, 2, 2, 6) for k in CELLS},
}
DEFAULT_MODES = ("directional", "sampled")


def build_problem(kind: str, dims: str = "notes", *, steps: int | None = None,
                  batch: int | None = None, seed: int = 0
                  ) -> tuple[models.RecurrentModel, dict[str, mg.Tensor], Callable[[], mg.Tensor]]:
    """(model, inputs name → Tensor, f) where f() recomputes the notes' loss J.

    Inputs are the model's parameters (notes' names and order), then x ~ N(0, 1) of shape
    (n_x, m, T_x), a0 (and c0 for the LSTM) ~ N(0, 0.5²) of shape (n_a, m); targets y are
    random 0/1. Everything is drawn from ``seed``.
    """
    n_x, n_a, n_y, m, T = DIMS[dims][kind]
    m = m if batch is None else batch
    T = T if steps is None else steps
    model = CELLS[kind](n_x, n_a, n_y, seed=seed)
    rng = np.random.default_rng([seed, 1])
    x = mg.Tensor(rng.standard_normal((n_x, m, T)), requires_grad=True)
    a0 = mg.Tensor(0.5 * rng.standard_normal((n_a, m)), requires_grad=True)
    c0 = (mg.Tensor(0.5 * rng.standard_normal((n_a, m)), requires_grad=True)
          if kind == "lstm" else None)
    y = rng.integers(0, 2, size=(n_y, m, T)).astype(np.float64)
    inputs = {**model.parameters(), "x": x, "a0": a0}
    if c0 is not None:
        inputs["c0"] = c0

    def f() -> mg.Tensor:
        return mg.binary_cross_entropy(model(x, a0, c0), y, reduction="notes")

    return model, inputs, f


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread meanwhile (best effort; a no-op where it cannot be done).

    The checks do thousands of small matrix products ((100×1000)(1000×40) at the notes'
    sizes); multi-threaded OpenBLAS gains nothing there and, on a busy 2-core machine, its
    spinning threads made the default run ~10× slower (measured: GRU 4 ms → 46 ms per J).
    Uses threadpoolctl if installed, else NumPy's bundled OpenBLAS through ctypes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
        return
    get_set = _openblas_thread_functions()
    if get_set is None:
        yield
        return
    get, set_ = get_set
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)


def _openblas_thread_functions() -> tuple[Callable[[], int], Callable[[int], Any]] | None:
    """(get, set) of the number of threads of the OpenBLAS bundled with NumPy, if found."""
    import ctypes
    import glob
    import os

    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


def check_model(kind: str, modes: tuple[str, ...], *, dims: str = "notes",
                steps: int | None = None, batch: int | None = None, seed: int = 0,
                samples: int | None = None, progress: bool = True
                ) -> tuple[models.RecurrentModel, list[GradcheckReport], float]:
    """Run gradcheck on one model in each mode; returns (model, reports, seconds)."""
    start = time.perf_counter()
    model, inputs, f = build_problem(kind, dims, steps=steps, batch=batch, seed=seed)
    sizes = [t.size for t in inputs.values()]
    total = sum(evaluations_needed(md, sizes, samples if md == "sampled" else None)
                for md in modes)
    desc = f"gradcheck {model.kind}"
    bar = Progress(total, desc, unit="eval", every=0.1, enabled=progress, leave=False,
                   mininterval=0.2, start_message=f"{desc}: {total} evaluations of J ...")
    reports = []
    try:
        for md in modes:
            reports.append(mg.gradcheck(f, inputs, mode=md, seed=seed, progress=bar.update,
                                        samples=samples if md == "sampled" else None))
    finally:
        bar.close()
    return model, reports, time.perf_counter() - start


def format_table(model: models.RecurrentModel, reports: list[GradcheckReport], m: int, T: int,
                 seconds: float) -> str:
    """One model's table: parameter, shape, mode, entries, relative error, rtol, pass."""
    rows = [("parameter", "shape", "mode", "entries", "rel error", "rtol", "pass")]
    checks = sorted(((i, j, c) for j, r in enumerate(reports) for i, c in enumerate(r)),
                    key=lambda ijc: (ijc[0], ijc[1]))
    for _, _, c in checks:
        rows.append((c.name, "×".join(map(str, c.shape)), c.mode, c.coverage(),
                     f"{c.rel_error:.2e}", f"{c.rtol:.0e}", "ok" if c.passed else "FAIL"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    ok = all(r.ok for r in reports)
    n_eval = sum(r.evaluations for r in reports)
    head = (f"{model.kind}  n_x={model.n_x} n_a={model.n_a} n_y={model.n_y} m={m} T_x={T}  "
            f"loss: binary cross-entropy (notes' J)")
    lines = [head]
    for j, r in enumerate(rows):
        lines.append("  " + "  ".join(s.ljust(w) for s, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines.append(f"  {'PASS' if ok else 'FAIL'}: {n_eval} evaluations of J in {seconds:.2f} s")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the checks described by the parsed arguments; return 0 if all pass, else 1."""
    kinds = list(CELLS) if args.model == "all" else [args.model]
    modes = DEFAULT_MODES if args.mode is None else (args.mode,)
    for name, value in (("--steps", args.steps), ("--batch", args.batch),
                        ("--samples", args.samples)):
        if value is not None and value < 1:
            print(f"minigrad gradcheck: {name} must be a positive integer; got {value}",
                  file=sys.stderr)
            return 2
    print(f"minigrad gradcheck: modes {', '.join(modes)}; dims {args.dims}; seed {args.seed}; "
          f"float64; thresholds rtol " +
          ", ".join(f"{md} {DEFAULTS[md].rtol:.0e}" for md in modes), flush=True)
    with single_threaded_blas():
        return _run(args, kinds, modes)


def _run(args: argparse.Namespace, kinds: list[str], modes: tuple[str, ...]) -> int:
    start = time.perf_counter()
    failed = []
    for kind in kinds:
        try:
            model, reports, secs = check_model(
                kind, modes, dims=args.dims, steps=args.steps, batch=args.batch,
                seed=args.seed, samples=args.samples, progress=not args.no_progress)
        except (TypeError, ValueError, RuntimeError) as exc:
            print(f"\n{CELLS[kind].__name__}: gradcheck could not run: {exc}", flush=True)
            failed.append(CELLS[kind].__name__)
            continue
        _, _, _, m, T = DIMS[args.dims][kind]
        m = m if args.batch is None else args.batch
        T = T if args.steps is None else args.steps
        print("\n" + format_table(model, reports, m, T, secs), flush=True)
        if not all(reports):
            failed.append(model.kind)
    total = time.perf_counter() - start
    verdict = "all checks passed" if not failed else f"FAILED: {', '.join(failed)}"
    print(f"\n{verdict} ({total:.1f} s)", flush=True)
    return 1 if failed else 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``gradcheck`` subcommand (``set_defaults(func=run)``) and return its parser."""
    p = subparsers.add_parser(
        "gradcheck", help="check BPTT of the RNN, GRU and LSTM against numeric derivatives",
        description="Check the tape's gradients of the notes' loss J with respect to every "
                    "parameter and to x, a0 (c0) against numeric derivatives, in float64. "
                    "Default: a directional check (one random direction, every entry) plus "
                    "32 sampled entries per input, at the notes' dimensions.")
    p.add_argument("--model", choices=[*CELLS, "all"], default="all",
                   help="which model to check (default: all)")
    p.add_argument("--mode", choices=list(DEFAULTS), default=None,
                   help="one check mode instead of the default directional + sampled")
    p.add_argument("--dims", choices=list(DIMS), default="notes",
                   help="notes: the notes' sizes (default); small: n_x=3 n_a=4 n_y=2 m=2 T_x=6")
    p.add_argument("--steps", type=int, default=None, metavar="T",
                   help="sequence length T_x (default 10 for notes, 6 for small)")
    p.add_argument("--batch", type=int, default=None, metavar="m",
                   help="batch size m (default 4 for notes, 2 for small)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data and checks")
    p.add_argument("--samples", type=int, default=None, metavar="k",
                   help=f"entries per input in sampled mode (default "
                        f"{DEFAULTS['sampled'].samples})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)
    return p


if __name__ == "__main__":  # pragma: no cover - for running without minigrad.cli
    parser = argparse.ArgumentParser(prog="minigrad")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
