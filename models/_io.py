"""Reading and writing ``.npz`` archives safely: the one place that touches the file system.

* :func:`atomic_savez` writes a temporary file in the target's directory, fsyncs it and moves it
  over the target with ``os.replace``: an interrupted save never leaves a half-written file, and
  the new file gets the permissions any newly created file would get (``0o666`` minus the umask;
  an existing target keeps its mode). OS errors name the target path, not the temporary file.
* :func:`check_writable` finds a path that cannot be saved to (missing directory, a directory,
  no permission) before hours of training, by creating and removing a temporary file there.
* :func:`load_npz` reads every array with ``allow_pickle=False``; anything that is not a
  readable ``.npz`` archive raises ``ValueError`` naming the path (a missing file stays
  ``FileNotFoundError``).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from contextlib import suppress

import numpy as np

__all__ = ["atomic_savez", "check_writable", "load_npz"]

_NPY_MAGIC = b"\x93NUMPY"


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    with suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _new_file_mode(path: str) -> int:
    """The mode the target would have if written with ``open(path, "wb")``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _cannot_write(path: str, what: str, exc: OSError) -> OSError:
    """The same kind of OSError (same errno), naming ``path`` instead of a temporary file."""
    reason = exc.strerror or str(exc)
    if exc.errno is None:
        return OSError(f"cannot write {what} {path!r}: {reason}")
    return OSError(exc.errno, f"cannot write {what} ({reason})", path)


def _temp_beside(path: str, what: str) -> tuple[int, str]:
    """An open temporary file in the directory of ``path`` (which must not be a directory)."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {what} (it is a directory)", path)
    try:
        return tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                dir=os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise _cannot_write(path, what, exc) from exc


def check_writable(path: str | os.PathLike[str], what: str = "the file") -> None:
    """Raise ``OSError`` naming ``path`` (and ``what`` it is) unless a file can be saved there:
    a missing directory, a directory, no permission."""
    fd, tmp = _temp_beside(os.fspath(path), what)
    os.close(fd)
    os.unlink(tmp)


def atomic_savez(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                 what: str = "the file") -> None:
    """``np.savez(path, **arrays)`` atomically at exactly ``path`` (no suffix is added)."""
    path = os.fspath(path)
    mode = _new_file_mode(path)
    fd, tmp = _temp_beside(path, what)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _cannot_write(path, what, exc) from exc
        raise
    with suppress(OSError):  # make the rename itself durable (best effort: not on every OS)
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _not_npz_reason(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    size = os.path.getsize(path)
    if head.startswith(_NPY_MAGIC):
        return "it holds a single .npy array"
    if size == 0:
        return "the file is empty"
    return f"no zip archive found in its {size} bytes: another format, or a truncated file"


def load_npz(path: str | os.PathLike[str], what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path``; ``what`` names it in error messages.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the path for a
    directory, a file that is not a zip archive, a corrupt archive or a pickled (object) entry.
    """
    where = os.fspath(path)
    if not os.path.exists(where):
        raise FileNotFoundError(2, f"no {what} here", where)
    if os.path.isdir(where):
        raise ValueError(f"{where!r} is a directory, not a {what}")
    try:
        if not zipfile.is_zipfile(where):
            raise ValueError(f"{where!r} is not an .npz archive ({_not_npz_reason(where)}); "
                             f"not a readable {what}")
    except OSError as exc:
        raise ValueError(f"{where!r} cannot be read ({exc.strerror or exc}); "
                         f"not a readable {what}") from exc
    try:
        npz = np.load(where, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # a zip directory behind other data
            raise ValueError("it does not start like a zip archive")
        with npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{where!r} is not a readable {what}: a corrupt or foreign .npz "
                         f"archive ({type(exc).__name__}: {exc})") from exc
