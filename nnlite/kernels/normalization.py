"""Normalization kernels: batch_norm over (N, C, S) and a row norm that serves
layer_norm and group_norm, forward and backward.

batch_norm: a CPU task per channel computes the mean and the centred sum of
squares (two passes, float64 accumulators, as ATen), updates the running
stats and writes y = x * alpha + beta; the channel's data (N segments of S)
stays in cache between the passes, so the input is read from memory once.
Backward is one fused pass for sum(g) and sum(g * (x - mean)) per channel and
one pass writing the input gradient.

Row norm: rows of D contiguous elements, each normalised by its own mean and
variance; weight and bias are per column (layer_norm: G = 1, S = 1) or per
channel of S elements, with G groups of channels (group_norm: D = C / G * S).

The sums are separate functions with fastmath={"reassoc"} (flags apply to a
whole function), so LLVM may split them into vector lanes; everything else
keeps IEEE semantics, and NaN and inf propagate. CUDA kernels use a block per
channel or row, reducing in shared memory.
"""
import math

import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.kernel_pair import KernelPair
from ..backend.launch import grid_blocks
from ._loops import SERIAL_WORK
from .activation import like
from ._block import BLOCK_THREADS, block_reduce

ROW_BLOCKS = 16            # blocks of rows (parallel tasks) of the layer_norm backward


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


@cuda.jit(cache=True)
def batch_norm_cuda(x, weight, bias, y, mean, invstd, running_mean, running_var, N, C, S, eps, momentum,
                    training, update):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    count = N * S
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        if training:
            acc = 0.0
            n, s = _first(t, S)
            while n < N:
                acc += x[(n * C + c) * S + s]
                n, s = _step(n, s, S)
            m = block_reduce(buf, acc, False) / count
            acc = 0.0
            n, s = _first(t, S)
            while n < N:
                d = x[(n * C + c) * S + s] - m
                acc += d * d
                n, s = _step(n, s, S)
            var_sum = block_reduce(buf, acc, False)
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
        sg = 0.0
        dot = 0.0
        n, s = _first(t, S)
        while n < N:
            i = (n * C + c) * S + s
            sg += g[i]
            dot += g[i] * (x[i] - m)
            n, s = _step(n, s, S)
        sum_g = block_reduce(buf, sg, False)
        dot = block_reduce(buf, dot, False)
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


# ---------------------------------------------------------------- layer_norm / group_norm

@njit(cache=True, fastmath={"reassoc"})
def row_moments(xr):
    """Mean and biased variance of a row (two passes, float64)."""
    n = xr.size
    s = 0.0
    for i in range(n):
        s += xr[i]
    m = s / n
    q = 0.0
    for i in range(n):
        d = xr[i] - m
        q += d * d
    return m, q / n


@njit(inline="always")
def _row_norm(x, weight, bias, y, mean, rstd, D, G, S, eps, r):
    xr = x[r * D:(r + 1) * D]
    yr = y[r * D:(r + 1) * D]
    m, var = row_moments(xr)
    mean[r] = m
    rstd[r] = 1.0 / math.sqrt(var + eps)
    rs = rstd[r]
    channels = D // S
    w0 = (r % G) * channels              # the row's first weight (group_norm: its group's channels)
    if S == 1:                           # ATen layer_norm: (x * rstd - rstd * mean) * w + b
        shift = -rs * mean[r]
        wr = weight[w0:w0 + D]
        br = bias[w0:w0 + D]
        for j in range(D):
            yr[j] = (xr[j] * rs + shift) * wr[j] + br[j]
        return
    for k in range(channels):            # ATen group_norm: x * (rstd * w) + (b - rstd * w * mean)
        a = rs * weight[w0 + k]
        b = bias[w0 + k] - a * mean[r]
        xs = xr[k * S:(k + 1) * S]
        ys = yr[k * S:(k + 1) * S]
        for i in range(S):
            ys[i] = xs[i] * a + b


@njit(parallel=True, cache=True, error_model="numpy")
def row_norm_cpu(x, weight, bias, y, mean, rstd, rows, D, G, S, eps):
    """Normalise each row of D elements; weight/bias index as described in the module docstring."""
    if x.size <= SERIAL_WORK:
        for r in range(rows):
            _row_norm(x, weight, bias, y, mean, rstd, D, G, S, eps, r)
    else:
        for r in prange(rows):
            _row_norm(x, weight, bias, y, mean, rstd, D, G, S, eps, r)


