"""`minigrad gradcheck`: the default run and the small full/complex runs pass; bugs exit 1."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from models import rnn as rnn_module
from models.commands import gradcheck as cmd
from models.gradcheck_problem import build_problem

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"RNN": ["W_a", "b_a", "W_y", "b_y", "x", "a0"],
          "GRU": ["W_u", "b_u", "W_r", "b_r", "W_c", "b_c", "W_y", "b_y", "x", "a0"],
          "LSTM": ["W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o", "W_y", "b_y",
                   "x", "a0", "c0"]}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minigrad")
    cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["gradcheck", *argv])


def _rows(out: str, kind: str) -> list[list[str]]:
    """The table rows (split on whitespace) of one model's section of the output."""
    section = out.split(f"\n{kind}  ", 1)[1].split("\n\n", 1)[0]
    return [line.split() for line in section.splitlines()[3:] if line.startswith("  ")
            and not line.strip().startswith(("PASS", "FAIL"))]


def test_literal_default_run_passes(capsys: pytest.CaptureFixture[str]) -> None:
    from minigrad.cli import main

    status = main(["gradcheck"])
    out, err = capsys.readouterr()
    assert status == 0, out
    assert "all checks passed" in out
    for kind, names in PARAMS.items():
        rows = _rows(out, kind)
        assert [r[0] for r in rows] == [n for n in names for _ in range(2)]
        assert {r[2] for r in rows} == {"directional", "sampled"}
        assert all(r[-1] == "ok" for r in rows)
    assert "n_x=1000 n_a=100 n_y=50 m=4 T_x=10" in out          # RNN, GRU at the notes' sizes
    assert "n_x=100 n_a=100 n_y=50 m=4 T_x=10" in out           # LSTM
    assert "100×1100" in out and "32 of 110000" in out
    assert "gradcheck LSTM" in err                               # the progress bar


@pytest.mark.parametrize("mode", ["full", "complex"])
def test_small_dims_every_entry(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd.run(_parse(["--mode", mode, "--dims", "small", "--no-progress"])) == 0
    out = capsys.readouterr().out
    for kind, names in PARAMS.items():
        rows = _rows(out, kind)
        assert [r[0] for r in rows] == names
        assert all(r[2] == mode and r[-1] == "ok" for r in rows)
    assert "n_x=3 n_a=4 n_y=2 m=2 T_x=6" in out
    assert "4×7" in out  # W_a: (n_a, n_a + n_x)
    if mode == "complex":
        errors = [float(r[4]) for kind in PARAMS for r in _rows(out, kind)]
        assert max(errors) <= 1e-13  # the complex step agrees with BPTT to rounding


def test_complex_step_on_models_at_the_notes_loss() -> None:
    for kind in ("rnn", "gru", "lstm"):
        _, inputs, f = build_problem(kind, "small", steps=4, seed=3)
        report = mg.gradcheck(f, inputs, mode="complex")
        assert report.ok and report.max_rel_error <= 1e-13, str(report)


def test_options_steps_batch_seed_sampled(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--model", "gru", "--mode", "sampled", "--steps", "3", "--batch", "2",
                   "--seed", "5", "--samples", "4", "--no-progress"])
    assert cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "GRU  n_x=1000 n_a=100 n_y=50 m=2 T_x=3" in out and "RNN" not in out
    assert "4 of 110000" in out


def test_a_wrong_gradient_fails_with_status_1(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    class BadTanh(mg.Function):
        @staticmethod
        def forward(ctx, z):
            y = np.tanh(z)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return (g * (1 - y),)  # should be 1 − y²

    monkeypatch.setitem(rnn_module.ACTIVATIONS, "tanh", BadTanh.apply)
    for mode in ("directional", "sampled", "full", "complex"):
        assert cmd.run(_parse(["--model", "rnn", "--dims", "small", "--mode", mode,
                               "--no-progress"])) == 1
        out = capsys.readouterr().out
        rows = {r[0]: r[-1] for r in _rows(out, "RNN")}
        assert rows["W_a"] == rows["b_a"] == rows["x"] == rows["a0"] == "FAIL"
        assert rows["W_y"] == rows["b_y"] == "ok"  # the output layer is above the bug
        assert "FAILED: RNN" in out


def test_plain_progress_without_tqdm(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    assert cmd.run(_parse(["--model", "lstm", "--dims", "small", "--mode", "full"])) == 0
    err = capsys.readouterr().err
    assert "gradcheck LSTM: 100%" in err and "gradcheck LSTM: 50%" in err


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps: must be a positive integer; got 0"),
    (["--batch", "-2"], "--batch: must be a positive integer; got -2"),
    (["--samples", "0"], "--samples: must be a positive integer; got 0"),
    (["--seed", "-1"], "--seed: must be an integer >= 0; got -1"),
    (["--mode", "central"], "--mode: invalid choice: 'central'"),
])
def test_bad_arguments_exit_2(argv: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parse(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument " + message in err and "FAILED" not in err


def test_python_dash_m_entry_point() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "minigrad", "gradcheck", "--model", "lstm",
                           "--dims", "small", "--mode", "directional"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LSTM" in proc.stdout and "all checks passed" in proc.stdout


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_is_a_clean_exit_130(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cmd, "run_checks", _interrupt)
    assert cmd.run(_parse(["--dims", "small", "--no-progress"])) == 130
    err = capsys.readouterr().err
    assert "minigrad gradcheck: interrupted (Ctrl-C)" in err and "Traceback" not in err


def test_full_mode_at_the_notes_dims_warns_with_an_estimate(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cmd, "run_checks", _interrupt)
    assert cmd.run(_parse(["--model", "rnn", "--mode", "full", "--no-progress"])) == 130
    err = capsys.readouterr().err
    assert "warning: RNN needs 311,101 evaluations of J at " in err and " min." in err
    assert err.index("warning") < err.index("interrupted")
    assert cmd.run(_parse(["--model", "rnn", "--mode", "full", "--dims", "small",
                           "--no-progress"])) == 130
    assert "warning" not in capsys.readouterr().err


def test_samples_outside_sampled_mode_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd.run(_parse(["--model", "rnn", "--mode", "directional", "--dims", "small",
                           "--samples", "5", "--no-progress"])) == 0
    assert ("--samples applies to the sampled mode only; ignored with --mode directional"
            in capsys.readouterr().err)
    assert cmd.run(_parse(["--model", "rnn", "--dims", "small", "--samples", "5",
                           "--no-progress"])) == 0
    assert "--samples" not in capsys.readouterr().err


def test_huge_batch_or_steps_is_refused_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--batch", "100000000"], ["--steps", "100000000"]):
        assert cmd.run(_parse([*argv, "--no-progress"])) == 2
        err = capsys.readouterr().err
        assert "GiB of memory available" in err and "(--batch, --steps)" in err
