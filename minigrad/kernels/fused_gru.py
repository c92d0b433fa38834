"""Numba kernels for the fused GRU recurrences: the notes' GRU (reset before the product) and
the cuDNN/PyTorch reset-after GRU.

Same layout, conventions and structure as ``minigrad.kernels.fused_rnn_lstm`` (read its docstring):
``*_step`` kernels for one time step, whole-chunk ``*_loop`` kernels for small problems and
their NumPy twins ``*_loop_np`` (BLAS GEMM per step, NumPy's SIMD exp/tanh) for large ones.
"""

import numpy as np
from numba import njit

from .elementwise import sigmoid_inplace, sigmoid_scalar
from .fused_rnn_lstm import matmul_into


# ----------------------------------------------------------------------------- GRU (notes)
@njit(cache=True)
def gru_gates_step(s, z, c_prev, rc):
    """[Γ_u; Γ_r] = σ(z[:, n:3n] + s), s = W_[ur]c c^(t-1); rc = Γ_r * c^(t-1)."""
    m, n = c_prev.shape
    for i in range(m):
        for j in range(n):
            g_u = sigmoid_scalar(z[i, n + j] + s[i, j])
            g_r = sigmoid_scalar(z[i, 2 * n + j] + s[i, n + j])
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
            g_u = sigmoid_scalar(z[i, n + j] + s[i, j])
            g_r = sigmoid_scalar(z[i, 2 * n + j] + s[i, n + j])
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
