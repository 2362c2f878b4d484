"""Row norm kernels: layer_norm and group_norm (and instance_norm, a group per
channel), forward and backward.

Rows of D contiguous elements, each normalised by its own mean and variance;
weight and bias are per column (layer_norm: G = 1, S = 1) or per channel of
S elements, with G groups of channels (group_norm: D = C / G * S).

The sums are separate functions with fastmath={"reassoc"} (flags apply to a
whole function), so LLVM may split them into vector lanes; everything else
keeps IEEE semantics, and NaN and inf propagate. Sums accumulate in float64.

CPU backward, one kernel per op that reads g and x once from memory:
- layer_norm: a task per block of rows writes the rows' input gradients and,
  while the row is in cache, adds its weight and bias terms to the block's
  float64 partial sums (no atomics); a last pass adds up the blocks.
- group_norm: a task per row (sample, group) takes sum(g * x) and sum(g) per
  channel (S elements each) into float64 scratch, derives the row's input
  gradient from them while the row is in cache, and the weight and bias
  gradients come from the same per-channel sums afterwards (ATen's scheme):
  dw[c] = sum_n (sum(g x) - sum(g) * mean) * rstd, db[c] = sum_n sum(g).
CUDA kernels use a block per row, reducing in shared memory.
"""
import math

import numpy as np
from numba import float64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_1d, grid_blocks
from ._block import BLOCK_THREADS, block_reduce
from ._loops import SERIAL_WORK
from .fastmath import like

ROW_BLOCKS = 16            # blocks of rows (parallel tasks) of the layer_norm backward


ONE_PASS_LIMIT = 1e-7      # var / mean(x^2) above which sum(x^2) / n - mean^2 keeps float32 accuracy


@njit(cache=True, fastmath={"reassoc"})
def sum_and_sum_sq(xr):
    """(sum(x), sum(x^2)) of a row in one float64 pass."""
    s = 0.0
    q = 0.0
    for i in range(xr.size):
        v = np.float64(xr[i])        # (Numba's float() keeps a float32 a float32)
        s += v
        q += v * v
    return s, q


@njit(cache=True, fastmath={"reassoc"})
def centred_sum_sq(xr, m):
    """sum((x - m)^2) of a row, in float64."""
    q = 0.0
    for i in range(xr.size):
        d = xr[i] - m
        q += d * d
    return q


@njit(cache=True)
def row_moments(xr):
    """Mean and biased variance of a row. float32 rows take one float64 pass
    (sum and sum of squares): its cancellation error is ~1e-16 * mean(x^2) / var,
    under 1e-8 while var > ONE_PASS_LIMIT * mean(x^2). Other rows (float64 data,
    a mean far above the spread, NaN or inf) take a second, centred pass."""
    n = xr.size
    s, q = sum_and_sum_sq(xr)
    m = s / n
    if xr.itemsize == 4:
        var = q / n - m * m
        if var > ONE_PASS_LIMIT * (q / n):
            return m, var
    return m, centred_sum_sq(xr, m) / n


@njit(inline="always")
def _row_norm(x, weight, bias, y, mean, rstd, D, G, S, eps, r):
    xr = x[r * D:(r + 1) * D]
    yr = y[r * D:(r + 1) * D]
    m, var = row_moments(xr)
    mean[r] = m
    rstd[r] = 1.0 / math.sqrt(var + eps)
    rs = rstd[r]
    m = mean[r]
    channels = D // S
    w0 = (r % G) * channels              # the row's first weight (group_norm: its group's channels)
    # y = (x - mean) * rstd * w + b: x - mean is exact for x near the mean, so rows with a
    # large offset keep their accuracy (ATen's x * (rstd * w) + shift rounds at |x| * rstd)
    if S == 1:                           # layer_norm: a weight per column
        wr = weight[w0:w0 + D]
        br = bias[w0:w0 + D]
        for j in range(D):
            yr[j] = (xr[j] - m) * rs * wr[j] + br[j]
        return
    for k in range(channels):            # group_norm: a weight per channel of S elements
        a = rs * weight[w0 + k]
        b = bias[w0 + k]
        xs = xr[k * S:(k + 1) * S]
        ys = yr[k * S:(k + 1) * S]
        for i in range(S):
            ys[i] = (xs[i] - m) * a + b


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


