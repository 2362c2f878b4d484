"""RoI Align kernels (torchvision.ops.roi_align), forward and backward, CPU and CUDA.

Arrays: x (N, C, H, W), rois (K, 5) rows (batch index, x1, y1, x2, y2) in the
input's dtype, out / gout (K, C, PH, PW), gx (N, C, H, W) zero-filled by the caller.
Scalars: spatial_scale (in the input's dtype), sampling_ratio, aligned (0/1).

torchvision's algorithm (csrc/ops/cpu/roi_align_kernel.cpp): the box is scaled
and, when aligned, shifted by -0.5 pixel; without `aligned` it is at least
1 x 1. Each of the PH x PW bins averages a grid of gh x gw bilinear samples
taken at the centres of equal sub-cells, where gh = sampling_ratio or, when
sampling_ratio <= 0, ceil(roi height / PH) (same for gw). The count of the
average is max(gh * gw, 1). A sample outside [-1, H] x [-1, W] is zero.

The CPU forward runs prange over (roi, block of 16 channels): each sample's
position and weights are computed once per block. The CPU backward runs prange
over (image, channel block) slices of gx, each walking the rois of its image,
so no two threads write one element. The CUDA kernels take one output element
per thread; the CUDA backward scatters with atomics.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like

# channels that share one computation of a sample's position and weights on the CPU
CHANNEL_BLOCK = 16


# ---------------------------------------------------------------- scalar helpers (both targets)

def _roi_geometry(rois, k, spatial_scale, ph, pw, sampling_ratio, aligned):
    """(batch index, start y, start x, bin height, bin width, samples per bin in y and x, count)."""
    offset = like(spatial_scale, 0.5) if aligned else like(spatial_scale, 0.0)
    start_w = rois[k, 1] * spatial_scale - offset
    start_h = rois[k, 2] * spatial_scale - offset
    roi_w = rois[k, 3] * spatial_scale - offset - start_w
    roi_h = rois[k, 4] * spatial_scale - offset - start_h
    if not aligned:  # legacy behaviour: malformed rois are forced to 1 x 1
        roi_w = max(roi_w, like(roi_w, 1.0))
        roi_h = max(roi_h, like(roi_h, 1.0))
    bin_h = roi_h / like(roi_h, ph)
    bin_w = roi_w / like(roi_w, pw)
    grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / like(roi_h, ph)))
    grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / like(roi_w, pw)))
    count = max(grid_h * grid_w, 1)
    return int(rois[k, 0]), start_h, start_w, bin_h, bin_w, grid_h, grid_w, count


def _bilinear(y, x, height, width):
    """torchvision's bilinear_interpolate(_gradient): (y0, y1, x0, x1, w00, w01, w10, w11);
    y0 = -1 marks a sample outside [-1, H] x [-1, W], which counts as zero."""
    zero = like(y, 0.0)
    if y < like(y, -1.0) or y > like(y, height) or x < like(x, -1.0) or x > like(x, width):
        return -1, -1, -1, -1, zero, zero, zero, zero
    y = max(y, zero)
    x = max(x, zero)
    y0 = int(y)
    x0 = int(x)
    if y0 >= height - 1:  # clamp at the last row: the sample takes that row alone
        y0 = height - 1
        y1 = y0
        y = like(y, y0)
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = width - 1
        x1 = x0
        x = like(x, x0)
    else:
        x1 = x0 + 1
    ly = y - like(y, y0)
    lx = x - like(x, x0)
    hy = like(y, 1.0) - ly
    hx = like(x, 1.0) - lx
    return y0, y1, x0, x1, hy * hx, hy * lx, ly * hx, ly * lx


def _sample_point(start, bin_size, p, i, grid):
    """Coordinate of sample i (of grid) inside bin p."""
    return start + like(start, p) * bin_size + (like(start, i) + like(start, 0.5)) * bin_size / like(start, grid)


roi_geometry_cpu = njit(inline="always")(_roi_geometry)
roi_geometry_dev = cuda.jit(device=True)(_roi_geometry)
bilinear_cpu = njit(inline="always")(_bilinear)
bilinear_dev = cuda.jit(device=True)(_bilinear)
sample_point_cpu = njit(inline="always")(_sample_point)
sample_point_dev = cuda.jit(device=True)(_sample_point)


# ---------------------------------------------------------------- forward

@njit(cache=True)
def _bin_cpu(x, n, c0, c1, out, k, ph, pw, y_start, x_start, bin_h, bin_w, grid_h, grid_w, count):
    """out[k, c0:c1, ph, pw]: each sample's taps are computed once for the whole channel block."""
    height, width = x.shape[2], x.shape[3]
    for c in range(c0, c1):
        out[k, c, ph, pw] = 0
    for iy in range(grid_h):
        y = sample_point_cpu(y_start, bin_h, ph, iy, grid_h)
        for ix in range(grid_w):
            xx = sample_point_cpu(x_start, bin_w, pw, ix, grid_w)
            y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_cpu(y, xx, height, width)
            if y0 >= 0:
                for c in range(c0, c1):
                    out[k, c, ph, pw] += (w00 * x[n, c, y0, x0] + w01 * x[n, c, y0, x1]
                                          + w10 * x[n, c, y1, x0] + w11 * x[n, c, y1, x1])
    for c in range(c0, c1):
        out[k, c, ph, pw] /= like(y_start, count)


