"""`audit(f)`: check every op on a real tape, at the values it saw, and name the wrong one.

`gradcheck` says whether the gradient of a whole function is right; `audit` says which op is
wrong. It runs `f()` once inside `keeping_inputs()` (every record keeps copies of its input
arrays, its forward's options and the user's source line), then, for each record of the tape
behind the result, checks the op's backward against its forward at the recorded inputs x:

    ⟨u, J v⟩  =  ⟨Jᵀ u, v⟩          (the dot-product identity; J = ∂forward/∂x at x)

with one random cotangent u ~ N(0, I) per output and one random tangent v ~ N(0, I) per
differentiable input (a float input that comes from another record or from a leaf that
requires grad; integer/bool inputs and constants are not differentiated). The right side is
the op's own `backward` (a VJP), run on a fresh ctx made by re-running `forward` at x; the
left side is a JVP of `forward`, in float64 even when the graph ran in float32:

    complex step   J v = Im forward(x + i·h·v) / h,  h = 1e-20  (no subtraction, no
                   cancellation: exact to rounding, for ops that are analytic and accept
                   complex input; ops that refuse complex input raise, and are then checked
                   by differences)
    differences    J v ≈ [8(F(h) − F(−h)) − (F(2h) − F(−2h))] / 12h,  F(t) = forward(x + t·v)
                   (4th-order central stencil), tried with h = s·max(1, rms x) for s in
                   FD_STEPS = (1e-3, 1e-5, 1e-7) until one agrees

The user's tape is never touched: forward and backward run on fresh `Record`s and copies.

Error and tolerances. error = |⟨u, J v⟩ − ⟨Jᵀu, v⟩| / (|⟨u, J v⟩| + |⟨Jᵀu, v⟩|) (0 when both
are 0; 1/3 means off by a factor 2, as in `gradcheck`). A record passes when error ≤ rtol, or
when the difference is below the noise floor atol (it only matters when both sides are zero
up to rounding): complex step rtol 1e-10, atol = 16·u·(Σ|u ⊙ Jv| + Σ|Jᵀu ⊙ v|); differences
rtol 1e-6, atol = 16·u·Σ|u ⊙ forward(x)| / h, with u = 1.1e-16 the unit roundoff. Measured on
correct tapes (every built-in op in float64 and float32; the three models, composed and fused,
at the notes' sizes and small ones, seeds 0-2): complex step ≤ 7e-14, and differences (forced
on every record) ≤ 1.2e-8, nearly all at the first step: margins ≥ 1000 and ≥ 80. A gradient
off by 1e-4 relative gives error 5e-5; a transposed gradient or a mean for a sum, ≥ 1e-2.

Why several estimates, and why a pass by any of them is sound: each one estimates the same
true J v, so a correct backward agrees with at least one (a step that crosses a kink of relu
or max, or a custom op that runs on complex input without being analytic, spoils one estimate,
not all), while a wrong backward disagrees with all of them. The table reports the estimate
that agreed; if none did, the complex step (the most accurate), else the closest difference.
So an op is certified to the differences' rtol 1e-6 at worst (a complex-step failure between
1e-10 and 1e-6 that differences accept passes); a 1e-4 error fails with a margin of 50.
Values exactly at a kink (relu(0), a tie of maximum) have no derivative; a record there may
fail, and the table says which. Forward must be deterministic: it is re-run at x and near it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .audit_report import AuditReport, RecordCheck
from .modes import keeping_inputs
from .tape import Record, shape_of, tape_of, unbroadcast
from .tensor import Tensor

__all__ = ["COMPLEX_RTOL", "COMPLEX_STEP", "FD_RTOL", "FD_STEPS", "AuditReport", "RecordCheck",
           "audit", "check_record"]

COMPLEX_STEP = 1e-20
COMPLEX_RTOL = 1e-10
FD_STEPS = (1e-3, 1e-5, 1e-7)
FD_RTOL = 1e-6
_U = float(np.finfo(np.float64).eps) / 2  # unit roundoff of float64
_NOISE = 16.0
_ComplexWarning = getattr(getattr(np, "exceptions", np), "ComplexWarning", Warning)


class _NoEstimate(Exception):
    """This way of computing J v does not work for this op (the message says why)."""


def audit(f: Callable[[], Any], *, seed: int = 0, complex_rtol: float = COMPLEX_RTOL,
          fd_rtol: float = FD_RTOL) -> AuditReport:
    """Run `f()` once and check every record of its tape: ⟨u, J v⟩ = ⟨Jᵀu, v⟩ per op.

    `f` takes no arguments and returns a scalar Tensor (like the f of `gradcheck`). `seed` fixes
    the random u and v; `complex_rtol`/`fd_rtol` are the thresholds of the complex-step and the
    finite-difference checks (see the module docstring). Returns an `AuditReport`: one
    `RecordCheck` per record (row numbers as `show_tape` prints them), `.ok`, `.failures`, and
    a table ranked by error as `str(report)`. Nothing on the caller's tape or tensors changes.
    """
    if not callable(f):
        raise TypeError("audit: f must be a callable taking no arguments that returns a scalar "
                        f"Tensor; got {type(f).__name__}")
    for name, value in (("complex_rtol", complex_rtol), ("fd_rtol", fd_rtol)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise ValueError(f"audit: {name} must be a finite number > 0; got {value!r}")
    start = time.perf_counter()
    with keeping_inputs():
        out = f()
    if not isinstance(out, Tensor):
        raise TypeError(f"audit: f() must return a minigrad.Tensor; got {type(out).__name__}")
    if out.size != 1:
        raise ValueError(f"audit: f() must return a scalar Tensor (one element); got shape "
                         f"{out.shape}; reduce it first, e.g. with .sum()")
    if out.record is None:
        raise ValueError("audit: f() returned a Tensor with no tape behind it (a leaf, or "
                         "computed under no_grad()): there is no op to check; make the inputs "
                         "requires_grad=True")
    records = tape_of(out)
    del out
    checks = [check_record(r, i, np.random.default_rng([seed, i]), complex_rtol=complex_rtol,
                           fd_rtol=fd_rtol) for i, r in enumerate(records)]
    return AuditReport(checks, seed=seed, seconds=time.perf_counter() - start)


def _float64(a: Any) -> Any:
    """A float32 (or float16) array as float64; anything else unchanged."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float64:
        return a.astype(np.float64)
    return a


