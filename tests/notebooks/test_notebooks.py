"""The tutorial notebooks: committed with their outputs, and re-executed here in a fresh kernel.

Each notebook runs top to bottom in a new ``python3`` kernel (nbclient), with a headless
matplotlib backend, single-threaded BLAS (as ``notebooks/_build.py`` runs them) and the
notebooks/ directory as working directory. The kernel is pinned to
the interpreter running the tests (a kernelspec written to a temporary JUPYTER_PATH, which takes
precedence over any user-level ``python3`` kernelspec) and to this checkout's ``minigrad`` (the
repository root first on the kernel's PYTHONPATH, as the tests' own ``pythonpath``), and an
extra cell appended to the in-memory copy checks that it really is this interpreter and package.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = [
    "01_autograd_from_scratch",
    "02_rnn_and_bptt",
    "03_gru",
    "04_lstm",
    "05_vanishing_gradients",
    "06_char_language_model",
    "07_adding_problem",
    "08_second_derivatives",
    "09_read_the_backward_pass",
    "10_debugging_gradients",
]
SECONDS_PER_NOTEBOOK = 120  # the notebooks take ~5-25 s each; this only catches runaway growth
PROBE = ("import sys\nimport minigrad\n"
         "print(sys.prefix)\nprint(sys.executable)\nprint(minigrad.__file__)")


@pytest.fixture(scope="session")
def python3_kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `python3` kernelspec: ipykernel on this interpreter, this checkout first on PYTHONPATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python", "env": env}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return root


def _read(name: str) -> nbformat.NotebookNode:
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    assert path.is_file(), f"missing notebook {path}"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_every_notebook_is_listed() -> None:
    found = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert found == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_with_outputs(name: str) -> None:
    """Every code cell was executed, in order, without errors or warnings; figures are there."""
    nb = _read(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{name}: re-run it with `python notebooks/_build.py run {name}` before committing")
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{name}: stderr output (a warning?) in the committed notebook: {stderr}"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no figure"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executes_in_fresh_kernel(name: str, python3_kernel: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(python3_kernel))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # small matrices: BLAS threads only spin on 2 busy cores
    nb = _read(name)
    for cell in nb.cells:  # start from a clean slate: nothing of the committed run survives
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(nb, timeout=SECONDS_PER_NOTEBOOK, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, at the first failure
    seconds = time.perf_counter() - start
    prefix, executable, package = nb.cells[-1].outputs[0].text.split("\n")[:3]
    assert (prefix, executable) == (sys.prefix, sys.executable)
    assert Path(package).resolve().is_relative_to(REPO), f"{name} imported minigrad from {package}"
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    assert seconds < SECONDS_PER_NOTEBOOK, f"{name} took {seconds:.0f} s"
