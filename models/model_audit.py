"""The per-op gradient audit of ``minigrad audit``, importable from notebooks.

For each model (RNN, GRU, LSTM) on the problem of ``minigrad gradcheck`` (the notes' sizes and
loss J, see :mod:`models.gradcheck_problem`), J is computed once and every record of its tape
is checked by :func:`minigrad.audit`: the op's backward against a JVP of its forward, at the
values it saw, ⟨u, J v⟩ = ⟨Jᵀu, v⟩ for random u, v. The composed models give one record per op
and time step (60 for the RNN, 180 for the GRU, 200 for the LSTM at T_x = 10); with
``fused=True`` each fused recurrence is one record, audited as one op.

* :func:`audit_model` — (model, report) of one model;
* :func:`format_audit` — its ranked table under a heading naming the model and the sizes.
"""

from __future__ import annotations

import textwrap

import minigrad as mg

from .gradcheck_problem import build_problem
from .recurrent import RecurrentModel

__all__ = ["audit_model", "format_audit"]


def audit_model(kind: str, dims: str = "notes", *, steps: int | None = None,
                batch: int | None = None, seed: int = 0, fused: bool = False
                ) -> tuple[RecurrentModel, mg.AuditReport]:
    """Audit every record of the tape of the notes' loss J of one model (`kind` "rnn", "gru"
    or "lstm"; `dims`, `steps`, `batch`, `seed` as in `build_problem`; `fused`: the recurrence
    as one fused record). `seed` also draws the audit's random directions."""
    model, _, f = build_problem(kind, dims, steps=steps, batch=batch, seed=seed)
    model.fused = bool(fused)
    return model, mg.audit(f, seed=seed)


def format_audit(model: RecurrentModel, report: mg.AuditReport, m: int, T: int,
                 top: int | None = None) -> str:
    """One model's audit: a heading, then the table ranked by error (the `top` worst records
    only, if given; failures are always listed) and the verdict."""
    how = "fused recurrence" if model.fused else "composed ops"
    head = (f"{model.kind}  n_x={model.n_x} n_a={model.n_a} n_y={model.n_y} m={m} T_x={T}  "
            f"({how}; loss: binary cross-entropy, notes' J)")
    return head + "\n" + textwrap.indent(report.table(top), "  ")
