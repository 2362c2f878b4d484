"""Rotated RoI Align kernels (detectron2's ROIAlignRotated), forward and backward, CPU and CUDA.

Arrays: x (N, C, H, W), rois (K, 6) rows (batch index, cx, cy, w, h, angle in degrees) in
the input's dtype, out / gout (K, C, PH, PW), gx (N, C, H, W) zero-filled by the caller.
Scalars: spatial_scale (in the input's dtype), sampling_ratio.

detectron2's algorithm (ROIAlignRotated_cpu.cpp), always "aligned": the centre is
scale * c - 0.5, the size scale * (w, h) with no minimum. Bin (ph, pw) averages a grid of
gh x gw samples at the centres of equal sub-cells of the box's own frame, whose origin is the
box centre: (yy, xx) from (-h/2, -w/2). A frame point goes to the image by the rotation
    y = yy cos(a) - xx sin(a) + cy,   x = yy sin(a) + xx cos(a) + cx.
gh = sampling_ratio, or ceil(h / PH) when sampling_ratio <= 0 (same for gw); the average
divides by max(gh * gw, 1). Sampling is torchvision's bilinear rule (zero outside
[-1, H] x [-1, W], clamped at the last row/column), shared with roi_align.py.

The CPU forward runs prange over (roi, channel block), the CPU backward over (image, channel
block) slices of gx (so no two threads write one element), as roi_align.py; the CUDA kernels
take one output element per thread and the backward scatters with atomics.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like
from .roi_align import CHANNEL_BLOCK, bilinear_cpu, bilinear_dev, sample_point_cpu, sample_point_dev


# ---------------------------------------------------------------- scalar helpers (both targets)

def _rotated_geometry(rois, k, spatial_scale, ph, pw, sampling_ratio):
    """(batch index, centre y, centre x, start y, start x, bin h, bin w, grid h, grid w, count,
    cos, sin) of roi k, in the input's dtype as detectron2 computes them."""
    centre_w = rois[k, 1] * spatial_scale - like(spatial_scale, 0.5)
    centre_h = rois[k, 2] * spatial_scale - like(spatial_scale, 0.5)
    roi_w = rois[k, 3] * spatial_scale
    roi_h = rois[k, 4] * spatial_scale
    theta = float(rois[k, 5]) * (math.pi / 180.0)
    cos_t = like(roi_w, math.cos(theta))
    sin_t = like(roi_w, math.sin(theta))
    bin_h = roi_h / like(roi_h, ph)
    bin_w = roi_w / like(roi_w, pw)
    grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / like(roi_h, ph)))
    grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / like(roi_w, pw)))
    count = max(grid_h * grid_w, 1)
    return (int(rois[k, 0]), centre_h, centre_w, -roi_h / like(roi_h, 2.0), -roi_w / like(roi_w, 2.0),
            bin_h, bin_w, grid_h, grid_w, count, cos_t, sin_t)


def _rotate(yy, xx, centre_h, centre_w, cos_t, sin_t):
    """A point of the box's frame in image coordinates (y, x)."""
    return yy * cos_t - xx * sin_t + centre_h, yy * sin_t + xx * cos_t + centre_w


rotated_geometry_cpu = njit(inline="always")(_rotated_geometry)
rotated_geometry_dev = cuda.jit(device=True)(_rotated_geometry)
rotate_cpu = njit(inline="always")(_rotate)
rotate_dev = cuda.jit(device=True)(_rotate)


# ---------------------------------------------------------------- forward

@njit(cache=True)
def _bin_cpu(x, n, c0, c1, out, k, ph, pw, geo):
    """out[k, c0:c1, ph, pw]: each sample's taps are computed once for the whole channel block."""
    _, ch, cw, start_h, start_w, bin_h, bin_w, grid_h, grid_w, count, cos_t, sin_t = geo
    height, width = x.shape[2], x.shape[3]
    for c in range(c0, c1):
        out[k, c, ph, pw] = 0
    for iy in range(grid_h):
        yy = sample_point_cpu(start_h, bin_h, ph, iy, grid_h)
        for ix in range(grid_w):
            xx = sample_point_cpu(start_w, bin_w, pw, ix, grid_w)
            y, xs = rotate_cpu(yy, xx, ch, cw, cos_t, sin_t)
            y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_cpu(y, xs, height, width)
            if y0 >= 0:
                for c in range(c0, c1):
                    out[k, c, ph, pw] += (w00 * x[n, c, y0, x0] + w01 * x[n, c, y0, x1]
                                          + w10 * x[n, c, y1, x0] + w11 * x[n, c, y1, x1])
    for c in range(c0, c1):
        out[k, c, ph, pw] /= like(start_h, count)


