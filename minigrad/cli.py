"""The `minigrad` command: `minigrad gradcheck | audit | train | sample | demo`.

The subcommands that build models live in the application package `models` (its
`models.commands` modules) and are imported only when the command line runs: this entry point
is the one place where minigrad reaches into models/. If a `models` module of the user's own
(say a `models.py` in the current directory) hides that package, the command says so.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

#: subcommand modules; each has `register(subparsers)` adding its parsers with `func=run`.
COMMAND_MODULES = ("models.commands.gradcheck", "models.commands.audit", "models.commands.train",
                   "models.commands.sample")
#: the subcommands they add, for a clear message when they cannot be loaded.
MODEL_COMMANDS = ("gradcheck", "audit", "train", "sample")


def _demo(args: argparse.Namespace) -> int:
    """A 10-second tour: a tensor, an op chain, its tape, its gradient."""
    import numpy as np

    import minigrad as mg

    w = mg.Tensor(np.array([[0.5, -1.0, 2.0]]), requires_grad=True, name="w")
    x = mg.Tensor(np.array([[1.0], [2.0], [3.0]]), name="x")
    y = mg.sigmoid(w @ x).sum()
    print("y = sum(sigmoid(w @ x)) =", y.item())
    mg.show_tape(y)
    y.backward()
    print("dy/dw =", w.grad)
    return 0


def shadowing_models() -> str | None:
    """The file of a `models` module that is not the package installed beside minigrad (a
    user's own `models.py` earlier on sys.path), or None."""
    expected = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
    try:
        spec = importlib.util.find_spec("models")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    found = os.path.dirname(os.path.abspath(spec.origin)) if spec.submodule_search_locations \
        else os.path.abspath(spec.origin)
    if not os.path.isdir(expected) or os.path.realpath(found) == os.path.realpath(expected):
        return None
    return spec.origin


def build_parser() -> tuple[argparse.ArgumentParser, str | None]:
    """The argument parser with every subcommand registered, and why the model subcommands
    are missing (None if they are there)."""
    parser = argparse.ArgumentParser(
        prog="minigrad", description="minigrad: autograd, RNN/GRU/LSTM and gradient checks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="a short tour: a tensor, its tape and its gradient")
    demo.set_defaults(func=_demo)
    shadow = shadowing_models()
    if shadow is not None:
        return parser, (f"the module {shadow} hides minigrad's models package (it comes first "
                        f"on the import path, e.g. from the current directory); rename it or "
                        f"run minigrad from another directory")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # models/ not installed alongside: keep the rest working
            return parser, f"{name} cannot be imported ({err})"
        module.register(sub)
    return parser, None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `minigrad` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, missing = build_parser()
    if missing is not None:
        command = next((a for a in argv if not a.startswith("-")), None)
        if command in MODEL_COMMANDS:
            print(f"minigrad {command}: error: {missing}", file=sys.stderr)
            return 2
        print(f"minigrad: note: the gradcheck, audit, train and sample commands are unavailable: "
              f"{missing}", file=sys.stderr)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
