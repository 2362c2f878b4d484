"""Position-sensitive RoI Align kernels (torchvision.ops.ps_roi_align), forward and backward, CPU and CUDA.

Arrays: x (N, C, H, W), rois (K, 5) rows (batch index, x1, y1, x2, y2) in the
input's dtype, out / gout (K, C // (PH * PW), PH, PW), gx (N, C, H, W)
zero-filled by the caller. Scalars: spatial_scale (input's dtype), sampling_ratio.

torchvision's algorithm (csrc/ops/cpu/ps_roi_align_kernel.cpp) is roi_align
with aligned=True (the box is shifted by -0.5 pixel, no minimum size) except
that output channel c of bin (ph, pw) reads input channel (c * PH + ph) * PW + pw,
and the average divides by gh * gw with no floor at 1: a box of zero height or
width with adaptive sampling gives 0 / 0 = NaN there, as in torchvision.

The CPU forward runs prange over (roi, output channel). The CPU backward runs
prange over (image, input channel) planes of gx: an input channel belongs to
exactly one (output channel, bin), so a thread walks the rois of its image and
scatters that one bin, with no races. CUDA: one output element per thread,
atomics in backward.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like
from .roi_align import (bilinear_cpu, bilinear_dev, roi_geometry_cpu, roi_geometry_dev, sample_point_cpu,
                        sample_point_dev)


def _mean(total, grid_h, grid_w):
    """total / (grid_h * grid_w) as torchvision: an empty grid is 0 / 0 = NaN (Numba would raise)."""
    count = grid_h * grid_w
    return total / like(total, count) if count != 0 else like(total, math.nan)


mean_cpu = njit(inline="always")(_mean)
mean_dev = cuda.jit(device=True)(_mean)


# ---------------------------------------------------------------- forward

@njit(cache=True)
def _bin_cpu(x, n, c_in, ph, pw, y_start, x_start, bin_h, bin_w, grid_h, grid_w):
    """The average of bin (ph, pw)'s bilinear samples of x[n, c_in]."""
    height, width = x.shape[2], x.shape[3]
    total = like(y_start, 0.0)
    for iy in range(grid_h):
        y = sample_point_cpu(y_start, bin_h, ph, iy, grid_h)
        for ix in range(grid_w):
            xx = sample_point_cpu(x_start, bin_w, pw, ix, grid_w)
            y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_cpu(y, xx, height, width)
            if y0 >= 0:
                total += (w00 * x[n, c_in, y0, x0] + w01 * x[n, c_in, y0, x1]
                          + w10 * x[n, c_in, y1, x0] + w11 * x[n, c_in, y1, x1])
    return mean_cpu(total, grid_h, grid_w)


@njit(parallel=True, cache=True)
def ps_roi_align_fwd_cpu(x, rois, out, spatial_scale, sampling_ratio):
    K, C, PH, PW = out.shape
    for kc in prange(K * C):
        k, c = kc // C, kc % C
        n, y_start, x_start, bin_h, bin_w, grid_h, grid_w, _ = roi_geometry_cpu(
            rois, k, spatial_scale, PH, PW, sampling_ratio, 1)
        for ph in range(PH):
            for pw in range(PW):
                out[k, c, ph, pw] = _bin_cpu(x, n, (c * PH + ph) * PW + pw, ph, pw, y_start, x_start,
                                             bin_h, bin_w, grid_h, grid_w)


@cuda.jit(cache=True)
def ps_roi_align_fwd_cuda(x, rois, out, spatial_scale, sampling_ratio):
    K, C, PH, PW = out.shape
    height, width = x.shape[2], x.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        c_in = (c * PH + ph) * PW + pw
        n, y_start, x_start, bin_h, bin_w, grid_h, grid_w, _ = roi_geometry_dev(
            rois, k, spatial_scale, PH, PW, sampling_ratio, 1)
        total = like(y_start, 0.0)
        for iy in range(grid_h):
            y = sample_point_dev(y_start, bin_h, ph, iy, grid_h)
            for ix in range(grid_w):
                xx = sample_point_dev(x_start, bin_w, pw, ix, grid_w)
                y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_dev(y, xx, height, width)
                if y0 >= 0:
                    total += (w00 * x[n, c_in, y0, x0] + w01 * x[n, c_in, y0, x1]
                              + w10 * x[n, c_in, y1, x0] + w11 * x[n, c_in, y1, x1])
        out[k, c, ph, pw] = mean_dev(total, grid_h, grid_w)


