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
keeps IEEE semantics, and NaN and inf propagate. CUDA kernels split each
channel into parts of a block each (kernels/_channels.py): one launch for the
parts' sums, one that merges them and writes the output.
"""
import math

import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_blocks
from ._loops import SERIAL_WORK
from .activation import like
from ._block import BLOCK_THREADS, block_reduce
from ._channels import channel_parts, four, merged, part, partials_for, step


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


# CUDA: each channel split into parts of a block each (kernels/_channels.py). The
# first launch leaves each part's sums of x - K and (x - K)^2 in partials, K the
# channel's first element: merging parts is then plain addition, and the shift keeps
# the variance's cancellation small. The second merges them and writes y.

@cuda.jit(cache=True)
def batch_norm_part_sums_cuda(x, partials, N, C, S, parts):
    """partials[2 * item + (0, 1)] = sum of (x - K, (x - K)^2) over the item's part of its channel."""
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    stride = 4 * BLOCK_THREADS
    for item in range(cuda.blockIdx.x, C * parts, cuda.gridDim.x):
        c, p, hi, j, n, s = part(item, parts, count, t, S)
        shift = float64(x[c * S]) if count > 0 else 0.0
        s1 = 0.0
        s2 = 0.0
        while j + stride - BLOCK_THREADS < hi:
            i0, i1, i2, i3, n, s = four(n, s, S, c, C)
            d0, d1, d2, d3 = x[i0] - shift, x[i1] - shift, x[i2] - shift, x[i3] - shift
            s1 += (d0 + d1) + (d2 + d3)
            s2 += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            j += stride
        while j < hi:
            d = x[(n * C + c) * S + s] - shift
            s1 += d
            s2 += d * d
            n, s = step(n, s, S)
            j += BLOCK_THREADS
        s1 = block_reduce(buf, s1, False)
        s2 = block_reduce(buf, s2, False)
        if t == 0:
            partials[2 * item] = s1
            partials[2 * item + 1] = s2


@cuda.jit(cache=True)
def batch_norm_apply_cuda(x, weight, bias, y, mean, invstd, running_mean, running_var, partials, N, C, S,
                          parts, eps, momentum, training, update):
    """y = x * alpha + beta over each item's part, with the channel's statistics merged from
    partials (training) or the running stats; part 0 writes mean, invstd and running stats."""
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    stride = 4 * BLOCK_THREADS
    for item in range(cuda.blockIdx.x, C * parts, cuda.gridDim.x):
        c, p, hi, j, n, s = part(item, parts, count, t, S)
        if training:
            s1 = merged(buf, partials, c, parts, 0, 2)
            s2 = merged(buf, partials, c, parts, 1, 2)
            var_sum = s2 - s1 * (s1 / count)
            if var_sum < 0.0:                # rounding; NaN (a NaN or inf in x) stays NaN
                var_sum = 0.0
            m = (float64(x[c * S]) if count > 0 else 0.0) + s1 / count
            istd = 1.0 / math.sqrt(var_sum / count + eps)
            if update and p == 0 and t == 0:
                running_mean[c] = momentum * m + (1 - momentum) * running_mean[c]
                running_var[c] = momentum * (var_sum / (count - 1)) + (1 - momentum) * running_var[c]
        else:
            m = float64(running_mean[c])
            istd = 1.0 / math.sqrt(running_var[c] + eps)
        if p == 0 and t == 0:
            mean[c] = m
            invstd[c] = istd
        alpha = istd * weight[c]
        beta = bias[c] - m * alpha
        while j + stride - BLOCK_THREADS < hi:
            i0, i1, i2, i3, n, s = four(n, s, S, c, C)
            a0, a1, a2, a3 = x[i0], x[i1], x[i2], x[i3]
            y[i0] = a0 * alpha + beta
            y[i1] = a1 * alpha + beta
            y[i2] = a2 * alpha + beta
            y[i3] = a3 * alpha + beta
            j += stride
        while j < hi:
            i = (n * C + c) * S + s
            y[i] = x[i] * alpha + beta
            n, s = step(n, s, S)
            j += BLOCK_THREADS


