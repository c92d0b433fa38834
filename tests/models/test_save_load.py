"""model.save / Model.load / models.load: exact round trips and clear errors on bad files."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
from _model_cases import VARIANTS, make
from _model_cases import variant_id as vid

import models
from models.checkpoint import load_checkpoint, save_checkpoint


@pytest.mark.parametrize("variant", VARIANTS, ids=vid)
def test_round_trip_is_exact(variant, tmp_path):
    kind, opts = variant
    model = make(kind, 5, 4, 3, "softmax", seed=None, **opts)
    for p in model.parameters().values():              # values no initialiser would produce
        p.data[...] = np.random.default_rng(0).normal(size=p.shape) * 1e3
    path = tmp_path / "model.npz"
    model.save(path)
    for loaded in (type(model).load(path), models.load(str(path))):
        assert type(loaded) is type(model)
        assert loaded.config() == model.config()
        assert list(loaded.parameters()) == list(model.parameters())
        for name, p in model.parameters().items():
            q = loaded.parameters()[name]
            assert q.dtype == p.dtype and q.requires_grad
            np.testing.assert_array_equal(q.data, p.data)
        x = np.random.default_rng(1).normal(size=(5, 2, 3))
        np.testing.assert_array_equal(loaded(x).data, model(x).data)


def test_config_round_trip_float32(tmp_path):
    model = models.GRU(3, 4, 2, reset_after=True, output="linear", seed=3, dtype=np.float32)
    assert model.config() == {"n_x": 3, "n_a": 4, "n_y": 2, "output": "linear", "seed": 3,
                              "dtype": "float32", "fused": False, "reset_after": True}
    model.save(tmp_path / "m")                         # exact path, no suffix added
    loaded = models.load(tmp_path / "m")
    assert loaded.W_u.dtype == np.float32 and loaded.config() == model.config()
    np.testing.assert_array_equal(loaded.b_cc.data, model.b_cc.data)


@pytest.fixture
def saved(tmp_path):
    model = models.LSTM(3, 4, 2, seed=0, forget_bias=1.0)
    path = tmp_path / "lstm.npz"
    model.save(path)
    with np.load(path) as f:
        entries = {k: f[k] for k in f.files}
    return path, entries


def rewrite(path, entries):
    with open(path, "wb") as f:
        np.savez(f, **entries)


def test_wrong_class(saved):
    path, _ = saved
    with pytest.raises(ValueError, match="holds a LSTM, not a GRU"):
        models.GRU.load(path)


def test_truncated_and_garbage_files(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    for i, blob in enumerate([data[: len(data) // 2], data[:30], b"not a model at all" * 10, b""]):
        bad = tmp_path / f"bad{i}.npz"
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match="not a readable minigrad model file"):
            models.load(bad)
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        models.load(npy)
    with pytest.raises(FileNotFoundError):
        models.load(tmp_path / "missing.npz")


def test_corrupted_member(saved, tmp_path):
    path, entries = saved
    bad = tmp_path / "crc.npz"
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("param.W_c.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[start:start + 8] = b"\xff" * 8
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="not a readable"):
        models.load(bad)


@pytest.mark.parametrize("change,pattern", [
    (lambda e: e.pop("param.W_f"), r"lacks \['W_f'\]"),
    (lambda e: e.update({"param.W_z": np.zeros((4, 7))}), r"unexpected \['W_z'\]"),
    (lambda e: e.update({"param.W_c": np.zeros((4, 6))}), r"W_c must be \(4, 7\).*got \(4, 6\)"),
    (lambda e: e.update({"param.b_y": np.zeros((2, 1), np.float32)}), r"b_y has dtype float32"),
    (lambda e: e.update({"config.n_a": np.array(0)}), r"bad LSTM hyper-parameters"),
    (lambda e: e.update({"config.colour": np.array("red")}), r"bad LSTM hyper-parameters"),
    (lambda e: e.update({"format": np.array("something else")}), r"not a minigrad model file"),
    (lambda e: e.pop("format"), r"not a minigrad model file"),
    (lambda e: e.update({"class": np.array("Transformer")}), r"unknown model class"),
    (lambda e: e.update({"weights": np.zeros(3)}), r"unexpected entry 'weights'"),
    (lambda e: e.update({"param.W_o": np.array([None, 1], dtype=object)}), r"not a readable"),
])
def test_mismatched_contents(saved, change, pattern):
    path, entries = saved
    change(entries)
    rewrite(path, entries)
    with pytest.raises(ValueError, match=pattern):
        models.LSTM.load(path)


# --------------------------------------------------------------------------- the shared .npz I/O


def _save_model(path):
    models.RNN(2, 3, 1, seed=0).save(path)


def _save_checkpoint(path):
    save_checkpoint(path, models.RNN(2, 3, 1, seed=0), step=1)


SAVERS = {"model": _save_model, "checkpoint": _save_checkpoint}
LOADERS = {"model": models.load, "checkpoint": load_checkpoint}


@pytest.mark.parametrize("fmt", SAVERS)
def test_non_zip_file_is_named_and_not_a_pickle_complaint(fmt, tmp_path):
    for name, blob in [("garbage.npz", b"GARBAGE!" * 20), ("obj.npz", b"\x80\x04K\x01."),
                       ("empty.npz", b"")]:
        bad = tmp_path / name
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match="is not an .npz archive") as info:
            LOADERS[fmt](bad)
        msg = str(info.value)
        assert str(bad) in msg and "pickle" not in msg, msg
    with pytest.raises(ValueError, match="is a directory"):
        LOADERS[fmt](tmp_path)


@pytest.mark.parametrize("fmt", SAVERS)
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_get_normal_permissions(fmt, umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        SAVERS[fmt](tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new.npz").st_mode & 0o777 == mode
    os.chmod(tmp_path / "new.npz", 0o640)              # an existing file keeps its mode
    SAVERS[fmt](tmp_path / "new.npz")
    assert os.stat(tmp_path / "new.npz").st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["new.npz"]


@pytest.mark.parametrize("fmt", SAVERS)
def test_save_is_synced_and_errors_name_the_target(fmt, tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    SAVERS[fmt](tmp_path / "ok.npz")
    assert synced                                      # data reach the disk before the rename
    target = tmp_path / "no_such_dir" / "x.npz"
    with pytest.raises(FileNotFoundError) as info:
        SAVERS[fmt](target)
    assert info.value.filename == str(target) and ".tmp" not in str(info.value)
    with pytest.raises(IsADirectoryError) as info:
        SAVERS[fmt](tmp_path)
    assert info.value.filename == str(tmp_path)
    assert os.listdir(tmp_path) == ["ok.npz"]


@pytest.mark.parametrize("fmt", SAVERS)
def test_interrupted_save_keeps_the_old_file(fmt, tmp_path, monkeypatch):
    import models._io

    path = tmp_path / "f.npz"
    SAVERS[fmt](path)
    before = path.read_bytes()

    def boom(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(models._io.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        SAVERS[fmt](path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["f.npz"]


# ------------------------------------------------------------------ one format, one registry


def test_a_checkpoint_is_a_model_file(tmp_path):
    from minigrad import optim

    model = models.GRU(3, 4, 2, seed=1, output="linear")
    opt = optim.Adam(list(model.parameters().values()), lr=0.1)
    for p in model.parameters().values():
        p.grad = np.ones(p.shape)
    opt.step()
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model, step=7, optimizer=opt, meta={"task": "adding"})
    for loaded in (models.load(path), models.GRU.load(path)):
        assert type(loaded) is models.GRU and loaded.config() == model.config()
        for name, p in model.parameters().items():
            np.testing.assert_array_equal(loaded.parameters()[name].data, p.data)
    with np.load(path) as f:
        groups = {k.partition(".")[0] for k in f.files}
    assert groups == {"format", "class", "config", "param", "optim", "meta"}
    model.save(tmp_path / "plain.npz")                 # and a model file reads as a checkpoint
    ck = load_checkpoint(tmp_path / "plain.npz")
    assert ck.step == 0 and ck.optimizer_state is None and not ck.has_training_state
    np.testing.assert_array_equal(ck.model.W_c.data, model.W_c.data)


def test_one_registry_resolves_file_and_command_line_names():
    import models.checkpoint
    import models.commands._common as common
    from models.recurrent import _REGISTRY, model_class, model_kinds

    assert _REGISTRY == {"RNN": models.RNN, "GRU": models.GRU, "LSTM": models.LSTM}
    for kind, cls in _REGISTRY.items():
        assert model_class(kind) is model_class(kind.lower()) is cls
    assert model_kinds() == ["GRU", "LSTM", "RNN"] and common.cell_names() == ["gru", "lstm", "rnn"]
    for name in ("RecurrentModel", "Transformer", "", None):
        with pytest.raises(ValueError, match="unknown model class"):
            model_class(name)
    assert not hasattr(common, "CELLS") and not hasattr(models.checkpoint, "model_from_config")


def test_import_minigrad_does_not_import_models():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, minigrad, minigrad.optim, minigrad.gradcheck, minigrad.show; "
            "bad = sorted(m for m in sys.modules if m == 'models' or m.startswith('models.')); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # only the command-line entry point names the application package
    for path in sorted((root / "minigrad").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        uses = "import models" in text or "from models" in text or '"models.' in text
        assert not uses or path.name == "cli.py", path
