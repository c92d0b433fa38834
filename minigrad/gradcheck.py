"""Gradient checks: compare the tape's gradient with numeric derivatives, in float64.

`gradcheck(f, inputs)` calls `f()` (which recomputes its output from the current data of
`inputs`), differentiates it once on the tape, and compares with a numeric estimate:

    full         central differences on every element: (φ(θ + ε e_k) − φ(θ − ε e_k)) / 2ε
    sampled      the same on `samples` random elements per input (for large parameters)
    directional  one random unit direction v per input: ⟨∇φ, v⟩ against the 4-point stencil
                 [8(φ(θ+hv) − φ(θ−hv)) − (φ(θ+2hv) − φ(θ−2hv))] / 12h
    complex      complex step: Im φ(θ + i·h·e_k) / h with h = 1e-20 (no subtraction, so no
                 cancellation error; needs every op on the path to be analytic)

where φ(θ) = Σ v_out ⊙ f(θ) reduces a non-scalar output with a fixed random cotangent v_out
(standard normal, seeded), and the analytic side is `minigrad.grad(f(), inputs, v_out)`.
`order=2` checks second derivatives the same way (`minigrad.gradgradcheck`).

Steps and thresholds (float64; see DEFAULTS). Let s = Σ|v_out ⊙ f(θ)| (|f| for a scalar): φ
is computed with a rounding error of about u·s (u = 1.1e-16; measured: ≤ 1.5 u·s on the three
models). A central difference then has rounding error ~u·s/ε and truncation error ~ε²φ‴/6, so
the step grows with the size of φ: ε = 1e-5·max(1, s)^(1/3) (1e-5 for φ ~ 1, 7e-5 for the
models' J ≈ 350); the 4-point stencil (rounding ~u·s/h, truncation ~h⁴φ⁽⁵⁾/30) uses
h = 1e-3·max(1, s)^(1/5). Relative errors of correct tapes, measured on the three models (notes'
sizes, T_x = 3..30, m = 1..16) and small ones (full mode): full/sampled 1e-10..2e-7 (worst: the
LSTM's x at T_x = 30, m = 16, whose entries are ~1/m of the rest), directional 1e-11..3e-8,
complex ≤ 5e-16. Hence rtol = 1e-6 (full, sampled, directional: a margin ≥ 5 over the worst
case and ≥ 30 at the CLI defaults) and 1e-12 (complex), while a wrong gradient — a factor 2,
a missing term, a mean instead of a sum — gives relative errors ≥ 1e-3. An input also passes
when max |g − ĝ| ≤ atol, the noise floor 16·u·s/ε (step 1 for the complex step): this
only matters for gradients that are zero up to rounding, where the relative error means nothing.

How inputs are perturbed. gradcheck never writes into the caller's arrays: for the duration of
the check each input's `.data` is replaced by a private writable float64 copy (complex128 for
the complex step), which is perturbed in place and restored element by element; at the end
(also on exceptions) `.data` is set back to the original array object, bit for bit untouched.
This sidesteps the engine's read-only lock on arrays saved for backward (a graph the caller
still holds keeps `p.data` read-only; it is not ours to unlock), and gives float32 inputs their
float64 copies for free. The forward passes of the numeric side run under `no_grad()`, so they
record and lock nothing; the analytic pass uses `minigrad.grad` (retain_graph=False), which
releases its graph.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .autograd import grad as _grad
from .gradcheck_report import GradcheckReport, InputCheck, relative_error
from .modes import no_grad
from .tensor import Tensor

__all__ = ["DEFAULTS", "ComplexStepError", "GradcheckReport", "assert_gradcheck",
           "evaluations_needed", "gradcheck"]

_U = float(np.finfo(np.float64).eps) / 2  # unit roundoff of float64
_ComplexWarning = getattr(getattr(np, "exceptions", np), "ComplexWarning", Warning)


class ComplexStepError(TypeError):
    """f() cannot be evaluated on complex inputs (a non-analytic op): use mode='full'."""


@dataclass(frozen=True)
class ModeDefaults:
    """Defaults of one mode in float64: the step is eps · max(1, s)^power, where s = Σ|v ⊙ f(θ)|
    is the size of φ (its rounding error is ~u·s); rtol; the sample count of "sampled"."""

    eps: float
    power: float
    rtol: float
    samples: int | None = None

    def step(self, scale: float) -> float:
        """The step for a φ of size `scale` (balances rounding u·s/ε against truncation)."""
        return self.eps * max(1.0, scale) ** self.power


DEFAULTS: dict[str, ModeDefaults] = {
    "full": ModeDefaults(eps=1e-5, power=1 / 3, rtol=1e-6),
    "sampled": ModeDefaults(eps=1e-5, power=1 / 3, rtol=1e-6, samples=32),
    "directional": ModeDefaults(eps=1e-3, power=1 / 5, rtol=1e-6),
    "complex": ModeDefaults(eps=1e-20, power=0.0, rtol=1e-12),
}
MODES = tuple(DEFAULTS)
_NOISE = 16.0  # atol = _NOISE · u · s / step (measured noise: ≤ 1.5 u·s/ε)


def evaluations_needed(mode: str, sizes: Sequence[int], samples: int | None = None) -> int:
    """How many times gradcheck calls f for inputs of these sizes (the analytic pass included)."""
    if mode not in DEFAULTS:
        raise ValueError(f"gradcheck: mode must be one of {MODES}; got {mode!r}")
    k = samples if samples is not None else DEFAULTS["sampled"].samples
    per = {"full": lambda n: 2 * n, "sampled": lambda n: 2 * min(k, n),
           "directional": lambda n: 4, "complex": lambda n: n}[mode]
    return 1 + sum(per(int(n)) for n in sizes)


def _finite(name: str, value: Any, positive: bool) -> float:
    """float(value), finite and > 0 (positive) or ≥ 0; else a ValueError naming the argument."""
    want = "a finite number > 0" if positive else "a finite number ≥ 0"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"gradcheck: {name} must be {want}; got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"gradcheck: {name} must be {want}; got {value!r}")
    return v


def _named_inputs(inputs: Any) -> list[tuple[str, Tensor]]:
    """A Tensor, a sequence of Tensors or a name → Tensor mapping, as (name, Tensor) pairs."""
    if isinstance(inputs, Tensor):
        pairs = [("input0", inputs)]
    elif isinstance(inputs, Mapping):
        pairs = [(str(k), v) for k, v in inputs.items()]
    elif isinstance(inputs, Sequence) and not isinstance(inputs, (str, bytes)):
        pairs = [(f"input{i}", t) for i, t in enumerate(inputs)]
    else:
        raise TypeError("gradcheck: inputs must be a Tensor, a list of Tensors or a mapping "
                        f"name -> Tensor; got {type(inputs).__name__}")
    if not pairs:
        raise ValueError("gradcheck: no inputs to check")
    seen: set[int] = set()
    for name, t in pairs:
        if not isinstance(t, Tensor):
            raise TypeError(f"gradcheck: input {name!r} must be a minigrad.Tensor; got "
                            f"{type(t).__name__}")
        if not t.requires_grad:
            raise ValueError(f"gradcheck: input {name!r} does not require grad, so the tape has "
                             "no gradient to check; create it with Tensor(..., requires_grad=True)")
        if t.dtype.kind == "c":
            raise TypeError(f"gradcheck: input {name!r} is complex ({t.dtype}); gradcheck checks "
                            "real functions of real inputs (mode='complex' makes its own copies)")
        if t.size == 0:
            raise ValueError(f"gradcheck: input {name!r} has no elements (shape {t.shape}), "
                             "so there is no gradient to check; pass non-empty inputs")
        if id(t) in seen:
            raise ValueError(f"gradcheck: input {name!r} is given twice")
        seen.add(id(t))
    return pairs


class _Evaluator:
    """φ(θ) = Σ v_out ⊙ f(θ) under no_grad(), with shape checks and an evaluation counter."""

    def __init__(self, f: Callable[[], Any], v_out: np.ndarray,
                 progress: Callable[[int], Any] | None) -> None:
        self.f = f
        self.v = v_out.ravel()
        self.shape = v_out.shape
        self.count = 0
        self.progress = progress
        self.complex_ok = False  # f() has returned a complex output once

    def output(self) -> Tensor:
        out = self.f()
        self.count += 1
        if self.progress is not None:
            self.progress(1)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: f() must return a minigrad.Tensor; got "
                            f"{type(out).__name__}")
        if out.shape != self.shape:
            raise ValueError(f"gradcheck: f() returned shape {out.shape} after returning "
                             f"{self.shape}; f must be a deterministic function of the inputs")
        return out

    def real(self) -> float:
        with no_grad():
            out = self.output()
        return float(np.dot(self.v, out.data.ravel()).real)

    def imag(self) -> float:
        with no_grad(), warnings.catch_warnings():
            warnings.simplefilter("error", _ComplexWarning)
            out = self.output()
        if out.dtype.kind != "c":
            raise ComplexStepError(
                f"gradcheck(mode='complex'): f() returned a {out.dtype} output for complex "
                "inputs, so an op dropped the imaginary part; the complex step needs analytic "
                "ops end to end. Use mode='full' instead.")
        return float(np.dot(self.v, out.data.ravel()).imag)


def _complex_error(exc: BaseException) -> ComplexStepError:
    return ComplexStepError(
        "gradcheck(mode='complex'): f() failed on complex inputs: the complex step needs every "
        "op between the inputs and the output to be analytic (no relu, maximum, where, "
        f"comparisons, abs, clipping). Use mode='full' instead. Cause: "
        f"{type(exc).__name__}: {exc}")


def checked_output(ev: _Evaluator, rng: np.random.Generator) -> tuple[Tensor, np.ndarray]:
    """f() on the tape, checked (a real non-empty Tensor that depends on the inputs), and the
    cotangent v_out that reduces it to φ = Σ v_out ⊙ f (ones for a scalar, else N(0, 1))."""
    out = ev.f()
    ev.count += 1
    if ev.progress is not None:
        ev.progress(1)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f() must return a minigrad.Tensor; got {type(out).__name__}")
    if not out.requires_grad:
        raise ValueError("gradcheck: f() returned a Tensor that does not require grad: it does "
                         "not depend on the inputs (or was computed under no_grad()); f must "
                         "recompute its output from the inputs on every call")
    if out.dtype.kind != "f":
        raise TypeError(f"gradcheck: f() must return a real Tensor; got {out.dtype}")
    if out.size == 0:
        raise ValueError(f"gradcheck: f() returned an empty Tensor (shape {out.shape}), so "
                         "every gradient is trivially zero and nothing would be checked")
    if out.dtype == np.float32:
        warnings.warn("gradcheck: f() returns float32 although its inputs are float64; "
                      "numeric derivatives of a float32 output are inaccurate (~1e-3)",
                      UserWarning, stacklevel=4)
    v = np.ones(out.shape) if out.size == 1 else rng.standard_normal(out.shape)
    ev.v, ev.shape = v.ravel(), out.shape
    return out, v.astype(out.dtype)


def _analytic(ev: _Evaluator, tensors: list[Tensor],
              rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """The tape's gradients of φ and φ(θ) itself; the graph is released afterwards."""
    out, v = checked_output(ev, rng)
    scale = float(np.sum(np.abs(ev.v * out.data.ravel())))  # Σ|v ⊙ out|: φ's rounding scale
    grads = _grad(out, tensors, grad_outputs=v, retain_graph=False, allow_unused=True)
    del out
    return [np.zeros(t.shape) if g is None else np.asarray(g, dtype=np.float64)
            for g, t in zip(grads, tensors)], scale


