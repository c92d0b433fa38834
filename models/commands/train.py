"""``minigrad train adding|charlm``: training that people can watch.

* ``train adding`` — the adding problem (:func:`models.data.adding_problem`): the model reads the
  whole sequence (``output="linear"``, ``n_y = 1``) and its last output ŷ⟨T⟩ is the prediction;
  loss ``MSE(ŷ[:, :, -1], y)``; Adam with gradient-norm clipping.
* ``train charlm`` — a character-level language model on a corpus that needs no download:
  logits ``(V, m, T_x)`` from token ids ``(m, T_x)``; loss = cross-entropy per character in nats
  (:func:`models.training.charlm_loss`), shown beside the unigram baseline.

Batch ``k`` of a run is drawn from ``batch_rng(seed, k)``, so a checkpoint's step count and seed
are its whole RNG state: training 2k steps equals training k, resuming, and training k more, to
the last bit. ``--steps`` is the total: rerunning an interrupted command with ``--resume``
finishes it. ``--resume`` also accepts a plain model file (``model.save``): its weights are
trained from step 0 with a new optimizer.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
from models.commands import _session as session
from models.commands._common import (
    Progress,
    cell_names,
    int_at_least,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    versus,
)
from models.data import (
    ADDING_BASELINE_MSE,
    DEFAULT_CORPUS_NAME,
    CharVocab,
    adding_problem,
    batch_rng,
    char_batch,
    load_corpus,
    split_ids,
    unigram_entropy,
)
from models.resources import check_memory
from models.sampling import generate
from models.training import (
    adding_loss,
    charlm_loss,
    make_model,
    make_optimizer,
    training_memory,
)

__all__ = ["ADDING_DEFAULTS", "CHARLM_DEFAULTS", "register", "run_adding", "run_charlm"]

ADDING_TEST_SEED = 20160  # the fixed held-out set: adding_problem(1000, T, seed=[this, T])
VAL_SEED = 1997           # the fixed held-out windows of the corpus' last 5%
SAVE_EVERY = 200
ADDING_DEFAULTS = {"cell": "lstm", "T": 50, "hidden": 32, "batch": 32, "steps": 3000,
                   "lr": {"adam": 1e-2, "sgd": 0.1}, "clip": 1.0, "optim": "adam", "seed": None,
                   "fused": False}
CHARLM_DEFAULTS = {"cell": "lstm", "hidden": 128, "seq": 50, "batch": 32, "steps": 3000,
                   "lr": {"adam": 3e-3, "sgd": 0.5}, "clip": 5.0, "optim": "adam", "seed": None,
                   "corpus": None, "fused": False}


def _model(ckpt: Any, s: dict[str, Any], n_x: int, n_y: int, task: str) -> Any:
    """The checkpoint's model (checked to fit the task) or a new one; memory checked first."""
    if ckpt is not None:
        if (ckpt.model.n_x, ckpt.model.n_y) != (n_x, n_y):
            raise ValueError(f"the model in the checkpoint has n_x={ckpt.model.n_x}, "
                             f"n_y={ckpt.model.n_y}; {task} needs n_x={n_x}, n_y={n_y}")
        model = ckpt.model
    else:
        model = make_model(s["cell"], n_x, s["hidden"], n_y, s["seed"])
    model.fused = bool(s["fused"])  # an execution choice: same function, either way
    return model


def run_adding(args: argparse.Namespace) -> int:
    """``minigrad train adding``: returns the exit status."""
    try:
        ckpt = session.load_for_resume(args, "adding")
        s = session.settings(args, ADDING_DEFAULTS, ckpt)
        check_memory(training_memory(s["cell"], 2, s["hidden"], 1, s["batch"], s["T"]),
                     f"training with --hidden {s['hidden']} --batch {s['batch']} --T {s['T']}")
        model = _model(ckpt, s, 2, 1, "the adding problem")
        opt = make_optimizer(model, s["optim"], s["lr"])
        start = session.restore(ckpt, opt, s, args.checkpoint)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"minigrad train adding: error: {exc}", file=sys.stderr)
        return 2
    T = s["T"]
    x_test, y_test = adding_problem(1000, T, seed=[ADDING_TEST_SEED, T])

    def loss_at(step: int) -> Callable[[], mg.Tensor]:
        x, y = adding_problem(s["batch"], T, seed=batch_rng(s["seed"], step))
        return lambda: adding_loss(model, x, y)

    print(f"adding problem T={T}: {s['cell']} n_a={s['hidden']}, batch {s['batch']}, "
          f"{s['optim']} lr={s['lr']}, clip {s['clip']}, seed {s['seed']}; "
          f"baseline (always 1) MSE {ADDING_BASELINE_MSE:.3f}")
    base = ADDING_BASELINE_MSE
    r = session.fit(
        model, opt, s, start, loss_at, lambda v: f"mse {v:.4f} (baseline {base:.3f})",
        f"adding {s['cell']} T={T}", session.saver(args, model, opt, "adding", s),
        lambda *_: None, args.save_every)
    with mg.no_grad():
        test = adding_loss(model, x_test, y_test).item()
    vs = versus(test, base) if math.isfinite(test) else "not comparable to"
    print(f"test MSE {test:.4f} on 1000 held-out sequences, {vs} the baseline "
          f"{base:.3f}; {r.step} steps ({r.step - start} now) in {r.seconds:.1f} s")
    return r.status


