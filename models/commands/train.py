"""``minigrad train adding|charlm`` and ``minigrad sample``: training that people can watch.

* ``train adding`` — the adding problem (:func:`models.data.adding_problem`): the model reads the
  whole sequence (``output="linear"``, ``n_y = 1``) and its last output ŷ⟨T⟩ is the prediction;
  loss ``MSE(ŷ[:, :, -1], y)``; Adam with gradient-norm clipping.
* ``train charlm`` — a character-level language model on a corpus that needs no download:
  logits ``(V, m, T_x)`` from token ids ``(m, T_x)``; loss = cross-entropy per character in nats,
  ``J = -(1/(m T_x)) Σ_{i,t} log softmax(z⟨t⟩_i)[y⟨t⟩_i]``, shown beside the unigram baseline.
* ``sample`` — generate text from a charlm checkpoint, one step at a time, carrying the state.

Batch ``k`` of a run is drawn from ``batch_rng(seed, k)``, so a checkpoint's step count and seed
are its whole RNG state: training 2k steps equals training k, resuming, and training k more, to
the last bit. ``--steps`` is the total: rerunning an interrupted command with ``--resume``
finishes it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
import models
from minigrad import optim
from models._io import check_writable
from models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from models.commands import _common as common
from models.commands._common import CELLS, Progress, versus
from models.data import (
    ADDING_BASELINE_MSE,
    DEFAULT_CORPUS_NAME,
    CharVocab,
    adding_problem,
    batch_rng,
    char_batch,
    load_corpus,
    one_hot,
    split_ids,
    unigram_entropy,
)

__all__ = ["adding_loss", "charlm_loss", "generate", "make_model", "make_optimizer", "register",
           "run_adding", "run_charlm", "run_sample", "train_step"]

ADDING_TEST_SEED = 20160  # the fixed held-out set: adding_problem(1000, T, seed=[this, T])
VAL_SEED = 1997           # the fixed held-out windows of the corpus' last 5%
# Settings that define the run: on --resume they come from the checkpoint, and must not differ.
LOCKED = ("cell", "hidden", "seed", "optim", "T")
ADDING_DEFAULTS = {"cell": "lstm", "T": 50, "hidden": 32, "batch": 32, "steps": 3000,
                   "lr": {"adam": 1e-2, "sgd": 0.1}, "clip": 1.0, "optim": "adam", "seed": None,
                   "fused": False}
CHARLM_DEFAULTS = {"cell": "lstm", "hidden": 128, "seq": 50, "batch": 32, "steps": 3000,
                   "lr": {"adam": 3e-3, "sgd": 2.0}, "clip": 5.0, "optim": "adam", "seed": None,
                   "corpus": None, "fused": False}


# --------------------------------------------------------------------------- building blocks


def make_model(cell: str, n_x: int, n_a: int, n_y: int, seed: int,
               fused: bool = False) -> models.RecurrentModel:
    """A ``cell`` model with linear outputs; the LSTM's forget-gate bias starts at 1."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}; got {cell!r}")
    extra: dict[str, Any] = {"forget_bias": 1.0} if cell == "lstm" else {}
    return CELLS[cell](n_x, n_a, n_y, output="linear", seed=seed, fused=fused, **extra)


def make_optimizer(model: models.RecurrentModel, kind: str, lr: float) -> Any:
    """Adam, or the course's plain SGD (then gradients are clipped element-wise to ±clip)."""
    if kind not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {kind!r}")
    return (optim.Adam if kind == "adam" else optim.SGD)(list(model.parameters().values()), lr=lr)


def adding_loss(model: models.RecurrentModel, x: np.ndarray, y: np.ndarray) -> mg.Tensor:
    """``MSE(ŷ⟨T⟩, y)``: the output at the last step, ``(1, m)``, against the sums ``(1, m)``."""
    return mg.mse(model(x)[:, :, -1], y)


def charlm_loss(model: models.RecurrentModel, x_ids: np.ndarray, y_ids: np.ndarray) -> mg.Tensor:
    """Cross-entropy in nats per character of the logits for ids ``(m, T_x)`` vs next ids."""
    logits = model(x_ids)
    m, T = x_ids.shape
    return mg.cross_entropy(logits, one_hot(y_ids, model.n_y), reduction="sum") / (m * T)


