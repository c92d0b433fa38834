"""Generated modules on disk: written once per source, imported from there.

The directory is `MINIGRAD_CACHE_DIR` if set, else `$XDG_CACHE_HOME/minigrad`, else
`~/.cache/minigrad` (outside the package, so the package stays read-only). A module's file is
named by the SHA-256 of its source: the same source is never written twice, a changed one gets
a new file, and Numba's `cache=True` (which keys on the file) works for generated kernels.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["STATS", "cache_dir", "load_module", "module_path"]

#: How many module files this process wrote and how many it found already written.
STATS = {"written": 0, "reused": 0}


def cache_dir() -> Path:
    """Where generated modules live (created on first use)."""
    root = os.environ.get("MINIGRAD_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg, "minigrad") if xdg else os.path.expanduser("~/.cache/minigrad")
    path = Path(root) / "compiled"
    path.mkdir(parents=True, exist_ok=True)
    return path


def module_path(source: str) -> Path:
    """The file of a module with this source: `mg_<first 24 hex digits of its SHA-256>.py`."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    return cache_dir() / f"mg_{digest}.py"


def load_module(source: str, namespace: dict[str, Any]) -> tuple[ModuleType, Path]:
    """Write `source` to the cache unless a file with its hash exists, import it from there,
    and bind `namespace` (constants and op classes the source refers to) in the module."""
    path = module_path(source)
    if path.exists() and path.read_text(encoding="utf-8") == source:
        STATS["reused"] += 1
    else:  # write to a temporary file and rename: a concurrent reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
        STATS["written"] += 1
    spec = importlib.util.spec_from_file_location(f"minigrad_compiled.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(namespace)
    sys.modules[spec.name] = module  # (Numba's on-disk cache re-imports a kernel's module)
    spec.loader.exec_module(module)
    return module, path
