"""The result of a gradient check: one `InputCheck` per input, gathered in a `GradcheckReport`.

For an input θ with analytic gradient g (from the tape) and numeric estimate ĝ (from finite
differences or the complex step), restricted to the entries that were checked, the report gives

    max absolute error   max_k |g_k − ĝ_k|
    relative error       ‖g − ĝ‖₂ / (‖g‖₂ + ‖ĝ‖₂)          (0 when g = ĝ = 0)

and the input passes when `relative error ≤ rtol` or `max absolute error ≤ atol` (the atol
branch only matters for gradients that are zero up to the numeric method's noise floor).
With `gradcheck(..., order=2)` the same holds for second derivatives: g is the tape's H w
(the first-order gradient recorded and differentiated again, w a random cotangent) and ĝ the
finite differences of ⟨w, ∇φ⟩ computed by the first-order tape (`minigrad.gradgradcheck`).
The relative error lies in [0, 1]: 1 means "unrelated" (e.g. one side is zero), 1/3 means
"off by a factor 2", and a correct tape sits at the numeric method's accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GradcheckReport", "InputCheck", "relative_error"]


def relative_error(g: np.ndarray, g_hat: np.ndarray) -> float:
    """‖g − ĝ‖₂ / (‖g‖₂ + ‖ĝ‖₂), defined as 0 when both are zero."""
    g = np.asarray(g, dtype=np.float64).ravel()
    g_hat = np.asarray(g_hat, dtype=np.float64).ravel()
    den = float(np.linalg.norm(g) + np.linalg.norm(g_hat))
    if den == 0.0:
        return 0.0
    return float(np.linalg.norm(g - g_hat)) / den


@dataclass(frozen=True)
class InputCheck:
    """The check of one input.

    `entries` is the number of numeric derivatives compared: every element (full, complex),
    the sampled elements (sampled), or 1 (directional: the derivative along one random unit
    direction v, compared with ⟨g, v⟩). At order 2, g is H w (see the module docstring).
    `worst_index` is the element with the largest absolute
    error (None for a directional check), `analytic`/`numeric` the two values there.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    mode: str
    entries: int
    max_abs_error: float
    rel_error: float
    worst_index: tuple[int, ...] | None
    analytic: float
    numeric: float
    rtol: float
    atol: float

    @property
    def size(self) -> int:
        """Number of elements of the input."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def passed(self) -> bool:
        """rel_error ≤ rtol, or max_abs_error ≤ atol (a gradient at the noise floor)."""
        if not (np.isfinite(self.rel_error) and np.isfinite(self.max_abs_error)):
            return False
        return self.rel_error <= self.rtol or self.max_abs_error <= self.atol

    def coverage(self) -> str:
        """What was checked, in words: `12`, `32 of 110000`, `1 direction`."""
        if self.mode == "directional":
            return "1 direction"
        if self.entries < self.size:
            return f"{self.entries} of {self.size}"
        return str(self.entries)


def _fmt_index(idx: tuple[int, ...] | None) -> str:
    if idx is None:
        return "⟨g,v⟩"
    return "[" + ",".join(str(i) for i in idx) + "]"


class GradcheckReport:
    """All the per-input checks of one `gradcheck` call; truthy iff every input passed.

    `report["W_a"]` (or `report[0]`) is one `InputCheck`; `str(report)` is a table;
    `report.failures` lists the inputs that failed; `order` is 1 (gradients) or 2 (second
    derivatives).
    """

    def __init__(self, checks: Sequence[InputCheck], *, mode: str, eps: float, seed: int,
                 evaluations: int, seconds: float, order: int = 1) -> None:
        self.checks: list[InputCheck] = list(checks)
        self.mode = mode
        self.eps = eps
        self.seed = seed
        self.evaluations = evaluations
        self.seconds = seconds
        self.order = order

    @property
    def ok(self) -> bool:
        """True iff every input passed."""
        return all(c.passed for c in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[InputCheck]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def __len__(self) -> int:
        return len(self.checks)

    def __iter__(self) -> Iterator[InputCheck]:
        return iter(self.checks)

    def __getitem__(self, key: int | str) -> InputCheck:
        if isinstance(key, str):
            for c in self.checks:
                if c.name == key:
                    return c
            raise KeyError(f"no input named {key!r}; inputs: {[c.name for c in self.checks]}")
        return self.checks[key]

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over the inputs."""
        return max((c.rel_error for c in self.checks), default=0.0)

    def table(self) -> str:
        """The per-input rows: input, shape, entries, errors, worst entry, pass/FAIL."""
        head = ("input", "shape", "mode", "entries", "max abs err", "rel err", "rtol",
                "worst entry: analytic vs numeric", "result")
        rows = [head]
        for c in self.checks:
            worst = f"{_fmt_index(c.worst_index)}: {c.analytic:.10g} vs {c.numeric:.10g}"
            rows.append((c.name, str(c.shape), c.mode, c.coverage(), f"{c.max_abs_error:.3e}",
                         f"{c.rel_error:.3e}", f"{c.rtol:.0e}", worst,
                         "pass" if c.passed else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = []
        for j, r in enumerate(rows):
            lines.append("  ".join(s.ljust(w) for s, w in zip(r, widths, strict=True)).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        n_fail = len(self.failures)
        verdict = "PASSED" if n_fail == 0 else f"FAILED ({n_fail} of {len(self.checks)} inputs)"
        what = "gradcheck" if self.order == 1 else f"gradcheck order={self.order}"
        head = (f"{what} mode={self.mode} eps={self.eps:g} seed={self.seed}: {verdict} "
                f"[{self.evaluations} evaluations of f, {self.seconds:.2f} s]")
        return head + "\n" + self.table()

    def __repr__(self) -> str:
        order = "" if self.order == 1 else f", order={self.order}"
        return (f"GradcheckReport(ok={self.ok}, mode={self.mode!r}{order}, inputs="
                f"{[c.name for c in self.checks]}, max_rel_error={self.max_rel_error:.3e})")