def _differentiable(record: Record, arrays: tuple[np.ndarray, ...]) -> list[int]:
    """Indices of the inputs that get a tangent: floats from a record or a grad-requiring leaf."""
    return [k for k, (s, a) in enumerate(zip(record.inputs, arrays, strict=True))
            if a.dtype.kind == "f" and (type(s) is tuple or s.requires_grad)]


def _forward(record: Record, arrays: list[np.ndarray], options: dict[str, Any]
             ) -> tuple[Record, tuple[np.ndarray, ...]]:
    """Run the op's forward on a fresh ctx (wired to the record's inputs, for
    `needs_input_grad`); returns the ctx and the outputs as a tuple of arrays."""
    ctx = Record()
    ctx.fn = record.fn
    ctx.inputs = record.inputs
    ctx.seq = record.seq
    out = record.fn.forward(ctx, *arrays, **options)
    outs = tuple(np.asarray(o) for o in (out if type(out) is tuple else (out,)))
    ctx.out_shapes = tuple(o.shape for o in outs)
    return ctx, outs


def _vjp(ctx: Record, us: list[np.ndarray], shapes: list[tuple[int, ...]], diff: list[int]
         ) -> dict[int, np.ndarray]:
    """Jᵀu per differentiable input, from the op's backward (None counts as zero), reduced to
    the input's shape as the engine does."""
    raw = ctx.fn.backward(ctx, *us)
    if type(raw) is not tuple:
        raw = tuple(raw) if isinstance(raw, list) else (raw,)
    if len(raw) != len(shapes):
        raise _NoEstimate(f"backward returned {len(raw)} gradients for {len(shapes)} inputs")
    grads = {}
    for k in diff:
        g = raw[k]
        if g is None:
            grads[k] = np.zeros(shapes[k])
            continue
        g = np.asarray(g)
        if g.dtype.kind == "c":
            raise _NoEstimate(f"backward returned a complex gradient ({g.dtype}) for input {k}")
        try:
            grads[k] = unbroadcast(g, shapes[k], ctx).astype(np.float64, copy=False)
        except RuntimeError as err:
            raise _NoEstimate(str(err)) from None
    return grads


def _complex_jvp(record: Record, arrays: list[np.ndarray], options: dict[str, Any],
                 vs: dict[int, np.ndarray]) -> list[np.ndarray]:
    """J v by the complex step: Im forward(x + i·h·v) / h per output."""
    h = COMPLEX_STEP
    xs = [a + (1j * h) * vs[k] if k in vs else a for k, a in enumerate(arrays)]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("error", _ComplexWarning)
            _, outs = _forward(record, xs, options)
    except Exception as exc:  # any refusal of complex input means: use differences
        raise _NoEstimate(f"no complex step ({type(exc).__name__}: {exc})") from None
    if any(o.dtype.kind != "c" for o in outs):
        raise _NoEstimate("no complex step (an output came back real)")
    return [o.imag / h for o in outs]