def _check(name: str, t: Tensor, dtype: str, mode: str, g: np.ndarray, g_hat: np.ndarray,
           index: np.ndarray | None, rtol: float, atol: float) -> InputCheck:
    """Compare g and ĝ on the checked entries (`index` into the flattened input, or None)."""
    err = np.abs(g - g_hat)
    j = int(np.argmax(err)) if err.size else 0
    worst = None if index is None else tuple(int(i) for i in np.unravel_index(index[j], t.shape))
    return InputCheck(name=name, shape=tuple(t.shape), dtype=dtype, mode=mode,
                      entries=int(g.size), max_abs_error=float(err.max(initial=0.0)),
                      rel_error=relative_error(g, g_hat), worst_index=worst,
                      analytic=float(g[j]) if g.size else 0.0,
                      numeric=float(g_hat[j]) if g.size else 0.0, rtol=rtol, atol=atol)


def gradcheck(f: Callable[[], Any], inputs: Any, *, mode: str = "full", eps: float | None = None,
              samples: int | None = None, seed: int = 0, atol: float | None = None,
              rtol: float | None = None, progress: Callable[[int], Any] | None = None,
              order: int = 1) -> GradcheckReport:
    """Check the tape's gradient of `f()` with respect to each input against a numeric one.

    `f` takes no arguments and recomputes its output from the current data of `inputs` (a
    Tensor, a list of Tensors, or a name → Tensor mapping; every input must require grad).
    `mode` is "full", "sampled", "directional" or "complex" (see the module docstring);
    `eps` the step (ε, h) of the mode; `samples` the entries per input for "sampled";
    `seed` fixes the output cotangent, the sampled entries and the directions; `rtol`/`atol`
    override the mode's thresholds; `progress(1)` is called after each evaluation of f.
    ValueError names the argument when `eps` is not finite and > 0, `rtol`/`atol` not finite
    and ≥ 0, or an input or f()'s output has no elements (nothing to check).
    `order=2` checks second derivatives instead: the tape's H w against finite differences
    of the first-order gradient ⟨w, ∇φ⟩ (PyTorch's gradgradcheck; `minigrad.gradgradcheck`).
    Float32 inputs are checked through float64 copies (with a UserWarning). Returns a
    `GradcheckReport`, truthy iff every input passed; the inputs are left exactly as they were.

    f is called 1 + Σ_inputs (2n | 2·samples | 4 | n) times (full | sampled | directional |
    complex), where n is the input's size; with order=2 each call also runs a backward pass.
    """
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"gradcheck: order must be 1 or 2; got {order!r}")
    if mode not in DEFAULTS:
        raise ValueError(f"gradcheck: mode must be one of {MODES}; got {mode!r}")
    if not callable(f):
        raise TypeError("gradcheck: f must be a callable taking no arguments that returns a "
                        f"Tensor computed from the inputs; got {type(f).__name__}")
    if samples is not None and mode != "sampled":
        raise ValueError(f"gradcheck: samples applies to mode='sampled' only (mode={mode!r})")
    cfg = DEFAULTS[mode]
    if eps is not None:
        eps = _finite("eps", eps, positive=True)
    k = cfg.samples if samples is None else int(samples)
    if k is not None and k < 1:
        raise ValueError(f"gradcheck: samples must be a positive integer; got {samples!r}")
    tol = cfg.rtol if rtol is None else _finite("rtol", rtol, positive=False)
    if atol is not None:
        atol = _finite("atol", atol, positive=False)
    pairs = _named_inputs(inputs)
    tensors = [t for _, t in pairs]
    originals = [t.data for t in tensors]
    dtypes = [str(a.dtype) for a in originals]
    low = [n for (n, _), d in zip(pairs, dtypes, strict=True) if d != "float64"]
    if low:
        warnings.warn(f"gradcheck: inputs {low} are not float64; checking float64 copies "
                      "(finite differences in float32 cannot resolve a gradient)",
                      UserWarning, stacklevel=2)
    rng_out, rng_pick = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    start = time.perf_counter()
    if order == 2:
        from .gradgradcheck import GradEvaluator  # (it builds on this module)
        second = GradEvaluator(f, tensors, progress)
    ev = second if order == 2 else _Evaluator(f, np.ones(()), progress)
    checks: list[InputCheck] = []
    try:
        works = [np.array(a, dtype=np.float64, copy=True, order="C") for a in originals]
        for t, w in zip(tensors, works, strict=True):
            t.data = w
        if order == 2:
            grads, scale = second.analytic(rng_out)
        else:
            grads, scale = _analytic(ev, tensors, rng_out)
        step = cfg.step(scale) if eps is None else eps
        noise = _NOISE * _U * scale / (1.0 if mode == "complex" else step)
        floor = noise if atol is None else atol
        if mode == "complex":  # every input complex: then a real output means a dropped Im
            works = [w.astype(np.complex128) for w in works]
            for t, w in zip(tensors, works, strict=True):
                t.data = w
        for (name, t), w, g, dtype in zip(pairs, works, grads, dtypes, strict=True):
            g_hat, index, g_cmp = _numeric(mode, ev, w, g, step, k, rng_pick)
            checks.append(_check(name, t, dtype, mode, g_cmp, g_hat, index, tol, floor))
    finally:
        for t, a in zip(tensors, originals, strict=True):
            t.data = a
    return GradcheckReport(checks, mode=mode, eps=step, seed=seed, evaluations=ev.count,
                           seconds=time.perf_counter() - start, order=order)


