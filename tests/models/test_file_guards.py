"""Saving and loading odd or crafted files: clear errors, bounded memory, no hang, no pickle."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import models
from models.checkpoint import load_checkpoint, save_checkpoint
from models.commands import sample as sample_cmd
from models.commands import train as train_cmd

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="minigrad")
    sub = parser.add_subparsers(dest="command")
    train_cmd.register(sub)
    sample_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def entries_of(model: models.RecurrentModel, tmp_path: Path) -> dict[str, np.ndarray]:
    path = tmp_path / "src.npz"
    save_checkpoint(path, model, step=3, meta={"task": "adding", "settings": {"seed": 1}})
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def write(path: Path, entries: dict[str, np.ndarray]) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **entries)
    return path


# --------------------------------------------------------------------------- saving


def test_save_refuses_a_fifo_and_writes_through_a_symlink(tmp_path: Path) -> None:
    model = models.RNN(2, 3, 1, seed=0)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO.*not a regular file") as info:
        model.save(fifo)
    assert info.value.filename == str(fifo)
    with pytest.raises(OSError, match="FIFO"):
        save_checkpoint(fifo, model, step=0)
    assert fifo.is_fifo()
    target, link = tmp_path / "real.npz", tmp_path / "link.npz"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and target.is_file()
    np.testing.assert_array_equal(models.load(link).W_a.data, model.W_a.data)
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "pipe", "real.npz"]


def test_checkpoint_to_a_fifo_is_refused_before_training(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert run(["train", "adding", "--T", "4", "--hidden", "2", "--batch", "2", "--steps", "1",
                "--seed", "0", "--checkpoint", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert "FIFO" in err and str(fifo) in err and fifo.is_fifo()


def test_stale_temporary_files_of_a_crash_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    dead = tmp_path / ".c.npz.999999999.x1y2.tmp"      # no process has this id
    alive = tmp_path / f".c.npz.{os.getppid()}.a1b2.tmp"  # a running writer's: kept
    other = tmp_path / ".d.npz.999999999.zz.tmp"       # another file's: kept
    for p in (dead, alive, other):
        p.write_bytes(b"partial")
    models.RNN(2, 3, 1, seed=0).save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["c.npz", alive.name, other.name])


# --------------------------------------------------------------------------- loading


def test_loading_a_fifo_is_refused_without_waiting(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result: dict[str, BaseException] = {}

    def load() -> None:
        try:
            models.load(fifo)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result["exc"] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():  # unblock the reader, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("models.load waited on a FIFO")
    assert isinstance(result["exc"], ValueError) and "FIFO" in str(result["exc"])
    assert run(["sample", "--checkpoint", str(fifo)]) == 2
    assert "FIFO" in capsys.readouterr().err


def _peak_bytes(fn) -> tuple[int, str]:
    """(peak bytes traced while ``fn()`` raises ValueError, the message)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            fn()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_a_forged_size_is_refused_before_allocating(tmp_path: Path) -> None:
    entries = entries_of(models.LSTM(2, 3, 1, seed=0), tmp_path)
    entries["config.n_a"] = np.array(20000)            # 4 gates of 20000 × 20002: 12.8 GB
    path = write(tmp_path / "big.npz", entries)
    peak, msg = _peak_bytes(lambda: models.load(path))
    assert peak < 50e6 and "n_a=20000" in msg and "the file holds" in msg


def test_a_zip_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    n = 8 << 20                                        # 64 MiB of float64 zeros
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("param.W_a.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
            zeros = bytes(1 << 20)
            for _ in range(8 * n // len(zeros)):
                f.write(zeros)
    assert path.stat().st_size < 1e6
    peak, msg = _peak_bytes(lambda: models.load(path))
    assert peak < 16e6 and "zip bomb" in msg
    lying = tmp_path / "lying.npz"                     # a stored member whose header lies
    with zipfile.ZipFile(lying, "w") as z:
        with z.open("param.W_a.npy", "w") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
            f.write(bytes(64))
    peak, msg = _peak_bytes(lambda: models.load(lying))
    assert peak < 16e6 and "(1000000, 1000000)" in msg


def _meta(entries: dict[str, np.ndarray], **change: object) -> dict[str, np.ndarray]:
    header = json.loads(str(entries["meta.checkpoint"]))
    header.update(change)
    return {**entries, "meta.checkpoint": np.array(json.dumps(header))}


@pytest.mark.parametrize("case,pattern", [
    ("deep", "nested too deeply"),
    ("infinity", "Infinity is not valid JSON"),
    ("negative_step", "step must be an integer >= 0; got -4"),
    ("negative_seed", "seed = -1 must be an integer >= 0"),
    ("negative_optimizer_step", "the optimizer step must be an integer >= 0; got -1"),
    ("unknown_kind", "unknown model class 'Transformer'"),
    ("abstract_kind", "unknown model class 'RecurrentModel'"),
    ("shape", r"W_a must be \(3, 5\)"),
    ("object", "never loaded"),
])
def test_malformed_files_are_one_clear_line(case: str, pattern: str, tmp_path: Path,
                                            capsys) -> None:
    entries = entries_of(models.RNN(2, 3, 1, seed=0, output="linear"), tmp_path)
    if case == "deep":
        entries["meta.checkpoint"] = np.array('{"version": 1, "step": ' + "[" * 100_000)
    elif case == "infinity":
        entries["meta.checkpoint"] = np.array('{"version": 1, "step": 1, "x": Infinity}')
    elif case == "negative_step":
        entries = _meta(entries, step=-4)
    elif case == "negative_seed":
        entries = _meta(entries, meta={"task": "adding", "settings": {"seed": -1}})
    elif case == "negative_optimizer_step":
        header = json.loads(str(entries["meta.checkpoint"]))
        header["optimizer"] = {"__items__": [["type", "Adam"], ["step", -1]]}
        entries["meta.checkpoint"] = np.array(json.dumps(header))
    elif case == "unknown_kind":
        entries["class"] = np.array("Transformer")
    elif case == "abstract_kind":
        entries["class"] = np.array("RecurrentModel")
    elif case == "shape":
        entries["param.W_a"] = np.zeros((3, 6))
    elif case == "object":
        entries["param.W_a"] = np.array([None, 1], dtype=object)
    path = write(tmp_path / "bad.npz", entries)
    argv = (["train", "adding", "--resume", "--checkpoint", str(path), "--steps", "5"]
            if case.startswith("negative_") and case != "negative_step"
            else ["sample", "--checkpoint", str(path)])
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "error:" in err and str(path) in err
    assert re.search(pattern, err), err
    if case not in ("negative_seed", "negative_optimizer_step"):
        with pytest.raises(ValueError, match=pattern):
            load_checkpoint(path)


def test_a_local_models_py_is_named_not_invalid_choice(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text("x = 1\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "minigrad", "train", "adding", "--steps", "1"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice" not in proc.stderr and "Traceback" not in proc.stderr
    assert str(tmp_path / "models.py") in proc.stderr and "hides" in proc.stderr