def train_step(model: models.RecurrentModel, opt: Any, loss_fn: Callable[[], mg.Tensor],
               clip: float, optim_kind: str) -> float:
    """One update: zero the gradients, J, backward, clip (norm for Adam, ±clip for SGD), step."""
    model.zero_grad()
    loss = loss_fn()
    loss.backward()
    params = list(model.parameters().values())
    if clip > 0:
        if optim_kind == "sgd":
            optim.clip_grad_value(params, clip)
        else:
            optim.clip_grad_norm(params, clip)
    opt.step()
    return float(loss.item())


def _settings(args: argparse.Namespace, defaults: dict[str, Any],
              ckpt: Checkpoint | None) -> dict[str, Any]:
    """Command-line values, else the checkpoint's (on --resume), else the defaults."""
    stored = ckpt.meta.get("settings", {}) if ckpt is not None else {}
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        given = getattr(args, key, None)
        if key in stored and given is not None and key in LOCKED and given != stored[key]:
            raise ValueError(f"--{key} {given} differs from the checkpoint's {stored[key]!r}; "
                             f"leave it out to resume, or start a new checkpoint")
        out[key] = given if given is not None else stored.get(key, default)
    if isinstance(out["lr"], dict):  # the default depends on the optimizer
        out["lr"] = out["lr"][out["optim"]]
    if out["seed"] is None:
        out["seed"] = int(np.random.SeedSequence().entropy % (1 << 31))
    return out


def _load_for_resume(args: argparse.Namespace, task: str) -> Checkpoint | None:
    """The checkpoint to resume from, or None; first fail if --checkpoint cannot be written."""
    if args.checkpoint:
        check_writable(args.checkpoint, "the checkpoint")
    if not args.resume:
        return None
    if not args.checkpoint:
        raise ValueError("--resume needs --checkpoint PATH")
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.meta.get("task") != task:
        raise ValueError(f"{args.checkpoint} is a {ckpt.meta.get('task')!r} checkpoint, "
                         f"not {task!r}")
    return ckpt


def _fit(model: models.RecurrentModel, opt: Any, s: dict[str, Any], start: int,
         loss_at: Callable[[int], Callable[[], mg.Tensor]], show: Callable[[float], str],
         desc: str, save: Callable[[int], bool], every: Callable[[int, Progress], None]
         ) -> tuple[int, float, float, int]:
    """Steps ``start .. s["steps"]``, then ``save`` (unless an update was torn by Ctrl-C).

    Returns (steps done, smoothed loss, seconds, exit status: 130 after Ctrl-C, 1 if the
    checkpoint could not be written, else 0).
    """
    bar = Progress(s["steps"], desc, initial=start)
    ema, weight, step, t0 = 0.0, 0.0, start, time.perf_counter()
    interrupted, counted = False, getattr(opt, "step_count", 0) - start
    try:
        while step < s["steps"]:
            loss = train_step(model, opt, loss_at(step), s["clip"], s["optim"])
            step += 1
            ema, weight = 0.98 * ema + 0.02 * loss, 0.98 * weight + 0.02
            bar.update(postfix=show(ema / weight))
            every(step, bar)
    except KeyboardInterrupt:
        interrupted = True
        bar.write(f"interrupted at step {step}")
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    saved = True
    if getattr(opt, "step_count", 0) - counted != step:  # Ctrl-C inside an optimizer update
        print("the interrupted update was partly applied: no checkpoint written", file=sys.stderr)
    else:
        saved = save(step)
    status = 130 if interrupted else 0 if saved else 1
    return step, (ema / weight if weight else float("nan")), seconds, status


def _saver(args: argparse.Namespace, model: models.RecurrentModel, opt: Any, task: str,
           s: dict[str, Any], vocab: CharVocab | None = None) -> Callable[[int], bool]:
    def save(step: int) -> bool:
        """Write the checkpoint if asked for; False (after saying why) if that failed."""
        if not args.checkpoint:
            return True
        try:
            save_checkpoint(args.checkpoint, model, step=step, optimizer=opt, vocab=vocab,
                            meta={"task": task, "settings": s})
        except OSError as exc:
            print(f"minigrad train {task}: error: the checkpoint was not written: {exc}",
                  file=sys.stderr)
            return False
        print(f"checkpoint: {args.checkpoint} (step {step})")
        return True
    return save


