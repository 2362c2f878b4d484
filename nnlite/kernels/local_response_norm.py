"""Local response norm across channels (LocalResponseNorm, CrossMapLRN2d), forward and backward.

Data is read as (N, C, S). Channel c is divided by scale^beta, where
scale = k + alpha / size * sum(x[j]^2) over the window j in [c - before, c + after]
(clipped to the channels). LocalResponseNorm takes before = size // 2,
after = (size - 1) // 2, as torch's zero-padded average pool does.
CrossMapLRN2d takes a symmetric window and, as torch's legacy implementation
does, always counts channel 0 (`sticky_first`): its running sum never
subtracts channel 0 once the window has moved past it.

Backward: dx[j] = g[j] * scale[j]^-beta
                  - 2 * alpha * beta / size * x[j] * sum_{c: j in window(c)} g[c] x[c] scale[c]^(-beta-1);
the channels c whose window holds j are [j - after, j + before] (every channel
for j = 0 when sticky_first). The forward keeps `scale` for the backward.
Sums are short (size terms), so they run in the input's dtype, as torch's.
"""
import numpy as np
from numba import njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.kernel_pair import KernelPair
from ..backend.launch import grid_1d
from ._loops import SERIAL_WORK


@njit(inline="always")
def window(c, C, before, after):
    return max(0, c - before), min(C - 1, c + after)


@cuda.jit(device=True)
def window_cuda(c, C, before, after):
    return max(0, c - before), min(C - 1, c + after)


@njit(inline="always")
def _lrn_row(x, scale, y, C, S, before, after, sticky_first, alpha_over_size, beta, k, row):
    n, c = row // C, row % C
    lo, hi = window(c, C, before, after)
    sr = scale[row * S:(row + 1) * S]
    for i in range(S):
        sr[i] = 0
    for j in range(lo, hi + 1):
        xs = x[(n * C + j) * S:(n * C + j + 1) * S]
        for i in range(S):
            sr[i] += xs[i] * xs[i]
    if sticky_first and lo > 0:
        xs = x[n * C * S:(n * C + 1) * S]
        for i in range(S):
            sr[i] += xs[i] * xs[i]
    xr = x[row * S:(row + 1) * S]
    yr = y[row * S:(row + 1) * S]
    for i in range(S):
        sr[i] = k + alpha_over_size * sr[i]
        yr[i] = xr[i] * sr[i] ** -beta


@njit(parallel=True, cache=True)
def local_response_norm_fwd_cpu(x, scale, y, N, C, S, before, after, sticky_first, alpha_over_size, beta, k):
    """y and scale (kept for the backward), a task per (n, c) row of S elements."""
    if x.size <= SERIAL_WORK:
        for row in range(N * C):
            _lrn_row(x, scale, y, C, S, before, after, sticky_first, alpha_over_size, beta, k, row)
    else:
        for row in prange(N * C):
            _lrn_row(x, scale, y, C, S, before, after, sticky_first, alpha_over_size, beta, k, row)


@cuda.jit(cache=True)
def local_response_norm_fwd_cuda(x, scale, y, N, C, S, before, after, sticky_first, alpha_over_size, beta, k):
    for e in range(cuda.grid(1), N * C * S, cuda.gridsize(1)):
        row, i = e // S, e % S
        n, c = row // C, row % C
        lo, hi = window_cuda(c, C, before, after)
        acc = 0.0
        for j in range(lo, hi + 1):
            v = x[(n * C + j) * S + i]
            acc += v * v
        if sticky_first and lo > 0:
            v = x[n * C * S + i]
            acc += v * v
        s = k + alpha_over_size * acc
        scale[e] = s
        y[e] = x[e] * s ** -beta


local_response_norm_fwd = KernelPair(local_response_norm_fwd_cpu, local_response_norm_fwd_cuda)


@njit(inline="always")
def _lrn_ratio_row(g, x, scale, ratio, S, beta, row):
    gr, xr = g[row * S:(row + 1) * S], x[row * S:(row + 1) * S]
    sr, rr = scale[row * S:(row + 1) * S], ratio[row * S:(row + 1) * S]
    for i in range(S):
        rr[i] = gr[i] * xr[i] * sr[i] ** (-beta - 1)


@njit(inline="always")
def _lrn_bwd_row(g, x, scale, ratio, gx, C, S, before, after, sticky_first, beta, coef, row):
    n, c = row // C, row % C
    # the channels whose window holds c
    lo, hi = (0, C - 1) if sticky_first and c == 0 else window(c, C, after, before)
    out = gx[row * S:(row + 1) * S]
    for i in range(S):
        out[i] = 0
    for j in range(lo, hi + 1):
        rs = ratio[(n * C + j) * S:(n * C + j + 1) * S]
        for i in range(S):
            out[i] += rs[i]
    gr, xr, sr = g[row * S:(row + 1) * S], x[row * S:(row + 1) * S], scale[row * S:(row + 1) * S]
    for i in range(S):
        out[i] = gr[i] * sr[i] ** -beta - coef * xr[i] * out[i]


@njit(parallel=True, cache=True)
def local_response_norm_bwd_cpu(g, x, scale, ratio, gx, N, C, S, before, after, sticky_first, beta, coef):
    """gx from g; ratio is scratch of x's size (g * x * scale^(-beta-1), summed over windows)."""
    if x.size <= SERIAL_WORK:
        for row in range(N * C):
            _lrn_ratio_row(g, x, scale, ratio, S, beta, row)
        for row in range(N * C):
            _lrn_bwd_row(g, x, scale, ratio, gx, C, S, before, after, sticky_first, beta, coef, row)
    else:
        for row in prange(N * C):
            _lrn_ratio_row(g, x, scale, ratio, S, beta, row)
        for row in prange(N * C):
            _lrn_bwd_row(g, x, scale, ratio, gx, C, S, before, after, sticky_first, beta, coef, row)


@cuda.jit(cache=True)
def local_response_norm_bwd_cuda(g, x, scale, gx, N, C, S, before, after, sticky_first, beta, coef):
    # a thread per element recomputes its window's ratios (no grid-wide sync for a scratch pass)
    for e in range(cuda.grid(1), N * C * S, cuda.gridsize(1)):
        row, i = e // S, e % S
        n, c = row // C, row % C
        lo, hi = window_cuda(c, C, after, before)
        if sticky_first and c == 0:
            lo, hi = 0, C - 1
        acc = 0.0
        for j in range(lo, hi + 1):
            f = (n * C + j) * S + i
            acc += g[f] * x[f] * scale[f] ** (-beta - 1)
        gx[e] = g[e] * scale[e] ** -beta - coef * x[e] * acc


def local_response_norm_bwd(g, x, scale, ratio, gx, N, C, S, before, after, sticky_first, beta, coef):
    """ratio: scratch of x's size, used by the CPU kernel only."""
    if type(x) is np.ndarray:
        local_response_norm_bwd_cpu(g, x, scale, ratio, gx, N, C, S, before, after, sticky_first, beta, coef)
    else:
        compiled(local_response_norm_bwd_cuda)[grid_1d(x.size)](g, x, scale, gx, N, C, S, before, after,
                                                                 sticky_first, beta, coef)
