"""The gradient check of ``minigrad gradcheck``, importable from notebooks.

For each model (RNN, GRU, LSTM) at the notes' dimensions (RNN and GRU: n_x = 1000, n_a = 100,
n_y = 50; LSTM: n_x = 100, n_a = 100, n_y = 50; T_x = 10, m = 4), with the notes' loss

    J = (1/m) Σ_t Σ_units −y log ŷ − (1 − y) log(1 − ŷ),   ŷ = σ(W_y a⟨t⟩ + b_y), y ∈ {0, 1},

every parameter and the inputs x, a⟨0⟩ (and c⟨0⟩ for the LSTM) are checked with
``minigrad.gradcheck``. ``dims="small"`` (n_x = 3, n_a = 4, n_y = 2, m = 2, T_x = 6) makes the
"full" and "complex" modes cheap.

* :func:`build_problem` — (model, inputs, f) with f() recomputing J;
* :func:`run_checks` / :func:`check_model` — the reports of one model in the given modes;
* :func:`format_table` — one model's table of parameter, mode, entries, error, verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import minigrad as mg
from minigrad.gradcheck import evaluations_needed
from minigrad.gradcheck_report import GradcheckReport

from .recurrent import RecurrentModel, model_class

__all__ = ["DEFAULT_MODES", "DIMS", "build_problem", "check_model", "format_table",
           "problem_dims", "run_checks", "total_evaluations"]

#: (n_x, n_a, n_y, m, T_x) per model kind and dims.
DIMS: dict[str, dict[str, tuple[int, int, int, int, int]]] = {
    "notes": {"rnn": (1000, 100, 50, 4, 10), "gru": (1000, 100, 50, 4, 10),
              "lstm": (100, 100, 50, 4, 10)},
    "small": {k: (3, 4, 2, 2, 6) for k in ("rnn", "gru", "lstm")},
}
#: The default run: every entry along one random direction, and 32 entries one by one.
DEFAULT_MODES = ("directional", "sampled")


def problem_dims(kind: str, dims: str = "notes", *, steps: int | None = None,
                 batch: int | None = None) -> tuple[int, int, int, int, int]:
    """(n_x, n_a, n_y, m, T_x) of the problem, ``batch`` and ``steps`` replacing m and T_x."""
    n_x, n_a, n_y, m, T = DIMS[dims][kind.lower()]
    return n_x, n_a, n_y, m if batch is None else batch, T if steps is None else steps


def build_problem(kind: str, dims: str = "notes", *, steps: int | None = None,
                  batch: int | None = None, seed: int = 0
                  ) -> tuple[RecurrentModel, dict[str, mg.Tensor], Callable[[], mg.Tensor]]:
    """(model, inputs name → Tensor, f) where f() recomputes the notes' loss J.

    Inputs are the model's parameters (notes' names and order), then x ~ N(0, 1) of shape
    (n_x, m, T_x), a0 (and c0 for the LSTM) ~ N(0, 0.5²) of shape (n_a, m); targets y are
    random 0/1. Everything is drawn from ``seed`` (an integer >= 0).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"build_problem: seed must be an integer >= 0; got {seed!r}")
    n_x, n_a, n_y, m, T = problem_dims(kind, dims, steps=steps, batch=batch)
    cls = model_class(kind)
    model = cls(n_x, n_a, n_y, seed=seed)
    rng = np.random.default_rng([seed, 1])
    x = mg.Tensor(rng.standard_normal((n_x, m, T)), requires_grad=True)
    a0 = mg.Tensor(0.5 * rng.standard_normal((n_a, m)), requires_grad=True)
    c0 = (mg.Tensor(0.5 * rng.standard_normal((n_a, m)), requires_grad=True)
          if model.kind == "LSTM" else None)  # the GRU's c⟨t⟩ is its a⟨t⟩
    y = rng.integers(0, 2, size=(n_y, m, T)).astype(np.float64)
    inputs = {**model.parameters(), "x": x, "a0": a0}
    if c0 is not None:
        inputs["c0"] = c0

    def f() -> mg.Tensor:
        return mg.binary_cross_entropy(model(x, a0, c0), y, reduction="notes")

    return model, inputs, f


def total_evaluations(inputs: dict[str, mg.Tensor], modes: Sequence[str],
                      samples: int | None = None) -> int:
    """Evaluations of J that ``run_checks`` will do (``samples`` applies to "sampled" only)."""
    sizes = [t.size for t in inputs.values()]
    return sum(evaluations_needed(md, sizes, samples if md == "sampled" else None)
               for md in modes)


def run_checks(f: Callable[[], mg.Tensor], inputs: dict[str, mg.Tensor], modes: Sequence[str],
               *, seed: int = 0, samples: int | None = None,
               progress: Callable[[int], Any] | None = None) -> list[GradcheckReport]:
    """``minigrad.gradcheck`` of f in each mode; ``progress(n)`` is told of n more evaluations."""
    return [mg.gradcheck(f, inputs, mode=md, seed=seed, progress=progress,
                         samples=samples if md == "sampled" else None) for md in modes]


def check_model(kind: str, modes: Sequence[str], *, dims: str = "notes",
                steps: int | None = None, batch: int | None = None, seed: int = 0,
                samples: int | None = None, progress: Callable[[int], Any] | bool | None = None
                ) -> tuple[RecurrentModel, list[GradcheckReport], float]:
    """Build the problem and check it in each mode; returns (model, reports, seconds).

    ``progress``: a callable told of each batch of evaluations (False/None: silent)."""
    start = time.perf_counter()
    model, inputs, f = build_problem(kind, dims, steps=steps, batch=batch, seed=seed)
    reports = run_checks(f, inputs, modes, seed=seed, samples=samples,
                         progress=progress if callable(progress) else None)
    return model, reports, time.perf_counter() - start


def format_table(model: RecurrentModel, reports: list[GradcheckReport], m: int, T: int,
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
