"""The array-level forward and hand-written BPTT behind the fused recurrences (`ops.fused`).

The models in ``models/`` built from primitives are the specification; these functions compute
the same outputs with a hand-written backpropagation through time (BPTT) and are tested against
them. Layout and equations: SPEC.md. Internally everything is time-major with one example per
row (see ``minigrad.kernels.fused_rnn_lstm``); the stacked weight ``W`` has one ``(n_a, n_a + n_x)``
block per gate, state columns first, and ``W_s = W[:, :n_a]``, ``W_x = W[:, n_a:]``.

How it is fast:
- the input part ``W_x x^(t) + b`` of every step comes from one big GEMM (per chunk of steps),
- each step does one GEMM for the state part (two for the notes' GRU) and one fused
  element-wise kernel; small problems run the whole loop inside one Numba call,
- backward runs over chunks of time steps: per-step BPTT writes ``dZ`` (gradient wrt the
  pre-activations) for the chunk, then big GEMMs give ``dW`` and ``dx``. For the LSTM,
  ``dW = Σ_t dz^(t) [a^(t-1); x^(t)]^T`` is ONE GEMM over the chunk's states and inputs,
  which the forward keeps side by side (``_state_input_buffer``, ``_weight_grad``: ~1.5x
  faster than one GEMM for ``dW_s`` and one for ``dW_x``), accumulated as ``dW^T`` so that
  the GEMM's output is added without a transpose. (For the small RNN GEMMs it does not pay.)
Stored for backward: gate activations, ``c`` and the outputs (LSTM:
with the inputs beside them); nothing else per step.

Inputs ``x``: floats ``(n_x, m, T_x)``, or integer token ids ``(m, T_x)`` standing for one-hot
columns of size ``n_x = W.shape[1] - n_a`` (never built: the input product gathers columns of
``W_x``, its gradient scatters back into them; ids get no gradient).
"""

from __future__ import annotations

import numpy as np

from ..kernels import fused_gru as KG
from ..kernels import fused_rnn_lstm as K

SMALL_WORK = 8192  # m n_a (n_a + 16) up to which the whole loop runs in one Numba call
CHUNK_ELEMS = 1 << 18  # elements of dZ per backward chunk (2 MiB in float64)


