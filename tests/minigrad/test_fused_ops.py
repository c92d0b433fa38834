"""Fused recurrences (minigrad.ops.fused): against a plain NumPy reference of SPEC.md,
complex-step derivatives, finite differences, the composed models, and through the tape."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import models
from minigrad.ops import fused as R
from minigrad.ops import fused_bptt as B

CELLS = ["rnn", "rnn_relu", "lstm", "gru", "gru_after"]


# ----------------------------------------------------------------------------- reference
# SPEC.md step by step: column layout, separate weights, [state; x] products, hand BPTT.
# Each returns A (n_a, m, T) and the gradients of J = sum(dA * A) as a dict.
def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _dense(p, g, k, dz, v):
    """z = W_k v + b_k: accumulate dW_k and db_k, return dJ/dv."""
    g["W_" + k] += dz @ v.T
    g["b_" + k] += dz.sum(1, keepdims=True)
    return p["W_" + k].T @ dz


def ref_rnn(x, s, p, dA, relu=False):
    T, n = x.shape[2], dA.shape[0]
    a, cache, A = s["a0"], [], []
    for t in range(T):
        v = np.concatenate([a, x[:, :, t]])
        z = p["W_a"] @ v + p["b_a"]
        a = np.maximum(z, 0) if relu else np.tanh(z)
        cache.append((v, a))
        A.append(a)
    g = {k: np.zeros_like(w) for k, w in p.items()}
    g["x"], da = np.zeros_like(x), np.zeros_like(a)
    for t in reversed(range(T)):
        v, a = cache[t]
        dz = (dA[:, :, t] + da) * ((a > 0) if relu else (1 - a**2))
        dv = _dense(p, g, "a", dz, v)
        da, g["x"][:, :, t] = dv[:n], dv[n:]
    g["a0"] = da
    return np.stack(A, axis=2), g


def ref_lstm(x, s, p, dA):
    T, n = x.shape[2], dA.shape[0]
    a, c, cache, A = s["a0"], s["c0"], [], []
    for t in range(T):
        v = np.concatenate([a, x[:, :, t]])
        cand = np.tanh(p["W_c"] @ v + p["b_c"])
        u = sig(p["W_u"] @ v + p["b_u"])
        f = sig(p["W_f"] @ v + p["b_f"])
        o = sig(p["W_o"] @ v + p["b_o"])
        c_new = u * cand + f * c
        a = o * np.tanh(c_new)
        cache.append((v, c, cand, u, f, o, c_new))
        c = c_new
        A.append(a)
    g = {k: np.zeros_like(w) for k, w in p.items()}
    g["x"], da, dc = np.zeros_like(x), np.zeros_like(a), np.zeros_like(c)
    for t in reversed(range(T)):
        v, c_prev, cand, u, f, o, c = cache[t]
        da_t, tc = dA[:, :, t] + da, np.tanh(c)
        dc_t = dc + da_t * o * (1 - tc**2)
        dv = (
            _dense(p, g, "c", dc_t * u * (1 - cand**2), v)
            + _dense(p, g, "u", dc_t * cand * u * (1 - u), v)
            + _dense(p, g, "f", dc_t * c_prev * f * (1 - f), v)
            + _dense(p, g, "o", da_t * tc * o * (1 - o), v)
        )
        da, dc, g["x"][:, :, t] = dv[:n], dc_t * f, dv[n:]
    g["a0"], g["c0"] = da, dc
    return np.stack(A, axis=2), g


def ref_gru(x, s, p, dA):
    """The notes' GRU: ĉ = tanh(W_c [Γ_r * c; x] + b_c)."""
    T, n = x.shape[2], dA.shape[0]
    c, cache, A = s["c0"], [], []
    for t in range(T):
        v = np.concatenate([c, x[:, :, t]])
        u, r = sig(p["W_u"] @ v + p["b_u"]), sig(p["W_r"] @ v + p["b_r"])
        vr = np.concatenate([r * c, x[:, :, t]])
        cand = np.tanh(p["W_c"] @ vr + p["b_c"])
        cache.append((v, vr, c, u, r, cand))
        c = u * cand + (1 - u) * c
        A.append(c)
    g = {k: np.zeros_like(w) for k, w in p.items()}
    g["x"], dc = np.zeros_like(x), np.zeros_like(c)
    for t in reversed(range(T)):
        v, vr, c_prev, u, r, cand = cache[t]
        dc_t = dA[:, :, t] + dc
        dvr = _dense(p, g, "c", dc_t * u * (1 - cand**2), vr)
        dr = dvr[:n] * c_prev
        dv = _dense(p, g, "u", dc_t * (cand - c_prev) * u * (1 - u), v) + _dense(
            p, g, "r", dr * r * (1 - r), v
        )
        dc = dc_t * (1 - u) + dvr[:n] * r + dv[:n]
        g["x"][:, :, t] = dvr[n:] + dv[n:]
    g["c0"] = dc
    return np.stack(A, axis=2), g


