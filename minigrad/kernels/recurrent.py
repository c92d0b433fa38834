"""Numba kernels for the fused RNN / GRU / LSTM recurrences (forward and hand-written BPTT).

Internal layout (the ops layer converts from SPEC.md's ``(n, m, T_x)``): time-major, one example
per row, so that every per-step block is a contiguous ``(m, width)`` matrix:

    Z[t]      (m, k*n_a)   input projection + bias, overwritten with the gate activations
    H[t], C[t] (m, n_a)    states; H[0] = a^(0)^T, H[t] = a^(t)^T
    G[t]      (m, n_a)     gradient dJ/da^(t) from outside the recurrence (Gc[t]: dJ/dc^(t))
    dZ[k]     (m, k*n_a)   gradient wrt the pre-activations of the same blocks as Z

Forward loops fill H (and C) from the initial state in [0] and overwrite Z with the gates.
Backward loops run one chunk of K steps backwards: G, Z, dZ hold the chunk's K steps, H and C
K + 1 (one before the chunk). The carries (da; dc; dmm = dz_state W_s, dcarry for the GRUs)
come in from the step after the chunk and leave towards the step before it: after the first
step, da (or dcarry + dmm) is dJ/d(initial state).

Gate blocks are ordered candidate first: LSTM [ĉ, Γ_u, Γ_f, Γ_o], GRU [ĉ, Γ_u, Γ_r],
GRU reset-after [ĉ, Γ_u, Γ_r, h_c] with h_c = W_cc c^(t-1) + b_cc.

Each cell has ``*_step`` kernels (one time step, element-wise, fused) and ``*_loop`` kernels
that run a chunk of steps inside one compiled call, with ``matmul_into`` for the state products
(Numba has no BLAS here: its ``np.dot`` needs SciPy). They are the fast path for small problems,
where a NumPy call (~1 µs) per operation would cost more than the arithmetic. Beside each loop
sits its NumPy twin ``*_loop_np``, the same loop in Python with a BLAS GEMM per step and NumPy's
SIMD exp/tanh in the forward steps (``*_step_np``; scalar exp/tanh in Numba are ~5x slower);
the backward steps have no transcendental functions and are shared. The ops layer
(``minigrad.ops.recurrent``) picks one by problem size.

All kernels are dtype-generic (float32, float64, complex128 for complex-step checks): only
analytic operations on values; relu compares ``.real`` and the ops layer refuses complex relu.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), analytic so that it works for complex x too."""
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_inplace(x: np.ndarray) -> None:
    """x <- 1 / (1 + e^-x) (e^-x = inf for x < -709 gives exactly 0, not a warning)."""
    np.negative(x, out=x)
    with np.errstate(over="ignore"):
        np.exp(x, out=x)
    x += 1.0
    np.reciprocal(x, out=x)


@njit(cache=True)
def matmul_into(a, b, out):
    """out = a @ b for small matrices; the inner loop runs along contiguous rows of b and out."""
    m, k = a.shape
    for i in range(m):
        for j in range(out.shape[1]):
            out[i, j] = 0.0
        for p in range(k):
            a_ip = a[i, p]
            for j in range(out.shape[1]):
                out[i, j] += a_ip * b[p, j]


# ----------------------------------------------------------------------------- RNN
@njit(cache=True)
def rnn_forward_step(s, z, relu, h):
    """a^(t) = f(z + s), z = W_ax x^(t) + b_a, s = W_aa a^(t-1); f = relu or tanh."""
    m, n = h.shape
    for i in range(m):
        for j in range(n):
            v = z[i, j] + s[i, j]
            if relu:
                h[i, j] = v * (1.0 if v.real > 0.0 else 0.0)  # NaN stays NaN
            else:
                h[i, j] = np.tanh(v)