def _restore(ckpt: Checkpoint | None, opt: Any, s: dict[str, Any]) -> int:
    """Load the optimizer state (then apply the current learning rate); the step to start at."""
    if ckpt is None:
        return 0
    if ckpt.optimizer_state is None:
        raise ValueError("the checkpoint holds no optimizer state; cannot resume exactly")
    if s["steps"] < ckpt.step:
        raise ValueError(f"--steps {s['steps']} is below the checkpoint's step {ckpt.step}; "
                         f"--steps is the total number of steps of the run")
    opt.load_state_dict(ckpt.optimizer_state)
    if hasattr(opt, "lr"):
        opt.lr = s["lr"]
    return ckpt.step


# --------------------------------------------------------------------------- the commands


def run_adding(args: argparse.Namespace) -> int:
    """``minigrad train adding``: returns the exit status."""
    try:
        ckpt = _load_for_resume(args, "adding")
        s = _settings(args, ADDING_DEFAULTS, ckpt)
        model = ckpt.model if ckpt else make_model(s["cell"], 2, s["hidden"], 1, s["seed"])
        model.fused = bool(s["fused"])  # an execution choice: same function, either way
        opt = make_optimizer(model, s["optim"], s["lr"])
        start = _restore(ckpt, opt, s)
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
    step, _, seconds, status = _fit(
        model, opt, s, start, loss_at, lambda v: f"mse {v:.4f} (baseline {base:.3f})",
        f"adding {s['cell']} T={T}", _saver(args, model, opt, "adding", s), lambda *_: None)
    with mg.no_grad():
        test = adding_loss(model, x_test, y_test).item()
    print(f"test MSE {test:.4f} on 1000 held-out sequences, {versus(test, base)} the baseline "
          f"{base:.3f}; {step} steps ({step - start} now) in {seconds:.1f} s")
    return status


