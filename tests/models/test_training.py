"""Training steps, checkpoints and exact resume (models/training.py, models/checkpoint.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from models.checkpoint import _decode, _encode, load_checkpoint, save_checkpoint
from models.commands import sample as sample_cmd
from models.commands import train as train_cmd
from models.data import CharVocab, adding_problem, char_batch
from models.training import adding_loss, charlm_loss, make_model, make_optimizer, train_step

CELLS = ["rnn", "gru", "lstm"]
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 8


def _params(model) -> dict[str, np.ndarray]:
    return {k: v.data.copy() for k, v in model.parameters().items()}


@pytest.mark.parametrize("cell", CELLS)
def test_adding_steps_reduce_loss_on_fixed_batch(cell: str) -> None:
    x, y = adding_problem(16, 6, seed=0)
    model = make_model(cell, 2, 8, 1, seed=0)
    opt = make_optimizer(model, "adam", 0.02)
    losses = [train_step(model, opt, lambda: adding_loss(model, x, y), 1.0, "adam")
              for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("optim_kind", ["adam", "sgd"])
def test_charlm_steps_reduce_loss_on_fixed_batch(cell: str, optim_kind: str) -> None:
    vocab = CharVocab.from_text(TEXT)
    x, y = char_batch(vocab.encode(TEXT), 4, 12, np.random.default_rng(0))
    model = make_model(cell, vocab.size, 16, vocab.size, seed=0)
    opt = make_optimizer(model, optim_kind, 0.02 if optim_kind == "adam" else 1.0)
    first = charlm_loss(model, x, y).item()
    assert first == pytest.approx(np.log(vocab.size), rel=0.1)  # near-uniform at init
    losses = [train_step(model, opt, lambda: charlm_loss(model, x, y), 5.0, optim_kind)
              for _ in range(10)]
    assert losses[0] == pytest.approx(first)
    assert losses[-1] < (0.8 if optim_kind == "adam" else 0.9) * first


def test_clipping_is_applied() -> None:
    x, y = adding_problem(8, 5, seed=1)
    model = make_model("rnn", 2, 4, 1, seed=0)
    before = _params(model)
    opt = make_optimizer(model, "sgd", 1.0)
    train_step(model, opt, lambda: adding_loss(model, x, y) * 1e6, 0.5, "sgd")
    for name, p in model.parameters().items():
        assert np.max(np.abs(p.data - before[name])) <= 0.5 + 1e-12
    model2 = make_model("rnn", 2, 4, 1, seed=0)
    opt2 = make_optimizer(model2, "sgd", 1.0)
    train_step(model2, opt2, lambda: adding_loss(model2, x, y) * 1e6, 0.5, "adam")  # norm clip
    step = np.sqrt(sum(((p.data - before[n]) ** 2).sum() for n, p in model2.parameters().items()))
    assert step == pytest.approx(0.5, rel=1e-5)


def test_make_model_and_optimizer_reject_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown model class 'transformer'"):
        make_model("transformer", 2, 4, 1, seed=0)
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer(make_model("rnn", 2, 4, 1, seed=0), "lbfgs", 0.1)


# --------------------------------------------------------------------------- checkpoints


def test_state_encoding_roundtrip() -> None:
    state = {"type": "Adam", "step": 3, "lr": 0.1, 7: (np.float32(2.5), None, [np.arange(3)]),
             "nan": float("nan"), "big": 2**100, "flag": True}
    arrays: dict[str, np.ndarray] = {}
    back = _decode(_encode(state, arrays, "opt/"), arrays)
    assert list(back) == list(state)
    assert back[7][0] == np.float32(2.5) and isinstance(back[7][0], np.float32)
    assert isinstance(back[7], tuple) and back[7][1] is None
    np.testing.assert_array_equal(back[7][2][0], np.arange(3))
    assert np.isnan(back["nan"]) and back["big"] == 2**100 and back["flag"] is True
    with pytest.raises(TypeError):
        _encode({"x": object()}, {}, "opt/")


@pytest.mark.parametrize("cell", CELLS)
def test_checkpoint_roundtrip_is_exact(tmp_path: Path, cell: str) -> None:
    vocab = CharVocab.from_text(TEXT)
    x, y = char_batch(vocab.encode(TEXT), 4, 10, np.random.default_rng(0))
    model = make_model(cell, vocab.size, 6, vocab.size, seed=3)
    opt = make_optimizer(model, "adam", 0.01)
    for _ in range(2):
        train_step(model, opt, lambda: charlm_loss(model, x, y), 5.0, "adam")
    path = tmp_path / "ck.npz"
    meta = {"task": "charlm", "settings": {"seed": 3, "corpus": None, "lr": 0.01}}
    save_checkpoint(path, model, step=2, optimizer=opt, vocab=vocab, meta=meta)
    assert [f.name for f in tmp_path.iterdir()] == ["ck.npz"]  # no temporary file left
    ck = load_checkpoint(path)
    assert type(ck.model) is type(model) and ck.model.config() == model.config()
    assert ck.step == 2 and ck.vocab == vocab and ck.meta == meta
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(ck.model.parameters()[name].data, p.data)
    opt2 = make_optimizer(ck.model, "adam", 0.5)
    opt2.load_state_dict(ck.optimizer_state)
    state, state2 = opt.state_dict(), opt2.state_dict()
    assert state.keys() == state2.keys()
    for k in state:
        np.testing.assert_array_equal(state[k], state2[k])
    # one more identical step from both: still bit-identical
    train_step(model, opt, lambda: charlm_loss(model, x, y), 5.0, "adam")
    train_step(ck.model, opt2, lambda: charlm_loss(ck.model, x, y), 5.0, "adam")
    for name, p in model.parameters().items():
        np.testing.assert_array_equal(ck.model.parameters()[name].data, p.data)


def test_bad_checkpoints_raise_value_error(tmp_path: Path) -> None:
    model = make_model("gru", 2, 3, 1, seed=0)
    good = tmp_path / "good.npz"
    save_checkpoint(good, model, step=5, meta={"task": "adding"})
    assert load_checkpoint(good).optimizer_state is None
    raw = good.read_bytes()
    cases = {
        "truncated.npz": raw[: len(raw) // 2],
        "garbage.npz": b"not a zip file at all" * 10,
        "empty.npz": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "single.npy", np.zeros(3))
    np.savez(tmp_path / "noheader.npz", a=np.zeros(2))
    flipped = bytearray(raw)
    at = raw.find(model.parameters()["W_c"].data.tobytes())
    assert at > 0
    flipped[at + 3] ^= 0xFF  # corrupt one byte of a stored parameter: CRC mismatch
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    names = [*cases, "single.npy", "noheader.npz", "flipped.npz"]
    for name in names:
        with pytest.raises(ValueError, match="checkpoint|parameter|header"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")


def test_mismatched_checkpoint_raises_value_error(tmp_path: Path) -> None:
    model = make_model("lstm", 2, 3, 1, seed=0)
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, step=1)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["param.W_c"] = np.zeros((3, 4))  # wrong shape for n_a=3, n_x=2
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(ValueError, match="W_c"):
        load_checkpoint(tmp_path / "shape.npz")
    save_checkpoint(path, model, step=1, vocab=CharVocab(tuple("abc")))  # 3 chars, n_x = 2
    with pytest.raises(ValueError, match="vocabulary"):
        load_checkpoint(path)


def test_failed_save_keeps_old_file(tmp_path: Path) -> None:
    model = make_model("rnn", 2, 3, 1, seed=0)
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, step=1)
    before = path.read_bytes()

    class BadOpt:
        def state_dict(self) -> dict:
            return {"x": object()}

    with pytest.raises(TypeError):
        save_checkpoint(path, model, step=2, optimizer=BadOpt())
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.npz"]


# --------------------------------------------------------------------------- exact resume


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    train_cmd.register(sub)
    sample_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _assert_same_checkpoint(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca.step == cb.step
    for name, p in ca.model.parameters().items():
        np.testing.assert_array_equal(cb.model.parameters()[name].data, p.data, err_msg=name)
    sa, sb = ca.optimizer_state, cb.optimizer_state
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@pytest.mark.parametrize("task", ["adding", "charlm"])
def test_resume_is_bit_exact(tmp_path: Path, task: str) -> None:
    k = 3
    if task == "adding":
        base = ["train", "adding", "--cell", "lstm", "--T", "6", "--hidden", "5", "--batch", "4",
                "--seed", "11"]
    else:
        corpus = tmp_path / "c.txt"
        corpus.write_text(TEXT, encoding="utf-8")
        base = ["train", "charlm", "--cell", "gru", "--corpus", str(corpus), "--hidden", "6",
                "--seq", "8", "--batch", "3", "--seed", "11"]
    straight, split = tmp_path / "straight.npz", tmp_path / "split.npz"
    assert _run([*base, "--steps", str(2 * k), "--checkpoint", str(straight)]) == 0
    assert _run([*base, "--steps", str(k), "--checkpoint", str(split)]) == 0
    assert load_checkpoint(split).step == k
    assert _run(["train", task, "--steps", str(2 * k), "--checkpoint", str(split),
                 "--resume"]) == 0
    _assert_same_checkpoint(straight, split)


# --------------------------------------------------------------------------- guards of a run

ADDING = ["train", "adding", "--cell", "rnn", "--T", "4", "--hidden", "3", "--batch", "2",
          "--seed", "0"]


def test_divergence_stops_and_keeps_the_good_checkpoint(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.npz"
    assert _run([*ADDING, "--optim", "sgd", "--steps", "2", "--checkpoint", str(path)]) == 0
    capsys.readouterr()
    with np.errstate(over="ignore", invalid="ignore"):
        status = _run(["train", "adding", "--resume", "--checkpoint", str(path), "--steps", "40",
                       "--lr", "1e300", "--clip", "0", "--save-every", "1"])
    err = capsys.readouterr().err
    assert status == 1 and "training diverged at step" in err and "--lr, now 1e+300" in err
    assert "Traceback" not in err
    ck = load_checkpoint(path)
    assert 2 <= ck.step < 40
    assert all(np.isfinite(p.data).all() for p in ck.model.parameters().values())


def test_non_finite_weights_are_never_saved(tmp_path: Path, monkeypatch, capsys) -> None:
    import models.commands._session as session

    path = tmp_path / "c.npz"
    assert _run([*ADDING, "--steps", "2", "--checkpoint", str(path)]) == 0
    before = path.read_bytes()
    real = session.train_step

    def poison(model, opt, loss_fn, clip, kind):  # a finite loss, then a NaN weight
        loss = real(model, opt, loss_fn, clip, kind)
        model.parameters()["W_a"].data[0, 0] = np.nan
        return loss

    monkeypatch.setattr(session, "train_step", poison)
    assert _run(["train", "adding", "--resume", "--checkpoint", str(path), "--steps", "4"]) == 1
    err = capsys.readouterr().err
    assert "diverged at step 3: parameter W_a has 1 non-finite entries" in err
    assert path.read_bytes() == before


def test_checkpoint_is_written_periodically(tmp_path: Path, monkeypatch) -> None:
    import models.commands._session as session

    real, calls = session.train_step, {"n": 0}

    def crash_at_5(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("the machine fell over")
        return real(*args)

    monkeypatch.setattr(session, "train_step", crash_at_5)
    path = tmp_path / "c.npz"
    with pytest.raises(RuntimeError):
        _run([*ADDING, "--steps", "9", "--save-every", "2", "--checkpoint", str(path)])
    assert load_checkpoint(path).step == 4


@pytest.mark.parametrize("fused", [False, True])
def test_fused_training_limits_blas_threads(fused: bool, monkeypatch) -> None:
    import contextlib

    import models.commands._session as session

    used = []

    @contextlib.contextmanager
    def record():
        used.append(True)
        yield

    monkeypatch.setattr(session, "single_threaded_blas", record)
    assert _run([*ADDING, "--steps", "1", *(["--fused"] if fused else [])]) == 0
    assert used == ([True] if fused else [])


@pytest.mark.parametrize("argv", [
    ["train", "adding", "--hidden", "1000000", "--steps", "1"],
    ["train", "adding", "--batch", "1000000000", "--steps", "1"],
    ["train", "adding", "--T", "2000000000", "--steps", "1"],
    ["train", "charlm", "--hidden", "1000000", "--steps", "1"],
])
def test_huge_sizes_are_refused_up_front(argv: list[str], capsys) -> None:
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "GiB of memory available" in err and "Traceback" not in err


def test_memory_check_reads_meminfo_and_falls_back(tmp_path: Path) -> None:
    from models.resources import available_memory, check_memory

    info = tmp_path / "meminfo"
    info.write_text("MemTotal: 4000000 kB\nMemAvailable:    1048576 kB\n", encoding="ascii")
    assert available_memory(str(info)) == 1 << 30
    check_memory(800 << 20, "this", str(info))
    with pytest.raises(ValueError, match="needs about 0.9 GiB, more than 80% of the 1.0 GiB"):
        check_memory(900 << 20, "this", str(info))
    assert available_memory(str(tmp_path / "missing")) is None
    check_memory(1 << 60, "this", str(tmp_path / "missing"))  # unknown: no check