@njit(cache=True)
def rnn_backward_step(g, da, h, relu, dz):
    """dz = (g + da) * f'(z), with f' read off the output: 1 - a^2 (tanh) or [a > 0] (relu)."""
    m, n = h.shape
    for i in range(m):
        for j in range(n):
            a = h[i, j]
            if relu:
                dz[i, j] = (g[i, j] + da[i, j]) * (1.0 if a.real > 0.0 else 0.0)
            else:
                dz[i, j] = (g[i, j] + da[i, j]) * (1.0 - a * a)


def rnn_forward_step_np(s, z, relu, h):
    np.add(z, s, out=h)
    if relu:
        np.maximum(h, 0.0, out=h)
    else:
        np.tanh(h, out=h)


@njit(cache=True)
def rnn_forward_loop(Z, H, WsT, relu, s):
    for t in range(Z.shape[0]):
        matmul_into(H[t], WsT, s)
        rnn_forward_step(s, Z[t], relu, H[t + 1])


@njit(cache=True)
def rnn_backward_loop(G, H, Ws, relu, dZ, da):
    for k in range(dZ.shape[0] - 1, -1, -1):
        rnn_backward_step(G[k], da, H[k + 1], relu, dZ[k])
        matmul_into(dZ[k], Ws, da)


# NumPy twins of the loops: BLAS GEMMs and SIMD exp/tanh, for large problems.
def rnn_forward_loop_np(Z, H, WsT, relu, s):
    for t in range(Z.shape[0]):
        np.matmul(H[t], WsT, out=s)
        rnn_forward_step_np(s, Z[t], relu, H[t + 1])


def rnn_backward_loop_np(G, H, Ws, relu, dZ, da):
    for k in range(dZ.shape[0] - 1, -1, -1):
        rnn_backward_step(G[k], da, H[k + 1], relu, dZ[k])
        np.matmul(dZ[k], Ws, out=da)


# ----------------------------------------------------------------------------- LSTM
@njit(cache=True)
def lstm_forward_step(s, z, c_prev, c, h):
    """z + s = [ĉ; Γ_u; Γ_f; Γ_o] pre-activations -> activations (in z), c^(t), a^(t)."""
    m, n = c.shape
    for i in range(m):
        for j in range(n):
            cand = np.tanh(z[i, j] + s[i, j])
            g_u = sigmoid(z[i, n + j] + s[i, n + j])
            g_f = sigmoid(z[i, 2 * n + j] + s[i, 2 * n + j])
            g_o = sigmoid(z[i, 3 * n + j] + s[i, 3 * n + j])
            z[i, j] = cand
            z[i, n + j] = g_u
            z[i, 2 * n + j] = g_f
            z[i, 3 * n + j] = g_o
            c_new = g_u * cand + g_f * c_prev[i, j]
            c[i, j] = c_new
            h[i, j] = g_o * np.tanh(c_new)


@njit(cache=True)
def lstm_backward_step(g, gc, da, dc, gates, c_prev, tc, dz):
    """BPTT through one LSTM step. g, gc: dJ/da^(t), dJ/dc^(t) from outside the recurrence.
    da_t = g + da; dc_t = dc + gc + da_t Γ_o (1 - tanh^2 c);
    dz = [dc_t Γ_u (1-ĉ^2), dc_t ĉ Γ_u(1-Γ_u), dc_t c_prev Γ_f(1-Γ_f), da_t tanh(c) Γ_o(1-Γ_o)];
    dc <- dc_t Γ_f (gradient wrt c^(t-1)). tc = tanh(c^(t))."""
    m, n = dc.shape
    for i in range(m):
        for j in range(n):
            cand = gates[i, j]
            g_u = gates[i, n + j]
            g_f = gates[i, 2 * n + j]
            g_o = gates[i, 3 * n + j]
            t_c = tc[i, j]
            da_t = g[i, j] + da[i, j]
            dc_t = dc[i, j] + gc[i, j] + da_t * g_o * (1.0 - t_c * t_c)
            dz[i, j] = dc_t * g_u * (1.0 - cand * cand)
            dz[i, n + j] = dc_t * cand * g_u * (1.0 - g_u)
            dz[i, 2 * n + j] = dc_t * c_prev[i, j] * g_f * (1.0 - g_f)
            dz[i, 3 * n + j] = da_t * t_c * g_o * (1.0 - g_o)
            dc[i, j] = dc_t * g_f


