"""The result of `minigrad.audit`: one `RecordCheck` per tape record, gathered in an
`AuditReport` whose `str()` is a table ranked by error (failures first, then largest error).

    #   op      inputs            scope  source line                 method        error    pass
    12  badsq   (4, 3)            t=3    test_audit.py:41  a = Ba..  complex step  5.0e-05  FAIL
    7   matmul  (4, 7), (7, 3)    t=2    lstm.py:67  c_hat = tan..   complex step  3.1e-16  ok
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["AuditReport", "RecordCheck", "source_line"]

_WHERE = re.compile(r'File "(?P<file>.*)", line (?P<line>\d+), in (?P<func>[^:]*): ?(?P<code>.*)')


def source_line(where: str | None, width: int = 48) -> str:
    """`file.py:12  code` from a record's `where` (the user's line that recorded it)."""
    if not where:
        return "?"
    m = _WHERE.match(where)
    if m is None:
        return where[:width]
    text = f"{os.path.basename(m['file'])}:{m['line']}  {m['code'].strip()}"
    return text if len(text) <= width else text[: width - 2] + ".."


@dataclass(frozen=True)
class RecordCheck:
    """The check of one record: ⟨u, J v⟩ (a JVP of its forward) against ⟨Jᵀu, v⟩ (its backward).

    `index` is the record's row in `show_tape`; `input_shapes` the shapes of all its inputs,
    `checked` the indices of the inputs that got a tangent v (floats that can carry a gradient);
    `method` "complex step" or "differences h=…" (the estimate whose error is reported), "-"
    if none could be made; `error` = |⟨u, Jv⟩ − ⟨Jᵀu, v⟩| / (|⟨u, Jv⟩| + |⟨Jᵀu, v⟩|) (inf if
    the op could not be checked); `note` why an estimate was impossible, for failures.
    """

    index: int
    op: str
    input_shapes: tuple[tuple[int, ...], ...]
    scope: str | None
    where: str | None
    checked: tuple[int, ...]
    method: str
    error: float
    passed: bool
    note: str = ""

    def row(self) -> tuple[str, ...]:
        """The table row: #, op, inputs, scope, source line, method, error, pass."""
        shapes = ", ".join(str(tuple(s)) for s in self.input_shapes)
        return (str(self.index), self.op, shapes if len(shapes) <= 40 else shapes[:38] + "..",
                self.scope or "", source_line(self.where), self.method,
                f"{self.error:.1e}", "ok" if self.passed else "FAIL")


class AuditReport:
    """Every record's check, in tape order; `ok` iff all passed, `failures` the others.

    `str(report)` is the table ranked by error (see `table`); `bool(report)` is `ok`;
    iterating yields the `RecordCheck`s in tape order.
    """

    def __init__(self, checks: list[RecordCheck], *, seed: int, seconds: float) -> None:
        self.checks = list(checks)
        self.seed = seed
        self.seconds = seconds

    @property
    def ok(self) -> bool:
        """True iff every record passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[RecordCheck]:
        """The records that failed, largest error first."""
        return [c for c in self.ranked() if not c.passed]

    def ranked(self) -> list[RecordCheck]:
        """All checks, failures first, each group by decreasing error."""
        return sorted(self.checks, key=lambda c: (c.passed, -c.error, c.index))

    def __bool__(self) -> bool:
        return self.ok

    def __len__(self) -> int:
        return len(self.checks)

    def __iter__(self) -> Iterator[RecordCheck]:
        return iter(self.checks)

    def table(self, top: int | None = None) -> str:
        """The ranked table (the `top` first rows only, if given; failures are always shown)
        and a summary line."""
        ranked = self.ranked()
        shown = ranked if top is None else ranked[: max(top, len(self.failures))]
        rows = [("#", "op", "inputs", "scope", "source line", "method", "error", "pass")]
        rows += [c.row() for c in shown]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = []
        for j, r in enumerate(rows):
            lines.append("  ".join(s.ljust(w) for s, w in zip(r, widths, strict=True)).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        if len(shown) < len(ranked):
            lines.append(f"... {len(ranked) - len(shown)} more records, all passed")
        for c in self.failures:
            if c.note:
                lines.append(f"#{c.index} {c.op}: {c.note}")
        n_fail = len(self.failures)
        verdict = "PASS" if self.ok else f"FAIL ({n_fail} of {len(self.checks)} records)"
        lines.append(f"{verdict}: {len(self.checks)} records audited in {self.seconds:.2f} s "
                     f"(seed {self.seed})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<AuditReport: {len(self.checks)} records, "
                f"{len(self.failures)} failed, seed {self.seed}>")