# ---------------------------------------------------------------- backward, layer_norm (CPU)

@njit(cache=True, fastmath={"reassoc"})
def weighted_row_sums(gr, xr, wr):
    """(sum(g * w * x), sum(g * w)) over a row, in float64."""
    ds = 0.0
    db = 0.0
    for j in range(xr.size):
        gw = gr[j] * wr[j]
        ds += gw * xr[j]
        db += gw
    return ds, db


@njit(cache=True, fastmath={"reassoc"})
def _layer_norm_bwd_row(gr, xr, wr, out, pw, pb, m, rs, D, input_grad):
    """One row: out = rs * w * g + b * x + c (ATen's form) and the row's weight and
    bias terms added to the block partials pw, pb, in one sweep of the cached row.
    (reassoc measured ~8% faster here; it leaves NaN and inf propagating.)"""
    if input_grad:
        ds, db = weighted_row_sums(gr, xr, wr)
        b = (db * m - ds) * rs * rs * rs / D
        c = like(xr[0], -b * m - db * rs / D)
        b = like(xr[0], b)
        a = like(xr[0], rs)
        for j in range(D):
            out[j] = a * wr[j] * gr[j] + b * xr[j] + c
            pw[j] += gr[j] * (xr[j] - m) * rs
            pb[j] += gr[j]
    else:
        for j in range(D):
            pw[j] += gr[j] * (xr[j] - m) * rs
            pb[j] += gr[j]


@njit(inline="always")
def _layer_norm_bwd_rows(g, x, weight, mean, rstd, gx, D, part, r0, r1, input_grad):
    pw = part[:D]
    pb = part[D:]
    for j in range(D):
        pw[j] = 0
        pb[j] = 0
    for r in range(r0, r1):
        lo, hi = r * D, (r + 1) * D
        # mean and rstd stay in the data's dtype: the per-element products run at its
        # width (vectorised), the partial sums in float64
        _layer_norm_bwd_row(g[lo:hi], x[lo:hi], weight, gx[lo:hi], pw, pb, mean[r], rstd[r], D, input_grad)


@njit(parallel=True, cache=True, error_model="numpy")
def layer_norm_bwd_cpu(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, rows, D, scratch, input_grad):
    """scratch: float64, layer_norm_scratch_size(rows, D) long; gx unused unless input_grad."""
    blocks = scratch.size // (2 * D)
    per_block = (rows + blocks - 1) // blocks
    for t in prange(blocks):
        _layer_norm_bwd_rows(g, x, weight, mean, rstd, gx, D, scratch[t * 2 * D:(t + 1) * 2 * D],
                             t * per_block, min(rows, (t + 1) * per_block), input_grad)
    for j in range(D):
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


# ---------------------------------------------------------------- backward, group_norm (CPU)

@njit(cache=True, fastmath={"reassoc"})
def channel_sums(gs, xs):
    """(sum(g * x), sum(g)) over one channel's elements, in float64."""
    ds = 0.0
    db = 0.0
    for i in range(xs.size):
        ds += gs[i] * xs[i]
        db += gs[i]
    return ds, db


@njit(cache=True)
def _group_norm_input_grad(gr, xr, weight, out, c0, channels, S, a, b, c):
    """out = a * w * g + b * x + c over a row of `channels` channels of S elements."""
    for k in range(channels):
        aw = a * weight[c0 + k]
        gs, xs, os = gr[k * S:(k + 1) * S], xr[k * S:(k + 1) * S], out[k * S:(k + 1) * S]
        for i in range(S):
            os[i] = aw * gs[i] + b * xs[i] + c


