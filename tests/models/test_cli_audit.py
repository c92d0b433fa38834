"""`minigrad audit`: every record of the three models' tapes passes; a wrong op exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigrad import kernels
from minigrad.cli import main
from minigrad.ops.activations import Tanh
from models.model_audit import audit_model, format_audit

ROOT = Path(__file__).resolve().parents[2]
RECORDS_NOTES = {"RNN": 60, "GRU": 180, "LSTM": 200}  # composed tapes at T_x = 10


def _section(out: str, kind: str) -> str:
    return out.split(f"\n{kind}  ", 1)[1].split("\n\n", 1)[0]


def _rows(section: str) -> list[list[str]]:
    """The table rows of one model's section, split on whitespace."""
    lines = section.splitlines()[3:]
    return [line.split() for line in lines if line.split() and line.split()[-1] in ("ok", "FAIL")]


def test_default_run_audits_the_three_models_at_the_notes_sizes(capsys):
    status = main(["audit"])
    out, _ = capsys.readouterr()
    assert status == 0, out
    assert "every record passed" in out
    for kind, n in RECORDS_NOTES.items():
        section = _section(out, kind)
        assert "m=4 T_x=10" in section.splitlines()[0] and "composed ops" in section
        assert f"PASS: {n} records audited" in section
        rows = _rows(section)
        assert len(rows) == 10 and all(r[-1] == "ok" for r in rows)
        assert f"... {n - 10} more records, all passed" in section
    assert "RNN  n_x=1000 n_a=100 n_y=50" in out and "LSTM  n_x=100 n_a=100 n_y=50" in out


def test_every_row_and_the_fused_records(capsys):
    assert main(["audit", "--dims", "small", "--top", "0", "--model", "lstm"]) == 0
    section = _section(capsys.readouterr()[0], "LSTM")
    rows = _rows(section)
    assert len(rows) == int(section.split("PASS: ")[1].split()[0]) > 100
    assert {r[1] for r in rows} >= {"split", "concat", "matmul", "sigmoid", "tanh", "bce"}
    assert main(["audit", "--dims", "small", "--fused"]) == 0
    out = capsys.readouterr()[0]
    for kind, op in (("RNN", "rnn_recurrence"), ("GRU", "gru_recurrence"),
                     ("LSTM", "lstm_recurrence")):
        section = _section(out, kind)
        assert "fused recurrence" in section and "PASS: 9 records" in section
        assert op in [r[1] for r in _rows(section)]


def test_a_wrong_backward_is_named_and_exits_1(capsys, monkeypatch):
    def tanh_backward_off(ctx, g):
        (y,) = ctx.saved_tensors
        return (kernels.tanh_backward(y, g) * (1 + 1e-4),)

    monkeypatch.setattr(Tanh, "backward", staticmethod(tanh_backward_off))
    assert main(["audit", "--model", "rnn", "--dims", "small", "--top", "2"]) == 1
    out = capsys.readouterr()[0]
    section = _section(out, "RNN")
    rows = _rows(section)
    assert {r[1] for r in rows if r[-1] == "FAIL"} == {"tanh"}
    assert len([r for r in rows if r[-1] == "FAIL"]) == 6  # one per time step, T_x = 6
    assert [r[-1] for r in rows] == ["FAIL"] * 6  # every failure is shown, beyond --top 2
    assert "FAIL (6 of " in section and "FAILED: RNN" in out


def test_bad_arguments_exit_2(capsys):
    for argv in (["audit", "--top", "-1"], ["audit", "--model", "cnn"], ["audit", "--seed", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--top: must be an integer >= 0" in capsys.readouterr()[1]


def test_library_functions():
    model, report = audit_model("gru", "small", seed=3)
    assert report.ok and len(report) > 50 and report.seed == 3
    text = format_audit(model, report, 2, 6, top=1)
    assert text.startswith("GRU  n_x=3 n_a=4 n_y=2 m=2 T_x=6  (composed ops")
    assert len(text.splitlines()) == 6


def test_the_console_command_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "minigrad", "audit", "--dims", "small",
                           "--model", "gru"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every record passed" in proc.stdout