@cuda.jit(cache=True)
def row_norm_cuda(x, weight, bias, y, mean, rstd, rows, D, G, S, eps):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    channels = D // S
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        base = r * D
        s = 0.0
        for j in range(t, D, BLOCK_THREADS):
            s += x[base + j]
        m = block_reduce(buf, s, False) / D
        s = 0.0
        for j in range(t, D, BLOCK_THREADS):
            d = x[base + j] - m
            s += d * d
        rs = 1.0 / math.sqrt(block_reduce(buf, s, False) / D + eps)
        if t == 0:
            mean[r] = m
            rstd[r] = rs
        w0 = (r % G) * channels
        for j in range(t, D, BLOCK_THREADS):
            w = w0 + j // S
            y[base + j] = (x[base + j] - m) * rs * weight[w] + bias[w]


def row_norm(x, weight, bias, y, mean, rstd, rows, D, G, S, eps):
    if type(x) is np.ndarray:
        row_norm_cpu(x, weight, bias, y, mean, rstd, rows, D, G, S, eps)
    else:
        compiled(row_norm_cuda)[grid_blocks(rows, BLOCK_THREADS)](x, weight, bias, y, mean, rstd, rows, D,
                                                                   G, S, eps)


@njit(cache=True, fastmath={"reassoc"})
def row_grad_sums(gr, xr, weight, w0, channels, S):
    """(sum(g * w * x), sum(g * w)) over a row whose channels of S take weights w0, w0 + 1, ..."""
    ds = 0.0
    db = 0.0
    if S == 1:
        wr = weight[w0:w0 + channels]
        for j in range(channels):
            gw = gr[j] * wr[j]
            ds += gw * xr[j]
            db += gw
        return ds, db
    for k in range(channels):
        w = weight[w0 + k]
        gs = gr[k * S:(k + 1) * S]
        xs = xr[k * S:(k + 1) * S]
        for i in range(S):
            gw = gs[i] * w
            ds += gw * xs[i]
            db += gw
    return ds, db


@njit(inline="always")
def _row_norm_bwd(g, x, weight, mean, rstd, gx, D, G, S, r):
    # ATen: ds = sum(g * w * x), db = sum(g * w); dx = rstd * g * w + b * x + c
    gr = g[r * D:(r + 1) * D]
    xr = x[r * D:(r + 1) * D]
    out = gx[r * D:(r + 1) * D]
    channels = D // S
    w0 = (r % G) * channels
    ds, db = row_grad_sums(gr, xr, weight, w0, channels, S)
    a = rstd[r]
    m = float(mean[r])
    b = (db * m - ds) * a * a * a / D
    c = like(a, -b * m - db * a / D)
    b = like(a, b)
    if S == 1:
        wr = weight[w0:w0 + D]
        for j in range(D):
            out[j] = a * wr[j] * gr[j] + b * xr[j] + c
        return
    for k in range(channels):
        aw = a * weight[w0 + k]
        gs = gr[k * S:(k + 1) * S]
        xs = xr[k * S:(k + 1) * S]
        os = out[k * S:(k + 1) * S]
        for i in range(S):
            os[i] = aw * gs[i] + b * xs[i] + c


@njit(parallel=True, cache=True, error_model="numpy")
def row_norm_bwd_cpu(g, x, weight, mean, rstd, gx, rows, D, G, S):
    if x.size <= SERIAL_WORK:
        for r in range(rows):
            _row_norm_bwd(g, x, weight, mean, rstd, gx, D, G, S, r)
    else:
        for r in prange(rows):
            _row_norm_bwd(g, x, weight, mean, rstd, gx, D, G, S, r)


