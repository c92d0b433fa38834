"""Numba kernels for the fused RNN and LSTM recurrences (forward and hand-written BPTT); the
GRUs' live in ``minigrad.kernels.fused_gru`` (same layout and conventions).

Internal layout (the ops layer converts from SPEC.md's ``(n, m, T_x)``): time-major, one example
per row, so that every per-step block is a contiguous ``(m, width)`` matrix:

    Z[t]      (m, k*n_a)   input projection + bias (LSTM: without b, its steps add it),
                           overwritten with the gate activations
    H[t], C[t] (m, n_a)    states; H[0] = a^(0)^T, H[t] = a^(t)^T (LSTM: TC[t] = tanh C[t])
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
the backward steps have no transcendental functions and are shared. The LSTM's NumPy twin
splits its step around the SIMD calls into two small Numba kernels (``lstm_preactivate``,
``lstm_cell_update``) that do the rest in one pass each (fewer, cheaper calls). σ is
``minigrad.kernels.elementwise``'s, everywhere: ``sigmoid_scalar`` in the compiled steps,
``sigmoid_inplace`` (compiled passes around SIMD exp) in the NumPy ones. The ops layer
(``minigrad.ops.fused``) picks one by problem size.

All kernels are dtype-generic (float32, float64, complex128 for complex-step checks): only
analytic operations on values; relu compares ``.real`` and the ops layer refuses complex relu.
"""

import numpy as np
from numba import njit

from .elementwise import sigmoid_inplace, sigmoid_scalar


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
def lstm_forward_step(s, z, b, c_prev, c, tc, h):
    """z + b + s = [ĉ; Γ_u; Γ_f; Γ_o] pre-activations -> activations (in z), c^(t),
    tc = tanh(c^(t)) (scratch) and a^(t) = Γ_o tc."""
    m, n = c.shape
    for i in range(m):
        for j in range(n):
            cand = np.tanh(z[i, j] + b[j] + s[i, j])
            g_u = sigmoid_scalar(z[i, n + j] + b[n + j] + s[i, n + j])
            g_f = sigmoid_scalar(z[i, 2 * n + j] + b[2 * n + j] + s[i, 2 * n + j])
            g_o = sigmoid_scalar(z[i, 3 * n + j] + b[3 * n + j] + s[i, 3 * n + j])
            z[i, j] = cand
            z[i, n + j] = g_u
            z[i, 2 * n + j] = g_f
            z[i, 3 * n + j] = g_o
            c_new = g_u * cand + g_f * c_prev[i, j]
            c[i, j] = c_new
            t_c = np.tanh(c_new)
            tc[i, j] = t_c
            h[i, j] = g_o * t_c


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


@njit(cache=True)
def lstm_preactivate(s, z, b):
    """z <- z + b + s: the pre-activations of [ĉ; Γ_u; Γ_f; Γ_o]."""
    m, n4 = s.shape
    for i in range(m):
        for j in range(n4):
            z[i, j] = z[i, j] + b[j] + s[i, j]


@njit(cache=True)
def lstm_cell_update(z, c_prev, c):
    """z holds the activations [ĉ; Γ_u; Γ_f; Γ_o]: c^(t) = Γ_u ĉ + Γ_f c^(t-1)."""
    m, n = c.shape
    for i in range(m):
        for j in range(n):
            c[i, j] = z[i, n + j] * z[i, j] + z[i, 2 * n + j] * c_prev[i, j]


def lstm_forward_step_np(s, z, b, c_prev, c, tc, h, scratch=None):
    """lstm_forward_step with NumPy's SIMD tanh/exp (scratch: (m, 3 n_a) for the gates' exp)."""
    n = c.shape[1]
    lstm_preactivate(s, z, b)
    np.tanh(z[:, :n], out=z[:, :n])  # ĉ
    sigmoid_inplace(z[:, n:], scratch)  # Γ_u, Γ_f, Γ_o
    lstm_cell_update(z, c_prev, c)
    np.tanh(c, out=tc)
    np.multiply(tc, z[:, 3 * n :], out=h)  # a^(t) = Γ_o tanh(c^(t))


@njit(cache=True)
def lstm_forward_loop(Z, H, C, tc, WsT, b, s):
    for t in range(Z.shape[0]):
        matmul_into(H[t], WsT, s)
        lstm_forward_step(s, Z[t], b, C[t], C[t + 1], tc, H[t + 1])


@njit(cache=True)
def lstm_backward_loop(G, Gc, Z, C, Ws, dZ, da, dc, tc):
    """tanh c^(t) is recomputed per step into the scratch tc (storing it for every step would
    cost T m n more memory for < 1% of the time)."""
    for k in range(dZ.shape[0] - 1, -1, -1):
        c = C[k + 1]
        for i in range(c.shape[0]):
            for j in range(c.shape[1]):
                tc[i, j] = np.tanh(c[i, j])
        lstm_backward_step(G[k], Gc[k], da, dc, Z[k], C[k], tc, dZ[k])
        matmul_into(dZ[k], Ws, da)


# NumPy twins of the loops: BLAS GEMMs and SIMD exp/tanh, for large problems.
def lstm_forward_loop_np(Z, H, C, tc, WsT, b, s):
    scratch = np.empty((s.shape[0], s.shape[1] * 3 // 4), s.dtype)
    for t in range(Z.shape[0]):
        np.matmul(H[t], WsT, out=s)
        lstm_forward_step_np(s, Z[t], b, C[t], C[t + 1], tc, H[t + 1], scratch)


def lstm_backward_loop_np(G, Gc, Z, C, Ws, dZ, da, dc, tc):
    for k in range(dZ.shape[0] - 1, -1, -1):
        np.tanh(C[k + 1], out=tc)
        lstm_backward_step(G[k], Gc[k], da, dc, Z[k], C[k], tc, dZ[k])
        np.matmul(dZ[k], Ws, out=da)