ps_roi_align_fwd = KernelPair(ps_roi_align_fwd_cpu, ps_roi_align_fwd_cuda)


# ---------------------------------------------------------------- backward (w.r.t. the input)

@njit(cache=True)
def _scatter_bin_cpu(g, gx, n, c_in, ph, pw, y_start, x_start, bin_h, bin_w, grid_h, grid_w):
    """Add g / count times each sample's bilinear weights of bin (ph, pw) into gx[n, c_in]."""
    height, width = gx.shape[2], gx.shape[3]
    scaled = g / like(g, grid_h * grid_w) if grid_h * grid_w != 0 else like(g, 0.0)
    for iy in range(grid_h):
        y = sample_point_cpu(y_start, bin_h, ph, iy, grid_h)
        for ix in range(grid_w):
            xx = sample_point_cpu(x_start, bin_w, pw, ix, grid_w)
            y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_cpu(y, xx, height, width)
            if y0 >= 0:
                gx[n, c_in, y0, x0] += scaled * w00
                gx[n, c_in, y0, x1] += scaled * w01
                gx[n, c_in, y1, x0] += scaled * w10
                gx[n, c_in, y1, x1] += scaled * w11


@njit(parallel=True, cache=True)
def ps_roi_align_bwd_cpu(gout, rois, gx, spatial_scale, sampling_ratio):
    K, C, PH, PW = gout.shape
    N, C_in = gx.shape[0], gx.shape[1]
    for nc in prange(N * C_in):  # a thread owns the plane gx[n, c_in]: one (channel, bin) per roi
        n, c_in = nc // C_in, nc % C_in
        c, ph, pw = c_in // (PH * PW), (c_in // PW) % PH, c_in % PW
        for k in range(K):
            if int(rois[k, 0]) != n:
                continue
            _, y_start, x_start, bin_h, bin_w, grid_h, grid_w, _ = roi_geometry_cpu(
                rois, k, spatial_scale, PH, PW, sampling_ratio, 1)
            _scatter_bin_cpu(gout[k, c, ph, pw], gx, n, c_in, ph, pw, y_start, x_start, bin_h, bin_w,
                             grid_h, grid_w)


@cuda.jit(cache=True)
def ps_roi_align_bwd_cuda(gout, rois, gx, spatial_scale, sampling_ratio):
    K, C, PH, PW = gout.shape
    height, width = gx.shape[2], gx.shape[3]
    for i in range(cuda.grid(1), gout.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        c_in = (c * PH + ph) * PW + pw
        n, y_start, x_start, bin_h, bin_w, grid_h, grid_w, _ = roi_geometry_dev(
            rois, k, spatial_scale, PH, PW, sampling_ratio, 1)
        count = grid_h * grid_w
        scaled = gout[k, c, ph, pw] / like(y_start, count) if count != 0 else like(y_start, 0.0)
        for iy in range(grid_h):
            y = sample_point_dev(y_start, bin_h, ph, iy, grid_h)
            for ix in range(grid_w):
                xx = sample_point_dev(x_start, bin_w, pw, ix, grid_w)
                y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_dev(y, xx, height, width)
                if y0 >= 0:
                    cuda.atomic.add(gx, (n, c_in, y0, x0), scaled * w00)
                    cuda.atomic.add(gx, (n, c_in, y0, x1), scaled * w01)
                    cuda.atomic.add(gx, (n, c_in, y1, x0), scaled * w10)
                    cuda.atomic.add(gx, (n, c_in, y1, x1), scaled * w11)


ps_roi_align_bwd = KernelPair(ps_roi_align_bwd_cpu, ps_roi_align_bwd_cuda)