def batch_norm(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
               training, update):
    args = (x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum, training,
            update)
    if type(x) is np.ndarray:
        batch_norm_cpu(*args)
        return
    if C == 0:
        return
    parts = channel_parts(C, N * S)
    partials = partials_for(x, C, parts, 2)
    grid = grid_blocks(C * parts, BLOCK_THREADS)
    if training:
        compiled(batch_norm_part_sums_cuda)[grid](x, partials, N, C, S, parts)
    compiled(batch_norm_apply_cuda)[grid](x, weight, bias, y, mean, invstd, running_mean, running_var, partials,
                                          N, C, S, parts, eps, momentum, training, update)


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
def batch_norm_part_grad_sums_cuda(g, x, mean, partials, N, C, S, parts):
    """partials[2 * item + (0, 1)] = (sum of g, sum of g * (x - mean)) over the item's part."""
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    stride = 4 * BLOCK_THREADS
    for item in range(cuda.blockIdx.x, C * parts, cuda.gridDim.x):
        c, p, hi, j, n, s = part(item, parts, count, t, S)
        m = mean[c]
        sg = 0.0
        dot = 0.0
        while j + stride - BLOCK_THREADS < hi:
            i0, i1, i2, i3, n, s = four(n, s, S, c, C)
            g0, g1, g2, g3 = g[i0], g[i1], g[i2], g[i3]
            x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
            sg += (g0 + g1) + (g2 + g3)
            dot += (g0 * (x0 - m) + g1 * (x1 - m)) + (g2 * (x2 - m) + g3 * (x3 - m))
            j += stride
        while j < hi:
            i = (n * C + c) * S + s
            sg += g[i]
            dot += g[i] * (x[i] - m)
            n, s = step(n, s, S)
            j += BLOCK_THREADS
        sg = block_reduce(buf, sg, False)
        dot = block_reduce(buf, dot, False)
        if t == 0:
            partials[2 * item] = sg
            partials[2 * item + 1] = dot


@cuda.jit(cache=True)
def batch_norm_input_grad_cuda(g, x, weight, mean, invstd, partials, gx, grad_weight, grad_bias, N, C, S,
                               parts, training, input_grad):
    """grad_weight and grad_bias from the merged partials (part 0), and gx over each item's part:
    (g - mean(g) - (x - mean) * k) * invstd * w in training (ATen's form), g * invstd * w in eval."""
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    stride = 4 * BLOCK_THREADS
    for item in range(cuda.blockIdx.x, C * parts, cuda.gridDim.x):
        c, p, hi, j, n, s = part(item, parts, count, t, S)
        if not input_grad and p != 0:       # (the same for the whole block)
            continue
        sum_g = merged(buf, partials, c, parts, 0, 2)
        dot = merged(buf, partials, c, parts, 1, 2)
        if p == 0 and t == 0:
            grad_weight[c] = dot * invstd[c]
            grad_bias[c] = sum_g
        if not input_grad:
            continue
        m = mean[c]
        scale = invstd[c] * weight[c]
        proj = dot * invstd[c] * invstd[c] / count
        g_mean = sum_g / count
        while j + stride - BLOCK_THREADS < hi:
            i0, i1, i2, i3, n, s = four(n, s, S, c, C)
            g0, g1, g2, g3 = g[i0], g[i1], g[i2], g[i3]
            if training:
                x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
                gx[i0] = (g0 - g_mean - (x0 - m) * proj) * scale
                gx[i1] = (g1 - g_mean - (x1 - m) * proj) * scale
                gx[i2] = (g2 - g_mean - (x2 - m) * proj) * scale
                gx[i3] = (g3 - g_mean - (x3 - m) * proj) * scale
            else:                            # the running stats are constants
                gx[i0] = g0 * scale
                gx[i1] = g1 * scale
                gx[i2] = g2 * scale
                gx[i3] = g3 * scale
            j += stride
        while j < hi:
            i = (n * C + c) * S + s
            gx[i] = (g[i] - g_mean - (x[i] - m) * proj) * scale if training else g[i] * scale
            n, s = step(n, s, S)
            j += BLOCK_THREADS


def batch_norm_bwd(g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training, input_grad):
    args = (g, x, weight, mean, invstd, gx, grad_weight, grad_bias, N, C, S, training, input_grad)
    if type(x) is np.ndarray:
        batch_norm_bwd_cpu(*args)
        return
    if C == 0:
        return
    parts = channel_parts(C, N * S)
    partials = partials_for(x, C, parts, 2)
    grid = grid_blocks(C * parts, BLOCK_THREADS)
    compiled(batch_norm_part_grad_sums_cuda)[grid](g, x, mean, partials, N, C, S, parts)
    compiled(batch_norm_input_grad_cuda)[grid](g, x, weight, mean, invstd, partials, gx, grad_weight, grad_bias,
                                               N, C, S, parts, training, input_grad)
