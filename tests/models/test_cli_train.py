"""End-to-end runs of `minigrad train adding|charlm` and `minigrad sample` with tiny settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.checkpoint import load_checkpoint, save_checkpoint
from models.commands.train import generate, make_model, register
from models.data import CharVocab

TEXT = "She sells sea shells by the sea shore; the shells she sells are sea shells.\n" * 6


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="minigrad")
    register(parser.add_subparsers(dest="command"))
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
    import models.commands.train as tr

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
