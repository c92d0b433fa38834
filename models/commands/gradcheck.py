"""``minigrad gradcheck``: check backpropagation through time against numeric derivatives.

The problem, the checks and the table are :mod:`models.gradcheck_problem`; this module parses
the arguments, guards the run (memory, time, Ctrl-C) and prints. Exit status 0 if every check
passes, 1 if one fails, 2 for a bad argument, 130 after Ctrl-C.

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
import sys
import time
from typing import Any

import minigrad as mg
from minigrad.gradcheck import DEFAULTS
from models.commands._common import (
    Progress,
    add_problem_arguments,
    cell_names,
    interrupted,
    positive_int,
    verdict,
)
from models.gradcheck_problem import (
    DEFAULT_MODES,
    build_problem,
    format_table,
    problem_dims,
    run_checks,
    total_evaluations,
)
from models.resources import check_memory, single_threaded_blas
from models.training import training_memory

__all__ = ["LONG_RUN_SECONDS", "register", "run"]

LONG_RUN_SECONDS = 120.0  # a run estimated to take longer is announced with its estimate


def run(args: argparse.Namespace) -> int:
    """Run the checks described by the parsed arguments; the exit status."""
    kinds = cell_names() if args.model == "all" else [args.model]
    modes = DEFAULT_MODES if args.mode is None else (args.mode,)
    if args.samples is not None and "sampled" not in modes:
        print(f"minigrad gradcheck: note: --samples applies to the sampled mode only; "
              f"ignored with --mode {args.mode}", file=sys.stderr)
    try:
        for kind in kinds:
            n_x, n_a, n_y, m, T = problem_dims(kind, args.dims, steps=args.steps,
                                               batch=args.batch)
            check_memory(2 * training_memory(kind, n_x, n_a, n_y, m, T),
                         f"gradcheck of the {kind.upper()} with m={m}, T_x={T} (--batch, --steps)")
    except ValueError as exc:
        print(f"minigrad gradcheck: error: {exc}", file=sys.stderr)
        return 2
    print(f"minigrad gradcheck: modes {', '.join(modes)}; dims {args.dims}; seed {args.seed}; "
          f"float64; thresholds rtol " +
          ", ".join(f"{md} {DEFAULTS[md].rtol:.0e}" for md in modes), flush=True)
    try:
        with single_threaded_blas():
            return _run(args, kinds, modes)
    except KeyboardInterrupt:
        return interrupted("minigrad gradcheck")


def _announce_long_run(kind: str, f: Any, evaluations: int) -> None:
    """Time J (the faster of two evaluations: the first one warms up); warn on stderr if the
    run will take over LONG_RUN_SECONDS."""
    times = []
    with mg.no_grad():
        for _ in range(2):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
    each = min(times)
    eta = each * evaluations
    if eta > LONG_RUN_SECONDS:
        print(f"minigrad gradcheck: warning: {kind.upper()} needs {evaluations:,} evaluations "
              f"of J at {1e3 * each:.1f} ms each: about {eta / 60:.0f} min. The default modes or "
              f"--dims small take seconds; Ctrl-C stops.", file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, kinds: list[str], modes: tuple[str, ...]) -> int:
    start = time.perf_counter()
    failed = []
    for kind in kinds:
        t0 = time.perf_counter()
        model, inputs, f = build_problem(kind, args.dims, steps=args.steps, batch=args.batch,
                                         seed=args.seed)
        total = total_evaluations(inputs, modes, args.samples)
        if set(modes) & {"full", "complex"}:
            _announce_long_run(kind, f, total)
        desc = f"gradcheck {model.kind}"
        bar = Progress(total, desc, unit="eval", every=0.1, enabled=not args.no_progress,
                       leave=False, mininterval=0.2,
                       start_message=f"{desc}: {total} evaluations of J ...")
        try:
            reports = run_checks(f, inputs, modes, seed=args.seed, samples=args.samples,
                                 progress=bar.update)
        except (TypeError, ValueError, RuntimeError) as exc:
            print(f"\n{model.kind}: gradcheck could not run: {exc}", flush=True)
            failed.append(model.kind)
            continue
        finally:
            bar.close()
        _, _, _, m, T = problem_dims(kind, args.dims, steps=args.steps, batch=args.batch)
        print("\n" + format_table(model, reports, m, T, time.perf_counter() - t0), flush=True)
        if not all(reports):
            failed.append(model.kind)
    return verdict(failed, "all checks passed", time.perf_counter() - start)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``gradcheck`` subcommand (``set_defaults(func=run)``) and return its parser."""
    p = subparsers.add_parser(
        "gradcheck", help="check BPTT of the RNN, GRU and LSTM against numeric derivatives",
        description="Check the tape's gradients of the notes' loss J with respect to every "
                    "parameter and to x, a0 (c0) against numeric derivatives, in float64. "
                    "Default: a directional check (one random direction, every entry) plus "
                    "32 sampled entries per input, at the notes' dimensions.")
    add_problem_arguments(p, "check")
    p.add_argument("--mode", choices=list(DEFAULTS), default=None,
                   help="one check mode instead of the default directional + sampled")
    p.add_argument("--samples", type=positive_int, default=None, metavar="k",
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
