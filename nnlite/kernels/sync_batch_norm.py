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
helpers; CUDA reuses batch_norm's part sums (each channel split across blocks,
kernels/_channels.py) and merges them with a block per channel.
"""
import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_1d, grid_blocks
from ._block import BLOCK_THREADS
from ._loops import SERIAL_WORK
from .activation import like
from ._channels import channel_parts, merged, partials_for
from .normalization import (batch_norm_part_grad_sums_cuda, batch_norm_part_sums_cuda, channel_grad_sums, channel_sum,
                            channel_sum_sq)


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
def local_stats_finish_cuda(x, partials, stats, N, C, S, parts):
    """stats from the channels' part sums of x - K and (x - K)^2 (batch_norm's first
    launch): a block per channel merges them."""
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    if cuda.blockIdx.x == 0 and t == 0:
        stats[2 * C] = count
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        s1 = merged(buf, partials, c, parts, 0, 2)
        s2 = merged(buf, partials, c, parts, 1, 2)
        if t == 0:
            m = 0.0
            m2 = 0.0
            if count > 0:
                m = float64(x[c * S]) + s1 / count
                m2 = s2 - s1 * (s1 / count)
                if m2 < 0.0:             # rounding; NaN stays NaN
                    m2 = 0.0
            stats[c] = m
            stats[C + c] = m2


def local_stats(x, stats, N, C, S):
    if type(x) is np.ndarray:
        local_stats_cpu(x, stats, N, C, S)
    else:
        parts = channel_parts(C, N * S)
        partials = partials_for(x, C, parts, 2)
        compiled(batch_norm_part_sums_cuda)[grid_blocks(C * parts, BLOCK_THREADS)](x, partials, N, C, S, parts)
        compiled(local_stats_finish_cuda)[grid_blocks(C, BLOCK_THREADS)](x, partials, stats, N, C, S, parts)


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
def grad_sums_finish_cuda(partials, invstd, sums, grad_weight, grad_bias, C, parts):
    """sums and this process's weight and bias gradients from the channels' part sums of
    g and g * (x - mean) (batch_norm's backward first launch): a block per channel."""
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        sum_g = merged(buf, partials, c, parts, 0, 2)
        dot = merged(buf, partials, c, parts, 1, 2)
        if cuda.threadIdx.x == 0:
            sums[c] = sum_g
            sums[C + c] = dot
            grad_weight[c] = dot * invstd[c]
            grad_bias[c] = sum_g


def grad_sums(g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S):
    args = (g, x, mean, invstd, sums, grad_weight, grad_bias, N, C, S)
    if type(x) is np.ndarray:
        grad_sums_cpu(*args)
    else:
        parts = channel_parts(C, N * S)
        partials = partials_for(x, C, parts, 2)
        compiled(batch_norm_part_grad_sums_cuda)[grid_blocks(C * parts, BLOCK_THREADS)](g, x, mean, partials, N, C,
                                                                                       S, parts)
        compiled(grad_sums_finish_cuda)[grid_blocks(C, BLOCK_THREADS)](partials, invstd, sums, grad_weight,
                                                                       grad_bias, C, parts)


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
