"""Reading and writing ``.npz`` archives safely: the one place that touches the file system.

* :func:`atomic_savez` writes a temporary file in the target's directory, fsyncs it and moves it
  over the target with ``os.replace``: an interrupted save never leaves a half-written file, and
  the new file gets the permissions any newly created file would get (``0o666`` minus the umask;
  an existing target keeps its mode). A symlink is written through to its target; a directory,
  device or FIFO is refused (it is never replaced by a regular file). Temporary files left by
  a process that no longer runs (a crash) are removed. OS errors name the target path.
* :func:`check_writable` finds a path that cannot be saved to (missing directory, a directory,
  a device, no permission) before hours of training.
* :func:`load_npz` reads only regular files (a FIFO or ``/dev/zero`` is refused without being
  read), checks every member's declared size and ``.npy`` header against a memory budget before
  allocating, and never unpickles. Anything that is not a readable ``.npz`` archive raises
  ``ValueError`` naming the path (a missing file stays ``FileNotFoundError``).
"""

from __future__ import annotations

import errno
import glob
import math
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from contextlib import suppress
from typing import IO

import numpy as np

from .resources import available_memory

__all__ = ["atomic_savez", "check_writable", "load_npz"]

_NPY_MAGIC = b"\x93NUMPY"
MAX_MEMBERS = 4096                  # entries of one archive
MAX_HEADER = 10_000                 # bytes of one .npy header (NumPy's own default bound)
MAX_RATIO = 50                      # declared / compressed size of a deflated member > 1 MiB
DEFAULT_BUDGET = 8 << 30            # bytes, when the available memory is unknown


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    with suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _cannot_write(path: str, what: str, exc: OSError) -> OSError:
    """The same kind of OSError (same errno), naming ``path`` instead of a temporary file."""
    reason = exc.strerror or str(exc)
    if exc.errno is None:
        return OSError(f"cannot write {what} {path!r}: {reason}")
    return OSError(exc.errno, f"cannot write {what} ({reason})", path)


