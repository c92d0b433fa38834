"""Per-op cost of the tape: minigrad forward+backward of one op vs the same math in NumPy.

Run ``python -m benchmarks.bench_ops`` (``--quick`` for a short run).

For ``add`` (``a + b``), ``matmul`` (``(r, r) @ (r, c)``) and ``tanh`` on shapes ``(50, 1)`` and
``(128, 32)`` it times, interleaved in one process:

* **minigrad, single op**: leaves with ``requires_grad=True``, one op, ``out.backward(seed)``
  with a fixed seed gradient, ``.grad`` reset to None (what ``zero_grad`` does).
* **minigrad, chain of K ops**: the same op applied K times in a row and one backward, so
  that the fixed cost of calling ``backward()`` is shared by K records.
* **NumPy**: the same forward and the hand-written backward (``∂a = g``;
  ``∂A = g Bᵀ, ∂B = Aᵀ g``; ``∂x = g (1 - y²)``) — the work any implementation must do.

It prints the ratio minigrad / NumPy and the **tape overhead per op** in µs:
``(t_minigrad − t_numpy) / K``. The engine's target is ≤ 1.5 µs per op beyond NumPy's own work;
the chain figure is the one that measures it (the single-op figure also pays one ``backward()``
call).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks._timing import interleaved, parse_bench_args, print_and_save, table

SHAPES: tuple[tuple[int, int], ...] = ((50, 1), (128, 32))
OPS: tuple[str, ...] = ("add", "matmul", "tanh")
CHAIN = 20
TARGET_US = 1.5


def _data(op: str, shape: tuple[int, int], seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Input ``x``, the op's other operand (None for tanh) and the seed gradient ``g``."""
    rng = np.random.default_rng(seed)
    r = shape[0]
    x = rng.standard_normal(shape) * 0.5
    g = rng.standard_normal(shape)
    other = {"add": lambda: rng.standard_normal(shape),
             "matmul": lambda: rng.standard_normal((r, r)) / np.sqrt(r),
             "tanh": lambda: None}[op]()
    return x, other, g


def numpy_case(op: str, shape: tuple[int, int], k: int) -> Callable[[], np.ndarray]:
    """Hand-written NumPy forward of ``k`` chained ops and their backward; returns ∂x."""
    x, b, g = _data(op, shape)
    if op == "add":
        def run() -> np.ndarray:
            out = x
            for _ in range(k):
                out = out + b
            gb = g                      # ∂b gets g once per op; ∂x = g
            for _ in range(k - 1):
                gb = gb + g
            return g
    elif op == "matmul":
        A = b

        def run() -> np.ndarray:
            outs = [x]
            for _ in range(k):
                outs.append(A @ outs[-1])
            gA = np.zeros_like(A)
            gy = g
            for i in range(k, 0, -1):   # ∂A += g yᵀ, ∂y = Aᵀ g
                gA += gy @ outs[i - 1].T
                gy = A.T @ gy
            return gy
    else:
        def run() -> np.ndarray:
            ys = [x]
            for _ in range(k):
                ys.append(np.tanh(ys[-1]))
            gy = g
            for i in range(k, 0, -1):   # ∂x = g (1 - y²)
                y = ys[i]
                gy = gy * (1.0 - y * y)
            return gy
    return run


def minigrad_case(op: str, shape: tuple[int, int], k: int) -> Callable[[], object]:
    """minigrad: ``k`` chained ops on leaves that require grad, one seeded backward; ∂x."""
    import minigrad as mg

    x_arr, b, g = _data(op, shape)
    x = mg.Tensor(x_arr, requires_grad=True)
    other = None if b is None else mg.Tensor(b, requires_grad=True)
    ops: dict[str, Callable[[mg.Tensor], mg.Tensor]] = {
        "add": lambda t: t + other,
        "matmul": lambda t: other @ t,
        "tanh": mg.tanh,
    }
    f = ops[op]

    def run() -> object:
        x.grad = None
        if other is not None:
            other.grad = None
        out = x
        for _ in range(k):
            out = f(out)
        out.backward(g)
        return x.grad

    return run


def check_agreement(op: str, shape: tuple[int, int], k: int = 3) -> float:
    """Max |difference| between minigrad's ∂x and the hand-written one (sanity, not timed)."""
    return float(np.max(np.abs(np.asarray(minigrad_case(op, shape, k)())
                               - numpy_case(op, shape, k)())))


def run(quick: bool = False) -> dict[str, object]:
    """Time every (op, shape, single/chain) pair; returns rows for results.json."""
    cands: dict[str, Callable[[], object]] = {}
    keys: list[tuple[str, tuple[int, int], int]] = []
    for shape in SHAPES:
        for op in OPS:
            for k in (1, CHAIN):
                keys.append((op, shape, k))
                cands[f"np {op} {shape} k={k}"] = numpy_case(op, shape, k)
                cands[f"mg {op} {shape} k={k}"] = minigrad_case(op, shape, k)
    timings = interleaved(cands, rounds=5 if quick else 15, sample_s=0.005 if quick else 0.02)
    rows = []
    for op, shape, k in keys:
        t_np = timings[f"np {op} {shape} k={k}"].median
        t_mg = timings[f"mg {op} {shape} k={k}"].median
        rows.append({
            "op": op, "shape": list(shape), "ops_per_call": k,
            "numpy_us": t_np * 1e6 / k, "minigrad_us": t_mg * 1e6 / k,
            "ratio": t_mg / t_np, "overhead_us_per_op": (t_mg - t_np) * 1e6 / k,
            "noise_iqr_rel": timings[f"mg {op} {shape} k={k}"].spread,
        })
    agree = {f"{op} {shape}": check_agreement(op, shape) for shape in SHAPES for op in OPS}
    return {"rows": rows, "chain": CHAIN, "target_us": TARGET_US, "grad_max_abs_diff": agree}


def render(res: dict[str, object]) -> str:
    """The printed table."""
    rows = []
    for r in res["rows"]:  # type: ignore[union-attr]
        label = "single op" if r["ops_per_call"] == 1 else f"chain of {r['ops_per_call']}"
        ok = "" if r["ops_per_call"] == 1 else (
            "ok" if r["overhead_us_per_op"] <= res["target_us"] else "OVER")
        rows.append([f"{r['op']} {tuple(r['shape'])}", label, f"{r['numpy_us']:.2f}",
                     f"{r['minigrad_us']:.2f}", f"{r['ratio']:.2f}×",
                     f"{r['overhead_us_per_op']:+.2f}", ok])
    head = ["op (shape)", "what", "NumPy µs/op", "minigrad µs/op", "ratio", "tape µs/op",
            f"≤{res['target_us']}µs"]
    worst = max(res["grad_max_abs_diff"].values())  # type: ignore[union-attr]
    return (table(head, rows, "Per-op forward+backward: minigrad vs hand-written NumPy "
                  "(medians, interleaved)")
            + f"\n(gradients agree with the hand-written ones: max |Δ| = {worst:.1e})")


def main() -> None:
    """Command-line entry point."""
    a = parse_bench_args(__doc__, "few short rounds (smoke run)")
    print_and_save(run(quick=a.quick), render, a.json)


if __name__ == "__main__":
    main()