def run_charlm(args: argparse.Namespace) -> int:
    """``minigrad train charlm``: returns the exit status."""
    try:
        ckpt = session.load_for_resume(args, "charlm")
        s = session.settings(args, CHARLM_DEFAULTS, ckpt)
        if s["corpus"]:  # stored absolute, so --resume works from any directory
            s["corpus"] = os.path.abspath(s["corpus"])
        text = load_corpus(s["corpus"])
        vocab = ckpt.vocab if ckpt and ckpt.vocab else CharVocab.from_text(text)
        ids = vocab.encode(text)
        check_memory(training_memory(s["cell"], vocab.size, s["hidden"], vocab.size, s["batch"],
                                     s["seq"], dense_input=False),
                     f"training with --hidden {s['hidden']} --batch {s['batch']} "
                     f"--seq {s['seq']}")
        model = _model(ckpt, s, vocab.size, vocab.size, f"a vocabulary of {vocab.size}")
        opt = make_optimizer(model, s["optim"], s["lr"])
        start = session.restore(ckpt, opt, s, args.checkpoint)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"minigrad train charlm: error: {exc}", file=sys.stderr)
        return 2
    train_ids, val_ids = split_ids(ids)
    h = unigram_entropy(train_ids, vocab.size)
    print(f"corpus: {s['corpus'] or DEFAULT_CORPUS_NAME}: {len(text):,} characters, "
          f"{vocab.size} distinct; unigram entropy {h:.3f} nats/char; {len(val_ids):,} held out")
    print(f"{s['cell']} n_a={s['hidden']}, seq {s['seq']}, batch {s['batch']}, {s['optim']} "
          f"lr={s['lr']}, clip {s['clip']}, seed {s['seed']}")

    def loss_at(step: int) -> Callable[[], mg.Tensor]:
        x, y = char_batch(train_ids, s["batch"], s["seq"], batch_rng(s["seed"], step))
        return lambda: charlm_loss(model, x, y)

    def every(step: int, bar: Progress) -> None:
        if args.sample_every and step % args.sample_every == 0:
            text = generate(model, vocab, 120, rng=batch_rng(s["seed"], step, 1))
            bar.write(f"--- sample at step {step} ({bar.postfix}) ---\n{text}\n---")

    r = session.fit(
        model, opt, s, start, loss_at, lambda v: f"loss {v:.3f} nats/char (unigram {h:.3f})",
        f"charlm {s['cell']}", session.saver(args, model, opt, "charlm", s, vocab), every,
        args.save_every)
    loss = r.loss
    msg = f"train loss {loss:.3f} nats/char (smoothed)"
    if len(val_ids) >= 2:
        with mg.no_grad():
            vx, vy = char_batch(val_ids, 64, s["seq"], np.random.default_rng(VAL_SEED))
            loss = charlm_loss(model, vx, vy).item()
        msg = f"held-out loss {loss:.3f} nats/char, " + msg
    vs = f": {versus(loss, h)}" if math.isfinite(loss) and h > 0 else ""
    print(f"{msg}; unigram baseline {h:.3f}{vs}; "
          f"{r.step} steps ({r.step - start} now) in {r.seconds:.1f} s")
    return r.status


# --------------------------------------------------------------------------- argparse


def _common(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    d = defaults
    p.add_argument("--cell", choices=cell_names(), help=f"recurrent cell (default {d['cell']})")
    for key, what in (("hidden", "state size n_a"), ("batch", "sequences per step"),
                      ("steps", "total training steps")):
        p.add_argument(f"--{key}", type=positive_int, help=f"{what} (default {d[key]})")
    p.add_argument("--lr", type=positive_float,
                   help=f"learning rate (default {d['lr']['adam']} for Adam, "
                        f"{d['lr']['sgd']} for SGD)")
    p.add_argument("--clip", type=nonneg_float,
                   help=f"clip the gradient norm (Adam) or each entry to ±clip (SGD); 0 = off "
                        f"(default {d['clip']})")
    p.add_argument("--optim", choices=("adam", "sgd"), help="optimizer (default adam)")
    p.add_argument("--fused", action="store_const", const=True,
                   help="run the recurrence as one fused Numba record (same numbers, faster)")
    p.add_argument("--seed", type=nonneg_int,
                   help="seed of the weights and batches (default: random)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="write an .npz checkpoint (a model file plus the training state) here")
    p.add_argument("--save-every", type=nonneg_int, default=SAVE_EVERY, metavar="N",
                   help=f"also write the checkpoint every N steps (default {SAVE_EVERY}; 0 = "
                        f"only at the end)")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint (weights, optimizer state, step; the run's "
                        "settings come from it), or train the weights of a model file")


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand with its tasks ``adding`` and ``charlm``."""
    train = subparsers.add_parser("train", help="train a model on the adding problem or text",
                                  description="Train a recurrent model and watch it learn.")
    tasks = train.add_subparsers(dest="task", metavar="{adding,charlm}", required=True)
    a = tasks.add_parser("adding", help="the adding problem (long-range memory)",
                         description="Adding problem: sum the two marked values of a sequence.")
    _common(a, ADDING_DEFAULTS)
    a.add_argument("--T", type=int_at_least(2, " (one marked value in each half)"),
                   help="sequence length (default 50)")
    a.set_defaults(func=run_adding)
    c = tasks.add_parser("charlm", help="a character-level language model",
                         description="Character-level language model; default corpus: "
                                     f"{DEFAULT_CORPUS_NAME}.")
    _common(c, CHARLM_DEFAULTS)
    c.add_argument("--corpus", metavar="PATH", help="a UTF-8 text file (default: built in)")
    c.add_argument("--seq", type=positive_int, help="characters per sequence T_x (default 50)")
    c.add_argument("--sample-every", type=nonneg_int, default=0, metavar="K",
                   help="print a short sample every K steps (default: never)")
    c.set_defaults(func=run_charlm)


if __name__ == "__main__":  # pragma: no cover - for running without minigrad.cli
    parser = argparse.ArgumentParser(prog="minigrad")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