def ref_gru_after(x, s, p, dA):
    """Reset after: ĉ = tanh(W_cx x + b_c + Γ_r * (W_cc c + b_cc)), W_c = [W_cc | W_cx]."""
    T, n = x.shape[2], dA.shape[0]
    W_cc, W_cx = p["W_c"][:, :n], p["W_c"][:, n:]
    c, cache, A = s["c0"], [], []
    for t in range(T):
        v = np.concatenate([c, x[:, :, t]])
        u, r = sig(p["W_u"] @ v + p["b_u"]), sig(p["W_r"] @ v + p["b_r"])
        hc = W_cc @ c + p["b_cc"]
        cand = np.tanh(W_cx @ x[:, :, t] + p["b_c"] + r * hc)
        cache.append((v, c, u, r, hc, cand))
        c = u * cand + (1 - u) * c
        A.append(c)
    g = {k: np.zeros_like(w) for k, w in p.items()}
    g["x"], dc = np.zeros_like(x), np.zeros_like(c)
    for t in reversed(range(T)):
        v, c_prev, u, r, hc, cand = cache[t]
        dc_t = dA[:, :, t] + dc
        dz_c = dc_t * u * (1 - cand**2)
        dhc = dz_c * r
        g["W_c"] += np.concatenate([dhc @ c_prev.T, dz_c @ v[n:].T], axis=1)
        g["b_c"] += dz_c.sum(1, keepdims=True)
        g["b_cc"] += dhc.sum(1, keepdims=True)
        dv = _dense(p, g, "u", dc_t * (cand - c_prev) * u * (1 - u), v) + _dense(
            p, g, "r", dz_c * hc * r * (1 - r), v
        )
        dc = dc_t * (1 - u) + W_cc.T @ dhc + dv[:n]
        g["x"][:, :, t] = W_cx.T @ dz_c + dv[n:]
    g["c0"] = dc
    return np.stack(A, axis=2), g


REFERENCES = {
    "rnn": ref_rnn,
    "rnn_relu": lambda x, s, p, dA: ref_rnn(x, s, p, dA, relu=True),
    "lstm": ref_lstm,
    "gru": ref_gru,
    "gru_after": ref_gru_after,
}
GATES = {"rnn": "a", "rnn_relu": "a", "lstm": "cufo", "gru": "urc", "gru_after": "urc"}
STATES = {"rnn": ["a0"], "rnn_relu": ["a0"], "lstm": ["a0", "c0"], "gru": ["c0"],
          "gru_after": ["c0"]}


def make_problem(cell, n_x=3, m=2, T=4, n=3, seed=0, dtype=np.float64):
    """Random inputs, initial states, parameters (SPEC.md shapes) and upstream gradient dA."""
    rng = np.random.default_rng(seed)
    p = {}
    for k in GATES[cell]:
        p["W_" + k] = rng.standard_normal((n, n + n_x)) * 0.6
        p["b_" + k] = rng.standard_normal((n, 1)) * 0.3
    if cell == "gru_after":
        p["b_cc"] = rng.standard_normal((n, 1)) * 0.3
    x = rng.standard_normal((n_x, m, T))
    s = {k: rng.standard_normal((n, m)) * 0.5 for k in STATES[cell]}
    dA = rng.standard_normal((n, m, T))
    cast = lambda d: {k: v.astype(dtype) for k, v in d.items()}  # noqa: E731
    return x.astype(dtype), cast(s), cast(p), dA.astype(dtype)


def op_inputs(cell, s, p):
    """States then parameters in the fused op's positional order (after x)."""
    state_names, param_names, _ = R.CELLS["rnn" if cell == "rnn_relu" else cell]
    return [s[k] for k in state_names] + [p[k] for k in param_names]


def input_names(cell):
    state_names, param_names, _ = R.CELLS["rnn" if cell == "rnn_relu" else cell]
    return ["x", *state_names, *param_names]