def lstm_forward_step_np(s, z, c_prev, c, h):
    n = c.shape[1]
    z += s
    np.tanh(z[:, :n], out=z[:, :n])
    sigmoid_inplace(z[:, n:])
    np.multiply(z[:, n : 2 * n], z[:, :n], out=c)  # Γ_u ĉ
    np.multiply(z[:, 2 * n : 3 * n], c_prev, out=h)  # Γ_f c^(t-1), h as scratch
    c += h
    np.tanh(c, out=h)
    h *= z[:, 3 * n :]


@njit(cache=True)
def lstm_forward_loop(Z, H, C, WsT, s):
    for t in range(Z.shape[0]):
        matmul_into(H[t], WsT, s)
        lstm_forward_step(s, Z[t], C[t], C[t + 1], H[t + 1])


@njit(cache=True)
def lstm_backward_loop(G, Gc, Z, C, Ws, dZ, da, dc, tc):
    for k in range(dZ.shape[0] - 1, -1, -1):
        c = C[k + 1]
        for i in range(c.shape[0]):
            for j in range(c.shape[1]):
                tc[i, j] = np.tanh(c[i, j])
        lstm_backward_step(G[k], Gc[k], da, dc, Z[k], C[k], tc, dZ[k])
        matmul_into(dZ[k], Ws, da)


# NumPy twins of the loops: BLAS GEMMs and SIMD exp/tanh, for large problems.
def lstm_forward_loop_np(Z, H, C, WsT, s):
    for t in range(Z.shape[0]):
        np.matmul(H[t], WsT, out=s)
        lstm_forward_step_np(s, Z[t], C[t], C[t + 1], H[t + 1])


def lstm_backward_loop_np(G, Gc, Z, C, Ws, dZ, da, dc, tc):
    for k in range(dZ.shape[0] - 1, -1, -1):
        np.tanh(C[k + 1], out=tc)
        lstm_backward_step(G[k], Gc[k], da, dc, Z[k], C[k], tc, dZ[k])
        np.matmul(dZ[k], Ws, out=da)


# ----------------------------------------------------------------------------- GRU (notes)
@njit(cache=True)
def gru_gates_step(s, z, c_prev, rc):
    """[Γ_u; Γ_r] = σ(z[:, n:3n] + s), s = W_[ur]c c^(t-1); rc = Γ_r * c^(t-1)."""
    m, n = c_prev.shape
    for i in range(m):
        for j in range(n):
            g_u = sigmoid(z[i, n + j] + s[i, j])
            g_r = sigmoid(z[i, 2 * n + j] + s[i, n + j])
            z[i, n + j] = g_u
            z[i, 2 * n + j] = g_r
            rc[i, j] = g_r * c_prev[i, j]


@njit(cache=True)
def gru_state_step(s, z, c_prev, c):
    """ĉ = tanh(z[:, :n] + s), s = W_cc (Γ_r * c^(t-1)); c^(t) = Γ_u ĉ + (1 - Γ_u) c^(t-1)."""
    m, n = c.shape
    for i in range(m):
        for j in range(n):
            cand = np.tanh(z[i, j] + s[i, j])
            z[i, j] = cand
            g_u = z[i, n + j]
            c[i, j] = g_u * cand + (1.0 - g_u) * c_prev[i, j]


@njit(cache=True)
def gru_backward_step1(g, dmm, dcarry, gates, c_prev, dz):
    """dc = g + dcarry + dmm; dz_ĉ = dc Γ_u (1-ĉ^2); dz_u = dc (ĉ - c_prev) Γ_u (1-Γ_u);
    dcarry <- dc (1 - Γ_u) (direct path to c^(t-1))."""
    m, n = c_prev.shape
    for i in range(m):
        for j in range(n):
            cand = gates[i, j]
            g_u = gates[i, n + j]
            dc = g[i, j] + dcarry[i, j] + dmm[i, j]
            dz[i, j] = dc * g_u * (1.0 - cand * cand)
            dz[i, n + j] = dc * (cand - c_prev[i, j]) * g_u * (1.0 - g_u)
            dcarry[i, j] = dc * (1.0 - g_u)


