"""Subcommands of the ``minigrad`` command line that build models.

Each module here has ``register(subparsers)``, which adds its argparse parsers with
``set_defaults(func=run)``; ``minigrad.cli`` imports them lazily (the one place where minigrad
reaches into models/). ``run(args)`` returns the exit status.

* :mod:`models.commands.gradcheck` — ``minigrad gradcheck``: check BPTT against numerics.
* :mod:`models.commands.train` — ``minigrad train adding|charlm`` (the run's plumbing:
  :mod:`models.commands._session`).
* :mod:`models.commands.sample` — ``minigrad sample``: text from a character model.

The commands only parse arguments and print; what they compute lives in library modules that
notebooks import too: :mod:`models.gradcheck_problem`, :mod:`models.training`,
:mod:`models.sampling`, :mod:`models.checkpoint`.
"""