@njit(inline="always")
def _group_norm_bwd_row(g, x, weight, mean, rstd, gx, sums, C, G, S, input_grad, r):
    channels = C // G
    D = channels * S
    n, c0 = r // G, (r % G) * channels
    ds = 0.0
    db = 0.0
    for k in range(channels):
        nc = n * C + c0 + k
        sums[2 * nc], sums[2 * nc + 1] = channel_sums(g[nc * S:(nc + 1) * S], x[nc * S:(nc + 1) * S])
        ds += sums[2 * nc] * weight[c0 + k]
        db += sums[2 * nc + 1] * weight[c0 + k]
    if not input_grad:
        return
    a = rstd[r]
    m = np.float64(mean[r])
    b = (db * m - ds) * a * a * a / D
    c = like(a, -b * m - db * a / D)
    _group_norm_input_grad(g[r * D:(r + 1) * D], x[r * D:(r + 1) * D], weight, gx[r * D:(r + 1) * D], c0,
                           channels, S, a, like(a, b), c)


@njit(inline="always")
def _group_norm_affine_grad(mean, rstd, sums, grad_weight, grad_bias, N, C, G, c):
    sw = 0.0
    sb = 0.0
    for n in range(N):
        r = n * G + c // (C // G)
        ds, db = sums[2 * (n * C + c)], sums[2 * (n * C + c) + 1]
        sw += (ds - db * mean[r]) * rstd[r]
        sb += db
    grad_weight[c] = sw
    grad_bias[c] = sb


@njit(parallel=True, cache=True, error_model="numpy")
def group_norm_bwd_cpu(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, N, C, G, S, sums, input_grad):
    """sums: float64 scratch of 2 * N * C (per-channel sum(g * x), sum(g)); gx unused unless input_grad."""
    if x.size <= SERIAL_WORK:
        for r in range(N * G):
            _group_norm_bwd_row(g, x, weight, mean, rstd, gx, sums, C, G, S, input_grad, r)
    else:
        for r in prange(N * G):
            _group_norm_bwd_row(g, x, weight, mean, rstd, gx, sums, C, G, S, input_grad, r)
    for c in range(C):
        _group_norm_affine_grad(mean, rstd, sums, grad_weight, grad_bias, N, C, G, c)


# ---------------------------------------------------------------- backward, CUDA

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



@cuda.jit(cache=True)
def affine_grad_cuda(g, x, mean, rstd, grad_weight, grad_bias, N, W, G, S):
    # a thread per weight; neighbouring threads read neighbouring columns (layer_norm);
    # data read as (N, W, S) with W weights, row n * G + w // (W / G) holding the stats
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


def layer_norm_bwd(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, rows, D, scratch, input_grad):
    """Input (when input_grad), weight and bias gradients of a layer norm over rows of D;
    scratch (float64, layer_norm_scratch_size) is used by the CPU kernel only."""
    if type(x) is np.ndarray:
        layer_norm_bwd_cpu(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, rows, D, scratch, input_grad)
        return
    if input_grad:
        compiled(row_norm_bwd_cuda)[grid_blocks(rows, BLOCK_THREADS)](g, x, weight, mean, rstd, gx, rows, D, 1, 1)
    compiled(affine_grad_cuda)[grid_1d(D)](g, x, mean, rstd, grad_weight, grad_bias, rows, D, 1, 1)


def group_norm_bwd(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, N, C, G, S, sums, input_grad):
    """Input (when input_grad), weight and bias gradients of a group norm of (N, C, S) in G groups;
    sums (float64, 2 * N * C) is used by the CPU kernel only."""
    if type(x) is np.ndarray:
        group_norm_bwd_cpu(g, x, weight, mean, rstd, gx, grad_weight, grad_bias, N, C, G, S, sums, input_grad)
        return
    rows, D = N * G, C // G * S
    if input_grad:
        compiled(row_norm_bwd_cuda)[grid_blocks(rows, BLOCK_THREADS)](g, x, weight, mean, rstd, gx, rows, D, G, S)
    compiled(affine_grad_cuda)[grid_1d(C)](g, x, mean, rstd, grad_weight, grad_bias, N, C, G, S)