@njit(parallel=True, cache=True)
def roi_align_fwd_cpu(x, rois, out, spatial_scale, sampling_ratio, aligned):
    K, C, PH, PW = out.shape
    blocks = (C + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    for kb in prange(K * blocks):
        k, c0 = kb // blocks, (kb % blocks) * CHANNEL_BLOCK
        n, y_start, x_start, bin_h, bin_w, grid_h, grid_w, count = roi_geometry_cpu(
            rois, k, spatial_scale, PH, PW, sampling_ratio, aligned)
        for ph in range(PH):
            for pw in range(PW):
                _bin_cpu(x, n, c0, min(C, c0 + CHANNEL_BLOCK), out, k, ph, pw, y_start, x_start, bin_h, bin_w,
                         grid_h, grid_w, count)


@cuda.jit(cache=True)
def roi_align_fwd_cuda(x, rois, out, spatial_scale, sampling_ratio, aligned):
    K, C, PH, PW = out.shape
    height, width = x.shape[2], x.shape[3]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n, y_start, x_start, bin_h, bin_w, grid_h, grid_w, count = roi_geometry_dev(
            rois, k, spatial_scale, PH, PW, sampling_ratio, aligned)
        total = like(y_start, 0.0)
        for iy in range(grid_h):
            y = sample_point_dev(y_start, bin_h, ph, iy, grid_h)
            for ix in range(grid_w):
                xx = sample_point_dev(x_start, bin_w, pw, ix, grid_w)
                y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_dev(y, xx, height, width)
                if y0 >= 0:
                    total += (w00 * x[n, c, y0, x0] + w01 * x[n, c, y0, x1]
                              + w10 * x[n, c, y1, x0] + w11 * x[n, c, y1, x1])
        out[k, c, ph, pw] = total / like(total, count)


roi_align_fwd = KernelPair(roi_align_fwd_cpu, roi_align_fwd_cuda)


# ---------------------------------------------------------------- backward (w.r.t. the input)

@njit(cache=True)
def _scatter_bin_cpu(gout, k, ph, pw, gx, n, c0, c1, y_start, x_start, bin_h, bin_w, grid_h, grid_w, count):
    """Add gout[k, c, ph, pw] / count times each sample's bilinear weights into gx[n, c], c in [c0, c1)."""
    height, width = gx.shape[2], gx.shape[3]
    inv = like(y_start, 1.0) / like(y_start, count)
    for iy in range(grid_h):
        y = sample_point_cpu(y_start, bin_h, ph, iy, grid_h)
        for ix in range(grid_w):
            xx = sample_point_cpu(x_start, bin_w, pw, ix, grid_w)
            y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_cpu(y, xx, height, width)
            if y0 >= 0:
                for c in range(c0, c1):
                    g = gout[k, c, ph, pw] * inv
                    gx[n, c, y0, x0] += g * w00
                    gx[n, c, y0, x1] += g * w01
                    gx[n, c, y1, x0] += g * w10
                    gx[n, c, y1, x1] += g * w11


@njit(parallel=True, cache=True)
def roi_align_bwd_cpu(gout, rois, gx, spatial_scale, sampling_ratio, aligned):
    K, C, PH, PW = gout.shape
    N = gx.shape[0]
    blocks = (C + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    for nb in prange(N * blocks):  # a thread owns gx[n, c0:c1] and walks the rois of image n: no races
        n, c0 = nb // blocks, (nb % blocks) * CHANNEL_BLOCK
        for k in range(K):
            if int(rois[k, 0]) != n:
                continue
            _, y_start, x_start, bin_h, bin_w, grid_h, grid_w, count = roi_geometry_cpu(
                rois, k, spatial_scale, PH, PW, sampling_ratio, aligned)
            for ph in range(PH):
                for pw in range(PW):
                    _scatter_bin_cpu(gout, k, ph, pw, gx, n, c0, min(C, c0 + CHANNEL_BLOCK), y_start, x_start,
                                     bin_h, bin_w, grid_h, grid_w, count)


@cuda.jit(cache=True)
def roi_align_bwd_cuda(gout, rois, gx, spatial_scale, sampling_ratio, aligned):
    K, C, PH, PW = gout.shape
    height, width = gx.shape[2], gx.shape[3]
    for i in range(cuda.grid(1), gout.size, cuda.gridsize(1)):
        pw = i % PW
        ph = (i // PW) % PH
        c = (i // (PW * PH)) % C
        k = i // (PW * PH * C)
        n, y_start, x_start, bin_h, bin_w, grid_h, grid_w, count = roi_geometry_dev(
            rois, k, spatial_scale, PH, PW, sampling_ratio, aligned)
        scaled = gout[k, c, ph, pw] / like(y_start, count)
        for iy in range(grid_h):
            y = sample_point_dev(y_start, bin_h, ph, iy, grid_h)
            for ix in range(grid_w):
                xx = sample_point_dev(x_start, bin_w, pw, ix, grid_w)
                y0, y1, x0, x1, w00, w01, w10, w11 = bilinear_dev(y, xx, height, width)
                if y0 >= 0:
                    cuda.atomic.add(gx, (n, c, y0, x0), scaled * w00)
                    cuda.atomic.add(gx, (n, c, y0, x1), scaled * w01)
                    cuda.atomic.add(gx, (n, c, y1, x0), scaled * w10)
                    cuda.atomic.add(gx, (n, c, y1, x1), scaled * w11)


roi_align_bwd = KernelPair(roi_align_bwd_cpu, roi_align_bwd_cuda)
