"""Pieces shared by the ``minigrad`` subcommands: the cells' command-line names, a progress bar,
argparse types that reject out-of-range values with a clear message, and how an interrupted
command ends."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from models.recurrent import model_kinds

__all__ = ["INTERRUPTED", "Progress", "add_problem_arguments", "cell_names", "int_at_least",
           "interrupted", "nonneg_float", "nonneg_int", "positive_float", "positive_int",
           "verdict", "versus"]

#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def cell_names() -> list[str]:
    """The registered model kinds as the command line spells them: ``["gru", "lstm", "rnn"]``."""
    return [kind.lower() for kind in model_kinds()]


def add_problem_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """The arguments that pick the models and the problem: --model --dims --steps --batch
    --seed (`what` is the verb of the --model help, e.g. "check")."""
    from models.gradcheck_problem import DIMS  # (the library module the commands build on)

    p.add_argument("--model", choices=[*cell_names(), "all"], default="all",
                   help=f"which model to {what} (default: all)")
    p.add_argument("--dims", choices=list(DIMS), default="notes",
                   help="notes: the notes' sizes (default); small: n_x=3 n_a=4 n_y=2 m=2 T_x=6")
    p.add_argument("--steps", type=positive_int, default=None, metavar="T",
                   help="sequence length T_x (default 10 for notes, 6 for small)")
    p.add_argument("--batch", type=positive_int, default=None, metavar="m",
                   help="batch size m (default 4 for notes, 2 for small)")
    p.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed of weights, data and the random directions (an integer >= 0)")


def verdict(failed: list[str], passed: str, seconds: float) -> int:
    """Print the last line of a run over the models; the exit status (1 if any failed)."""
    line = passed if not failed else f"FAILED: {', '.join(failed)}"
    print(f"\n{line} ({seconds:.1f} s)", flush=True)
    return 1 if failed else 0


def interrupted(command: str) -> int:
    """Say on stderr that ``command`` was stopped by Ctrl-C; the exit status to return."""
    print(f"\n{command}: interrupted (Ctrl-C)", file=sys.stderr, flush=True)
    return INTERRUPTED


class Progress:
    """A tqdm bar on stderr when tqdm is importable, else a plain line on stderr every ``every``
    of the run (``"<desc>: 50% (<unit> 20/40)  <postfix>"``); nothing if not ``enabled``.

    ``initial`` units are already done (a resumed run); ``start_message`` is printed first in
    plain mode.
    """

    def __init__(self, total: int, desc: str, *, initial: int = 0, unit: str = "step",
                 every: float = 0.05, enabled: bool = True, leave: bool = True,
                 mininterval: float = 0.5, start_message: str | None = None) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.enabled, self.every = enabled, every
        self.postfix = ""
        self.bar: Any = None
        # the next multiple of `every` (a fraction of total) at which a plain line is printed
        self._next = (int(initial / max(total, 1) / every) + 1) * every
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            if start_message:
                print(start_message, file=sys.stderr, flush=True)
            return
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr,
                        leave=leave, mininterval=mininterval, dynamic_ncols=True)

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        """``n`` more units done; ``postfix`` (e.g. the current loss) is shown beside the bar."""
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        if self.bar is not None:
            if postfix is not None:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(n)
        elif self.enabled and self.n >= self._next * self.total - 1e-9:
            pct = int(100 * self.n / max(self.total, 1))
            tail = f"  {self.postfix}" if self.postfix else ""
            print(f"{self.desc}: {pct}% ({self.unit} {self.n}/{self.total}){tail}",
                  file=sys.stderr, flush=True)
            while self._next * self.total <= self.n + 1e-9:
                self._next += self.every

    def write(self, text: str) -> None:
        """Print ``text`` on stdout without breaking the bar."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def versus(value: float, baseline: float) -> str:
    """How ``value`` (a loss) compares to ``baseline``: ``"12.3% below"`` or ``"4.0% above"``."""
    rel = 1.0 - value / baseline
    return f"{100 * abs(rel):.1f}% {'below' if rel >= 0 else 'above'}"


# --------------------------------------------------------------------------- argparse types


def _checked(kind: type, ok: Any, desc: str) -> Any:
    """An argparse ``type=``: parse with ``kind``, then require ``ok(value)``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {desc}; got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {desc}; got {text}")
        return value

    parse.__name__ = desc  # argparse names the type by it in some messages
    return parse


positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
nonneg_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _checked(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
nonneg_float = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def int_at_least(low: int, why: str = "") -> Any:
    """An argparse ``type=`` for integers ``>= low``."""
    return _checked(int, lambda v: v >= low, f"an integer >= {low}{why}")