def _numeric(mode: str, ev: _Evaluator, w: np.ndarray, g: np.ndarray, step: float,
             k: int | None, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(numeric values, flat indices checked or None, matching analytic values) for one input."""
    flat = w.reshape(-1)  # a view: w is a private C-contiguous copy
    if mode == "directional":
        v = rng.standard_normal(w.shape)
        v /= max(float(np.linalg.norm(v)), np.finfo(np.float64).tiny)
        theta = w.copy()
        phis = []
        try:
            for s in (step, -step, 2 * step, -2 * step):
                np.add(theta, s * v, out=w)
                phis.append(ev.real())
        finally:
            w[...] = theta
        d = (8.0 * (phis[0] - phis[1]) - (phis[2] - phis[3])) / (12.0 * step)
        return np.array([d]), None, np.array([float(np.vdot(g, v))])
    if mode == "sampled" and k is not None and k < flat.size:
        index = np.sort(rng.choice(flat.size, size=k, replace=False))
    else:
        index = np.arange(flat.size)
    out = np.empty(index.size)
    if mode == "complex":  # w is a complex copy, installed as t.data by gradcheck
        for j, i in enumerate(index):
            x = flat[i]
            flat[i] = x + 1j * step
            try:
                out[j] = ev.imag() / step
            except ComplexStepError:
                raise
            except (TypeError, ValueError, RuntimeError, ArithmeticError,
                    _ComplexWarning) as exc:
                if ev.complex_ok:  # f already ran on complex inputs: not a complex problem
                    raise
                raise _complex_error(exc) from exc
            finally:
                flat[i] = x
            ev.complex_ok = True
        return out, index, g.reshape(-1)[index]
    for j, i in enumerate(index):
        x = flat[i]
        try:
            flat[i] = x + step
            xp = flat[i]
            fp = ev.real()
            flat[i] = x - step
            xm = flat[i]
            fm = ev.real()
        finally:
            flat[i] = x
        out[j] = (fp - fm) / (xp - xm)  # the steps actually taken, after rounding
    return out, index, g.reshape(-1)[index]


def assert_gradcheck(f: Callable[[], Any], inputs: Any, **kwargs: Any) -> GradcheckReport:
    """`gradcheck(f, inputs, **kwargs)`; on failure raises AssertionError with its table."""
    report = gradcheck(f, inputs, **kwargs)
    if not report.ok:
        raise AssertionError("gradient check failed\n" + str(report))
    return report