def _target(path: str, what: str) -> tuple[str, int | None]:
    """(the file to replace: ``path`` with symlinks resolved, its mode if it exists).

    Raises ``IsADirectoryError`` for a directory and ``OSError`` for any other file that is not
    a regular file (device, FIFO, socket): those are never replaced."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real, None
    except OSError as exc:
        raise _cannot_write(path, what, exc) from exc
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {what} (it is a directory)", path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, f"cannot write {what} (it is {_file_kind(st.st_mode)}, not a "
                      "regular file; give a file path)", path)
    return real, stat.S_IMODE(st.st_mode)


def _temp_prefix(real: str) -> str:
    return f".{os.path.basename(real)}."


def _remove_stale_temps(real: str) -> None:
    """Delete ``.<name>.<pid>.*.tmp`` beside ``real`` whose writing process no longer runs."""
    pattern = os.path.join(os.path.dirname(real), glob.escape(_temp_prefix(real)) + "*.tmp")
    for tmp in glob.glob(pattern):
        pid = os.path.basename(tmp)[len(_temp_prefix(real)):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with suppress(OSError):
                os.unlink(tmp)
        except OSError:
            pass  # alive (or not ours to ask): leave it


def _temp_beside(path: str, real: str, what: str) -> tuple[int, str]:
    """An open temporary file in the directory of ``real``, named after it and this process."""
    try:
        return tempfile.mkstemp(prefix=f"{_temp_prefix(real)}{os.getpid()}.", suffix=".tmp",
                                dir=os.path.dirname(real))
    except OSError as exc:
        raise _cannot_write(path, what, exc) from exc


def check_writable(path: str | os.PathLike[str], what: str = "the file") -> None:
    """Raise ``OSError`` naming ``path`` (and ``what`` it is) unless a file can be saved there:
    a missing directory, a directory, a device or FIFO, no permission."""
    path = os.fspath(path)
    real, _ = _target(path, what)
    fd, tmp = _temp_beside(path, real, what)
    os.close(fd)
    os.unlink(tmp)


def atomic_savez(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                 what: str = "the file") -> None:
    """``np.savez(path, **arrays)`` atomically at exactly ``path`` (no suffix is added)."""
    path = os.fspath(path)
    real, mode = _target(path, what)
    if mode is None:
        mode = 0o666 & ~_umask()
    _remove_stale_temps(real)
    fd, tmp = _temp_beside(path, real, what)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _cannot_write(path, what, exc) from exc
        raise
    with suppress(OSError):  # make the rename itself durable (best effort: not on every OS)
        dfd = os.open(os.path.dirname(real), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# --------------------------------------------------------------------------- reading


def _open_regular(where: str, what: str) -> IO[bytes]:
    """The file at ``where`` opened for reading, after checking it is a regular file.

    Opened non-blocking, so a FIFO is refused instead of waiting for a writer."""
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"no {what} here", where) from None
    except OSError as exc:
        raise ValueError(f"{where!r} cannot be read ({exc.strerror or exc}); "
                         f"not a readable {what}") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ValueError(f"{where!r} is {_file_kind(mode)}, not a {what} (a regular file)")
    return os.fdopen(fd, "rb")


def _not_npz_reason(head: bytes, size: int) -> str:
    if head.startswith(_NPY_MAGIC):
        return "it holds a single .npy array"
    if size == 0:
        return "the file is empty"
    return f"no zip archive found in its {size} bytes: another format, or a truncated file"


def _check_members(infos: list[zipfile.ZipInfo], budget: int) -> None:
    """Refuse an archive whose declared sizes exceed ``budget`` or look like a zip bomb."""
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"it has {len(infos)} entries (at most {MAX_MEMBERS})")
    total = 0
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise ValueError(f"entry {info.filename!r} is not a .npy array")
        if (info.compress_type != zipfile.ZIP_STORED and info.file_size > 1 << 20
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise ValueError(f"entry {info.filename!r} declares {info.file_size:,} bytes from "
                             f"{info.compress_size:,} compressed (a zip bomb?)")
        total += info.file_size
    if total > budget:
        raise ValueError(f"its entries declare {total:,} bytes in all, more than the "
                         f"{budget:,} bytes allowed (80% of the available memory)")


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member: header checked (no object dtype, size within the member) first."""
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, MAX_HEADER)
        else:
            raise ValueError(f"entry {info.filename!r}: unknown .npy version {version}")
        if dtype.hasobject:
            raise ValueError(f"entry {info.filename!r} holds Python objects (pickle), which "
                             "are never loaded")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise ValueError(f"entry {info.filename!r} declares shape {shape} of {dtype} "
                             f"({nbytes:,} bytes) in a member of {info.file_size:,} bytes")
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"entry {info.filename!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype).copy()
    return arr.reshape(shape, order="F" if fortran else "C")


def load_npz(path: str | os.PathLike[str], what: str,
             budget: int | None = None) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path``; ``what`` names it in error messages.

    ``budget`` bounds the declared bytes of all entries (default: 80% of the available
    memory). Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the
    path for anything else: not a regular file, not a zip archive, a corrupt archive, a
    declared size over the budget, a pickled (object) entry.
    """
    where = os.fspath(path)
    if budget is None:
        free = available_memory()
        budget = DEFAULT_BUDGET if free is None else int(0.8 * free)
    with _open_regular(where, what) as f:
        head = f.read(8)
        size = os.fstat(f.fileno()).st_size
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise ValueError(f"{where!r} is not an .npz archive ({_not_npz_reason(head, size)}); "
                             f"not a readable {what}")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                _check_members(infos, budget)
                return {info.filename[:-4]: _read_member(z, info) for info in infos}
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, OverflowError) as exc:
            raise ValueError(f"{where!r} is not a readable {what}: a corrupt or foreign .npz "
                             f"archive ({type(exc).__name__}: {exc})") from exc
