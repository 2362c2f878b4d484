"""SyncBatchNorm kernels over the (N, C, S) layout: the per-process halves of a batch norm
whose statistics span several processes (the collectives run between them, in
functional/sync_batch_norm.py).

- local statistics: per channel the mean and the centred sum of squares (m2) of this
  process's part of the batch, and its element count, packed as one float64 vector
  [mean(C), m2(C), count] ready for the all-gather. Means and m2 merge exactly across
  processes (Chan's formula), which sums of squares would not (cancellation).
- backward reduction: per channel sum(g) and sum(g * (x - mean)) as one float64 vector
  [sum_dy(C), sum_dy_xmu(C)] ready for the all-reduce, plus this process's weight and
  bias gradients.
- backward element pass: the input gradient from the global sums and the global count.

The forward normalisation itself is batch_norm's eval-mode kernel given the global mean
and variance (kernels/normalization.py). CPU kernels reuse batch_norm's per-channel sum
helpers; CUDA kernels use a block per channel, as batch_norm's do.
"""
import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_1d, grid_blocks
from ._block import BLOCK_THREADS
from ._loops import SERIAL_WORK
from .activation import like
from .normalization import (block_channel_grad_sums, block_channel_sum, block_channel_sum_sq, channel_grad_sums,
                            channel_sum, channel_sum_sq)


# ---------------------------------------------------------------- local statistics

@njit(inline="always")
def _local_stats_channel(x, stats, N, C, S, c):
    count = N * S
    m = channel_sum(x, c, N, C, S) / count if count > 0 else 0.0
    stats[c] = m
    stats[C + c] = channel_sum_sq(x, c, N, C, S, m) if count > 0 else 0.0


@njit(parallel=True, cache=True, error_model="numpy")
def local_stats_cpu(x, stats, N, C, S):
    """stats (float64, 2C+1) = [mean per channel, centred sum of squares per channel, N*S]."""
    stats[2 * C] = N * S
    if x.size <= SERIAL_WORK:
        for c in range(C):
            _local_stats_channel(x, stats, N, C, S, c)
    else:
        for c in prange(C):
            _local_stats_channel(x, stats, N, C, S, c)


@cuda.jit(cache=True)
def local_stats_cuda(x, stats, N, C, S):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    if cuda.blockIdx.x == 0 and t == 0:
        stats[2 * C] = count
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        total = block_channel_sum(buf, x, t, N, C, S, c)
        m = total / count if count > 0 else 0.0
        m2 = block_channel_sum_sq(buf, x, t, N, C, S, c, m)
        if t == 0:
            stats[c] = m
            stats[C + c] = m2


def local_stats(x, stats, N, C, S):
    if type(x) is np.ndarray:
        local_stats_cpu(x, stats, N, C, S)
    else:
        compiled(local_stats_cuda)[grid_blocks(C, BLOCK_THREADS)](x, stats, N, C, S)


# ---------------------------------------------------------------- backward: per-channel sums

@njit(inline="always")
def _grad_sums_channel(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S, c):
    sum_g, dot = channel_grad_sums(g, x, c, N, C, S, float(mean[c]))
    sums[c] = sum_g
    sums[C + c] = dot
    grad_weight[c] = dot * invstd[c]
    grad_bias[c] = sum_g


@njit(parallel=True, cache=True, error_model="numpy")
def grad_sums_cpu(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S):
    """sums (float64, 2C) = [sum(g), sum(g * (x - mean))] per channel of this process's batch;
    grad_weight = sum(g * (x - mean)) * invstd and grad_bias = sum(g), this process's share."""
    if x.size <= SERIAL_WORK:
        for c in range(C):
            _grad_sums_channel(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S, c)
    else:
        for c in prange(C):
            _grad_sums_channel(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S, c)


@cuda.jit(cache=True)
def grad_sums_cuda(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        sum_g, dot = block_channel_grad_sums(buf, g, x, t, N, C, S, c, mean[c])
        if t == 0:
            sums[c] = sum_g
            sums[C + c] = dot
            grad_weight[c] = dot * invstd[c]
            grad_bias[c] = sum_g


def grad_sums(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S):
    args = (g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S)
    if type(x) is np.ndarray:
        grad_sums_cpu(*args)
    else:
        compiled(grad_sums_cuda)[grid_blocks(C, BLOCK_THREADS)](*args)


# ---------------------------------------------------------------- backward: input gradient

@njit(inline="always")
def _input_grad_row(g, x, weight, mean, invstd, sums, gx, C, S, count, r):
    c = r % C
    istd = invstd[c]
    m = mean[c]
    g_mean = like(m, sums[c] / count)             # the global mean of g, in x's dtype
    proj = like(m, sums[C + c] * istd * istd / count)  # the global projection on (x - mean)
    scale = istd * weight[c]
    lo = r * S
    gs = g[lo:lo + S]
    xs = x[lo:lo + S]
    out = gx[lo:lo + S]
    for i in range(S):
        out[i] = (gs[i] - g_mean - (xs[i] - m) * proj) * scale


@njit(parallel=True, cache=True, error_model="numpy")
def input_grad_cpu(g, x, weight, mean, invstd, sums, gx, N, C, S, count):
    """gx = (g - sum_dy / count - (x - mean) * sum_dy_xmu * invstd^2 / count) * invstd * weight,
    with the sums and the count over every process (a row per (n, c))."""
    if x.size <= SERIAL_WORK:
        for r in range(N * C):
            _input_grad_row(g, x, weight, mean, invstd, sums, gx, C, S, count, r)
    else:
        for r in prange(N * C):
            _input_grad_row(g, x, weight, mean, invstd, sums, gx, C, S, count, r)


@cuda.jit(cache=True)
def input_grad_cuda(g, x, weight, mean, invstd, sums, gx, N, C, S, count):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        c = (i // S) % C
        istd = invstd[c]
        proj = sums[C + c] * istd * istd / count
        gx[i] = (g[i] - sums[c] / count - (x[i] - mean[c]) * proj) * (istd * weight[c])


def input_grad(g, x, weight, mean, invstd, sums, gx, N, C, S, count):
    args = (g, x, weight, mean, invstd, sums, gx, N, C, S, count)
    if type(x) is np.ndarray:
        input_grad_cpu(*args)
    else:
        compiled(input_grad_cuda)[grid_1d(x.size)](*args)
