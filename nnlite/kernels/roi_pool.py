"""RoI max pooling kernels (torchvision.ops.roi_pool), forward and backward, CPU and CUDA.

Arrays: x (N, C, H, W), rois (K, 5) rows (batch index, x1, y1, x2, y2) in the
input's dtype, out (K, C, PH, PW), argmax (K, C, PH, PW) int32 (row * W + col in
the input plane, -1 for an empty bin), gx (N, C, H, W) zero-filled by the caller.
Scalar: spatial_scale, in the input's dtype.

torchvision's algorithm (csrc/ops/cpu/roi_pool_kernel.cpp): box corners are
scaled and rounded half away from zero (C's round); the roi is at least 1 x 1
pixel, counting both end pixels; bin (ph, pw) covers rows
[floor(ph * bh), ceil((ph + 1) * bh)) shifted by the roi's start and clipped to
the image (bins overlap). An empty bin gives 0 and argmax -1; otherwise the max
starts at -FLT_MAX and only a strictly greater value replaces it, so ties keep
the first maximum in row-major order and NaN never wins.

The CPU forward runs prange over (roi, channel); the CPU backward over (image,
channel) planes of gx, each walking the rois of its image (no races). CUDA: one
output element per thread, atomics in backward.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like

NEG_FLT_MAX = -3.4028234663852886e38   # torchvision starts every max at -FLT_MAX, in float64 too


# ---------------------------------------------------------------- scalar helpers (both targets)

def _round_half_away(v):
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    a = abs(v)
    r = math.floor(a)
    if a - r >= like(a, 0.5):
        r += like(a, 1.0)
    return int(r) if v >= 0 else -int(r)


def _bin_range(p, length, bins, start, size):
    """[lo, hi) of bin p of `bins` over a roi of `length` pixels from `start`, clipped to [0, size]."""
    bin_size = length / like(length, bins)
    lo = int(math.floor(like(bin_size, p) * bin_size)) + start
    hi = int(math.ceil(like(bin_size, p + 1) * bin_size)) + start
    return min(max(lo, 0), size), min(max(hi, 0), size)


round_half_away_cpu = njit(inline="always")(_round_half_away)
round_half_away_dev = cuda.jit(device=True)(_round_half_away)
bin_range_cpu = njit(inline="always")(_bin_range)
bin_range_dev = cuda.jit(device=True)(_bin_range)


@njit(cache=True)
def _roi_box_cpu(rois, k, spatial_scale):
    """(start row, start col, height, width) in pixels of roi k; malformed rois are 1 x 1."""
    x1 = round_half_away_cpu(rois[k, 1] * spatial_scale)
    y1 = round_half_away_cpu(rois[k, 2] * spatial_scale)
    x2 = round_half_away_cpu(rois[k, 3] * spatial_scale)
    y2 = round_half_away_cpu(rois[k, 4] * spatial_scale)
    return y1, x1, max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)


@cuda.jit(device=True)
def _roi_box_dev(rois, k, spatial_scale):
    x1 = round_half_away_dev(rois[k, 1] * spatial_scale)
    y1 = round_half_away_dev(rois[k, 2] * spatial_scale)
    x2 = round_half_away_dev(rois[k, 3] * spatial_scale)
    y2 = round_half_away_dev(rois[k, 4] * spatial_scale)
    return y1, x1, max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)


# ---------------------------------------------------------------- forward

@njit(parallel=True, cache=True)
def roi_pool_fwd_cpu(x, rois, out, argmax, spatial_scale):
    K, C, PH, PW = out.shape
    H, W = x.shape[2], x.shape[3]
    for kc in prange(K * C):
        k, c = kc // C, kc % C
        n = int(rois[k, 0])
        y1, x1, rh, rw = _roi_box_cpu(rois, k, spatial_scale)
        for ph in range(PH):
            h0, h1 = bin_range_cpu(ph, like(spatial_scale, rh), PH, y1, H)
            for pw in range(PW):
                w0, w1 = bin_range_cpu(pw, like(spatial_scale, rw), PW, x1, W)
                best = like(spatial_scale, 0.0) if h1 <= h0 or w1 <= w0 else like(spatial_scale, NEG_FLT_MAX)
                where = -1
                for h in range(h0, h1):
                    row = x[n, c, h, w0:w1]  # indexed from 0: no wraparound checks in the scan
                    for j in range(row.size):
                        if row[j] > best:
                            best = row[j]
                            where = h * W + w0 + j
                out[k, c, ph, pw] = best
                argmax[k, c, ph, pw] = where


@cuda.jit(cache=True)
def roi_pool_fwd_cuda(x, rois, out, argmax, spatial_scale):
    K, C, PH, PW = out.shape
    H, W = x.shape[2], x.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n = int(rois[k, 0])
        y1, x1, rh, rw = _roi_box_dev(rois, k, spatial_scale)
        h0, h1 = bin_range_dev(ph, like(spatial_scale, rh), PH, y1, H)
        w0, w1 = bin_range_dev(pw, like(spatial_scale, rw), PW, x1, W)
        best = like(spatial_scale, 0.0) if h1 <= h0 or w1 <= w0 else like(spatial_scale, NEG_FLT_MAX)
        where = -1
        for h in range(h0, h1):
            for w in range(w0, w1):
                if x[n, c, h, w] > best:
                    best = x[n, c, h, w]
                    where = h * W + w
        out[k, c, ph, pw] = best
        argmax[k, c, ph, pw] = where


roi_pool_fwd = KernelPair(roi_pool_fwd_cpu, roi_pool_fwd_cuda)


# ---------------------------------------------------------------- backward (w.r.t. the input)

@njit(parallel=True, cache=True)
def roi_pool_bwd_cpu(gout, argmax, rois, gx):
    K, C, PH, PW = gout.shape
    N, W = gx.shape[0], gx.shape[3]
    for nc in prange(N * C):  # one gx plane per thread, walking the rois of its image: no races
        n, c = nc // C, nc % C
        for k in range(K):
            if int(rois[k, 0]) != n:
                continue
            for ph in range(PH):
                for pw in range(PW):
                    where = argmax[k, c, ph, pw]
                    if where >= 0:
                        gx[n, c, where // W, where % W] += gout[k, c, ph, pw]


@cuda.jit(cache=True)
def roi_pool_bwd_cuda(gout, argmax, rois, gx):
    K, C, PH, PW = gout.shape
    W = gx.shape[3]
    for i in range(cuda.grid(1), gout.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        where = argmax[k, c, ph, pw]
        if where >= 0:
            cuda.atomic.add(gx, (int(rois[k, 0]), c, where // W, where % W), gout[k, c, ph, pw])


roi_pool_bwd = KernelPair(roi_pool_bwd_cpu, roi_pool_bwd_cuda)