def fused_arrays(cell, x, s, p, dA):
    """The fused op on plain arrays: A and the gradients of sum(dA * A) as a dict."""
    name = "rnn" if cell == "rnn_relu" else cell
    (A, *_), cache = R.forward_arrays(name, x, op_inputs(cell, s, p), relu=cell == "rnn_relu")
    grads = R.backward_arrays(cache, dA)
    names = input_names(cell)[(1 if x.dtype.kind in "iu" else 0) :]
    return A, dict(zip(names, grads, strict=True))


def assert_close(a, b, tol=1e-12, what=""):
    err = np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"


# ----------------------------------------------------------------------------- tests
@pytest.fixture(params=["loop", "steps"])
def path(request, monkeypatch):
    """Force the whole-loop-in-Numba path or the per-step BLAS path; tiny chunks in backward."""
    monkeypatch.setattr(B, "SMALL_WORK", 10**9 if request.param == "loop" else 0)
    return request.param


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("chunk", [1 << 18, 40])
def test_matches_reference(cell, chunk, path, monkeypatch):
    monkeypatch.setattr(B, "CHUNK_ELEMS", chunk)  # 40: one or two steps per backward chunk
    x, s, p, dA = make_problem(cell, n_x=3, m=2, T=5, n=3)
    A_ref, g_ref = REFERENCES[cell](x, s, p, dA)
    A, g = fused_arrays(cell, x, s, p, dA)
    assert A.shape == A_ref.shape == dA.shape
    assert_close(A, A_ref, what="A")
    assert g.keys() == g_ref.keys()
    for k in g:
        assert g[k].shape == g_ref[k].shape, k
        assert_close(g[k], g_ref[k], what=k)


def one_hot(ids, n_x):
    """(m, T) ids -> (n_x, m, T) one-hot floats."""
    return np.moveaxis(np.eye(n_x)[ids], -1, 0)


@pytest.mark.parametrize("cell", CELLS)
def test_complex_step_matches_backward(cell, path):
    """Complex forward works; Im J(θ + i h v) / h = <dJ/dθ, v> for J = sum(dA * A), h = 1e-20."""
    if cell == "rnn_relu":
        pytest.skip("relu is not analytic")
    x, s, p, dA = make_problem(cell, n_x=2, m=3, T=4, n=2, seed=1)
    _, g = fused_arrays(cell, x, s, p, dA)
    vals = {"x": x, **s, **p}
    rng = np.random.default_rng(2)
    for k in input_names(cell):
        v = rng.standard_normal(vals[k].shape)
        shifted = {**vals, k: vals[k] + 1e-20j * v}
        A, _ = fused_arrays(cell, shifted["x"], {q: shifted[q] for q in s},
                            {q: shifted[q] for q in p}, dA)
        assert A.dtype == np.complex128
        d_cs = np.sum(dA * A).imag / 1e-20
        d_bw = np.sum(g[k] * v)
        assert abs(d_cs - d_bw) <= 1e-13 * max(1.0, abs(d_bw)), (k, d_cs, d_bw)


@pytest.mark.parametrize("cell", CELLS)
def test_finite_differences(cell):
    """Central differences of J = sum(dA * A) on every element of every input (tiny sizes)."""
    x, s, p, dA = make_problem(cell, n_x=2, m=2, T=3, n=2, seed=3)
    _, g = fused_arrays(cell, x, s, p, dA)
    vals = {"x": x, **s, **p}

    def J(v):
        A, _ = fused_arrays(cell, v["x"], {q: v[q] for q in s}, {q: v[q] for q in p}, dA)
        return np.sum(dA * A)

    eps = 1e-6
    for k in input_names(cell):
        num = np.zeros_like(vals[k])
        for i in np.ndindex(vals[k].shape):
            e = np.zeros_like(vals[k])
            e[i] = eps
            num[i] = (J({**vals, k: vals[k] + e}) - J({**vals, k: vals[k] - e})) / (2 * eps)
        np.testing.assert_allclose(g[k], num, rtol=1e-6, atol=1e-8, err_msg=k)


@pytest.mark.parametrize("cell", CELLS)
def test_token_ids_equal_one_hot(cell, path):
    x, s, p, dA = make_problem(cell, n_x=5, m=3, T=4, n=3, seed=4)
    ids = np.random.default_rng(5).integers(0, 5, size=(3, 4))
    A1, g1 = fused_arrays(cell, ids, s, p, dA)
    A2, g2 = fused_arrays(cell, one_hot(ids, 5), s, p, dA)
    assert "x" not in g1
    assert_close(A1, A2, what="A")
    for k in g1:
        assert_close(g1[k], g2[k], what=k)


