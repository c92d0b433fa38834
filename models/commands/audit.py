"""``minigrad audit``: check every op on the tape of the three models' loss, one by one.

The problem, the audit and the table are :mod:`models.model_audit` (on top of
:func:`minigrad.audit`); this module parses the arguments and prints. For each model at the
notes' sizes (``--dims small``: tiny ones), the notes' loss J is computed once and each record
of its tape — one op at one time step — has its backward checked against a complex-step (or
finite-difference) JVP of its forward at the values it saw. A table per model lists the
records ranked by error (``--top`` worst, all failures). Exit status 0 if every record
passes, 1 if one fails, 2 for a bad argument, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from minigrad.audit import COMPLEX_RTOL, FD_RTOL
from models.commands._common import (
    add_problem_arguments,
    cell_names,
    interrupted,
    nonneg_int,
    verdict,
)
from models.gradcheck_problem import problem_dims
from models.model_audit import audit_model, format_audit
from models.resources import single_threaded_blas

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Audit the models described by the parsed arguments; the exit status."""
    kinds = cell_names() if args.model == "all" else [args.model]
    print(f"minigrad audit: every record of the tape of J; dims {args.dims}; seed {args.seed}; "
          f"float64; rtol complex step {COMPLEX_RTOL:.0e}, differences {FD_RTOL:.0e}",
          flush=True)
    try:
        with single_threaded_blas():
            return _run(args, kinds)
    except KeyboardInterrupt:
        return interrupted("minigrad audit")


def _run(args: argparse.Namespace, kinds: list[str]) -> int:
    start = time.perf_counter()
    failed = []
    top = None if args.top == 0 else args.top
    for kind in kinds:
        try:
            model, report = audit_model(kind, args.dims, steps=args.steps, batch=args.batch,
                                        seed=args.seed, fused=args.fused)
        except (TypeError, ValueError, RuntimeError) as exc:
            print(f"\n{kind.upper()}: the audit could not run: {exc}", flush=True)
            failed.append(kind.upper())
            continue
        _, _, _, m, T = problem_dims(kind, args.dims, steps=args.steps, batch=args.batch)
        print("\n" + format_audit(model, report, m, T, top), flush=True)
        if not report.ok:
            failed.append(model.kind)
    return verdict(failed, "every record passed", time.perf_counter() - start)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` subcommand (``set_defaults(func=run)``) and return its parser."""
    p = subparsers.add_parser(
        "audit", help="check each op on the tape of the RNN, GRU and LSTM, one by one",
        description="Compute the notes' loss J of each model once and check every record of "
                    "its tape: the op's backward against a complex-step (or finite-difference) "
                    "JVP of its forward at the values it saw, in float64. Prints a table per "
                    "model ranked by error; exit status 1 if any record fails.")
    add_problem_arguments(p, "audit")
    p.add_argument("--fused", action="store_true",
                   help="audit the fused recurrence (one record per model) instead of the "
                        "composed ops")
    p.add_argument("--top", type=nonneg_int, default=10, metavar="N",
                   help="rows per table: the N largest errors (failures always shown); "
                        "0 for every record (default 10)")
    p.set_defaults(func=run)
    return p


if __name__ == "__main__":  # pragma: no cover - for running without minigrad.cli
    parser = argparse.ArgumentParser(prog="minigrad")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
