"""batch_norm kernels over (N, C, S), forward and backward (layer_norm and
group_norm run on the row-norm kernels of row_norm.py).

A CPU task per channel computes the mean and the centred sum of squares (two
passes, float64 accumulators, as ATen), updates the running stats and writes
y = x * alpha + beta; the channel's data (N segments of S) stays in cache
between the passes, so the input is read from memory once. Backward is one
fused pass for sum(g) and sum(g * (x - mean)) per channel and one pass
writing the input gradient.

The sums are separate functions with fastmath={"reassoc"} (flags apply to a
whole function), so LLVM may split them into vector lanes; everything else
keeps IEEE semantics, and NaN and inf propagate. CUDA kernels use a block per
channel, reducing in shared memory.
"""
import math

import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_blocks
from ._loops import SERIAL_WORK
from .activation import like
from ._block import BLOCK_THREADS, block_reduce


# ---------------------------------------------------------------- batch_norm

@njit(cache=True, fastmath={"reassoc"})
def channel_sum(x, c, N, C, S):
    """sum of channel c of the (N, C, S) layout, in float64."""
    s = 0.0
    for n in range(N):
        seg = x[(n * C + c) * S:(n * C + c + 1) * S]
        for i in range(S):
            s += seg[i]
    return s


@njit(cache=True, fastmath={"reassoc"})
def channel_sum_sq(x, c, N, C, S, mean):
    """sum of (x - mean)^2 over channel c, in float64."""
    s = 0.0
    for n in range(N):
        seg = x[(n * C + c) * S:(n * C + c + 1) * S]
        for i in range(S):
            d = seg[i] - mean
            s += d * d
    return s


@njit(cache=True, fastmath={"reassoc"})
def channel_grad_sums(g, x, c, N, C, S, mean):
    """(sum(g), sum(g * (x - mean))) over channel c in one pass, in float64."""
    sum_g = 0.0
    dot = 0.0
    for n in range(N):
        lo = (n * C + c) * S
        gs = g[lo:lo + S]
        xs = x[lo:lo + S]
        for i in range(S):
            sum_g += gs[i]
            dot += gs[i] * (xs[i] - mean)
    return sum_g, dot


@njit(inline="always")
def _channel_affine(x, y, c, N, C, S, a, b):
    for n in range(N):
        lo = (n * C + c) * S
        xs = x[lo:lo + S]
        ys = y[lo:lo + S]
        for i in range(S):
            ys[i] = xs[i] * a + b


@njit(inline="always")
def _bn_channel(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
                training, update, c):
    if training:
        count = N * S
        m = channel_sum(x, c, N, C, S) / count
        var_sum = channel_sum_sq(x, c, N, C, S, m)
        istd = 1.0 / math.sqrt(var_sum / count + eps)
        if update:  # running_var takes the unbiased variance
            running_mean[c] = momentum * m + (1 - momentum) * running_mean[c]
            running_var[c] = momentum * (var_sum / (count - 1)) + (1 - momentum) * running_var[c]
    else:
        m = running_mean[c]
        istd = 1.0 / math.sqrt(running_var[c] + eps)
    mean[c] = m
    invstd[c] = istd
    alpha = invstd[c] * weight[c]
    _channel_affine(x, y, c, N, C, S, alpha, like(alpha, bias[c] - mean[c] * alpha))


@njit(parallel=True, cache=True, error_model="numpy")
def batch_norm_cpu(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
                   training, update):
    """y = (x - mean) * invstd * weight + bias per channel of the (N, C, S) layout.

    training: batch statistics (and running stats updated in place when
    `update`); otherwise the running stats. mean and invstd are written
    either way (backward reads them).
    """
    if x.size <= SERIAL_WORK:
        for c in range(C):
            _bn_channel(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
                        training, update, c)
    else:
        for c in prange(C):
            _bn_channel(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
                        training, update, c)


# A block per channel walks the channel's N*S elements, thread t taking every
# BLOCK_THREADS-th one from t. Stepping (n, s) by BLOCK_THREADS instead of
# splitting a flat index costs a division only when a step crosses into the next
# image (64-bit divisions per element made these kernels integer-bound on a GPU).

@cuda.jit(device=True)
def _first(t, S):
    """(n, s) of the t-th element of a channel."""
    return t // S, t % S


@cuda.jit(device=True)
def _step(n, s, S):
    """(n, s) BLOCK_THREADS elements further on."""
    s += BLOCK_THREADS
    if s >= S:
        n += s // S
        s %= S
    return n, s


@cuda.jit(device=True)
def block_channel_sum(buf, x, t, N, C, S, c):
    """Sum over channel c of x (N, C, S), by the block (every thread gets it)."""
    acc = 0.0
    n, s = _first(t, S)
    while n < N:
        acc += x[(n * C + c) * S + s]
        n, s = _step(n, s, S)
    return block_reduce(buf, acc, False)


