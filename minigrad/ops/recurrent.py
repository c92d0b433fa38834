"""Fused recurrences: a whole RNN / GRU / LSTM time loop as ONE tape record.

The models in ``models/`` built from primitives are the specification; these functions compute
the same outputs with a hand-written backpropagation through time (BPTT) and are tested against
them. Layout and equations: SPEC.md. Internally everything is time-major with one example per
row (see ``minigrad.kernels.recurrent``); the stacked weight ``W`` has one ``(n_a, n_a + n_x)``
block per gate, state columns first, and ``W_s = W[:, :n_a]``, ``W_x = W[:, n_a:]``.

How it is fast:
- the input part ``W_x x^(t) + b`` of every step comes from one big GEMM (per chunk of steps),
- each step does one GEMM for the state part (two for the notes' GRU) and one fused
  element-wise kernel; small problems run the whole loop inside one Numba call,
- backward runs over chunks of time steps: per-step BPTT writes ``dZ`` (gradient wrt the
  pre-activations) for the chunk, then three big GEMMs give ``dW_s``, ``dW_x`` and ``dx``.
Stored for backward: gate activations, ``c`` and the outputs; nothing else per step.

Inputs ``x``: floats ``(n_x, m, T_x)``, or integer token ids ``(m, T_x)`` standing for one-hot
columns of size ``n_x = W.shape[1] - n_a`` (never built: the input product gathers columns of
``W_x``, its gradient scatters back into them; ids get no gradient).
"""

from __future__ import annotations

import numpy as np

from minigrad.kernels import recurrent as K

SMALL_WORK = 2048  # m * n_a at or below which the whole loop runs inside one Numba call
CHUNK_ELEMS = 1 << 18  # elements of dZ per backward chunk (2 MiB in float64)


# ----------------------------------------------------------------------------- shared helpers
def _small(m: int, n: int) -> bool:
    return m * n <= SMALL_WORK