@pytest.mark.parametrize("cell", CELLS)
def test_float32(cell, path):
    x, s, p, dA = make_problem(cell, n_x=3, m=2, T=5, n=4, seed=6)
    A64, g64 = fused_arrays(cell, x, s, p, dA)
    f32 = lambda d: {k: v.astype(np.float32) for k, v in d.items()}  # noqa: E731
    A32, g32 = fused_arrays(cell, x.astype(np.float32), f32(s), f32(p), dA.astype(np.float32))
    assert A32.dtype == np.float32
    assert_close(A32, A64, tol=1e-5, what="A")
    for k in g64:
        assert g32[k].dtype == np.float32, k
        assert_close(g32[k], g64[k], tol=1e-5, what=k)


@given(cell=st.sampled_from(CELLS), n_x=st.integers(1, 4), m=st.integers(1, 4),
       T=st.integers(1, 6), n=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_shapes_property(cell, n_x, m, T, n, seed):
    x, s, p, dA = make_problem(cell, n_x=n_x, m=m, T=T, n=n, seed=seed)
    A_ref, g_ref = REFERENCES[cell](x, s, p, dA)
    A, g = fused_arrays(cell, x, s, p, dA)
    assert_close(A, A_ref, what="A")
    for k in g:
        assert_close(g[k], g_ref[k], what=k)


def test_without_jit():
    """The kernels run as plain Python under NUMBA_DISABLE_JIT=1 (tiny sizes)."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
           "test_matches_reference or test_token_ids"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


# ----------------------------------------------------------------------------- through the tape
FUSED = {
    "rnn": R.rnn_recurrence,
    "rnn_relu": lambda *a: R.rnn_recurrence(*a, activation="relu"),
    "lstm": R.lstm_recurrence,
    "gru": R.gru_recurrence,
    "gru_after": R.gru_reset_after_recurrence,
}


def assert_same_function(f, f_spec, inputs, tol=1e-12, seed=0):
    """f() and f_spec() (Tensors computed from the Tensors `inputs`) agree to `tol` (relative
    to max(1, |value|)), and so do the gradients of sum(v * output) for a random v wrt every
    input. Used to hold a fused op to its specification (the composed models)."""
    out, out_spec = f(), f_spec()
    assert out.shape == out_spec.shape
    assert_close(out.data, out_spec.data, tol, "output")
    v = np.random.default_rng(seed).standard_normal(out.shape)
    g = mg.grad(out, inputs, grad_outputs=v)
    g_spec = mg.grad(out_spec, inputs, grad_outputs=v)
    for i, (a, b) in enumerate(zip(g, g_spec, strict=True)):
        assert_close(a, b, tol, f"gradient of input {i}")


def tensors(cell, **sizes):
    x, s, p, dA = make_problem(cell, **sizes)
    vals = {"x": x, **s, **p}
    return {k: mg.Tensor(vals[k], requires_grad=True) for k in input_names(cell)}, dA


@pytest.mark.parametrize("cell", CELLS)
def test_tape_matches_reference(cell):
    T, dA = tensors(cell, n_x=3, m=2, T=4, n=3)
    A = FUSED[cell](*T.values())
    A_ref, g_ref = REFERENCES[cell](*(
        [T["x"].data, {k: T[k].data for k in STATES[cell]},
         {k: t.data for k, t in T.items() if k[0] in "Wb"}, dA]))
    assert_close(A.data, A_ref, what="A")
    for k, g in zip(T, mg.grad(A, list(T.values()), grad_outputs=dA), strict=True):
        assert_close(g, g_ref[k], what=k)
    assert "recurrence" in mg.show_tape(A).__str__()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("mode", ["full", "complex"])
def test_gradcheck(cell, mode):
    if cell == "rnn_relu" and mode == "complex":
        pytest.skip("relu is not analytic")
    T, _ = tensors(cell, n_x=2, m=2, T=3, n=2, seed=7)
    mg.assert_gradcheck(lambda: FUSED[cell](*T.values()), T, mode=mode)


def test_lstm_return_c_gradcheck():
    T, _ = tensors("lstm", n_x=2, m=2, T=3, n=2, seed=8)

    def f():
        A, C = R.lstm_recurrence(*T.values(), return_c=True)
        return A * 0.5 + C * C

    mg.assert_gradcheck(f, T, mode="complex")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "gru_after"])
def test_time_major_layout(cell):
    """time_major=True gives the same values as (n_a, T_x m), columns ordered (t, example)."""
    T, _ = tensors(cell, n_x=3, m=2, T=4, n=3, seed=9)
    ins = list(T.values())
    A = FUSED[cell](*ins)
    B = FUSED[cell](*ins, time_major=True)
    n_a, m, T_x = A.shape
    assert B.shape == (n_a, T_x * m)
    assert_close(B.data, A.data.transpose(0, 2, 1).reshape(n_a, T_x * m), 0)
    v = np.random.default_rng(0).standard_normal(A.shape)
    g_A = mg.grad(A, ins, grad_outputs=v)
    g_B = mg.grad(B, ins, grad_outputs=v.transpose(0, 2, 1).reshape(n_a, T_x * m))
    for a, b in zip(g_A, g_B, strict=True):
        assert_close(a, b)


def test_options_and_errors():
    T, _ = tensors("lstm", n_x=3, m=2, T=4, n=3)
    ins = list(T.values())
    A = R.lstm_recurrence(*ins)
    # a constant x (no gradient wanted), zero initial states by default
    x_const = mg.Tensor(T["x"].data)
    A0 = R.lstm_recurrence(x_const, None, None, *ins[3:])
    A1 = R.lstm_recurrence(x_const, np.zeros((3, 2)), np.zeros((3, 2)), *ins[3:])
    assert_close(A0.data, A1.data, 0)
    assert not np.allclose(A0.data, A.data)
    (gW,) = mg.grad(A0, [T["W_c"]], grad_outputs=np.ones(A0.shape))
    assert np.all(np.isfinite(gW)) and np.any(gW != 0)
    with pytest.raises(ValueError, match="lstm_recurrence: x must be"):
        R.lstm_recurrence(mg.Tensor(np.zeros((4, 2, 3))), *ins[1:])
    with pytest.raises(ValueError, match="lstm_recurrence: c0 must be"):
        R.lstm_recurrence(ins[0], ins[1], np.zeros((3, 5)), *ins[3:])
    with pytest.raises(ValueError, match="token ids"):
        R.lstm_recurrence(np.array([[0, 3]]), None, None, *ins[3:])
    with pytest.raises(ValueError, match="activation"):
        R.rnn_recurrence(T["x"], None, T["W_c"], T["b_c"], activation="sigmoid")
    with pytest.raises(TypeError, match="not analytic"):
        R.rnn_recurrence(T["x"].data.astype(complex), None, T["W_c"], T["b_c"], activation="relu")


# ----------------------------------------------------------------------------- composed models
def composed_and_fused(cell, ids=False, n_x=3, m=2, T_x=4, n_a=3, seed=0):
    """A models.<cell> (composed from primitives), its input, initial states, and two
    functions returning A (n_a, m, T_x) (or (A, C) for the LSTM): composed and fused."""
    kind = {"rnn": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU", "gru_after": "GRU"}
    opts = {"rnn_relu": {"activation": "relu"}, "gru_after": {"reset_after": True}}
    model = getattr(models, kind[cell])(n_x, n_a, 2, seed=seed, **opts.get(cell, {}))
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, n_x, (m, T_x)) if ids else
         mg.Tensor(rng.standard_normal((n_x, m, T_x)), requires_grad=True))
    states = {k: mg.Tensor(rng.standard_normal((n_a, m)), requires_grad=True)
              for k in STATES[cell]}
    params = [model.parameters()[k] for k in input_names(cell)[1 + len(states):]]

    def composed():
        _, st_ = model(x, **states, return_states=True)
        A = mg.stack(st_.a, axis=2)
        return (A, mg.stack(st_.c, axis=2)) if cell == "lstm" else A

    def fused():
        if cell == "lstm":
            return R.lstm_recurrence(x, *states.values(), *params, return_c=True)
        return FUSED[cell](x, *states.values(), *params)

    inputs = ([] if ids else [x]) + list(states.values()) + params
    return composed, fused, inputs


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("ids", [False, True])
def test_matches_composed_models(cell, ids):
    composed, fused, inputs = composed_and_fused(cell, ids=ids)
    if cell == "lstm":  # both outputs, A and C
        for i in range(2):
            assert_same_function(lambda i=i: fused()[i], lambda i=i: composed()[i], inputs)
    else:
        assert_same_function(fused, composed, inputs)