@cuda.jit(device=True)
def block_channel_sum_sq(buf, x, t, N, C, S, c, m):
    """Sum over channel c of (x - m)^2, by the block."""
    acc = 0.0
    n, s = _first(t, S)
    while n < N:
        d = x[(n * C + c) * S + s] - m
        acc += d * d
        n, s = _step(n, s, S)
    return block_reduce(buf, acc, False)


@cuda.jit(device=True)
def block_channel_grad_sums(buf, g, x, t, N, C, S, c, m):
    """(sum of g, sum of g * (x - m)) over channel c, by the block."""
    sg = 0.0
    dot = 0.0
    n, s = _first(t, S)
    while n < N:
        i = (n * C + c) * S + s
        sg += g[i]
        dot += g[i] * (x[i] - m)
        n, s = _step(n, s, S)
    return block_reduce(buf, sg, False), block_reduce(buf, dot, False)


@cuda.jit(cache=True)
def batch_norm_cuda(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
                    training, update):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        if training:
            m = block_channel_sum(buf, x, t, N, C, S, c) / count
            var_sum = block_channel_sum_sq(buf, x, t, N, C, S, c, m)
            istd = 1.0 / math.sqrt(var_sum / count + eps)
            if update and t == 0:
                running_mean[c] = momentum * m + (1 - momentum) * running_mean[c]
                running_var[c] = momentum * (var_sum / (count - 1)) + (1 - momentum) * running_var[c]
        else:
            m = running_mean[c]
            istd = 1.0 / math.sqrt(running_var[c] + eps)
        if t == 0:
            mean[c] = m
            invstd[c] = istd
        alpha = istd * weight[c]
        beta = bias[c] - m * alpha
        n, s = _first(t, S)
        while n < N:
            i = (n * C + c) * S + s
            y[i] = x[i] * alpha + beta
            n, s = _step(n, s, S)


def batch_norm(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
               training, update):
    args = (x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum, training,
            update)
    if type(x) is np.ndarray:
        batch_norm_cpu(*args)
    else:
        compiled(batch_norm_cuda)[grid_blocks(C, BLOCK_THREADS)](*args)


@njit(inline="always")
def _bn_bwd_channel(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training,
                    input_grad, c):
    m = mean[c]
    sum_g, dot = channel_grad_sums(g, x, c, N, C, S, float(m))
    grad_weight[c] = dot * invstd[c]
    grad_bias[c] = sum_g
    if not input_grad:
        return
    scale = invstd[c] * weight[c]
    if not training:                     # the running stats are constants: dx = g * invstd * w
        for n in range(N):
            lo = (n * C + c) * S
            gs = g[lo:lo + S]
            out = gx[lo:lo + S]
            for i in range(S):
                out[i] = gs[i] * scale
        return
    count = N * S
    k = like(m, dot * invstd[c] * invstd[c] / count)
    g_mean = like(m, sum_g / count)
    for n in range(N):                   # ATen: (g - mean(g) - (x - mean) * k) * invstd * w
        lo = (n * C + c) * S
        gs = g[lo:lo + S]
        xs = x[lo:lo + S]
        out = gx[lo:lo + S]
        for i in range(S):
            out[i] = (gs[i] - g_mean - (xs[i] - m) * k) * scale


@njit(parallel=True, cache=True, error_model="numpy")
def batch_norm_bwd_cpu(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training,
                       input_grad):
    """Gradients of batch_norm; in eval mode (training False) mean/invstd are the running stats'."""
    if x.size <= SERIAL_WORK:
        for c in range(C):
            _bn_bwd_channel(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training,
                            input_grad, c)
    else:
        for c in prange(C):
            _bn_bwd_channel(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training,
                            input_grad, c)


@cuda.jit(cache=True)
def batch_norm_bwd_cuda(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training,
                        input_grad):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        m = mean[c]
        sum_g, dot = block_channel_grad_sums(buf, g, x, t, N, C, S, c, m)
        if t == 0:
            grad_weight[c] = dot * invstd[c]
            grad_bias[c] = sum_g
        if input_grad:
            scale = invstd[c] * weight[c]
            proj = dot * invstd[c] * invstd[c] / count
            g_mean = sum_g / count
            n, s = _first(t, S)
            while n < N:
                i = (n * C + c) * S + s
                gx[i] = (g[i] - g_mean - (x[i] - m) * proj) * scale if training else g[i] * scale
                n, s = _step(n, s, S)


def batch_norm_bwd(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training, input_grad):
    args = (g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training, input_grad)
    if type(x) is np.ndarray:
        batch_norm_bwd_cpu(*args)
    else:
        compiled(batch_norm_bwd_cuda)[grid_blocks(C, BLOCK_THREADS)](*args)
