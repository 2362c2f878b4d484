"""RMS norm over rows of D contiguous elements, forward and backward.

y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps) per row (float64 sum).
Backward, with gw_j = g_j * w_j:
    dx = rstd * gw - x * rstd^3 * sum(gw * x) / D,   dw_j = sum over rows of g_j * x_j * rstd.
On the CPU one kernel does both: a task per block of rows writes the rows'
input gradients and adds the weight gradient to the block's float64 partial
row (no atomics); a last pass sums the blocks' partials. The sum of squares
is its own function with fastmath={"reassoc"} so it vectorises.
"""
import math

import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_1d, grid_blocks
from ._block import BLOCK_THREADS, block_reduce
from ._loops import SERIAL_WORK
from .fastmath import like

ROW_BLOCKS = 16            # blocks of rows (parallel tasks) of the CPU backward


@njit(cache=True, fastmath={"reassoc"})
def sum_sq(xr):
    s = 0.0
    for i in range(xr.size):
        s += xr[i] * xr[i]
    return s


@njit(cache=True, fastmath={"reassoc"})
def sum_gwx(gr, wr, xr):
    """sum(g * w * x) over a row, in float64."""
    s = 0.0
    for i in range(xr.size):
        s += gr[i] * wr[i] * xr[i]
    return s


@njit(inline="always")
def _rms_row(x, weight, y, rstd, D, eps, r):
    xr, yr = x[r * D:(r + 1) * D], y[r * D:(r + 1) * D]
    rs = 1.0 / math.sqrt(sum_sq(xr) / D + eps)
    rstd[r] = rs
    rs = like(xr[0], rs)
    for j in range(D):
        yr[j] = xr[j] * rs * weight[j]


@njit(parallel=True, cache=True, error_model="numpy")
def rms_norm_fwd_cpu(x, weight, y, rstd, rows, D, eps):
    if x.size <= SERIAL_WORK:
        for r in range(rows):
            _rms_row(x, weight, y, rstd, D, eps, r)
    else:
        for r in prange(rows):
            _rms_row(x, weight, y, rstd, D, eps, r)


@cuda.jit(cache=True)
def rms_norm_fwd_cuda(x, weight, y, rstd, rows, D, eps):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        s = 0.0
        for j in range(t, D, BLOCK_THREADS):
            s += x[r * D + j] * x[r * D + j]
        rs = 1.0 / math.sqrt(block_reduce(buf, s, False) / D + eps)
        if t == 0:
            rstd[r] = rs
        for j in range(t, D, BLOCK_THREADS):
            y[r * D + j] = x[r * D + j] * rs * weight[j]


def rms_norm_fwd(x, weight, y, rstd, rows, D, eps):
    """y and the rows' rstd (kept for the backward)."""
    if type(x) is np.ndarray:
        rms_norm_fwd_cpu(x, weight, y, rstd, rows, D, eps)
    else:
        compiled(rms_norm_fwd_cuda)[grid_blocks(rows, BLOCK_THREADS)](x, weight, y, rstd, rows, D, eps)


@njit(inline="always")
def _rms_bwd_rows(g, x, weight, rstd, gx, D, part, r0, r1, input_grad):
    for j in range(D):
        part[j] = 0
    for r in range(r0, r1):
        gr, xr = g[r * D:(r + 1) * D], x[r * D:(r + 1) * D]
        rs = rstd[r]
        if input_grad:
            out = gx[r * D:(r + 1) * D]
            a = like(xr[0], rs)
            r64 = np.float64(rs)
            b = like(xr[0], r64 * r64 * r64 * sum_gwx(gr, weight, xr) / D)
            for j in range(D):
                out[j] = a * gr[j] * weight[j] - b * xr[j]
        for j in range(D):
            part[j] += gr[j] * xr[j] * rs


@njit(parallel=True, cache=True, error_model="numpy")
def rms_norm_bwd_cpu(g, x, weight, rstd, gx, grad_weight, rows, D, scratch, input_grad):
    """scratch: float64, rms_norm_scratch_size(rows, D) long."""
    blocks = scratch.size // D
    per_block = (rows + blocks - 1) // blocks
    for t in prange(blocks):
        _rms_bwd_rows(g, x, weight, rstd, gx, D, scratch[t * D:(t + 1) * D], t * per_block,
                      min(rows, (t + 1) * per_block), input_grad)
    for j in prange(D):
        s = 0.0
        for t in range(blocks):
            s += scratch[t * D + j]
        grad_weight[j] = s


def rms_norm_scratch_size(rows, D):
    """float64 partial weight gradients of rms_norm_bwd_cpu: D per block of rows."""
    return max(1, min(rows, ROW_BLOCKS if rows * D > SERIAL_WORK else 1)) * D


@cuda.jit(cache=True)
def rms_norm_bwd_input_cuda(g, x, weight, rstd, gx, rows, D):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        s = 0.0
        for j in range(t, D, BLOCK_THREADS):
            s += g[r * D + j] * weight[j] * x[r * D + j]
        rs = rstd[r]
        b = rs * rs * rs * block_reduce(buf, s, False) / D
        for j in range(t, D, BLOCK_THREADS):
            gx[r * D + j] = rs * g[r * D + j] * weight[j] - b * x[r * D + j]


@cuda.jit(cache=True)
def rms_norm_bwd_weight_cuda(g, x, rstd, grad_weight, rows, D):
    # a thread per column: neighbouring threads read neighbouring elements
    for j in range(cuda.grid(1), D, cuda.gridsize(1)):
        s = 0.0
        for r in range(rows):
            s += g[r * D + j] * x[r * D + j] * rstd[r]
        grad_weight[j] = s


def rms_norm_bwd(g, x, weight, rstd, gx, grad_weight, rows, D, scratch, input_grad):
    """Input (when input_grad) and weight gradients; scratch is used by the CPU kernel only."""
    if type(x) is np.ndarray:
        rms_norm_bwd_cpu(g, x, weight, rstd, gx, grad_weight, rows, D, scratch, input_grad)
        return
    if input_grad:
        compiled(rms_norm_bwd_input_cuda)[grid_blocks(rows, BLOCK_THREADS)](g, x, weight, rstd, gx, rows, D)
    compiled(rms_norm_bwd_weight_cuda)[grid_1d(D)](g, x, rstd, grad_weight, rows, D)
