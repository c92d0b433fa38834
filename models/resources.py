"""The machine's resources as the models see them: available memory, BLAS threads.

* :func:`available_memory` — bytes the kernel says a new process can use without swapping
  (``MemAvailable`` of ``/proc/meminfo``), or None where that is unknown.
* :func:`check_memory` — refuse a run whose estimated memory exceeds 80% of that, before it
  starts (instead of a raw ``MemoryError`` or the machine swapping).
* :func:`single_threaded_blas` — run BLAS on one thread meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["MEMORY_FRACTION", "available_memory", "check_memory", "single_threaded_blas"]

MEMORY_FRACTION = 0.8


def available_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """``MemAvailable`` in bytes, or None if the file is missing or does not say."""
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    value, unit = line.split()[1:3]
                    return int(value) * (1024 if unit.lower() == "kb" else 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(needed: int, what: str, meminfo: str = "/proc/meminfo") -> None:
    """ValueError if ``needed`` bytes exceed 80% of the available memory (no check if unknown).

    ``what`` says what needs the memory and which options set it."""
    free = available_memory(meminfo)
    if free is not None and needed > MEMORY_FRACTION * free:
        raise ValueError(f"{what} needs about {needed / 2**30:.1f} GiB, more than 80% of the "
                         f"{free / 2**30:.1f} GiB of memory available; choose smaller sizes")


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread meanwhile (best effort; a no-op where it cannot be done).

    Gradient checks and small-batch training do thousands of small matrix products
    ((100×1000)(1000×40) at the notes' sizes); multi-threaded OpenBLAS gains nothing there and,
    on a busy 2-core machine, its spinning threads made the default gradcheck ~10× slower
    (measured: GRU 4 ms → 46 ms per J). Uses threadpoolctl if installed, else NumPy's bundled
    OpenBLAS through ctypes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
        return
    get_set = _openblas_thread_functions()
    if get_set is None:
        yield
        return
    get, set_ = get_set
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)


def _openblas_thread_functions() -> tuple[Callable[[], int], Callable[[int], Any]] | None:
    """(get, set) of the number of threads of the OpenBLAS bundled with NumPy, if found."""
    import ctypes
    import glob
    import os

    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None
