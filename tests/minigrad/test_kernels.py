"""Element-wise kernels (minigrad.kernels.elementwise): Numba kernel == NumPy twin == dispatch.

Tolerances: float64 ``|a - b| <= 1e-15 |b| + tiny`` (``tiny`` = smallest normal float, so values
that underflow to subnormals compare fairly), float32 ``2e-6 |b| + tiny``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad.kernels as K
from minigrad.kernels import elementwise as E

REPO = Path(__file__).resolve().parents[2]
FORWARD = ("sigmoid", "tanh")
BACKWARD = ("sigmoid_backward", "tanh_backward")
RTOL = {np.dtype(np.float64): 1e-15, np.dtype(np.float32): 2e-6}
SHAPES = [(), (0,), (0, 3), (1,), (50, 1), (128, 32), (4, 5, 3)]


def assert_close(a: np.ndarray, b: np.ndarray, rtol: float | None = None) -> None:
    """Same shape and dtype, and ``|a - b| <= rtol |b| + tiny`` element-wise (NaN == NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    rtol = RTOL[np.dtype(b.real.dtype)] if rtol is None else rtol
    tiny = np.finfo(b.real.dtype).tiny
    same_nan = np.isnan(a) & np.isnan(b)
    ok = (np.abs(a - b) <= rtol * np.abs(b) + tiny) | same_nan | (a == b)
    assert ok.all(), f"max rel err {np.max(np.abs(a - b)[~ok] / np.abs(b)[~ok]):.3g}"


def data(shape: tuple[int, ...], dtype: type = np.float64, scale: float = 8.0,
         seed: int = 0) -> np.ndarray:
    """Normal samples times ``scale``: sigmoid/tanh are tested in and beyond saturation."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def numba_path(name: str, *args: np.ndarray) -> np.ndarray:
    """The raw Numba kernel of ``name`` run on arrays of any shape."""
    kernel = getattr(K, f"{name}_numba")
    if len(args) == 1:
        return K.run_numba_unary(kernel, args[0])
    return K.run_numba_binary(kernel, *args)


def backward_args(name: str, shape: tuple[int, ...], dtype: type = np.float64,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(y, g): y the forward output of ``name`` at random x, g a random upstream gradient."""
    x = data(shape, dtype, seed=seed)
    y = K.sigmoid_numpy(x) if name.startswith("sigmoid") else K.tanh_numpy(x)
    return y, data(shape, dtype, scale=1.0, seed=seed + 1)


# ----------------------------------------------------------------------------- kernel == twin


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", FORWARD)
def test_forward_kernel_equals_twin(name: str, shape: tuple[int, ...], dtype: type) -> None:
    x = data(shape, dtype)
    assert_close(numba_path(name, x), getattr(K, f"{name}_numpy")(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BACKWARD)
def test_backward_kernel_equals_twin(name: str, shape: tuple[int, ...], dtype: type) -> None:
    y, g = backward_args(name, shape, dtype)
    assert_close(numba_path(name, y, g), getattr(K, f"{name}_numpy")(y, g))


def views() -> list[tuple[str, np.ndarray]]:
    """Non-contiguous and Fortran-ordered views of a (64, 48) array."""
    base = data((64, 48))
    return [("step", base[::2, 1::3]), ("T", base.T), ("F", np.asfortranarray(base)),
            ("neg", base[::-1, ::-2]), ("col", base[:, 5:6])]


@pytest.mark.parametrize(("label", "x"), views())
@pytest.mark.parametrize("name", FORWARD)
def test_non_contiguous_inputs(name: str, label: str, x: np.ndarray) -> None:
    want = getattr(K, f"{name}_numpy")(np.ascontiguousarray(x))
    assert_close(numba_path(name, x), want)
    assert_close(getattr(K, name)(x), want)
    y, g = K.sigmoid_numpy(x), x[::-1]  # both non-contiguous, differently strided
    want_b = K.sigmoid_backward_numpy(np.ascontiguousarray(y), np.ascontiguousarray(g))
    assert_close(numba_path("sigmoid_backward", y, g), want_b)
    assert_close(K.sigmoid_backward(y, g), want_b)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9),
        elements=st.floats(-800, 800, width=32),
    ),
    g_scale=st.floats(-3, 3),
)
def test_hypothesis_all_paths_agree(x: np.ndarray, g_scale: float) -> None:
    for name in FORWARD:
        want = getattr(K, f"{name}_numpy")(x)
        assert_close(numba_path(name, x), want)
        assert_close(getattr(K, name)(x), want)
        y, g = want, (x * g_scale).astype(x.dtype)
        bname = f"{name}_backward"
        want_b = getattr(K, f"{bname}_numpy")(y, g)
        assert_close(numba_path(bname, y, g), want_b)
        assert_close(getattr(K, bname)(y, g), want_b)


