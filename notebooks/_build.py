"""Build, execute and export the tutorial notebooks.

The committed ``.ipynb`` files are the source of truth and carry their outputs. To change one,
either edit it in Jupyter and re-execute it here, or round-trip it through a plain-text
"percent" source (the format jupytext calls ``py:percent``)::

    python notebooks/_build.py export 03_gru > /tmp/03_gru.py     # notebook -> source
    $EDITOR /tmp/03_gru.py
    python notebooks/_build.py build /tmp/03_gru.py               # source -> notebook, executed
    python notebooks/_build.py run                                # re-execute every notebook

In a source file ``# %%`` starts a code cell and ``# %% [markdown]`` a Markdown cell whose
lines are written as comments (``# `` is stripped). Notebooks are executed top to bottom in a
fresh ``python3`` kernel started with this interpreter (``sys.executable``), in the
``notebooks/`` directory, with this checkout first on ``PYTHONPATH`` (so ``import minigrad``
imports this checkout's package, not whichever one is installed), exactly as
``tests/notebooks/test_notebooks.py`` executes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CODE, MARKDOWN = "# %%", "# %% [markdown]"


def source_to_notebook(text: str) -> nbformat.NotebookNode:
    """Parse a percent-format source into a notebook (outputs empty)."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if stripped == MARKDOWN:
            cells.append(("markdown", []))
        elif stripped == CODE:
            cells.append(("code", []))
        elif cells:
            cells[-1][1].append(line)
        # lines before the first marker (a module docstring, say) are not part of the notebook
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(body))
        elif body:
            nb.cells.append(nbformat.v4.new_code_cell(body))
    return nb


def notebook_to_source(nb: nbformat.NotebookNode) -> str:
    """The percent-format source of a notebook (outputs dropped)."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            body = "\n".join(f"# {ln}" if ln else "#" for ln in cell.source.splitlines())
            parts.append(f"{MARKDOWN}\n{body}\n")
        elif cell.cell_type == "code":
            parts.append(f"{CODE}\n{cell.source}\n")
    return "\n".join(parts)


def execute(nb: nbformat.NotebookNode, timeout: int = 300) -> float:
    """Run every cell in a fresh python3 kernel (cwd notebooks/); returns the seconds taken.

    The kernel is this interpreter: a ``python3`` kernelspec naming ``sys.executable``, with
    this checkout first on the kernel's PYTHONPATH, is put first on JUPYTER_PATH for the
    duration. Raises ``nbclient.exceptions.CellExecutionError``
    at the first cell that fails.
    """
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    saved = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory() as root:
        spec = Path(root, "kernels", "python3")
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                           os.environ.get("PYTHONPATH")]))}
        (spec / "kernel.json").write_text(json.dumps({**KERNELSPEC, "argv": argv, "env": env}))
        os.environ["JUPYTER_PATH"] = root
        try:
            start = time.perf_counter()
            client.execute()
            return time.perf_counter() - start
        finally:
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved


def notebooks(names: list[str] | None = None) -> list[Path]:
    """The tutorial notebooks (``NN_*.ipynb``), or those named (with or without .ipynb)."""
    if not names:
        return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    return [HERE / (n if n.endswith(".ipynb") else f"{n}.ipynb") for n in names]


def _run(path: Path, nb: nbformat.NotebookNode) -> None:
    try:
        seconds = execute(nb)
    finally:  # a failed run is written too, to show where it stopped (the tests reject it)
        nbformat.validate(nb)
        nbformat.write(nb, path)
    print(f"{path.name}: executed in {seconds:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="percent sources -> executed notebooks in notebooks/")
    b.add_argument("sources", nargs="+", type=Path)
    r = sub.add_parser("run", help="re-execute notebooks in place (default: all)")
    r.add_argument("names", nargs="*")
    e = sub.add_parser("export", help="print a notebook's percent source")
    e.add_argument("name")
    args = parser.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # as in the tests: small matrices, a busy 2-core box
    if args.command == "build":
        for src in args.sources:
            nb = source_to_notebook(src.read_text(encoding="utf-8"))
            _run(HERE / f"{src.stem}.ipynb", nb)
    elif args.command == "run":
        for path in notebooks(args.names):
            _run(path, nbformat.read(path, as_version=4))
    else:
        (path,) = notebooks([args.name])
        sys.stdout.write(notebook_to_source(nbformat.read(path, as_version=4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
