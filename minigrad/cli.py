"""The `minigrad` command: `minigrad gradcheck | train | sample | demo`.

The subcommands that build models live in `models.commands` and are imported only when the
command line runs: this is the one place where minigrad reaches into models/.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand modules; each has `register(subparsers)` adding its parsers with `func=run`.
COMMAND_MODULES = ("models.commands.gradcheck", "models.commands.train")


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="minigrad", description="minigrad: autograd, RNN/GRU/LSTM and gradient checks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="a short tour: a tensor, its tape and its gradient")
    demo.set_defaults(func=_demo)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # models/ not installed alongside: keep the rest working
            print(f"minigrad: {name} unavailable ({err})", file=sys.stderr)
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `minigrad` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