# ----------------------------------------------------------------------------- math


def test_backward_formulas() -> None:
    """The backward kernels are exactly g·y·(1-y) and g·(1-y²), not something close to them."""
    y = np.array([0.0, 0.25, 0.5, 0.75, 1.0, -0.5])
    g = np.array([2.0, 4.0, -8.0, 1.0, 3.0, 0.5])
    np.testing.assert_array_equal(K.sigmoid_backward(y, g), g * y * (1 - y))
    np.testing.assert_array_equal(K.tanh_backward(y, g), g * (1 - y * y))
    np.testing.assert_array_equal(numba_path("sigmoid_backward", y, g), g * y * (1 - y))
    np.testing.assert_array_equal(numba_path("tanh_backward", y, g), g * (1 - y * y))


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs 80-bit long double")
@pytest.mark.parametrize("path", ["numba", "numpy"])
def test_sigmoid_accurate_to_last_bits(path: str) -> None:
    """Within 2 ulp of σ computed in long double, across the whole range (no cancellation).

    (The textbook ``0.5 (1 + tanh(x/2))`` is off by 2^k ulp at x = -k·0.7: it cancels.)
    """
    x = np.concatenate([np.linspace(-740, 740, 20001), data((5000,), scale=20.0)])
    xl = x.astype(np.longdouble)
    ref = (1 / (1 + np.exp(-xl))).astype(np.float64)
    got = numba_path("sigmoid", x) if path == "numba" else K.sigmoid_numpy(x)
    ulps = np.abs(got - ref) / np.spacing(ref)
    assert ulps.max() <= 2, f"sigmoid off by {ulps.max()} ulp at x = {x[ulps.argmax()]}"


@pytest.mark.parametrize("size", [8, 5000])  # both sides of SIGMOID_NUMBA_MAX_SIZE
def test_sigmoid_extremes_no_warning(size: int) -> None:
    x = np.resize(np.array([-1000.0, 1000.0, -745.5, 745.5, -np.inf, np.inf, 0.0, -0.0]), size)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        outs = [K.sigmoid(x), K.sigmoid_numpy(x), numba_path("sigmoid", x), K.tanh(x)]
        outs.append(K.sigmoid_backward(outs[0], np.ones_like(x)))
        outs.append(K.tanh_backward(outs[3], np.ones_like(x)))
        s32 = K.sigmoid(x.astype(np.float32))
    for s in outs[:3]:
        np.testing.assert_array_equal(s[:8], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.5])
    np.testing.assert_array_equal(outs[3][:8], [-1, 1, -1, 1, -1, 1, 0, 0])
    assert np.all(np.isfinite(outs[4])) and np.all(np.isfinite(outs[5]))
    assert s32.dtype == np.float32 and np.all((s32 >= 0) & (s32 <= 1))


def test_nan_propagates() -> None:
    x = np.array([np.nan, 1.0])
    for f in (K.sigmoid, K.sigmoid_numpy, K.tanh, K.tanh_numpy):
        assert np.isnan(f(x)[0]) and not np.isnan(f(x)[1])
    assert np.isnan(numba_path("sigmoid", x)[0]) and np.isnan(numba_path("tanh", x)[0])


# ----------------------------------------------------------------------------- complex step


@pytest.mark.parametrize("name", FORWARD)
def test_complex_step_gives_analytic_derivative(name: str) -> None:
    """Im f(x + ih) / h = f'(x) with h = 1e-20: σ' = σ(x) σ(-x), tanh' = 1 / cosh²(x).

    (Written so that the reference keeps full relative precision in the tails, where
    ``σ(1 - σ)`` and ``1 - tanh²`` round to 0 but the complex step does not.)
    """
    h = 1e-20
    x = np.concatenate([data((200,), scale=6.0), [-40.0, 40.0, -1000.0, 1000.0, 0.0]])
    fz = getattr(K, name)(x + 1j * h)
    assert fz.dtype == np.complex128 and fz.shape == x.shape
    y = getattr(K, name)(x)
    with np.errstate(over="ignore"):
        dydx = y * K.sigmoid(-x) if name == "sigmoid" else 1 / np.cosh(x) ** 2
    assert_close(fz.imag / h, dydx, rtol=1e-14)
    assert_close(fz.real, y)  # the real part is as accurate as the real function


def test_complex_backward_is_analytic() -> None:
    """Complex step through the backward: d/dy [g y (1-y)] = g (1 - 2y), d/dy [g (1-y²)] = -2gy."""
    h = 1e-20
    y, g = np.linspace(-0.9, 0.9, 7), np.linspace(1, 2, 7)
    assert_close(K.sigmoid_backward(y + 1j * h, g).imag / h, g * (1 - 2 * y), rtol=1e-14)
    assert_close(K.tanh_backward(y + 1j * h, g).imag / h, -2 * g * y, rtol=1e-14)