def generate(model: models.RecurrentModel, vocab: CharVocab, length: int, *,
             temperature: float = 1.0, prime: str = "", rng: np.random.Generator) -> str:
    """``length`` characters sampled one step at a time after reading ``prime``.

    The prime (a newline if empty) is read in one call; then each sampled id is fed back with the
    carried states ``a⟨t⟩`` (and ``c⟨t⟩``). Probabilities ``softmax(z / temperature)``;
    ``temperature = 0`` takes the most likely character.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; got {temperature}")
    start = prime or ("\n" if "\n" in vocab else vocab.chars[0])
    ids = vocab.encode(start).reshape(1, -1)
    out: list[int] = []
    with mg.no_grad():
        a = c = None
        for _ in range(length):
            y_hat, st = model(ids, a, c, return_states=True)
            a = st.a[-1]  # the GRU's c⟨t⟩ is its a⟨t⟩: carry it once, as a0
            c = st.c[-1] if st.c is not None and st.c[-1] is not a else None
            z = np.real(y_hat.data[:, 0, -1]).astype(np.float64)
            if temperature == 0:
                nxt = int(np.argmax(z))
            else:
                p = np.exp((z - z.max()) / temperature)
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            ids = np.array([[nxt]], dtype=np.int64)
    return prime + vocab.decode(out)


def run_charlm(args: argparse.Namespace) -> int:
    """``minigrad train charlm``: returns the exit status."""
    try:
        ckpt = _load_for_resume(args, "charlm")
        s = _settings(args, CHARLM_DEFAULTS, ckpt)
        if s["corpus"]:  # stored absolute, so --resume works from any directory
            s["corpus"] = os.path.abspath(s["corpus"])
        text = load_corpus(s["corpus"])
        vocab = ckpt.vocab if ckpt and ckpt.vocab else CharVocab.from_text(text)
        ids = vocab.encode(text)
        model = ckpt.model if ckpt else make_model(s["cell"], vocab.size, s["hidden"], vocab.size,
                                                   s["seed"])
        model.fused = bool(s["fused"])
        opt = make_optimizer(model, s["optim"], s["lr"])
        start = _restore(ckpt, opt, s)
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

    save = _saver(args, model, opt, "charlm", s, vocab)
    step, loss, seconds, status = _fit(
        model, opt, s, start, loss_at, lambda v: f"loss {v:.3f} nats/char (unigram {h:.3f})",
        f"charlm {s['cell']}", save, every)
    msg = f"train loss {loss:.3f} nats/char (smoothed)"
    if len(val_ids) >= 2:
        with mg.no_grad():
            vx, vy = char_batch(val_ids, 64, s["seq"], np.random.default_rng(VAL_SEED))
            loss = charlm_loss(model, vx, vy).item()
        msg = f"held-out loss {loss:.3f} nats/char, " + msg
    vs = f": {versus(loss, h)}" if math.isfinite(loss) and h > 0 else ""
    print(f"{msg}; unigram baseline {h:.3f}{vs}; "
          f"{step} steps ({step - start} now) in {seconds:.1f} s")
    return status


def run_sample(args: argparse.Namespace) -> int:
    """``minigrad sample``: print text generated by a charlm checkpoint."""
    try:
        ckpt = load_checkpoint(args.checkpoint)
        if ckpt.vocab is None:
            raise ValueError(f"{args.checkpoint} holds no vocabulary; sample needs a checkpoint "
                             "written by 'minigrad train charlm'")
        text = generate(ckpt.model, ckpt.vocab, args.length, temperature=args.temperature,
                        prime=args.prime, rng=np.random.default_rng(args.seed))
    except (ValueError, OSError) as exc:
        print(f"minigrad sample: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


# --------------------------------------------------------------------------- argparse


def _common(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    d = defaults
    p.add_argument("--cell", choices=sorted(CELLS), help=f"recurrent cell (default {d['cell']})")
    for key, what in (("hidden", "state size n_a"), ("batch", "sequences per step"),
                      ("steps", "total training steps")):
        p.add_argument(f"--{key}", type=common.positive_int, help=f"{what} (default {d[key]})")
    p.add_argument("--lr", type=common.positive_float,
                   help=f"learning rate (default {d['lr']['adam']} for Adam, "
                        f"{d['lr']['sgd']} for SGD)")
    p.add_argument("--clip", type=common.nonneg_float,
                   help=f"clip the gradient norm (Adam) or each entry to ±clip (SGD); 0 = off "
                        f"(default {d['clip']})")
    p.add_argument("--optim", choices=("adam", "sgd"), help="optimizer (default adam)")
    p.add_argument("--fused", action="store_const", const=True,
                   help="run the recurrence as one fused Numba record (same numbers, faster)")
    p.add_argument("--seed", type=common.nonneg_int,
                   help="seed of the weights and batches (default: random)")
    p.add_argument("--checkpoint", metavar="PATH", help="write an .npz checkpoint here at the end")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint (weights, optimizer state, step); the "
                        "run's settings come from it")


def register(subparsers: Any) -> None:
    """Add the ``train`` (with ``adding`` and ``charlm``) and ``sample`` subcommands."""
    train = subparsers.add_parser("train", help="train a model on the adding problem or text",
                                  description="Train a recurrent model and watch it learn.")
    tasks = train.add_subparsers(dest="task", metavar="{adding,charlm}", required=True)
    a = tasks.add_parser("adding", help="the adding problem (long-range memory)",
                         description="Adding problem: sum the two marked values of a sequence.")
    _common(a, ADDING_DEFAULTS)
    a.add_argument("--T", type=common.int_at_least(2, " (one marked value in each half)"),
                   help="sequence length (default 50)")
    a.set_defaults(func=run_adding)
    c = tasks.add_parser("charlm", help="a character-level language model",
                         description="Character-level language model; default corpus: "
                                     f"{DEFAULT_CORPUS_NAME}.")
    _common(c, CHARLM_DEFAULTS)
    c.add_argument("--corpus", metavar="PATH", help="a UTF-8 text file (default: built in)")
    c.add_argument("--seq", type=common.positive_int,
                   help="characters per sequence T_x (default 50)")
    c.add_argument("--sample-every", type=common.nonneg_int, default=0, metavar="K",
                   help="print a short sample every K steps (default: never)")
    c.set_defaults(func=run_charlm)
    s = subparsers.add_parser("sample", help="generate text from a charlm checkpoint")
    s.add_argument("--checkpoint", metavar="PATH", required=True)
    s.add_argument("--length", type=common.nonneg_int, default=200, help="characters to generate")
    s.add_argument("--temperature", type=common.nonneg_float, default=1.0,
                   help="softmax temperature; 0 = greedy")
    s.add_argument("--prime", default="", help="text to start from (printed first)")
    s.add_argument("--seed", type=common.nonneg_int, default=None, help="sampling seed")
    s.set_defaults(func=run_sample)


if __name__ == "__main__":  # pragma: no cover - for running without minigrad.cli
    parser = argparse.ArgumentParser(prog="minigrad")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
