"""Resampling kernels for interpolate: every mode is one separable pass per spatial axis.

A pass along one axis is a small sparse matrix: output position o reads the
taps idx[o, t] (t < T, -1 ends a short row) with weights w[o, t]. Nearest,
linear, cubic, area (adaptive average) and antialiased filters differ only in
that table, which `resample_table` builds on the host from the scalar math in
sampling.py (tiny: out_size x T). The data pass `resample` views the array as
(A, L, B) around the axis and writes (A, O, B):

    y[a, o, b] = sum_t w[o, t] * x[a, idx[o, t], b]

Backward of a pass is the same kernel with the transposed table (built on the
host), so gradients are gathers: deterministic, no atomics, no races, and one
kernel pair serves forward and backward of every mode and dimension.

Passes run from the last axis to the first, which multiplies in PyTorch's
order (bilinear: the W weights inside, the H weights outside).
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .fastmath import like
from .sampling import (aa_cubic_filter_cpu, aa_linear_filter_cpu, cubic_coefficients_cpu,
                       index_lambda_cpu, source_index_cpu)

NEAREST, NEAREST_EXACT, LINEAR, CUBIC, AREA, AA_LINEAR, AA_CUBIC = range(7)


# ---------------------------------------------------------------- tables (host only)


@njit(inline="always")
def _nearest_row(mode, o, in_size, out_size, scale):
    """torch's nearest_idx / nearest_exact_idx (scale is float32, as in torch)."""
    if mode == NEAREST:
        if out_size == in_size:
            return o
        if out_size == 2 * in_size:
            return o >> 1
        return min(int(math.floor(like(scale, o) * scale)), in_size - 1)
    return min(int(math.floor(like(scale, (o + 0.5) * float(scale)))), in_size - 1)


@njit(inline="always")
def _aa_row(mode, o, in_size, scale, idx, w):
    """PIL-style filter over the in-bounds taps, normalised to sum 1 (torch's antialias)."""
    T = idx.shape[1]
    interp = 2.0 if mode == AA_LINEAR else 4.0
    support = like(scale, interp * 0.5 * scale) if scale >= 1.0 else like(scale, interp * 0.5)
    invscale = like(scale, 1.0 / scale) if scale >= 1.0 else like(scale, 1.0)
    center = like(scale, float(scale) * (o + 0.5))
    xmin = max(int(center - support + 0.5), 0)
    xsize = max(min(min(int(center + support + 0.5), in_size) - xmin, T), 0)
    total = like(scale, 0)
    for j in range(xsize):
        arg = like(scale, (like(scale, j + xmin) - center + 0.5) * invscale)
        f = aa_linear_filter_cpu(arg) if mode == AA_LINEAR else aa_cubic_filter_cpu(arg)
        wj = like(scale, f)
        idx[o, j] = xmin + j
        w[o, j] = wj
        total += wj
    if total != 0:
        for j in range(xsize):
            w[o, j] = like(scale, w[o, j]) / total


@njit(cache=True)
def resample_table(mode, in_size, scale, align_corners, idx, w):
    """Fill idx (O, T) int64 and w (O, T) float64 for one axis; unused taps get -1 and 0.

    `scale` is the source step in the type torch computes it in (float32 for
    nearest and for float32 data), so indices and weights round as torch's do.
    """
    O, T = idx.shape
    for o in range(O):
        for t in range(T):
            idx[o, t] = -1
            w[o, t] = 0.0
        if mode == NEAREST or mode == NEAREST_EXACT:
            idx[o, 0] = _nearest_row(mode, o, in_size, O, scale)
            w[o, 0] = 1.0
        elif mode == LINEAR:
            if O == in_size:           # torch copies when the size does not change
                i, lam = o, like(scale, 0)
            else:
                i, lam = index_lambda_cpu(source_index_cpu(scale, o, align_corners, False), in_size)
            idx[o, 0] = i
            idx[o, 1] = i + 1 if i < in_size - 1 else i
            w[o, 0] = like(scale, 1) - lam
            w[o, 1] = lam
        elif mode == CUBIC:
            i, t = index_lambda_cpu(source_index_cpu(scale, o, align_corners, True), in_size)
            c0, c1, c2, c3 = cubic_coefficients_cpu(t)
            for k in range(4):
                idx[o, k] = min(max(i - 1 + k, 0), in_size - 1)
            w[o, 0] = c0
            w[o, 1] = c1
            w[o, 2] = c2
            w[o, 3] = c3
        elif mode == AREA:             # adaptive average pooling's window
            start = (o * in_size) // O
            end = ((o + 1) * in_size + O - 1) // O
            for k in range(end - start):
                idx[o, k] = start + k
                w[o, k] = 1.0 / (end - start)
        else:
            _aa_row(mode, o, in_size, scale, idx, w)


# ---------------------------------------------------------------- one separable pass


@njit(inline="always")
def _resample_points(x, idx, w, y, a):
    """Pass along the last axis (B == 1): a gather per output point of row a."""
    O, T = idx.shape
    for o in range(O):
        acc = like(y[a, o, 0], 0)
        for t in range(T):
            j = idx[o, t]
            if j < 0:
                break
            acc += w[o, t] * x[a, j, 0]
        y[a, o, 0] = acc


@njit(inline="always")
def _resample_row(x, idx, w, y, r):
    """Pass along an inner axis: output row (a, o) is a weighted sum of whole input rows."""
    O, T = idx.shape
    B = y.shape[2]
    a = r // O
    o = r - a * O
    out = y[a, o]
    for b in range(B):
        out[b] = 0
    for t in range(T):
        j = idx[o, t]
        if j < 0:
            break
        src = x[a, j]
        c = w[o, t]
        for b in range(B):
            out[b] += c * src[b]


@njit(parallel=True, cache=True)
def resample_cpu(x, idx, w, y):
    A = x.shape[0]
    rows = A * y.shape[1]
    serial = y.size * idx.shape[1] <= SERIAL_WORK
    if y.shape[2] == 1:
        if serial:
            for a in range(A):
                _resample_points(x, idx, w, y, a)
        else:
            for a in prange(A):
                _resample_points(x, idx, w, y, a)
    elif serial:
        for r in range(rows):
            _resample_row(x, idx, w, y, r)
    else:
        for r in prange(rows):
            _resample_row(x, idx, w, y, r)


@cuda.jit(cache=True)
def resample_cuda(x, idx, w, y):
    O, B = y.shape[1], y.shape[2]
    T = idx.shape[1]
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        b = i % B
        o = (i // B) % O
        a = i // (B * O)
        acc = like(y[0, 0, 0], 0)
        for t in range(T):
            j = idx[o, t]
            if j < 0:
                break
            acc += w[o, t] * x[a, j, b]
        y[a, o, b] = acc


resample = KernelPair(resample_cpu, resample_cuda)