def _fd_jvp(record: Record, arrays: list[np.ndarray], options: dict[str, Any],
            vs: dict[int, np.ndarray], h: float) -> list[np.ndarray]:
    """J v by the 4th-order central stencil with step h along v."""
    runs = []
    for t in (h, -h, 2 * h, -2 * h):
        xs = [a + t * vs[k] if k in vs else a for k, a in enumerate(arrays)]
        try:
            with np.errstate(all="ignore"):
                runs.append(_forward(record, xs, options)[1])
        except Exception as exc:  # forward failed at a perturbed point: try a smaller step
            raise _NoEstimate(f"forward failed at x + {t:g}·v ({type(exc).__name__}: {exc})"
                              ) from None
    return [(8.0 * (p - m) - (p2 - m2)) / (12.0 * h) for p, m, p2, m2 in zip(*runs, strict=True)]


def _dot(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[float, float]:
    """(Σ_k ⟨x_k, y_k⟩, Σ_k Σ|x_k ⊙ y_k|), summed pairwise (NumPy's sum: error ~u·log n)."""
    total = size = 0.0
    for x, y in zip(xs, ys, strict=True):
        p = np.multiply(x, y)
        total += float(p.sum())
        size += float(np.abs(p).sum())
    return total, size


def _compare(lhs: float, rhs: float, rtol: float, atol: float) -> tuple[float, bool]:
    """(relative error, passed) of ⟨u, Jv⟩ against ⟨Jᵀu, v⟩."""
    den = abs(lhs) + abs(rhs)
    err = 0.0 if den == 0.0 else abs(lhs - rhs) / den
    if not np.isfinite(err):
        return float("inf"), False
    return err, err <= rtol or abs(lhs - rhs) <= atol


def check_record(record: Record, index: int, rng: np.random.Generator, *,
                 complex_rtol: float = COMPLEX_RTOL, fd_rtol: float = FD_RTOL) -> RecordCheck:
    """Check one record made inside `keeping_inputs()` (row `index` of its tape)."""
    shapes = [shape_of(s) for s in record.inputs]
    base = dict(index=index, op=record.name, input_shapes=tuple(shapes), scope=record.scope,
                where=record.where)
    arrays0, options0 = record.input_arrays, getattr(record, "options", None)
    if arrays0 is None or options0 is None:
        return RecordCheck(**base, method="-", error=float("inf"), passed=False, checked=(),
                           note="recorded outside keeping_inputs(): its inputs were not kept")
    arrays = [_float64(a) for a in arrays0]
    options = {k: _float64(v) for k, v in options0.items()}
    diff = _differentiable(record, arrays0)
    base["checked"] = tuple(diff)
    if not diff:
        return RecordCheck(**base, method="-", error=0.0, passed=True,
                           note="no differentiable float input")
    vs = {k: rng.standard_normal(arrays[k].shape) for k in diff}
    try:
        ctx, outs = _forward(record, arrays, options)
        us = [rng.standard_normal(o.shape) for o in outs]
        grads = _vjp(ctx, us, shapes, diff)
    except Exception as exc:  # forward or backward cannot re-run: report it, do not crash
        return RecordCheck(**base, method="-", error=float("inf"), passed=False,
                           note=f"could not re-run the op: {type(exc).__name__}: {exc}")
    rhs, rhs_abs = _dot([grads[k] for k in diff], [vs[k] for k in diff])
    tried: list[tuple[float, bool, str]] = []
    notes = []
    try:
        jv = _complex_jvp(record, arrays, options, vs)
        lhs, lhs_abs = _dot(us, jv)
        err, ok = _compare(lhs, rhs, complex_rtol, _NOISE * _U * (lhs_abs + rhs_abs))
        tried.append((err, ok, "complex step"))
    except _NoEstimate as why:
        notes.append(str(why))
    if not any(ok for _, ok, _ in tried):
        size = max(1.0, float(np.sqrt(np.mean(np.concatenate(
            [np.abs(arrays[k].ravel()) ** 2 for k in diff])))))
        out_abs = float(sum(np.sum(np.abs(u * o)) for u, o in zip(us, outs, strict=True)))
        for s in FD_STEPS:
            h = s * size
            try:
                jv = _fd_jvp(record, arrays, options, vs, h)
            except _NoEstimate as why:
                notes.append(str(why))
                continue
            lhs = _dot(us, jv)[0]
            err, ok = _compare(lhs, rhs, fd_rtol, _NOISE * _U * out_abs / h)
            tried.append((err, ok, f"differences h={h:.0e}"))
            if ok:
                break
    if not tried:
        return RecordCheck(**base, method="-", error=float("inf"), passed=False,
                           note="; ".join(notes))
    passing = [t for t in tried if t[1]]
    if passing:
        err, ok, method = passing[0]
    elif tried[0][2] == "complex step":  # the most accurate estimate, when it could be made
        err, ok, method = tried[0]
    else:
        err, ok, method = min(tried, key=lambda t: t[0])
    return RecordCheck(**base, method=method, error=err, passed=ok,
                       note="" if ok else "; ".join(notes))
