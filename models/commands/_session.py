"""The plumbing of a ``minigrad train`` run: settings, resuming, the step loop and saving.

A run's settings come from the command line, else from the checkpoint being resumed, else the
defaults. The loop stops at the first non-finite loss or parameter (and says what diverged),
writes the checkpoint every ``--save-every`` steps and at the end, and never writes non-finite
weights or an update torn by Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import minigrad as mg
from models._io import check_writable
from models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from models.commands._common import INTERRUPTED, Progress, cell_names
from models.data import CharVocab
from models.recurrent import RecurrentModel
from models.resources import single_threaded_blas
from models.training import divergence, train_step

__all__ = ["LOCKED", "FitResult", "fit", "load_for_resume", "restore", "saver", "settings"]

# Settings that define the run: on --resume they come from the checkpoint, and must not differ.
LOCKED = ("cell", "hidden", "seed", "optim", "T")


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(ok: Callable[[float], bool]) -> Callable[[Any], bool]:
    return lambda v: (isinstance(v, int | float) and not isinstance(v, bool)
                      and math.isfinite(v) and ok(v))


#: What a stored setting must be (as the command line's own validators require).
STORED = {
    "cell": ("one of " + ", ".join(cell_names()), lambda v: v in cell_names()),
    "optim": ("'adam' or 'sgd'", lambda v: v in ("adam", "sgd")),
    "hidden": ("a positive integer", _int_at_least(1)),
    "batch": ("a positive integer", _int_at_least(1)),
    "steps": ("a positive integer", _int_at_least(1)),
    "seq": ("a positive integer", _int_at_least(1)),
    "T": ("an integer >= 2", _int_at_least(2)),
    "seed": ("an integer >= 0", _int_at_least(0)),
    "lr": ("a finite number > 0", _number(lambda v: v > 0)),
    "clip": ("a finite number >= 0", _number(lambda v: v >= 0)),
    "fused": ("true or false", lambda v: isinstance(v, bool)),
    "corpus": ("a path or null", lambda v: v is None or isinstance(v, str)),
}


def _stored_settings(ckpt: Checkpoint | None, path: str) -> dict[str, Any]:
    """The settings a checkpoint was trained with, each checked; a plain model file gives its
    cell and size only."""
    if ckpt is None:
        return {}
    if not ckpt.has_training_state:
        return {"cell": ckpt.model.kind.lower(), "hidden": ckpt.model.n_a}
    stored = ckpt.meta.get("settings", {})
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: the stored settings must be a JSON object")
    for key, value in stored.items():
        if key in STORED and not STORED[key][1](value):
            raise ValueError(f"{path}: the stored setting {key} = {value!r} must be "
                             f"{STORED[key][0]}")
    return stored


def settings(args: argparse.Namespace, defaults: dict[str, Any],
             ckpt: Checkpoint | None) -> dict[str, Any]:
    """Command-line values, else the checkpoint's (on --resume), else the defaults."""
    stored = _stored_settings(ckpt, args.checkpoint)
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


def load_for_resume(args: argparse.Namespace, task: str) -> Checkpoint | None:
    """The checkpoint (or model file) to resume from, or None; first fail if --checkpoint
    cannot be written."""
    if args.checkpoint:
        check_writable(args.checkpoint, "the checkpoint")
    if not args.resume:
        return None
    if not args.checkpoint:
        raise ValueError("--resume needs --checkpoint PATH")
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.has_training_state and ckpt.meta.get("task") != task:
        raise ValueError(f"{args.checkpoint} is a {ckpt.meta.get('task')!r} checkpoint, "
                         f"not {task!r}")
    if ckpt.model.output != "linear":
        raise ValueError(f"{args.checkpoint} holds a model with output={ckpt.model.output!r}; "
                         f"training needs output='linear'")
    if not ckpt.has_training_state:
        print(f"{args.checkpoint} is a model file without optimizer state: training its "
              f"weights from step 0 with a new optimizer", file=sys.stderr)
    return ckpt