# ----------------------------------------------------------------------------- shared helpers
def _chunks(T: int, m: int, width: int) -> list[tuple[int, int]]:
    """Split 0..T into chunks whose dZ block holds about CHUNK_ELEMS elements."""
    step = max(1, CHUNK_ELEMS // max(1, m * width))
    return [(t0, min(t0 + step, T)) for t0 in range(0, T, step)]


def _rows(x: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """x^(t0..t1-1) as a ((t1-t0) m, n_x) matrix, rows ordered (t, example)."""
    return x[:, :, t0:t1].transpose(2, 1, 0).reshape(-1, x.shape[0])


def _ids(ids: np.ndarray, t0: int, t1: int) -> np.ndarray:
    return ids[:, t0:t1].T.reshape(-1)


def _time_major(x) -> np.ndarray | None:
    """x (n_x, m, T) as X (T, m, n_x), a view (None stays None)."""
    return None if x is None else x.transpose(2, 1, 0)


def _state_input_buffer(x, n: int, T: int, m: int, dtype) -> np.ndarray:
    """HX (T+1, m, n + n_x) for the LSTM: the states a^(t) go into HX[t, :, :n]
    and HX[t, :, n:] = x^(t+1) (zero for t = T; no input columns for token ids, x None). So
    HX[t0:t1] flattened is the [a^(t-1); x^(t)] operand of dW for steps t0+1..t1 (one GEMM,
    no copy) and HX[:T, :, n:] the input operand of the projection."""
    n_x = 0 if x is None else x.shape[0]
    HX = np.empty((T + 1, m, n + n_x), dtype=dtype)
    if n_x:
        HX[:T, :, n:] = _time_major(x)
        HX[T, :, n:] = 0.0
    return HX


def _project_inputs(X, ids, Wx, b, T: int, m: int, width: int, dtype) -> np.ndarray:
    """Z (T, m, width): first Wx.shape[0] columns = W_x x^(t) + b, the rest = the rest of b.
    X: the inputs as (T, m, n_x) (a view), or None with token ids. b None: no bias at all
    (the LSTM's step kernels add it, saving a pass over Z)."""
    k = Wx.shape[0]
    Z = np.empty((T, m, width), dtype=dtype)
    Z[:, :, k:] = 0.0
    WxT = np.ascontiguousarray(Wx.T)
    for t0, t1 in _chunks(T, m, width):
        out = Z[t0:t1, :, :k].reshape(-1, k)  # a view: rows (t, example)
        if ids is not None:
            np.take(WxT, _ids(ids, t0, t1), axis=0, out=out)  # W_x one_hot(ids): gather
        else:
            np.matmul(X[t0:t1].reshape(-1, X.shape[2]), WxT, out=out)
        if b is not None:
            Z[t0:t1] += b
    return Z


def _input_backward(dZx, x, ids, t0, t1, Wx, dW, dx) -> None:
    """Chunk's contribution of dZx ((t1-t0) m, k) to dW_x (= dW[:k, n_a:]; dW None: skip)
    and to dx (if not None)."""
    k, n_x = Wx.shape
    if dW is not None:
        dWx = dW[:k, dW.shape[1] - n_x :]
        if ids is not None:
            np.add.at(dWx.T, _ids(ids, t0, t1), dZx)  # one-hot product: scatter-add columns
            return
        dWx += dZx.T @ _rows(x, t0, t1)
    if dx is not None:
        dx[:, :, t0:t1] = (dZx @ Wx).reshape(t1 - t0, -1, n_x).transpose(2, 1, 0)


def _steps(G: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """G[t0:t1] as a contiguous read-only copy: unit-stride loads in the kernels (G itself is
    a transposed view of the (n_a, m, T) gradient) and one Numba variant for every caller."""
    return _readonly(np.ascontiguousarray(G[t0:t1]))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.flags.writeable = False
    return a


def _shape(x, ids) -> tuple[int, int]:
    """(T, m) of x (n_x, m, T) or ids (m, T)."""
    return ids.shape[::-1] if ids is not None else x.shape[:0:-1]


# ----------------------------------------------------------------------------- drivers
# Per cell: *_forward(x, ids, state(s), W, b) -> (H or C (T+1, m, n) with [0] the initial
# state, cache) and *_backward(cache, G, ...) -> gradients. `_loop` picks the whole-loop Numba
# kernel (small problems) or its NumPy twin (per-step BLAS GEMM + SIMD exp/tanh, large ones).
def _loop(name: str, m: int, n: int):
    kernels = KG if name.startswith("gru") else K
    return getattr(kernels, name if m * n * (n + 16) <= SMALL_WORK else name + "_np")


def _grad_buffers(x, W, T: int, m: int, width: int, need_dx: bool, transposed: bool = False):
    """dW, db (stacked, zero), dx (or None), chunks (last first) and a dZ buffer per chunk.
    transposed: dW is the transposed view of a C-ordered dW^T (what `_weight_grad` adds to)."""
    chunks = _chunks(T, m, width)
    dZ = np.empty((chunks[0][1] if chunks else 0, m, width), dtype=W.dtype)
    dx = np.empty_like(x) if need_dx and x is not None else None
    dW = np.zeros(W.shape[::-1], dtype=W.dtype).T if transposed else np.zeros_like(W)
    return dW, np.zeros((width, 1), dtype=W.dtype), dx, chunks[::-1], dZ


def _weight_grad(dZ2, HX, ids, t0, t1, W, dW, tmp) -> None:
    """dW += Σ_t dz^(t) [a^(t-1); x^(t)]^T over the chunk t0..t1-1 (LSTM: every row of W acts
    on [a^(t-1); x^(t)]): one GEMM dW^T += HX[t0:t1]^T dZ on the states and inputs that
    `_state_input_buffer` keeps side by side (dW from `_grad_buffers(transposed=True)`, tmp a
    dW^T-shaped scratch). Token ids: HX holds the states only, dW_x is a scatter."""
    k = HX.shape[2]
    dW.T[:k] += np.matmul(HX[t0:t1].reshape(-1, k).T, dZ2, out=tmp[:k])
    if ids is not None:  # here k = n_a
        _input_backward(dZ2, None, ids, t0, t1, W[:, k:], dW, None)


def rnn_forward(x, ids, a0, W, b, relu: bool):
    n = a0.shape[0]
    T, m = _shape(x, ids)
    Z = _project_inputs(_time_major(x), ids, W[:, n:], b[:, 0], T, m, n, W.dtype)
    H = np.empty((T + 1, m, n), dtype=W.dtype)
    H[0] = a0.T
    WsT = np.ascontiguousarray(W[:, :n].T)
    _loop("rnn_forward_loop", m, n)(Z, H, WsT, relu, np.empty((m, n), dtype=W.dtype))
    return H, (x, ids, W, H, relu)


def rnn_backward(cache, G, need_dx: bool = True):
    """G (T, m, n) = dJ/da^(t) from outside the recurrence. Returns dx, da0, dW, db."""
    x, ids, W, H, relu = cache
    T, m, n = G.shape
    Ws = np.ascontiguousarray(W[:, :n])
    dW, db, dx, chunks, dZ_buf = _grad_buffers(x, W, T, m, n, need_dx)
    da = np.zeros((m, n), dtype=W.dtype)
    loop = _loop("rnn_backward_loop", m, n)
    for t0, t1 in chunks:
        dZ = dZ_buf[: t1 - t0]
        loop(_steps(G, t0, t1), H[t0 : t1 + 1], Ws, relu, dZ, da)
        dZ2 = dZ.reshape(-1, n)
        dW[:, :n] += dZ2.T @ H[t0:t1].reshape(-1, n)  # Σ_t dz^(t) a^(t-1)^T
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2, x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, da.T, dW, db


def lstm_forward(x, ids, a0, c0, W, b):
    """W, b stacked [c; u; f; o]. Cache keeps the gate activations Z, C and HX
    (H and x). The bias is added inside the step kernels: (W_x x^(t) + b) + W_s a^(t-1), as
    for the other cells."""
    n = a0.shape[0]
    T, m = _shape(x, ids)
    HX = _state_input_buffer(x, n, T, m, W.dtype)
    Z = _project_inputs(HX[:T, :, n:], ids, W[:, n:], None, T, m, 4 * n, W.dtype)  # b: steps
    H = HX[:, :, :n]
    C = np.empty((T + 1, m, n), dtype=W.dtype)
    H[0], C[0] = a0.T, c0.T
    WsT = np.ascontiguousarray(W[:, :n].T)
    s = np.empty((m, 4 * n), dtype=W.dtype)
    tc = np.empty((m, n), dtype=W.dtype)  # tanh c^(t), one step at a time
    _loop("lstm_forward_loop", m, n)(Z, H, C, tc, WsT, np.ascontiguousarray(b[:, 0]), s)
    return H, (x, ids, W, Z, C, HX)


def lstm_backward(cache, G, Gc=None, need_dx: bool = True):
    """G, Gc (T, m, n): dJ/da^(t), dJ/dc^(t) (Gc None: zero). Returns dx, da0, dc0, dW, db."""
    x, ids, W, Z, C, HX = cache
    T, m, n = G.shape
    Ws = np.ascontiguousarray(W[:, :n])
    dW, db, dx, chunks, dZ_buf = _grad_buffers(x, W, T, m, 4 * n, need_dx, transposed=True)
    tmp = np.empty_like(dW.T)
    zero_gc = _readonly(np.zeros((len(dZ_buf), m, n), dtype=W.dtype))
    da, dc, tc = (np.zeros((m, n), dtype=W.dtype) for _ in range(3))  # tc: tanh c^(t) scratch
    loop = _loop("lstm_backward_loop", m, n)
    for t0, t1 in chunks:
        dZ = dZ_buf[: t1 - t0]
        Gc_k = zero_gc[: t1 - t0] if Gc is None else _steps(Gc, t0, t1)
        loop(_steps(G, t0, t1), Gc_k, Z[t0:t1], C[t0 : t1 + 1], Ws, dZ, da, dc, tc)
        dZ2 = dZ.reshape(-1, 4 * n)
        _weight_grad(dZ2, HX, ids, t0, t1, W, dW, tmp)
        db[:, 0] += dZ2.sum(axis=0)
        if dx is not None:
            _input_backward(dZ2, x, ids, t0, t1, W[:, n:], None, dx)
    return dx, da.T, dc.T, dW, db


def gru_forward(x, ids, c0, W, b):
    """W, b stacked [c; u; r]. Cache keeps the gate activations Z [ĉ, Γ_u, Γ_r] and C."""
    n = c0.shape[0]
    T, m = _shape(x, ids)
    Z = _project_inputs(_time_major(x), ids, W[:, n:], b[:, 0], T, m, 3 * n, W.dtype)
    C = np.empty((T + 1, m, n), dtype=W.dtype)
    C[0] = c0.T
    WurT = np.ascontiguousarray(W[n:, :n].T)
    WccT = np.ascontiguousarray(W[:n, :n].T)
    bufs = (np.empty((m, k * n), dtype=W.dtype) for k in (2, 1, 1))
    _loop("gru_forward_loop", m, n)(Z, C, WurT, WccT, *bufs)
    return C, (x, ids, W, Z, C)


def gru_backward(cache, G, need_dx: bool = True):
    """Returns dx, dc0, dW, db."""
    x, ids, W, Z, C = cache
    T, m, n = G.shape
    Wur = np.ascontiguousarray(W[n:, :n])
    Wcc = np.ascontiguousarray(W[:n, :n])
    dW, db, dx, chunks, dZ_buf = _grad_buffers(x, W, T, m, 3 * n, need_dx)
    dmm, dcarry, drc = (np.zeros((m, n), dtype=W.dtype) for _ in range(3))
    loop = _loop("gru_backward_loop", m, n)
    for t0, t1 in chunks:
        dZ = dZ_buf[: t1 - t0]
        loop(_steps(G, t0, t1), Z[t0:t1], C[t0 : t1 + 1], Wur, Wcc, dZ, dmm, dcarry, drc)
        dZ2 = dZ.reshape(-1, 3 * n)
        C_prev = C[t0:t1].reshape(-1, n)
        dW[n:, :n] += dZ2[:, n:].T @ C_prev
        dW[:n, :n] += dZ2[:, :n].T @ (Z[t0:t1, :, 2 * n :].reshape(-1, n) * C_prev)  # Γ_r c
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2, x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, (dcarry + dmm).T, dW, db


def gru_after_forward(x, ids, c0, W, b, b_cc):
    """W, b stacked [c; u; r]; Z holds [ĉ, Γ_u, Γ_r, h_c] with h_c = W_cc c^(t-1) + b_cc."""
    n = c0.shape[0]
    T, m = _shape(x, ids)
    b4 = np.concatenate([b[:, 0], b_cc[:, 0]])
    Z = _project_inputs(_time_major(x), ids, W[:, n:], b4, T, m, 4 * n, W.dtype)
    C = np.empty((T + 1, m, n), dtype=W.dtype)
    C[0] = c0.T
    Ws = np.concatenate([W[n:, :n], W[:n, :n]])  # state rows [u; r; c]: the blocks of dZ[:, n:]
    WsT = np.ascontiguousarray(Ws.T)
    _loop("gru_after_forward_loop", m, n)(Z, C, WsT, np.empty((m, 3 * n), dtype=W.dtype))
    return C, (x, ids, W, Ws, Z, C)


def gru_after_backward(cache, G, need_dx: bool = True):
    """Returns dx, dc0, dW, db, db_cc."""
    x, ids, W, Ws, Z, C = cache
    T, m, n = G.shape
    dW, db, dx, chunks, dZ_buf = _grad_buffers(x, W, T, m, 4 * n, need_dx)
    dmm, dcarry = (np.zeros((m, n), dtype=W.dtype) for _ in range(2))
    loop = _loop("gru_after_backward_loop", m, n)
    for t0, t1 in chunks:
        dZ = dZ_buf[: t1 - t0]
        loop(_steps(G, t0, t1), Z[t0:t1], C[t0 : t1 + 1], Ws, dZ, dmm, dcarry)
        dZ2 = dZ.reshape(-1, 4 * n)
        dWs = dZ2[:, n:].T @ C[t0:t1].reshape(-1, n)  # rows [u; r; c]
        dW[n:, :n] += dWs[: 2 * n]
        dW[:n, :n] += dWs[2 * n :]
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2[:, : 3 * n], x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, (dcarry + dmm).T, dW, db[: 3 * n], db[3 * n :]


# ----------------------------------------------------------------------------- array API
# Positional inputs of each fused op after x: initial states, then the parameters in the
# public (SPEC.md) order; `stack` is the order of the gate blocks inside the stacked W and b.
CELLS = {
    "rnn": (("a0",), ("W_a", "b_a"), "a"),
    "lstm": (("a0", "c0"), ("W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o"), "cufo"),
    "gru": (("c0",), ("W_u", "b_u", "W_r", "b_r", "W_c", "b_c"), "cur"),
    "gru_after": (("c0",), ("W_u", "b_u", "W_r", "b_r", "W_c", "b_c", "b_cc"), "cur"),
}
OP_NAMES = {"rnn": "rnn_recurrence", "lstm": "lstm_recurrence", "gru": "gru_recurrence",
            "gru_after": "gru_reset_after_recurrence"}


def _check(cell: str, x: np.ndarray, arrays) -> None:
    """Shapes of SPEC.md: x (n_x, m, T) or ids (m, T), states (n_a, m), W_* (n_a, n_a + n_x),
    b_* (n_a, 1); raise ValueError naming the op, the input and the expected shape."""
    state_names, param_names, _ = CELLS[cell]
    op = OP_NAMES[cell]
    W0 = arrays[len(state_names)]
    if W0.ndim != 2 or W0.shape[1] <= W0.shape[0]:
        raise ValueError(f"{op}: {param_names[0]} must be (n_a, n_a + n_x); got {W0.shape}")
    n, n_x = W0.shape[0], W0.shape[1] - W0.shape[0]
    if x.dtype.kind in "iu":
        if x.ndim != 2:
            raise ValueError(f"{op}: integer token ids must be (m, T_x); got {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= n_x):
            raise ValueError(f"{op}: token ids must lie in [0, n_x) = [0, {n_x}) (n_x = "
                             f"{param_names[0]}.shape[1] - n_a); got [{x.min()}, {x.max()}]")
        m = x.shape[0]
    elif x.ndim != 3 or x.shape[0] != n_x:
        raise ValueError(f"{op}: x must be (n_x, m, T_x) with n_x = {n_x} (from "
                         f"{param_names[0]} {W0.shape}) or integer ids (m, T_x); got {x.shape}")
    else:
        m = x.shape[1]
    shapes = {"a": (n, m), "c": (n, m), "W": (n, n + n_x), "b": (n, 1)}  # by first letter
    for k, a in zip((*state_names, *param_names), arrays, strict=True):
        if a.shape != shapes[k[0]]:
            raise ValueError(f"{op}: {k} must be {shapes[k[0]]} (n_a = {n}, n_x = {n_x}, "
                             f"m = {m}); got {a.shape}")


def forward_arrays(cell: str, x: np.ndarray, arrays, relu: bool = False,
                   time_major: bool = False):
    """Run a fused recurrence on plain arrays.

    x: floats (n_x, m, T) or integer ids (m, T); arrays: states then parameters as in CELLS.
    Returns (outputs, cache): outputs = (A,) with A (n_a, m, T), and for the LSTM (A, C) with
    the cell states C (n_a, m, T); with time_major=True they are (n_a, T m) instead, columns
    ordered (t, example) like the models' output layer wants (both are views, no copy)."""
    state_names, param_names, stack = CELLS[cell]
    _check(cell, x, arrays)
    ids = x if x.dtype.kind in "iu" else None
    dtype = np.result_type(*arrays) if ids is not None else np.result_type(x, *arrays)
    arrays = [a.astype(dtype, copy=False) for a in arrays]
    x = None if ids is not None else x.astype(dtype, copy=False)
    states = arrays[: len(state_names)]
    p = dict(zip(param_names, arrays[len(state_names) :], strict=True))
    W = np.concatenate([p["W_" + k] for k in stack])
    b = np.concatenate([p["b_" + k] for k in stack])
    if cell == "rnn":
        H, cache = rnn_forward(x, ids, states[0], W, b, relu)
    elif cell == "lstm":
        H, cache = lstm_forward(x, ids, states[0], states[1], W, b)
    elif cell == "gru":
        H, cache = gru_forward(x, ids, states[0], W, b)
    else:
        H, cache = gru_after_forward(x, ids, states[0], W, b, p["b_cc"])
    for a in (*cache[2:], H):  # what backward reads is immutable from here on (one Numba
        if isinstance(a, np.ndarray):  # variant); H too: the LSTM's is a view of the cached HX
            a.flags.writeable = False
    states = (H, cache[4]) if cell == "lstm" else (H,)
    outs = tuple(S[1:].reshape(-1, S.shape[2]).T if time_major else S[1:].transpose(2, 1, 0)
                 for S in states)
    return outs, (cell, time_major, *cache)


def backward_arrays(cache, grad, grad_c=None, need_dx: bool = True) -> list:
    """Gradients of sum(grad * A) (+ sum(grad_c * C) for the LSTM) wrt x (if floats and
    need_dx), the states and the parameters, in the order of forward_arrays' inputs."""
    cell, time_major, *cache = cache
    state_names, param_names, stack = CELLS[cell]
    W = cache[2]
    T, m = _shape(cache[0], cache[1])

    def steps(g):  # (n, m, T) or (n, T m) -> (T, m, n), a view
        g = g.astype(W.dtype, copy=False)
        return g.T.reshape(T, m, -1) if time_major else g.transpose(2, 1, 0)

    G = steps(grad)
    if cell == "rnn":
        dx, *d_states, dW, db = rnn_backward(cache, G, need_dx)
    elif cell == "lstm":
        Gc = None if grad_c is None else steps(grad_c)
        dx, *d_states, dW, db = lstm_backward(cache, G, Gc, need_dx)
    elif cell == "gru":
        dx, *d_states, dW, db = gru_backward(cache, G, need_dx)
    else:
        dx, *d_states, dW, db, db_cc = gru_after_backward(cache, G, need_dx)
    n = d_states[0].shape[0]
    d = {"b_cc": db_cc} if cell == "gru_after" else {}
    for i, k in enumerate(stack):
        d["W_" + k], d["b_" + k] = dW[i * n : (i + 1) * n], db[i * n : (i + 1) * n]
    out = [] if dx is None else [dx]
    return out + d_states + [d[k] for k in param_names]  # views: the engine copies them


# ----------------------------------------------------------------------------- tape API