@cuda.jit(cache=True)
def row_norm_bwd_cuda(g, x, weight, mean, rstd, gx, rows, D, G, S):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    t = cuda.threadIdx.x
    channels = D // S
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        base = r * D
        w0 = (r % G) * channels
        ds = 0.0
        db = 0.0
        for j in range(t, D, BLOCK_THREADS):
            gw = g[base + j] * weight[w0 + j // S]
            ds += gw * x[base + j]
            db += gw
        ds = block_reduce(buf, ds, False)
        db = block_reduce(buf, db, False)
        a = rstd[r]
        m = mean[r]
        b = (db * m - ds) * a * a * a / D
        c = -b * m - db * a / D
        for j in range(t, D, BLOCK_THREADS):
            gx[base + j] = a * weight[w0 + j // S] * g[base + j] + b * x[base + j] + c


def row_norm_bwd(g, x, weight, mean, rstd, gx, rows, D, G, S):
    if type(x) is np.ndarray:
        row_norm_bwd_cpu(g, x, weight, mean, rstd, gx, rows, D, G, S)
    else:
        compiled(row_norm_bwd_cuda)[grid_blocks(rows, BLOCK_THREADS)](g, x, weight, mean, rstd, gx, rows, D,
                                                                       G, S)


# Weight and bias gradients: per weight index w, sums over the N rows (blocks
# of G rows for group_norm) and the S elements of its channel. The data is
# read as (N, W, S) with W weights; row n * G + w // (W / G) holds the stats.

@njit(cache=True, fastmath={"reassoc"})
def affine_grad_sums(g, x, mean, rstd, N, W, G, S, w):
    """(sum(g * (x - mean) * rstd), sum(g)) over weight w's elements, in float64."""
    row_in_sample = w // (W // G)
    sw = 0.0
    sb = 0.0
    for n in range(N):
        r = n * G + row_in_sample
        m = float(mean[r])
        lo = (n * W + w) * S
        gs = g[lo:lo + S]
        xs = x[lo:lo + S]
        d = 0.0
        for i in range(S):
            d += gs[i] * (xs[i] - m)
            sb += gs[i]
        sw += d * rstd[r]
    return sw, sb


@njit(inline="always")
def _affine_grad_channel(g, x, mean, rstd, grad_weight, grad_bias, N, W, G, S, w):
    grad_weight[w], grad_bias[w] = affine_grad_sums(g, x, mean, rstd, N, W, G, S, w)


@njit(parallel=True, cache=True, error_model="numpy")
def affine_grad_cpu(g, x, mean, rstd, grad_weight, grad_bias, N, W, G, S):
    """Weight and bias gradients of group_norm: a task per channel."""
    if x.size <= SERIAL_WORK:
        for w in range(W):
            _affine_grad_channel(g, x, mean, rstd, grad_weight, grad_bias, N, W, G, S, w)
    else:
        for w in prange(W):
            _affine_grad_channel(g, x, mean, rstd, grad_weight, grad_bias, N, W, G, S, w)


@cuda.jit(cache=True)
def affine_grad_cuda(g, x, mean, rstd, grad_weight, grad_bias, N, W, G, S):
    # a thread per weight; neighbouring threads read neighbouring columns (layer_norm)
    for w in range(cuda.grid(1), W, cuda.gridsize(1)):
        row_in_sample = w // (W // G)
        sw = 0.0
        sb = 0.0
        for n in range(N):
            r = n * G + row_in_sample
            for i in range(S):
                k = (n * W + w) * S + i
                sw += g[k] * (x[k] - mean[r]) * rstd[r]
                sb += g[k]
        grad_weight[w] = sw
        grad_bias[w] = sb


affine_grad = KernelPair(affine_grad_cpu, affine_grad_cuda)


# layer_norm's backward on the CPU is one kernel: a task per block of rows
# writes the rows' input gradients and, while they are in cache, adds their
# weight and bias contributions to the block's float64 partial sums (vectorised
# along the row); a last pass sums the blocks' partials.

@njit(inline="always")
def _layer_norm_bwd_rows(g, x, weight, mean, rstd, gx, D, part, r0, r1, input_grad):
    pw = part[:D]
    pb = part[D:]
    for j in range(D):
        pw[j] = 0
        pb[j] = 0
    for r in range(r0, r1):
        if input_grad:
            _row_norm_bwd(g, x, weight, mean, rstd, gx, D, 1, 1, r)
        m = float(mean[r])
        rs = float(rstd[r])
        gr = g[r * D:(r + 1) * D]
        xr = x[r * D:(r + 1) * D]
        for j in range(D):
            pw[j] += gr[j] * (xr[j] - m) * rs
            pb[j] += gr[j]


@njit(parallel=True, cache=True, error_model="numpy")
def layer_norm_bwd_cpu(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, rows, D, scratch, input_grad):
    """scratch: float64, layer_norm_scratch_size(rows, D) long."""
    blocks = scratch.size // (2 * D)
    per_block = (rows + blocks - 1) // blocks
    for t in prange(blocks):
        _layer_norm_bwd_rows(g, x, weight, mean, rstd, gx, D, scratch[t * 2 * D:(t + 1) * 2 * D],
                             t * per_block, min(rows, (t + 1) * per_block), input_grad)
    for j in prange(D):
        sw = 0.0
        sb = 0.0
        for t in range(blocks):
            sw += scratch[t * 2 * D + j]
            sb += scratch[t * 2 * D + D + j]
        grad_weight[j] = sw
        grad_bias[j] = sb


def layer_norm_scratch_size(rows, D):
    """float64 partial sums of layer_norm_bwd_cpu: 2 * D per block of rows."""
    return max(1, min(rows, ROW_BLOCKS if rows * D > SERIAL_WORK else 1)) * 2 * D


def layer_norm_bwd(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, rows, D, scratch, input_grad):
    """Input (when input_grad), weight and bias gradients of a layer norm over rows of D."""
    if type(x) is np.ndarray:
        layer_norm_bwd_cpu(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, rows, D, scratch, input_grad)
        return
    if input_grad:
        row_norm_bwd(g, x, weight, mean, rstd, gx, rows, D, 1, 1)
    affine_grad(g, x, mean, rstd, grad_weight, grad_bias, rows, D, 1, 1)
