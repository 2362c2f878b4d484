"""Position-sensitive RoI average pooling kernels (torchvision.ops.ps_roi_pool), forward and backward,
CPU and CUDA.

Arrays: x (N, C, H, W), rois (K, 5) rows (batch index, x1, y1, x2, y2) in the
input's dtype, out / gout (K, C // (PH * PW), PH, PW), gx (N, C, H, W)
zero-filled by the caller. Scalar: spatial_scale, in the input's dtype.

torchvision's algorithm (csrc/ops/cpu/ps_roi_pool_kernel.cpp): box corners are
scaled and rounded half away from zero; the roi is max(x2 - x1, 1) pixels wide
(unlike roi_pool, no +1); bin (ph, pw) covers rows [floor(ph * bh), ceil((ph + 1) * bh))
shifted by the roi's start and clipped to [0, H - 1] (so the last row and column
of the image are never read: torchvision's forward does this); output channel c
of the bin averages input channel (c * PH + ph) * PW + pw over it; an empty bin is 0.
The backward here is the exact gradient of that forward (same clipping);
torchvision's own backward clips to [0, H] instead, which differs for bins that
touch the image's last row or column.

The CPU forward runs prange over (roi, output channel); the CPU backward over
(image, input channel) planes of gx, each owning one (channel, bin) per roi (no
races). CUDA: one output element per thread, atomics in backward.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like
from .roi_pool import bin_range_cpu, bin_range_dev, round_half_away_cpu, round_half_away_dev


@njit(inline="always")
def _ps_roi_box_cpu(rois, k, spatial_scale):
    """(start row, start col, height, width) in pixels of roi k; malformed rois are 1 x 1."""
    x1 = round_half_away_cpu(rois[k, 1] * spatial_scale)
    y1 = round_half_away_cpu(rois[k, 2] * spatial_scale)
    x2 = round_half_away_cpu(rois[k, 3] * spatial_scale)
    y2 = round_half_away_cpu(rois[k, 4] * spatial_scale)
    return y1, x1, max(y2 - y1, 1), max(x2 - x1, 1)


@cuda.jit(device=True)
def _ps_roi_box_dev(rois, k, spatial_scale):
    x1 = round_half_away_dev(rois[k, 1] * spatial_scale)
    y1 = round_half_away_dev(rois[k, 2] * spatial_scale)
    x2 = round_half_away_dev(rois[k, 3] * spatial_scale)
    y2 = round_half_away_dev(rois[k, 4] * spatial_scale)
    return y1, x1, max(y2 - y1, 1), max(x2 - x1, 1)


# ---------------------------------------------------------------- forward

@njit(parallel=True, cache=True)
def ps_roi_pool_fwd_cpu(x, rois, out, spatial_scale):
    K, C, PH, PW = out.shape
    H, W = x.shape[2], x.shape[3]
    for kc in prange(K * C):
        k, c = kc // C, kc % C
        n = int(rois[k, 0])
        y1, x1, rh, rw = _ps_roi_box_cpu(rois, k, spatial_scale)
        for ph in range(PH):
            h0, h1 = bin_range_cpu(ph, like(spatial_scale, rh), PH, y1, H - 1)
            for pw in range(PW):
                w0, w1 = bin_range_cpu(pw, like(spatial_scale, rw), PW, x1, W - 1)
                c_in = (c * PH + ph) * PW + pw
                total = like(spatial_scale, 0.0)
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        total += x[n, c_in, h, w]
                empty = h1 <= h0 or w1 <= w0
                out[k, c, ph, pw] = like(total, 0.0) if empty else total / like(total, (h1 - h0) * (w1 - w0))


@cuda.jit(cache=True)
def ps_roi_pool_fwd_cuda(x, rois, out, spatial_scale):
    K, C, PH, PW = out.shape
    H, W = x.shape[2], x.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n = int(rois[k, 0])
        c_in = (c * PH + ph) * PW + pw
        y1, x1, rh, rw = _ps_roi_box_dev(rois, k, spatial_scale)
        h0, h1 = bin_range_dev(ph, like(spatial_scale, rh), PH, y1, H - 1)
        w0, w1 = bin_range_dev(pw, like(spatial_scale, rw), PW, x1, W - 1)
        total = like(spatial_scale, 0.0)
        for h in range(h0, h1):
            for w in range(w0, w1):
                total += x[n, c_in, h, w]
        empty = h1 <= h0 or w1 <= w0
        out[k, c, ph, pw] = like(total, 0.0) if empty else total / like(total, (h1 - h0) * (w1 - w0))


ps_roi_pool_fwd = KernelPair(ps_roi_pool_fwd_cpu, ps_roi_pool_fwd_cuda)


# ---------------------------------------------------------------- backward (w.r.t. the input)

@njit(parallel=True, cache=True)
def ps_roi_pool_bwd_cpu(gout, rois, gx, spatial_scale):
    K, C, PH, PW = gout.shape
    N, C_in, H, W = gx.shape
    for nc in prange(N * C_in):  # a thread owns the plane gx[n, c_in]: one (channel, bin) per roi
        n, c_in = nc // C_in, nc % C_in
        c, ph, pw = c_in // (PH * PW), (c_in // PW) % PH, c_in % PW
        for k in range(K):
            if int(rois[k, 0]) != n:
                continue
            y1, x1, rh, rw = _ps_roi_box_cpu(rois, k, spatial_scale)
            h0, h1 = bin_range_cpu(ph, like(spatial_scale, rh), PH, y1, H - 1)
            w0, w1 = bin_range_cpu(pw, like(spatial_scale, rw), PW, x1, W - 1)
            if h1 <= h0 or w1 <= w0:
                continue
            share = gout[k, c, ph, pw] / like(spatial_scale, (h1 - h0) * (w1 - w0))
            for h in range(h0, h1):
                for w in range(w0, w1):
                    gx[n, c_in, h, w] += share


@cuda.jit(cache=True)
def ps_roi_pool_bwd_cuda(gout, rois, gx, spatial_scale):
    K, C, PH, PW = gout.shape
    H, W = gx.shape[2], gx.shape[3]
    for i in range(cuda.grid(1), gout.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n = int(rois[k, 0])
        c_in = (c * PH + ph) * PW + pw
        y1, x1, rh, rw = _ps_roi_box_dev(rois, k, spatial_scale)
        h0, h1 = bin_range_dev(ph, like(spatial_scale, rh), PH, y1, H - 1)
        w0, w1 = bin_range_dev(pw, like(spatial_scale, rw), PW, x1, W - 1)
        if h1 > h0 and w1 > w0:
            share = gout[k, c, ph, pw] / like(spatial_scale, (h1 - h0) * (w1 - w0))
            for h in range(h0, h1):
                for w in range(w0, w1):
                    cuda.atomic.add(gx, (n, c_in, h, w), share)


ps_roi_pool_bwd = KernelPair(ps_roi_pool_bwd_cpu, ps_roi_pool_bwd_cuda)