def _chunks(T: int, m: int, width: int) -> list[tuple[int, int]]:
    """Split 0..T into chunks whose dZ block holds about CHUNK_ELEMS elements."""
    step = max(1, CHUNK_ELEMS // max(1, m * width))
    return [(t0, min(t0 + step, T)) for t0 in range(0, T, step)]


def _rows(x: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """x^(t0..t1-1) as a ((t1-t0) m, n_x) matrix, rows ordered (t, example)."""
    return x[:, :, t0:t1].transpose(2, 1, 0).reshape(-1, x.shape[0])


def _ids(ids: np.ndarray, t0: int, t1: int) -> np.ndarray:
    return ids[:, t0:t1].T.reshape(-1)


def _project_inputs(x, ids, Wx, b, T: int, m: int, width: int, dtype) -> np.ndarray:
    """Z (T, m, width): first Wx.shape[0] columns = W_x x^(t) + b, the rest = the rest of b."""
    k = Wx.shape[0]
    Z = np.empty((T, m, width), dtype=dtype)
    Z[:, :, k:] = 0.0
    WxT = np.ascontiguousarray(Wx.T)
    for t0, t1 in _chunks(T, m, width):
        if ids is not None:
            Z[t0:t1, :, :k] = WxT[_ids(ids, t0, t1)].reshape(t1 - t0, m, k)
        else:
            Z[t0:t1, :, :k] = (_rows(x, t0, t1) @ WxT).reshape(t1 - t0, m, k)
    Z += b
    return Z


def _input_backward(dZx, x, ids, t0, t1, Wx, dW, dx) -> None:
    """Chunk's contribution of dZx ((t1-t0) m, k) to dW_x (= dW[:k, n_a:]) and dx."""
    k, n_x = Wx.shape
    dWx = dW[:k, dW.shape[1] - n_x :]
    if ids is not None:
        np.add.at(dWx.T, _ids(ids, t0, t1), dZx)  # one-hot product: scatter-add columns
        return
    dWx += dZx.T @ _rows(x, t0, t1)
    if dx is not None:
        dx[:, :, t0:t1] = (dZx @ Wx).reshape(t1 - t0, -1, n_x).transpose(2, 1, 0)


def _check_ids(ids: np.ndarray, n_x: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= n_x):
        raise ValueError(
            f"token ids must lie in [0, n_x) = [0, {n_x}) (n_x = W.shape[1] - n_a), "
            f"got ids in [{ids.min()}, {ids.max()}]"
        )


def _setup(x, ids, W, n: int):
    """Shapes (T, m) and the working dtype; validates ids."""
    if ids is not None:
        _check_ids(ids, W.shape[1] - n)
        m, T = ids.shape
    else:
        _, m, T = x.shape
    return T, m


# ----------------------------------------------------------------------------- RNN
def rnn_forward(x, ids, a0, W, b, relu: bool):
    """H (T+1, m, n): H[0] = a0^T, H[t] = a^(t)^T. Returns (H, cache)."""
    n = a0.shape[0]
    T, m = _setup(x, ids, W, n)
    Z = _project_inputs(x, ids, W[:, n:], b[:, 0], T, m, n, W.dtype)
    H = np.empty((T + 1, m, n), dtype=W.dtype)
    H[0] = a0.T
    WsT, s = np.ascontiguousarray(W[:, :n].T), np.empty((m, n), dtype=W.dtype)
    if _small(m, n):
        K.rnn_forward_loop(Z, H, WsT, relu, s)
    else:
        for t in range(T):
            np.matmul(H[t], WsT, out=s)
            K.rnn_forward_step_np(s, Z[t], relu, H[t + 1])
    return H, (x, ids, W, H, relu)


def rnn_backward(cache, G, need_dx: bool = True):
    """G (T, m, n) = dJ/da^(t) (rows). Returns dx, da0, dW, db."""
    x, ids, W, H, relu = cache
    T, m, n = G.shape
    Ws = np.ascontiguousarray(W[:, :n])
    dW, db = np.zeros_like(W), np.zeros((n, 1), dtype=W.dtype)
    dx = np.empty_like(x) if need_dx and x is not None else None
    da = np.zeros((m, n), dtype=W.dtype)
    chunks = _chunks(T, m, n)
    dZ_buf = np.empty((chunks[0][1] if chunks else 0, m, n), dtype=W.dtype)
    for t0, t1 in reversed(chunks):
        dZ = dZ_buf[: t1 - t0]
        if _small(m, n):
            K.rnn_backward_loop(G[t0:t1], H[t0:t1 + 1], Ws, relu, dZ, da)
        else:
            for k in range(t1 - t0 - 1, -1, -1):
                K.rnn_backward_step(G[t0 + k], da, H[t0 + k + 1], relu, dZ[k])
                np.matmul(dZ[k], Ws, out=da)
        dZ2 = dZ.reshape(-1, n)
        dW[:, :n] += dZ2.T @ H[t0:t1].reshape(-1, n)
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2, x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, da.T, dW, db


# ----------------------------------------------------------------------------- LSTM
def lstm_forward(x, ids, a0, c0, W, b):
    """W, b stacked [c; u; f; o] (4n, n+n_x), (4n, 1). Returns (H, cache); H as in rnn_forward."""
    n = a0.shape[0]
    T, m = _setup(x, ids, W, n)
    Z = _project_inputs(x, ids, W[:, n:], b[:, 0], T, m, 4 * n, W.dtype)
    H = np.empty((T + 1, m, n), dtype=W.dtype)
    C = np.empty((T + 1, m, n), dtype=W.dtype)
    H[0], C[0] = a0.T, c0.T
    WsT, s = np.ascontiguousarray(W[:, :n].T), np.empty((m, 4 * n), dtype=W.dtype)
    if _small(m, n):
        K.lstm_forward_loop(Z, H, C, WsT, s)
    else:
        for t in range(T):
            np.matmul(H[t], WsT, out=s)
            K.lstm_forward_step_np(s, Z[t], C[t], C[t + 1], H[t + 1])
    return H, (x, ids, W, Z, C, H)


def lstm_backward(cache, G, need_dx: bool = True):
    """Returns dx, da0, dc0, dW, db (stacked like W, b)."""
    x, ids, W, Z, C, H = cache
    T, m, n = G.shape
    Ws = np.ascontiguousarray(W[:, :n])
    dW, db = np.zeros_like(W), np.zeros((4 * n, 1), dtype=W.dtype)
    dx = np.empty_like(x) if need_dx and x is not None else None
    da, dc, tc = (np.zeros((m, n), dtype=W.dtype) for _ in range(3))
    chunks = _chunks(T, m, 4 * n)
    dZ_buf = np.empty((chunks[0][1] if chunks else 0, m, 4 * n), dtype=W.dtype)
    for t0, t1 in reversed(chunks):
        dZ = dZ_buf[: t1 - t0]
        if _small(m, n):
            K.lstm_backward_loop(G[t0:t1], Z[t0:t1], C[t0 : t1 + 1], Ws, dZ, da, dc, tc)
        else:
            for k in range(t1 - t0 - 1, -1, -1):
                t = t0 + k
                np.tanh(C[t + 1], out=tc)
                K.lstm_backward_step(G[t], da, dc, Z[t], C[t], tc, dZ[k])
                np.matmul(dZ[k], Ws, out=da)
        dZ2 = dZ.reshape(-1, 4 * n)
        dW[:, :n] += dZ2.T @ H[t0:t1].reshape(-1, n)
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2, x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, da.T, dc.T, dW, db


# ----------------------------------------------------------------------------- GRU (notes)
def gru_forward(x, ids, c0, W, b):
    """W, b stacked [c; u; r] (3n, n+n_x). Returns (C, cache); C[0] = c0^T, C[t] = c^(t)^T."""
    n = c0.shape[0]
    T, m = _setup(x, ids, W, n)
    Z = _project_inputs(x, ids, W[:, n:], b[:, 0], T, m, 3 * n, W.dtype)
    C = np.empty((T + 1, m, n), dtype=W.dtype)
    C[0] = c0.T
    WurT = np.ascontiguousarray(W[n:, :n].T)
    WccT = np.ascontiguousarray(W[:n, :n].T)
    s_ur, rc, s_c = (np.empty((m, k * n), dtype=W.dtype) for k in (2, 1, 1))
    if _small(m, n):
        K.gru_forward_loop(Z, C, WurT, WccT, s_ur, rc, s_c)
    else:
        for t in range(T):
            np.matmul(C[t], WurT, out=s_ur)
            K.gru_gates_step_np(s_ur, Z[t], C[t], rc)
            np.matmul(rc, WccT, out=s_c)
            K.gru_state_step_np(s_c, Z[t], C[t], C[t + 1])
    return C, (x, ids, W, Z, C)


def gru_backward(cache, G, need_dx: bool = True):
    """Returns dx, dc0, dW, db (stacked like W, b)."""
    x, ids, W, Z, C = cache
    T, m, n = G.shape
    Wur = np.ascontiguousarray(W[n:, :n])
    Wcc = np.ascontiguousarray(W[:n, :n])
    dW, db = np.zeros_like(W), np.zeros((3 * n, 1), dtype=W.dtype)
    dx = np.empty_like(x) if need_dx and x is not None else None
    dmm, dcarry, drc = (np.zeros((m, n), dtype=W.dtype) for _ in range(3))
    chunks = _chunks(T, m, 3 * n)
    dZ_buf = np.empty((chunks[0][1] if chunks else 0, m, 3 * n), dtype=W.dtype)
    for t0, t1 in reversed(chunks):
        dZ = dZ_buf[: t1 - t0]
        if _small(m, n):
            K.gru_backward_loop(G[t0:t1], Z[t0:t1], C[t0 : t1 + 1], Wur, Wcc, dZ, dmm, dcarry, drc)
        else:
            for k in range(t1 - t0 - 1, -1, -1):
                t = t0 + k
                K.gru_backward_step1(G[t], dmm, dcarry, Z[t], C[t], dZ[k])
                np.matmul(dZ[k][:, :n], Wcc, out=drc)
                K.gru_backward_step2(drc, Z[t], C[t], dcarry, dZ[k])
                np.matmul(dZ[k][:, n:], Wur, out=dmm)
        dZ2 = dZ.reshape(-1, 3 * n)
        C_prev = C[t0:t1].reshape(-1, n)
        dW[n:, :n] += dZ2[:, n:].T @ C_prev
        dW[:n, :n] += dZ2[:, :n].T @ (Z[t0:t1, :, 2 * n :].reshape(-1, n) * C_prev)  # Γ_r c
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2, x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, (dcarry + dmm).T, dW, db


# ----------------------------------------------------------------------------- GRU reset-after
def gru_after_forward(x, ids, c0, W, b, b_cc):
    """W, b stacked [c; u; r]; b_cc (n, 1) the state-side candidate bias. Returns (C, cache)."""
    n = c0.shape[0]
    T, m = _setup(x, ids, W, n)
    b4 = np.concatenate([b[:, 0], b_cc[:, 0]])
    Z = _project_inputs(x, ids, W[:, n:], b4, T, m, 4 * n, W.dtype)
    C = np.empty((T + 1, m, n), dtype=W.dtype)
    C[0] = c0.T
    Ws = np.concatenate([W[n:, :n], W[:n, :n]])  # state rows [u; r; c]: the blocks of dZ[:, n:]
    WsT, s = np.ascontiguousarray(Ws.T), np.empty((m, 3 * n), dtype=W.dtype)
    if _small(m, n):
        K.gru_after_forward_loop(Z, C, WsT, s)
    else:
        for t in range(T):
            np.matmul(C[t], WsT, out=s)
            K.gru_after_forward_step_np(s, Z[t], C[t], C[t + 1])
    return C, (x, ids, W, Ws, Z, C)


def gru_after_backward(cache, G, need_dx: bool = True):
    """Returns dx, dc0, dW, db, db_cc."""
    x, ids, W, Ws, Z, C = cache
    T, m, n = G.shape
    dW, db = np.zeros_like(W), np.zeros((4 * n, 1), dtype=W.dtype)
    dx = np.empty_like(x) if need_dx and x is not None else None
    dmm, dcarry = (np.zeros((m, n), dtype=W.dtype) for _ in range(2))
    chunks = _chunks(T, m, 4 * n)
    dZ_buf = np.empty((chunks[0][1] if chunks else 0, m, 4 * n), dtype=W.dtype)
    for t0, t1 in reversed(chunks):
        dZ = dZ_buf[: t1 - t0]
        if _small(m, n):
            K.gru_after_backward_loop(G[t0:t1], Z[t0:t1], C[t0 : t1 + 1], Ws, dZ, dmm, dcarry)
        else:
            for k in range(t1 - t0 - 1, -1, -1):
                t = t0 + k
                K.gru_after_backward_step(G[t], dmm, dcarry, Z[t], C[t], dZ[k])
                np.matmul(dZ[k][:, n:], Ws, out=dmm)
        dZ2 = dZ.reshape(-1, 4 * n)
        dWs = dZ2[:, n:].T @ C[t0:t1].reshape(-1, n)  # rows [u; r; c]
        dW[n:, :n] += dWs[: 2 * n]
        dW[:n, :n] += dWs[2 * n :]
        db[:, 0] += dZ2.sum(axis=0)
        _input_backward(dZ2[:, : 3 * n], x, ids, t0, t1, W[:, n:], dW, dx)
    return dx, (dcarry + dmm).T, dW, db[: 3 * n], db[3 * n :]


# ----------------------------------------------------------------------------- engine-free API
# Positional inputs of each fused op after x: initial states, then the parameters in the
# public (SPEC.md) order; `stack` is the order of the gate blocks inside the stacked W and b.
CELLS = {
    "rnn": (("a0",), ("W_a", "b_a"), "a"),
    "lstm": (("a0", "c0"), ("W_c", "b_c", "W_u", "b_u", "W_f", "b_f", "W_o", "b_o"), "cufo"),
    "gru": (("c0",), ("W_u", "b_u", "W_r", "b_r", "W_c", "b_c"), "cur"),
    "gru_after": (("c0",), ("W_u", "b_u", "W_r", "b_r", "W_c", "b_c", "b_cc"), "cur"),
}


def forward_arrays(cell: str, x, arrays, relu: bool = False):
    """Run a fused recurrence on plain arrays.

    x: floats (n_x, m, T) or integer ids (m, T); arrays: states then parameters as in CELLS.
    Returns (out (n_a, m, T), cache for backward_arrays)."""
    state_names, param_names, stack = CELLS[cell]
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
    return H[1:].transpose(2, 1, 0), (cell, cache)


def backward_arrays(cache, grad, need_dx: bool = True) -> list:
    """Gradients of sum(grad * out) wrt x (if floats and need_dx), the states and the
    parameters, in the order of forward_arrays' inputs."""
    cell, cache = cache
    state_names, param_names, stack = CELLS[cell]
    W = cache[2]
    G = grad.astype(W.dtype, copy=False).transpose(2, 1, 0)
    if cell == "rnn":
        dx, *d_states, dW, db = rnn_backward(cache, G, need_dx)
    elif cell == "lstm":
        dx, *d_states, dW, db = lstm_backward(cache, G, need_dx)
    elif cell == "gru":
        dx, *d_states, dW, db = gru_backward(cache, G, need_dx)
    else:
        dx, *d_states, dW, db, db_cc = gru_after_backward(cache, G, need_dx)
    n = d_states[0].shape[0]
    d = {"b_cc": db_cc} if cell == "gru_after" else {}
    for i, k in enumerate(stack):
        d["W_" + k], d["b_" + k] = dW[i * n : (i + 1) * n], db[i * n : (i + 1) * n]
    out = [] if dx is None else [dx]
    return out + d_states + [np.ascontiguousarray(d[k]) for k in param_names]