def restore(ckpt: Checkpoint | None, opt: Any, s: dict[str, Any], path: str) -> int:
    """Load the optimizer state (then apply the current learning rate); the step to start at."""
    if ckpt is None or not ckpt.has_training_state:
        return 0
    if ckpt.optimizer_state is None:
        raise ValueError(f"{path} holds no optimizer state; cannot resume exactly")
    if s["steps"] < ckpt.step:
        raise ValueError(f"--steps {s['steps']} is below the checkpoint's step {ckpt.step}; "
                         f"--steps is the total number of steps of the run")
    state = ckpt.optimizer_state
    step = state.get("step") if isinstance(state, dict) else None
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"{path}: the optimizer step must be an integer >= 0; got {step!r}")
    try:
        opt.load_state_dict(state)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: the optimizer state does not fit {s['optim']}: {exc}") \
            from None
    if hasattr(opt, "lr"):
        opt.lr = s["lr"]
    return ckpt.step


Saver = Callable[[int, Callable[[str], Any]], bool]


def saver(args: argparse.Namespace, model: RecurrentModel, opt: Any, task: str,
          s: dict[str, Any], vocab: CharVocab | None = None) -> Saver:
    """``save(step, say)``: write the checkpoint if asked for; False (after saying why) if
    that failed. Non-finite weights are never written."""
    def save(step: int, say: Callable[[str], Any]) -> bool:
        if not args.checkpoint:
            return True
        bad = divergence(model, 0.0)
        if bad:
            print(f"minigrad train {task}: error: the checkpoint was not written: {bad}",
                  file=sys.stderr)
            return False
        try:
            save_checkpoint(args.checkpoint, model, step=step, optimizer=opt, vocab=vocab,
                            meta={"task": task, "settings": s})
        except OSError as exc:
            print(f"minigrad train {task}: error: the checkpoint was not written: {exc}",
                  file=sys.stderr)
            return False
        say(f"checkpoint: {args.checkpoint} (step {step})")
        return True
    return save


@dataclass
class FitResult:
    """What a run did: steps done, smoothed loss, seconds, exit status."""

    step: int
    loss: float
    seconds: float
    status: int


def fit(model: RecurrentModel, opt: Any, s: dict[str, Any], start: int,
        loss_at: Callable[[int], Callable[[], mg.Tensor]], show: Callable[[float], str],
        desc: str, save: Saver, every: Callable[[int, Progress], None],
        save_every: int = 0) -> FitResult:
    """Steps ``start .. s["steps"]``, saving every ``save_every`` steps and at the end.

    Exit status: 0; 1 if the run diverged (nothing saved) or a checkpoint could not be
    written; 130 after Ctrl-C (saved unless an update was torn)."""
    bar = Progress(s["steps"], desc, initial=start)
    ema, weight, step, t0 = 0.0, 0.0, start, time.perf_counter()
    interrupted, diverged, saved_ok = False, None, True
    counted = getattr(opt, "step_count", 0) - start
    threads = single_threaded_blas() if s["fused"] else contextlib.nullcontext()
    try:
        with threads:
            while step < s["steps"]:
                loss = train_step(model, opt, loss_at(step), s["clip"], s["optim"])
                diverged = divergence(model, loss)
                if diverged:
                    break
                step += 1
                ema, weight = 0.98 * ema + 0.02 * loss, 0.98 * weight + 0.02
                bar.update(postfix=show(ema / weight))
                every(step, bar)
                if save_every and step % save_every == 0 and step < s["steps"]:
                    saved_ok = save(step, bar.write) and saved_ok
    except KeyboardInterrupt:
        interrupted = True
        bar.write(f"interrupted at step {step}")
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    smoothed = ema / weight if weight else float("nan")
    if diverged:
        print(f"minigrad train {desc}: error: training diverged at step {step + 1}: {diverged}. "
              f"Lower the learning rate (--lr, now {s['lr']:g}) or clip harder (--clip, now "
              f"{s['clip']:g}); no checkpoint written at this step", file=sys.stderr)
        return FitResult(step, smoothed, seconds, 1)
    if getattr(opt, "step_count", 0) - counted != step:  # Ctrl-C inside an optimizer update
        print("the interrupted update was partly applied: no checkpoint written", file=sys.stderr)
    else:
        saved_ok = save(step, print) and saved_ok
    status = INTERRUPTED if interrupted else 0 if saved_ok else 1
    return FitResult(step, smoothed, seconds, status)