@njit(parallel=True, cache=True)
def roi_align_rotated_fwd_cpu(x, rois, out, spatial_scale, sampling_ratio):
    K, C, PH, PW = out.shape
    blocks = (C + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    for kb in prange(K * blocks):
        k, c0 = kb // blocks, (kb % blocks) * CHANNEL_BLOCK
        geo = rotated_geometry_cpu(rois, k, spatial_scale, PH, PW, sampling_ratio)
        for ph in range(PH):
            for pw in range(PW):
                _bin_cpu(x, geo[0], c0, min(C, c0 + CHANNEL_BLOCK), out, k, ph, pw, geo)


@cuda.jit(cache=True)
def roi_align_rotated_fwd_cuda(x, rois, out, spatial_scale, sampling_ratio):
    K, C, PH, PW = out.shape
    height, width = x.shape[2], x.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n, ch, cw, start_h, start_w, bin_h, bin_w, grid_h, grid_w, count, cos_t, sin_t = \
            rotated_geometry_dev(rois, k, spatial_scale, PH, PW, sampling_ratio)
        total = like(start_h, 0.0)
        for iy in range(grid_h):
            yy = sample_point_dev(start_h, bin_h, ph, iy, grid_h)
            for ix in range(grid_w):
                xx = sample_point_dev(start_w, bin_w, pw, ix, grid_w)
                y, xs = rotate_dev(yy, xx, ch, cw, cos_t, sin_t)
                y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_dev(y, xs, height, width)
                if y0 >= 0:
                    total += (w00 * x[n, c, y0, x0] + w01 * x[n, c, y0, x1]
                              + w10 * x[n, c, y1, x0] + w11 * x[n, c, y1, x1])
        out[k, c, ph, pw] = total / like(total, count)


roi_align_rotated_fwd = KernelPair(roi_align_rotated_fwd_cpu, roi_align_rotated_fwd_cuda)


# ---------------------------------------------------------------- backward (w.r.t. the input)

@njit(cache=True)
def _scatter_bin_cpu(gout, k, ph, pw, gx, n, c0, c1, geo):
    """Add gout[k, c, ph, pw] / count times each sample's bilinear weights into gx[n, c]."""
    _, ch, cw, start_h, start_w, bin_h, bin_w, grid_h, grid_w, count, cos_t, sin_t = geo
    height, width = gx.shape[2], gx.shape[3]
    for iy in range(grid_h):
        yy = sample_point_cpu(start_h, bin_h, ph, iy, grid_h)
        for ix in range(grid_w):
            xx = sample_point_cpu(start_w, bin_w, pw, ix, grid_w)
            y, xs = rotate_cpu(yy, xx, ch, cw, cos_t, sin_t)
            y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_cpu(y, xs, height, width)
            if y0 >= 0:
                for c in range(c0, c1):
                    g = gout[k, c, ph, pw] / like(start_h, count)
                    gx[n, c, y0, x0] += g * w00
                    gx[n, c, y0, x1] += g * w01
                    gx[n, c, y1, x0] += g * w10
                    gx[n, c, y1, x1] += g * w11


@njit(parallel=True, cache=True)
def roi_align_rotated_bwd_cpu(gout, rois, gx, spatial_scale, sampling_ratio):
    K, C, PH, PW = gout.shape
    N = gx.shape[0]
    blocks = (C + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    for nb in prange(N * blocks):  # a thread owns gx[n, c0:c1] and walks the rois of image n: no races
        n, c0 = nb // blocks, (nb % blocks) * CHANNEL_BLOCK
        for k in range(K):
            if int(rois[k, 0]) != n:
                continue
            geo = rotated_geometry_cpu(rois, k, spatial_scale, PH, PW, sampling_ratio)
            for ph in range(PH):
                for pw in range(PW):
                    _scatter_bin_cpu(gout, k, ph, pw, gx, n, c0, min(C, c0 + CHANNEL_BLOCK), geo)


@cuda.jit(cache=True)
def roi_align_rotated_bwd_cuda(gout, rois, gx, spatial_scale, sampling_ratio):
    K, C, PH, PW = gout.shape
    height, width = gx.shape[2], gx.shape[3]
    for i in range(cuda.grid(1), gout.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n, ch, cw, start_h, start_w, bin_h, bin_w, grid_h, grid_w, count, cos_t, sin_t = \
            rotated_geometry_dev(rois, k, spatial_scale, PH, PW, sampling_ratio)
        scaled = gout[k, c, ph, pw] / like(start_h, count)
        for iy in range(grid_h):
            yy = sample_point_dev(start_h, bin_h, ph, iy, grid_h)
            for ix in range(grid_w):
                xx = sample_point_dev(start_w, bin_w, pw, ix, grid_w)
                y, xs = rotate_dev(yy, xx, ch, cw, cos_t, sin_t)
                y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_dev(y, xs, height, width)
                if y0 >= 0:
                    cuda.atomic.add(gx, (n, c, y0, x0), scaled * w00)
                    cuda.atomic.add(gx, (n, c, y0, x1), scaled * w01)
                    cuda.atomic.add(gx, (n, c, y1, x0), scaled * w10)
                    cuda.atomic.add(gx, (n, c, y1, x1), scaled * w11)


roi_align_rotated_bwd = KernelPair(roi_align_rotated_bwd_cpu, roi_align_rotated_bwd_cuda)