@njit(cache=True)
def gru_backward_step2(drc, gates, c_prev, dcarry, dz):
    """Through rc = Γ_r * c^(t-1), drc = dz_ĉ W_cc: dz_r = drc c_prev Γ_r (1-Γ_r);
    dcarry += drc Γ_r."""
    m, n = c_prev.shape
    for i in range(m):
        for j in range(n):
            g_r = gates[i, 2 * n + j]
            dz[i, 2 * n + j] = drc[i, j] * c_prev[i, j] * g_r * (1.0 - g_r)
            dcarry[i, j] += drc[i, j] * g_r


def gru_gates_step_np(s, z, c_prev, rc):
    n = c_prev.shape[1]
    z[:, n:] += s
    sigmoid_inplace(z[:, n:])
    np.multiply(z[:, 2 * n :], c_prev, out=rc)


def _gru_combine_np(z, c_prev, c):
    """c = Γ_u ĉ + (1 - Γ_u) c^(t-1), computed as c^(t-1) + Γ_u (ĉ - c^(t-1))."""
    n = c.shape[1]
    np.subtract(z[:, :n], c_prev, out=c)
    c *= z[:, n : 2 * n]
    c += c_prev


def gru_state_step_np(s, z, c_prev, c):
    n = c.shape[1]
    z[:, :n] += s
    np.tanh(z[:, :n], out=z[:, :n])
    _gru_combine_np(z, c_prev, c)


@njit(cache=True)
def gru_forward_loop(Z, C, WurT, WccT, s_ur, rc, s_c):
    for t in range(Z.shape[0]):
        matmul_into(C[t], WurT, s_ur)
        gru_gates_step(s_ur, Z[t], C[t], rc)
        matmul_into(rc, WccT, s_c)
        gru_state_step(s_c, Z[t], C[t], C[t + 1])


@njit(cache=True)
def gru_backward_loop(G, Z, C, Wur, Wcc, dZ, dmm, dcarry, drc):
    n = C.shape[2]
    for k in range(dZ.shape[0] - 1, -1, -1):
        gru_backward_step1(G[k], dmm, dcarry, Z[k], C[k], dZ[k])
        matmul_into(dZ[k][:, :n], Wcc, drc)
        gru_backward_step2(drc, Z[k], C[k], dcarry, dZ[k])
        matmul_into(dZ[k][:, n:], Wur, dmm)


# NumPy twins of the loops: BLAS GEMMs and SIMD exp/tanh, for large problems.
def gru_forward_loop_np(Z, C, WurT, WccT, s_ur, rc, s_c):
    for t in range(Z.shape[0]):
        np.matmul(C[t], WurT, out=s_ur)
        gru_gates_step_np(s_ur, Z[t], C[t], rc)
        np.matmul(rc, WccT, out=s_c)
        gru_state_step_np(s_c, Z[t], C[t], C[t + 1])


def gru_backward_loop_np(G, Z, C, Wur, Wcc, dZ, dmm, dcarry, drc):
    n = C.shape[2]
    for k in range(dZ.shape[0] - 1, -1, -1):
        gru_backward_step1(G[k], dmm, dcarry, Z[k], C[k], dZ[k])
        np.matmul(dZ[k][:, :n], Wcc, out=drc)
        gru_backward_step2(drc, Z[k], C[k], dcarry, dZ[k])
        np.matmul(dZ[k][:, n:], Wur, out=dmm)


