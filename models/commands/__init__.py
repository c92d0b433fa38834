"""Subcommands of the ``minigrad`` command line that build models.

Each module here has ``register(subparsers)``, which adds its argparse parsers with
``set_defaults(func=run)``; ``minigrad.cli`` imports them lazily (the one place where minigrad
reaches into models/). ``run(args)`` returns the exit status.

* :mod:`models.commands.gradcheck` — ``minigrad gradcheck``: check BPTT against numerics.
* :mod:`models.commands.train` — ``minigrad train`` and ``minigrad sample``.
"""
