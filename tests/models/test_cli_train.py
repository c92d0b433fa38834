"""End-to-end runs of `minigrad train adding|charlm` and `minigrad sample` with tiny settings."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.checkpoint import load_checkpoint, save_checkpoint
from models.commands import sample as sample_cmd
from models.commands import train as train_cmd
from models.data import CharVocab
from models.sampling import generate
from models.training import make_model

TEXT = "She sells sea shells by the sea shore; the shells she sells are sea shells.\n" * 6


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="minigrad")
    sub = parser.add_subparsers(dest="command")
    train_cmd.register(sub)
    sample_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def charlm_ckpt(tmp_path: Path, corpus: Path) -> Path:
    path = tmp_path / "lm.npz"
    assert run(["train", "charlm", "--corpus", str(corpus), "--hidden", "8", "--seq", "10",
                "--batch", "4", "--steps", "4", "--seed", "0", "--checkpoint", str(path)]) == 0
    return path


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_train_adding_end_to_end(tmp_path: Path, capsys, cell: str) -> None:
    path = tmp_path / "add.npz"
    rc = run(["train", "adding", "--cell", cell, "--T", "6", "--hidden", "4", "--batch", "4",
              "--steps", "3", "--seed", "0", "--checkpoint", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test MSE" in out and "baseline 0.167" in out and "3 steps" in out
    ck = load_checkpoint(path)
    assert ck.step == 3 and ck.meta["task"] == "adding" and ck.vocab is None
    assert type(ck.model).__name__ == cell.upper() and ck.model.n_x == 2 and ck.model.n_y == 1
    assert ck.meta["settings"]["T"] == 6


def test_train_charlm_end_to_end(tmp_path: Path, corpus: Path, capsys) -> None:
    path = tmp_path / "lm.npz"
    rc = run(["train", "charlm", "--cell", "gru", "--corpus", str(corpus), "--hidden", "8",
              "--seq", "10", "--batch", "4", "--steps", "4", "--sample-every", "2", "--seed", "0",
              "--checkpoint", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "unigram" in out and "nats/char" in out and "held-out loss" in out
    assert out.count("--- sample at step") == 2
    ck = load_checkpoint(path)
    assert ck.step == 4 and ck.vocab == CharVocab.from_text(TEXT)
    assert ck.model.n_x == ck.model.n_y == ck.vocab.size


def test_train_charlm_default_corpus_and_sgd(capsys) -> None:
    rc = run(["train", "charlm", "--hidden", "4", "--seq", "5", "--batch", "2", "--steps", "2",
              "--optim", "sgd", "--lr", "0.5", "--seed", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "pydoc_data" in out and "sgd" in out


def test_plain_progress_lines_without_tqdm(monkeypatch, corpus: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    rc = run(["train", "charlm", "--corpus", str(corpus), "--hidden", "4", "--seq", "5",
              "--batch", "2", "--steps", "3", "--seed", "0"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "step 3/3" in err and "nats/char" in err


def test_sample_uses_only_vocabulary(charlm_ckpt: Path, capsys) -> None:
    vocab = CharVocab.from_text(TEXT)
    assert run(["sample", "--checkpoint", str(charlm_ckpt), "--length", "80", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert len(first) in (80, 81) and set(first) <= set(vocab.chars)
    assert run(["sample", "--checkpoint", str(charlm_ckpt), "--length", "80", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first  # seeded
    assert run(["sample", "--checkpoint", str(charlm_ckpt), "--length", "30", "--prime", "sea s",
                "--temperature", "0.5", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sea s") and set(out) <= set(vocab.chars)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_generate_greedy_and_state_carrying(cell: str) -> None:
    vocab = CharVocab(tuple("ab\n"))
    model = make_model(cell, vocab.size, 5, vocab.size, seed=0)
    rng = np.random.default_rng(0)
    greedy = generate(model, vocab, 12, temperature=0, prime="ab", rng=rng)
    assert greedy.startswith("ab") and len(greedy) == 14
    assert generate(model, vocab, 12, temperature=0, prime="ab", rng=rng) == greedy
    # carrying the state step by step gives the same argmax chain as one long forward pass
    ids = vocab.encode(greedy[:-1]).reshape(1, -1)
    logits = model(ids).data[:, 0, :]
    assert vocab.decode(logits.argmax(axis=0)[1:]) == greedy[2:]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        generate(model, vocab, 3, prime="abc", rng=rng)


def test_sample_errors(tmp_path: Path, capsys) -> None:
    adding = tmp_path / "add.npz"
    save_checkpoint(adding, make_model("rnn", 2, 3, 1, seed=0), step=0, meta={"task": "adding"})
    assert run(["sample", "--checkpoint", str(adding)]) == 2
    assert "no vocabulary" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert run(["sample", "--checkpoint", str(bad)]) == 2
    assert "not a readable minigrad checkpoint" in capsys.readouterr().err
    assert run(["sample", "--checkpoint", str(tmp_path / "none.npz")]) == 2


def test_prime_outside_vocabulary_is_an_error(charlm_ckpt: Path, capsys) -> None:
    assert run(["sample", "--checkpoint", str(charlm_ckpt), "--prime", "XYZ"]) == 2
    assert "outside the vocabulary" in capsys.readouterr().err


def test_resume_errors(tmp_path: Path, corpus: Path, charlm_ckpt: Path, capsys) -> None:
    assert run(["train", "adding", "--resume", "--steps", "1"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert run(["train", "adding", "--resume", "--checkpoint", str(charlm_ckpt)]) == 2
    assert "'charlm' checkpoint" in capsys.readouterr().err
    assert run(["train", "charlm", "--resume", "--checkpoint", str(charlm_ckpt),
                "--cell", "rnn"]) == 2
    assert "--cell rnn differs" in capsys.readouterr().err
    other = tmp_path / "other.txt"
    other.write_text("QQQ zzz", encoding="utf-8")
    assert run(["train", "charlm", "--resume", "--checkpoint", str(charlm_ckpt),
                "--corpus", str(other), "--steps", "5"]) == 2
    assert "outside the vocabulary" in capsys.readouterr().err
    # resuming without new settings continues the stored run: steps 4 -> 6
    assert run(["train", "charlm", "--resume", "--checkpoint", str(charlm_ckpt),
                "--steps", "6"]) == 0
    assert load_checkpoint(charlm_ckpt).step == 6


def test_bad_corpus_is_an_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    assert run(["train", "charlm", "--corpus", str(bad), "--steps", "1"]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_minigrad_cli_wiring(tmp_path: Path, capsys) -> None:
    cli = pytest.importorskip("minigrad.cli")
    rc = cli.main(["train", "adding", "--T", "4", "--hidden", "3", "--batch", "2",
                   "--steps", "1", "--seed", "0"])
    assert rc == 0 and "test MSE" in capsys.readouterr().out


def test_ctrl_c_saves_a_consistent_checkpoint(tmp_path: Path, corpus: Path, monkeypatch,
                                              capsys) -> None:
    import models.commands._session as tr

    real, calls = tr.train_step, {"n": 0, "torn": False}

    def flaky(model: Any, opt: Any, loss_fn: Any, clip: float, kind: str) -> float:
        calls["n"] += 1
        if calls["n"] == 3:
            if calls["torn"]:  # as if Ctrl-C struck inside opt.step()
                opt.step_count += 1
            raise KeyboardInterrupt
        return real(model, opt, loss_fn, clip, kind)

    monkeypatch.setattr(tr, "train_step", flaky)
    path = tmp_path / "lm.npz"
    argv = ["train", "charlm", "--corpus", str(corpus), "--hidden", "4", "--seq", "5",
            "--batch", "2", "--steps", "5", "--seed", "0", "--checkpoint", str(path)]
    assert run(argv) == 130
    assert load_checkpoint(path).step == 2
    assert "interrupted at step 2" in capsys.readouterr().out
    calls.update(n=0, torn=True)
    before = path.read_bytes()
    assert run(argv) == 130
    assert "no checkpoint written" in capsys.readouterr().err
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv,message", [
    (["train", "adding", "--batch", "0"], "--batch: must be a positive integer; got 0"),
    (["train", "adding", "--T", "1"], "--T: must be an integer >= 2"),
    (["train", "adding", "--hidden", "0"], "--hidden: must be a positive integer"),
    (["train", "adding", "--steps", "-3"], "--steps: must be a positive integer; got -3"),
    (["train", "adding", "--clip", "-1"], "--clip: must be a finite number >= 0"),
    (["train", "adding", "--lr", "0"], "--lr: must be a finite number > 0; got 0"),
    (["train", "adding", "--lr", "-0.1"], "--lr: must be a finite number > 0"),
    (["train", "adding", "--lr", "nan"], "--lr: must be a finite number > 0"),
    (["train", "adding", "--seed", "-1"], "--seed: must be an integer >= 0; got -1"),
    (["train", "adding", "--batch", "two"], "--batch: must be a positive integer; got 'two'"),
    (["train", "charlm", "--seq", "0"], "--seq: must be a positive integer"),
    (["train", "charlm", "--sample-every", "-2"], "--sample-every: must be an integer >= 0"),
    (["sample", "--checkpoint", "x.npz", "--length", "-1"], "--length: must be an integer >= 0"),
    (["sample", "--checkpoint", "x.npz", "--temperature", "-1"],
     "--temperature: must be a finite number >= 0"),
    (["sample", "--checkpoint", "x.npz", "--seed", "-5"], "--seed: must be an integer >= 0"),
])
def test_bad_arguments_are_usage_errors(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        run(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument " + message in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["missing_dir", "directory"])
def test_unwritable_checkpoint_is_found_before_training(tmp_path: Path, where: str,
                                                        monkeypatch, capsys) -> None:
    import models.commands._session as tr

    def no_training(*args: Any, **kwargs: Any) -> float:
        raise AssertionError("training started")

    monkeypatch.setattr(tr, "train_step", no_training)
    path = tmp_path / "nope" / "c.npz" if where == "missing_dir" else tmp_path
    assert run(["train", "adding", "--T", "4", "--hidden", "2", "--batch", "2", "--steps", "2",
                "--seed", "0", "--checkpoint", str(path)]) == 2
    captured = capsys.readouterr()
    assert "minigrad train adding: error: " in captured.err and str(path) in captured.err
    assert "cannot write the checkpoint" in captured.err and captured.out == ""
    assert os.listdir(tmp_path) == []


def test_failed_checkpoint_write_is_reported(tmp_path: Path, monkeypatch, capsys) -> None:
    import models.commands._session as tr

    def disk_full(path: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(tr, "save_checkpoint", disk_full)
    path = tmp_path / "c.npz"
    assert run(["train", "adding", "--T", "4", "--hidden", "2", "--batch", "2", "--steps", "2",
                "--seed", "0", "--checkpoint", str(path)]) == 1
    captured = capsys.readouterr()
    assert "error: the checkpoint was not written" in captured.err
    assert "No space left on device" in captured.err and str(path) in captured.err
    assert "test MSE" in captured.out and "checkpoint:" not in captured.out


def test_resume_with_fewer_total_steps_is_an_error(charlm_ckpt: Path, capsys) -> None:
    before = charlm_ckpt.read_bytes()
    assert run(["train", "charlm", "--resume", "--checkpoint", str(charlm_ckpt),
                "--steps", "2"]) == 2
    assert "--steps 2 is below the checkpoint's step 4" in capsys.readouterr().err
    assert charlm_ckpt.read_bytes() == before


def test_versus_baseline_wording() -> None:
    from models.commands._common import versus

    assert versus(1.0, 2.0) == "50.0% below"
    assert versus(2.832, 2.0) == "41.6% above"
    assert versus(2.0, 2.0) == "0.0% below"


def test_worse_than_baseline_reads_above(corpus: Path, capsys) -> None:
    # one step of an untrained model: its loss (about log V) is above the unigram entropy
    assert run(["train", "charlm", "--corpus", str(corpus), "--hidden", "4", "--seq", "5",
                "--batch", "2", "--steps", "1", "--seed", "0"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "% above" in last and "-" not in last.split("%")[0].split()[-1], last


@pytest.mark.parametrize("task", ["adding", "charlm"])
def test_fused_training_gives_the_same_model(tmp_path: Path, corpus: Path, task: str) -> None:
    """--fused only changes how the recurrence runs: the trained weights agree to rounding."""
    extra = ["--T", "6"] if task == "adding" else ["--corpus", str(corpus), "--seq", "6"]
    weights = []
    for fused in ([], ["--fused"]):
        path = tmp_path / f"{task}{len(fused)}.npz"
        assert run(["train", task, "--cell", "gru", "--hidden", "4", "--batch", "3", "--steps",
                    "3", "--seed", "1", "--checkpoint", str(path), *extra, *fused]) == 0
        ck = load_checkpoint(path)
        assert ck.model.fused == bool(fused) and ck.meta["settings"]["fused"] == bool(fused)
        weights.append(ck.model.parameters())
    for name, p in weights[0].items():
        np.testing.assert_allclose(weights[1][name].data, p.data, rtol=1e-10, atol=1e-12)


def test_model_file_resumes_and_samples(tmp_path: Path, corpus: Path, capsys) -> None:
    """A plain ``model.save`` file trains with --resume and generates with sample."""
    vocab = CharVocab.from_text(TEXT)
    model = make_model("gru", vocab.size, 6, vocab.size, seed=2)
    path = tmp_path / "m.npz"
    model.save(path)
    assert run(["sample", "--checkpoint", str(path), "--corpus", str(corpus), "--length", "20",
                "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert len(out) in (20, 21) and set(out) <= set(vocab.chars)
    assert run(["train", "charlm", "--resume", "--checkpoint", str(path), "--corpus",
                str(corpus), "--seq", "6", "--batch", "2", "--steps", "2", "--seed", "0"]) == 0
    assert "without optimizer state" in capsys.readouterr().err
    ck = load_checkpoint(path)
    assert ck.step == 2 and ck.has_training_state and ck.vocab == vocab
    assert ck.model.config() == model.config()
    assert any(not np.array_equal(ck.model.parameters()[k].data, p.data)
               for k, p in model.parameters().items())
    # and the other way round: the checkpoint is a model file
    import models

    loaded = models.load(path)
    np.testing.assert_array_equal(loaded.W_c.data, ck.model.W_c.data)
    adding = tmp_path / "add.npz"
    make_model("lstm", 2, 3, 1, seed=0).save(adding)
    assert run(["train", "adding", "--resume", "--checkpoint", str(adding), "--T", "4",
                "--batch", "2", "--steps", "1", "--seed", "0"]) == 0
    assert load_checkpoint(adding).step == 1
    model.save(path)                                   # a character model: not for adding
    assert run(["train", "adding", "--resume", "--checkpoint", str(path), "--steps", "3"]) == 2
    assert "adding problem needs n_x=2, n_y=1" in capsys.readouterr().err


def test_ctrl_c_in_sample_is_a_clean_exit_130(charlm_ckpt: Path, monkeypatch, capsys) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(sample_cmd, "generate", interrupt)
    assert run(["sample", "--checkpoint", str(charlm_ckpt)]) == 130
    captured = capsys.readouterr()
    assert "minigrad sample: interrupted (Ctrl-C)" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