# ----------------------------------------------------------------------------- GRU reset-after
@njit(cache=True)
def gru_after_forward_step(s, z, c_prev, c):
    """s = c^(t-1) @ [W_uc; W_rc; W_cc]^T; z = [W_cx x + b_c, .. u, .. r, b_cc] ->
    [ĉ, Γ_u, Γ_r, h_c] with h_c = W_cc c^(t-1) + b_cc, ĉ = tanh(z_c + Γ_r h_c)."""
    m, n = c.shape
    for i in range(m):
        for j in range(n):
            g_u = sigmoid(z[i, n + j] + s[i, j])
            g_r = sigmoid(z[i, 2 * n + j] + s[i, n + j])
            h_c = z[i, 3 * n + j] + s[i, 2 * n + j]
            cand = np.tanh(z[i, j] + g_r * h_c)
            z[i, j] = cand
            z[i, n + j] = g_u
            z[i, 2 * n + j] = g_r
            z[i, 3 * n + j] = h_c
            c[i, j] = g_u * cand + (1.0 - g_u) * c_prev[i, j]


@njit(cache=True)
def gru_after_backward_step(g, dmm, dcarry, gates, c_prev, dz):
    """dc = g + dcarry + dmm; dz_ĉ = dc Γ_u (1-ĉ^2); dz_u as in the GRU;
    dz_r = dz_ĉ h_c Γ_r (1-Γ_r); dh_c = dz_ĉ Γ_r; dcarry <- dc (1 - Γ_u)."""
    m, n = c_prev.shape
    for i in range(m):
        for j in range(n):
            cand = gates[i, j]
            g_u = gates[i, n + j]
            g_r = gates[i, 2 * n + j]
            h_c = gates[i, 3 * n + j]
            dc = g[i, j] + dcarry[i, j] + dmm[i, j]
            dz_c = dc * g_u * (1.0 - cand * cand)
            dz[i, j] = dz_c
            dz[i, n + j] = dc * (cand - c_prev[i, j]) * g_u * (1.0 - g_u)
            dz[i, 2 * n + j] = dz_c * h_c * g_r * (1.0 - g_r)
            dz[i, 3 * n + j] = dz_c * g_r
            dcarry[i, j] = dc * (1.0 - g_u)


def gru_after_forward_step_np(s, z, c_prev, c):
    n = c.shape[1]
    z[:, n:] += s  # [Γ_u, Γ_r] pre-activations and h_c = W_cc c^(t-1) + b_cc
    sigmoid_inplace(z[:, n : 3 * n])
    np.multiply(z[:, 2 * n : 3 * n], z[:, 3 * n :], out=c)  # Γ_r h_c, c as scratch
    z[:, :n] += c
    np.tanh(z[:, :n], out=z[:, :n])
    _gru_combine_np(z, c_prev, c)


@njit(cache=True)
def gru_after_forward_loop(Z, C, WsT, s):
    for t in range(Z.shape[0]):
        matmul_into(C[t], WsT, s)
        gru_after_forward_step(s, Z[t], C[t], C[t + 1])


@njit(cache=True)
def gru_after_backward_loop(G, Z, C, Ws, dZ, dmm, dcarry):
    n = C.shape[2]
    for k in range(dZ.shape[0] - 1, -1, -1):
        gru_after_backward_step(G[k], dmm, dcarry, Z[k], C[k], dZ[k])
        matmul_into(dZ[k][:, n:], Ws, dmm)


# NumPy twins of the loops: BLAS GEMMs and SIMD exp/tanh, for large problems.
def gru_after_forward_loop_np(Z, C, WsT, s):
    for t in range(Z.shape[0]):
        np.matmul(C[t], WsT, out=s)
        gru_after_forward_step_np(s, Z[t], C[t], C[t + 1])


def gru_after_backward_loop_np(G, Z, C, Ws, dZ, dmm, dcarry):
    n = C.shape[2]
    for k in range(dZ.shape[0] - 1, -1, -1):
        gru_after_backward_step(G[k], dmm, dcarry, Z[k], C[k], dZ[k])
        np.matmul(dZ[k][:, n:], Ws, out=dmm)
