"""models/COMPILED_CELLS.md is what `minigrad.compile` writes for the three cells today."""

from __future__ import annotations

from models import compiled_cells


def test_the_committed_generated_cells_are_current(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path))
    text = compiled_cells.document()
    assert text == compiled_cells.DOCUMENT.read_text(encoding="utf-8"), (
        "models/COMPILED_CELLS.md is out of date: run `python -m models.compiled_cells`")
    for name in ("def forward(", "def backward(", "dW_c = ", "db_u = np.sum(", "da_prev = "):
        assert name in text