def test_complex_sigmoid_at_large_real_part_no_warning() -> None:
    z = np.array([-1000 + 1e-20j, 1000 + 1e-20j, -30 + 0.5j, 30 - 0.5j])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = K.sigmoid(z)
    want = 1 / (1 + np.exp(-z[2:]))  # moderate |z|: the naive formula is fine
    assert_close(s[2:], want, rtol=1e-14)
    assert s[0] == 0 and s[1] == 1


# ----------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("name", FORWARD + BACKWARD)
def test_dispatch_routes_by_size_and_agrees(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the threshold Numba runs (unless JIT is disabled), above it NumPy; same results."""
    calls: list[int] = []
    raw = getattr(E, f"{name}_numba")

    def spy(*args: np.ndarray) -> None:
        calls.append(args[0].size)
        raw(*args)

    monkeypatch.setattr(E, f"{name}_numba", spy)
    args = backward_args(name, (40, 25)) if name in BACKWARD else (data((40, 25)),)
    twin = getattr(K, f"{name}_numpy")(*args)
    threshold = f"{name.upper()}_NUMBA_MAX_SIZE"
    results = {}
    for limit in (0, 999, 1000, sys.maxsize):
        monkeypatch.setattr(E, threshold, limit)
        calls.clear()
        results[limit] = getattr(K, name)(*args)
        assert calls == ([1000] if limit >= 1000 and not E.JIT_DISABLED else []), limit
        assert_close(results[limit], twin)


def test_thresholds_are_the_measured_ones() -> None:
    assert K.SIGMOID_NUMBA_MAX_SIZE == 2048 and K.TANH_NUMBA_MAX_SIZE == 16
    assert K.SIGMOID_BACKWARD_NUMBA_MAX_SIZE == K.TANH_BACKWARD_NUMBA_MAX_SIZE == sys.maxsize


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(), (0,), (3, 1), (5000,)])
def test_dispatch_shape_dtype_and_fresh_output(shape: tuple[int, ...], dtype: type) -> None:
    x = data(shape).astype(dtype)
    for name in FORWARD:
        for f in (getattr(K, name), getattr(K, f"{name}_numpy")):
            out = f(x)
            assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == x.dtype
            assert not np.shares_memory(out, x)
        y, g = getattr(K, name)(x), x
        for f in (getattr(K, f"{name}_backward"), getattr(K, f"{name}_backward_numpy")):
            out = f(y, g)
            assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == x.dtype
            assert not np.shares_memory(out, y) and not np.shares_memory(out, g)


def test_backward_promotes_and_broadcasts() -> None:
    y32 = K.sigmoid(data((3, 1), np.float32))
    g64 = data((3, 4), scale=1.0, seed=2)
    for f in (K.sigmoid_backward, K.sigmoid_backward_numpy, K.tanh_backward):
        out = f(y32, g64)
        assert out.dtype == np.float64 and out.shape == (3, 4)
    want = g64 * y32.astype(np.float64) * (1 - y32.astype(np.float64))
    assert_close(K.sigmoid_backward(y32, g64), want)
    assert K.sigmoid_backward(y32, y32).dtype == np.float32


def test_integer_byteswapped_and_readonly_inputs() -> None:
    """Ints become float64; big-endian floats (which Numba rejects) and read-only arrays (saved
    for backward by the engine) are accepted."""
    np.testing.assert_array_equal(K.sigmoid(np.array([0, 0])), [0.5, 0.5])
    assert K.tanh(np.arange(3)).dtype == np.float64
    x = data((4, 3))
    swapped = x.astype(x.dtype.newbyteorder())
    assert_close(K.sigmoid(swapped).astype(np.float64), K.sigmoid(x))
    assert_close(K.tanh_backward(swapped, swapped).astype(np.float64), K.tanh_backward(x, x))
    y, g = backward_args("tanh_backward", (6, 7))
    y.flags.writeable = False
    g.flags.writeable = False
    assert_close(K.tanh_backward(y, g), K.tanh_backward_numpy(y, g))
    assert_close(K.tanh(y), K.tanh_numpy(y))


# ----------------------------------------------------------------------------- import / JIT


def run_python(code: str, disable_jit: str) -> str:
    """Run ``code`` in a fresh interpreter with the repo on sys.path; return its stdout."""
    env = dict(os.environ, NUMBA_DISABLE_JIT=disable_jit)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


KERNEL_NAMES = [f"{n}_numba" for n in FORWARD + BACKWARD]


def test_import_compiles_nothing() -> None:
    out = run_python(f"""
        import minigrad.kernels as K
        from numba.core.registry import CPUDispatcher
        for name in {KERNEL_NAMES!r}:
            f = getattr(K, name)
            assert isinstance(f, CPUDispatcher), (name, type(f))
            assert type(f._cache).__name__ == "FunctionCache", name  # cache=True
            print(name, len(f.signatures))
        """, disable_jit="0")
    assert out.split() == [w for n in KERNEL_NAMES for w in (n, "0")], out


def test_works_with_jit_disabled() -> None:
    out = run_python("""
        import numpy as np
        import minigrad.kernels as K
        assert K.JIT_DISABLED
        x = np.linspace(-1000, 1000, 101).reshape(101, 1)
        for name in ("sigmoid", "tanh"):
            want = getattr(K, name + "_numpy")(x)
            np.testing.assert_allclose(getattr(K, name)(x), want, rtol=1e-15)
            np.testing.assert_allclose(K.run_numba_unary(getattr(K, name + "_numba"), x), want,
                                       rtol=1e-15, atol=1e-300)
            g = np.cos(x)
            bw = name + "_backward"
            np.testing.assert_allclose(getattr(K, bw)(want, g),
                                       K.run_numba_binary(getattr(K, bw + "_numba"), want, g))
        print("ok")
        """, disable_jit="1")
    assert out.strip() == "ok"


def test_kernels_package_is_the_only_numba_user() -> None:
    """No Python file of minigrad/ or models/ outside minigrad/kernels/ imports numba."""
    kernels = REPO / "minigrad" / "kernels"
    offenders = [
        str(p.relative_to(REPO))
        for p in [*(REPO / "minigrad").rglob("*.py"), *(REPO / "models").rglob("*.py")]
        if kernels not in p.parents
        and any(line.lstrip().startswith(("import numba", "from numba"))
                for line in p.read_text(encoding="utf-8").splitlines())
    ]
    assert offenders == []



# ----------------------------------------------------------------------------- σ in the fused steps
SATURATED = np.array([-1000.0, 1000.0, -745.5, 745.5, -40.0, 40.0, 0.3, -0.3])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_sigmoid_inplace_matches_the_twin(dtype: type) -> None:
    """In place on a strided block (with and without scratch), as ``sigmoid_numpy``, no warning."""
    z = data((6, 12)).astype(dtype)
    z[0, 4:] = SATURATED
    if dtype == np.complex128:
        z += 1e-20j
    want = K.sigmoid_numpy(z[:, 4:])
    z2 = z.copy()
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        K.sigmoid_inplace(z[:, 4:])
        K.sigmoid_inplace(z2[:, 4:], np.empty((6, 8), dtype))
    assert_close(z[:, 4:], want)
    np.testing.assert_array_equal(z2, z)
    assert z[0, 4] == 0 and z[0, 5] == 1


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("step", ["lstm_forward_step", "lstm_forward_step_np"])
def test_fused_lstm_gates_are_the_elementwise_sigmoid(step: str, dtype: type) -> None:
    """The fused steps' gates equal ``K.sigmoid``, saturating to exactly 0/1 without warnings
    for real and complex-step pre-activations (a naive 1/(1 + e^-x) gives NaN at x + 1e-20j,
    x = -1000)."""
    from minigrad.kernels import fused_rnn_lstm as F
    n = SATURATED.size
    x = SATURATED.astype(dtype) + (1e-20j if dtype == np.complex128 else 0)
    z = np.zeros((1, 4 * n), dtype)
    z[0, n:] = np.tile(x, 3)
    zeros = np.zeros((1, n), dtype)
    c, tc, h = (np.empty((1, n), dtype) for _ in range(3))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        getattr(F, step)(np.zeros((1, 4 * n), dtype), z, np.zeros(4 * n, dtype), zeros, c, tc, h)
        want = K.sigmoid(x)
    for k in (1, 2, 3):
        assert_close(z[0, k * n:(k + 1) * n], want)
    assert np.all(z[0, n:].real[0::8] == 0) and np.all(z[0, n:].real[1::8] == 1)


@pytest.mark.parametrize("step", ["gru_gates_step", "gru_gates_step_np"])
def test_fused_gru_gates_are_the_elementwise_sigmoid(step: str) -> None:
    from minigrad.kernels import fused_gru as FG
    n = SATURATED.size
    z = np.zeros((1, 3 * n))
    z[0, n:] = np.tile(SATURATED, 2)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        getattr(FG, step)(np.zeros((1, 2 * n)), z, np.ones((1, n)), np.empty((1, n)))
    assert_close(z[0, n:], np.tile(K.sigmoid(SATURATED), 2))
