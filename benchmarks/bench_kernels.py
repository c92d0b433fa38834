"""Element-wise kernels: Numba kernel vs NumPy twin vs dispatch, printed as µs and ratios.

Run ``python -m benchmarks.bench_kernels`` (table on shapes (50, 1), (128, 32), (1024, 1024),
float64) or ``python -m benchmarks.bench_kernels --crossover`` (scan sizes 2^0 .. 2^22 and
report, per kernel, the largest size where Numba still beats NumPy: the value to put in the
``*_NUMBA_MAX_SIZE`` thresholds of ``minigrad.kernels.elementwise``).

Times are the best of N repeats of ``timeit``, interleaved (numba, numpy, dispatch, numba, ...)
so that a noisy neighbour on a shared CPU slows every candidate alike. The "numba" column
is ``run_numba_unary/binary`` (allocation and flattening around the raw 1-D kernel).
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable

import numpy as np

from minigrad.kernels import elementwise as K

SHAPES: tuple[tuple[int, ...], ...] = ((50, 1), (128, 32), (1024, 1024))
KERNELS: tuple[str, ...] = ("sigmoid", "tanh", "sigmoid_backward", "tanh_backward")


def candidates(name: str, shape: tuple[int, ...], dtype: type = np.float64,
               seed: int = 0) -> dict[str, Callable[[], np.ndarray]]:
    """The three ways to compute kernel ``name`` on random data of ``shape``."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    raw = getattr(K, f"{name}_numba")
    twin = getattr(K, f"{name}_numpy")
    disp = getattr(K, name)
    if name.endswith("_backward"):
        y = K.sigmoid_numpy(x) if name.startswith("sigmoid") else K.tanh_numpy(x)
        g = rng.standard_normal(shape).astype(dtype)
        return {
            "numba": lambda: K.run_numba_binary(raw, y, g),
            "numpy": lambda: twin(y, g),
            "dispatch": lambda: disp(y, g),
        }
    return {
        "numba": lambda: K.run_numba_unary(raw, x),
        "numpy": lambda: twin(x),
        "dispatch": lambda: disp(x),
    }


def best_of(fns: dict[str, Callable[[], object]], budget: float = 0.3,
            repeat: int = 9) -> dict[str, float]:
    """Best time per call (seconds) of each callable, repeats interleaved across callables.

    ``number`` (calls per repeat) is chosen so that one repeat of the slowest callable takes
    about ``budget / repeat`` seconds.
    """
    for f in fns.values():  # warm-up (and compile, or load from the Numba cache)
        f()
    one = max(timeit.timeit(f, number=1) for f in fns.values())
    number = max(1, int(budget / repeat / max(one, 1e-7)))
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for key, f in fns.items():
            best[key] = min(best[key], timeit.timeit(f, number=number) / number)
    return best


def table(shapes: tuple[tuple[int, ...], ...] = SHAPES, dtype: type = np.float64) -> None:
    """Print µs per call and ratios to NumPy (< 1: faster than NumPy) for every kernel."""
    print(f"dtype={np.dtype(dtype).name}  JIT disabled={K.JIT_DISABLED}")
    head = (f"{'kernel':<17} {'shape':<13} {'numba µs':>10} {'numpy µs':>10} "
            f"{'dispatch µs':>12} {'numba/np':>9} {'disp/np':>8}  dispatch->")
    print(head)
    print("-" * len(head))
    for name in KERNELS:
        threshold = getattr(K, f"{name.upper()}_NUMBA_MAX_SIZE")
        for shape in shapes:
            t = best_of(candidates(name, shape, dtype))
            size = int(np.prod(shape))
            route = "numba" if size <= threshold and not K.JIT_DISABLED else "numpy"
            print(f"{name:<17} {str(shape):<13} {t['numba'] * 1e6:>10.2f} "
                  f"{t['numpy'] * 1e6:>10.2f} {t['dispatch'] * 1e6:>12.2f} "
                  f"{t['numba'] / t['numpy']:>9.2f} {t['dispatch'] / t['numpy']:>8.2f}  {route}")


def crossover(max_log2: int = 22, dtype: type = np.float64) -> dict[str, int]:
    """Scan sizes 2^k; per kernel return the largest size at which Numba beats NumPy.

    Prints the ratio numba/numpy at each size. The crossover reported is the last size
    before NumPy wins at two consecutive sizes (so a single noisy point does not decide it);
    ``sys.maxsize`` when Numba wins everywhere.
    """
    result: dict[str, int] = {}
    sizes = [2**k for k in range(max_log2 + 1)]
    for name in KERNELS:
        ratios = []
        for n in sizes:
            c = candidates(name, (n,), dtype)
            t = best_of({"numba": c["numba"], "numpy": c["numpy"]}, budget=0.06, repeat=5)
            ratios.append(t["numba"] / t["numpy"])
        cross = sys.maxsize
        for i in range(len(sizes) - 1):
            if ratios[i] > 1 and ratios[i + 1] > 1:
                cross = sizes[i - 1] if i > 0 else 0
                break
        result[name] = cross
        line = " ".join(f"{n}:{r:.2f}" for n, r in zip(sizes, ratios, strict=True))
        print(f"{name:<17} numba/numpy  {line}")
        print(f"{name:<17} crossover: Numba up to size {cross}")
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line entry: table by default, ``--crossover`` for the size scan."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--crossover", action="store_true", help="scan sizes for the thresholds")
    p.add_argument("--float32", action="store_true", help="float32 instead of float64")
    p.add_argument("--max-log2", type=int, default=22, help="largest size 2^k to scan")
    args = p.parse_args(argv)
    dtype = np.float32 if args.float32 else np.float64
    if args.crossover:
        crossover(args.max_log2, dtype)
    else:
        table(dtype=dtype)


if __name__ == "__main__":
    main()
