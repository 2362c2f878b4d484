"""Deformable convolution kernels (torchvision.ops.deform_conv2d), CPU and CUDA.

The op is a deformable im2col followed by the matmul primitive (done by the
functional layer through nnlite.matmul, whose autograd gives the weight and
column gradients). These kernels are the three sampling steps:

- im2col:   cols[n, (c*KH + i)*KW + j, oy*OW + ox] = mask * bilinear(x[n, c], y, x)
- col2im:   the input gradient, the adjoint of im2col (scatter of the bilinear weights)
- coord:    the offset and mask gradients (torchvision's deformable_col2im_coord)

where y = oy*sh - ph + i*dh + dy and x = ox*sw - pw + j*dw + dx, with (dy, dx) =
offset[n, 2*(g*KH*KW + i*KW + j) + (0, 1), oy, ox] and mask[n, g*KH*KW + i*KW + j, oy, ox]
for offset group g = c // (C / offset_groups), exactly torchvision's layout.

Arrays: x (N, C, H, W), offset (N, 2*G*KH*KW, OH, OW), mask (N, G*KH*KW, OH, OW)
(all ones when the caller has none), cols / gcols (N, C*KH*KW, OH*OW), gx zero-filled
by the caller. Scalars: KH, KW, stride, padding, dilation (as y, x pairs).

The CPU col2im runs prange over (image, channel) slices of gx, so no two threads
write one element; the CUDA col2im scatters with atomics. Every offset/mask
gradient element is owned by one thread on both targets.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like


# ---------------------------------------------------------------- scalar helpers (both targets)

def _corners(x, n, c, y0, x0, zero):
    """The four pixels x[n, c, y0 + {0, 1}, x0 + {0, 1}], zero outside the image (an image
    with no rows still gets samples in (-1, 0) through the padding, so zero comes from the caller)."""
    H, W = x.shape[2], x.shape[3]
    top, bottom, left, right = y0 >= 0, y0 + 1 < H, x0 >= 0, x0 + 1 < W
    v00 = x[n, c, y0, x0] if top and left else zero
    v01 = x[n, c, y0, x0 + 1] if top and right else zero
    v10 = x[n, c, y0 + 1, x0] if bottom and left else zero
    v11 = x[n, c, y0 + 1, x0 + 1] if bottom and right else zero
    return v00, v01, v10, v11


def _inside(y, xx, H, W):
    """torchvision samples only when -1 < y < H and -1 < x < W (else the value is zero)."""
    return y > like(y, -1.0) and y < like(y, H) and xx > like(xx, -1.0) and xx < like(xx, W)


def _has_slope(y, xx, H, W, slope_at_minus_one):
    """Whether (y, x) gets an offset gradient. A tap exactly on the padding line y = -1 or
    x = -1 samples zero, but torchvision's kernel still takes the one-sided slope towards row or
    column 0 there (`slope_at_minus_one`), which is where zero-initialised offsets with padding
    put the border taps; detectron2's CUDA kernel gives them no gradient."""
    if slope_at_minus_one:
        return y >= like(y, -1.0) and y < like(y, H) and xx >= like(xx, -1.0) and xx < like(xx, W)
    return y > like(y, -1.0) and y < like(y, H) and xx > like(xx, -1.0) and xx < like(xx, W)


def _tap_position(offset, n, tap, oy, ox, i, j, sh, sw, ph, pw, dh, dw):
    """(y, x) of kernel tap (i, j) of output pixel (oy, ox); tap = g*KH*KW + i*KW + j."""
    dy = offset[n, 2 * tap, oy, ox]
    dx = offset[n, 2 * tap + 1, oy, ox]
    return like(dy, oy * sh - ph + i * dh) + dy, like(dx, ox * sw - pw + j * dw) + dx


corners_cpu = njit(inline="always")(_corners)
corners_dev = cuda.jit(device=True)(_corners)
inside_cpu = njit(inline="always")(_inside)
inside_dev = cuda.jit(device=True)(_inside)
has_slope_cpu = njit(inline="always")(_has_slope)
has_slope_dev = cuda.jit(device=True)(_has_slope)
tap_position_cpu = njit(inline="always")(_tap_position)
tap_position_dev = cuda.jit(device=True)(_tap_position)


def _weights(y, xx):
    """(y0, x0, w00, w01, w10, w11, ly, lx): the corner and bilinear weights of (y, xx)."""
    y0 = int(math.floor(y))
    x0 = int(math.floor(xx))
    ly = y - like(y, y0)
    lx = xx - like(xx, x0)
    hy = like(y, 1.0) - ly
    hx = like(xx, 1.0) - lx
    return y0, x0, hy * hx, hy * lx, ly * hx, ly * lx, ly, lx


weights_cpu = njit(inline="always")(_weights)
weights_dev = cuda.jit(device=True)(_weights)


# ---------------------------------------------------------------- forward: deformable im2col

@njit(parallel=True, cache=True)
def deform_im2col_fwd_cpu(x, offset, mask, cols, KH, KW, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    OH, OW = offset.shape[2], offset.shape[3]
    per_group = C // (mask.shape[1] // (KH * KW))
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(KH):
            for j in range(KW):
                tap = (c // per_group) * KH * KW + i * KW + j
                row = (c * KH + i) * KW + j
                for oy in range(OH):
                    for ox in range(OW):
                        y, xx = tap_position_cpu(offset, n, tap, oy, ox, i, j, sh, sw, ph, pw, dh, dw)
                        v = like(y, 0.0)
                        if inside_cpu(y, xx, H, W):
                            y0, x0, w00, w01, w10, w11, _, _ = weights_cpu(y, xx)
                            v00, v01, v10, v11 = corners_cpu(x, n, c, y0, x0, v)
                            v = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11
                        cols[n, row, oy * OW + ox] = mask[n, tap, oy, ox] * v


@cuda.jit(cache=True)
def deform_im2col_fwd_cuda(x, offset, mask, cols, KH, KW, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    OH, OW = offset.shape[2], offset.shape[3]
    per_group = C // (mask.shape[1] // (KH * KW))
    for k in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        ox = k % OW
        oy = (k // OW) % OH
        j = (k // (OW * OH)) % KW
        i = (k // (OW * OH * KW)) % KH
        c = (k // (OW * OH * KW * KH)) % C
        n = k // (OW * OH * KW * KH * C)
        tap = (c // per_group) * KH * KW + i * KW + j
        y, xx = tap_position_dev(offset, n, tap, oy, ox, i, j, sh, sw, ph, pw, dh, dw)
        v = like(y, 0.0)
        if inside_dev(y, xx, H, W):
            y0, x0, w00, w01, w10, w11, _, _ = weights_dev(y, xx)
            v00, v01, v10, v11 = corners_dev(x, n, c, y0, x0, v)
            v = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11
        cols[n, (c * KH + i) * KW + j, oy * OW + ox] = mask[n, tap, oy, ox] * v


deform_im2col_fwd = KernelPair(deform_im2col_fwd_cpu, deform_im2col_fwd_cuda)


# ---------------------------------------------------------------- backward: input gradient (col2im)

@njit(parallel=True, cache=True)
def deform_col2im_bwd_cpu(gcols, offset, mask, gx, KH, KW, sh, sw, ph, pw, dh, dw):
    N, C, H, W = gx.shape
    OH, OW = offset.shape[2], offset.shape[3]
    per_group = C // (mask.shape[1] // (KH * KW))
    for nc in prange(N * C):  # a thread owns gx[n, c]: no races
        n, c = nc // C, nc % C
        for i in range(KH):
            for j in range(KW):
                tap = (c // per_group) * KH * KW + i * KW + j
                row = (c * KH + i) * KW + j
                for oy in range(OH):
                    for ox in range(OW):
                        y, xx = tap_position_cpu(offset, n, tap, oy, ox, i, j, sh, sw, ph, pw, dh, dw)
                        if not inside_cpu(y, xx, H, W):
                            continue
                        g = gcols[n, row, oy * OW + ox] * mask[n, tap, oy, ox]
                        y0, x0, w00, w01, w10, w11, _, _ = weights_cpu(y, xx)
                        if y0 >= 0 and x0 >= 0:
                            gx[n, c, y0, x0] += g * w00
                        if y0 >= 0 and x0 + 1 < W:
                            gx[n, c, y0, x0 + 1] += g * w01
                        if y0 + 1 < H and x0 >= 0:
                            gx[n, c, y0 + 1, x0] += g * w10
                        if y0 + 1 < H and x0 + 1 < W:
                            gx[n, c, y0 + 1, x0 + 1] += g * w11


@cuda.jit(cache=True)
def deform_col2im_bwd_cuda(gcols, offset, mask, gx, KH, KW, sh, sw, ph, pw, dh, dw):
    N, C, H, W = gx.shape
    OH, OW = offset.shape[2], offset.shape[3]
    per_group = C // (mask.shape[1] // (KH * KW))
    for k in range(cuda.grid(1), gcols.size, cuda.gridsize(1)):
        ox = k % OW
        oy = (k // OW) % OH
        j = (k // (OW * OH)) % KW
        i = (k // (OW * OH * KW)) % KH
        c = (k // (OW * OH * KW * KH)) % C
        n = k // (OW * OH * KW * KH * C)
        tap = (c // per_group) * KH * KW + i * KW + j
        y, xx = tap_position_dev(offset, n, tap, oy, ox, i, j, sh, sw, ph, pw, dh, dw)
        if inside_dev(y, xx, H, W):
            g = gcols[n, (c * KH + i) * KW + j, oy * OW + ox] * mask[n, tap, oy, ox]
            y0, x0, w00, w01, w10, w11, _, _ = weights_dev(y, xx)
            if y0 >= 0 and x0 >= 0:
                cuda.atomic.add(gx, (n, c, y0, x0), g * w00)
            if y0 >= 0 and x0 + 1 < W:
                cuda.atomic.add(gx, (n, c, y0, x0 + 1), g * w01)
            if y0 + 1 < H and x0 >= 0:
                cuda.atomic.add(gx, (n, c, y0 + 1, x0), g * w10)
            if y0 + 1 < H and x0 + 1 < W:
                cuda.atomic.add(gx, (n, c, y0 + 1, x0 + 1), g * w11)


deform_col2im_bwd = KernelPair(deform_col2im_bwd_cpu, deform_col2im_bwd_cuda)


# ---------------------------------------------------------------- backward: offset and mask gradients

def _coord_sums(gcols, x, n, c0, c1, KK, ij, l, y0, x0, w00, w01, w10, w11, ly, lx):
    """Sums over channels [c0, c1) of gcols times d sample / dy, d sample / dx and the sample
    (torchvision's get_coordinate_weight and bilinear_interpolate), for one tap of one pixel."""
    H, W = x.shape[2], x.shape[3]
    zero = like(ly, 0.0)
    top, bottom, left, right = y0 >= 0, y0 + 1 < H, x0 >= 0, x0 + 1 < W
    gy = zero
    gxx = zero
    gm = zero
    for c in range(c0, c1):
        gc = gcols[n, c * KK + ij, l]
        v00 = x[n, c, y0, x0] if top and left else zero
        v01 = x[n, c, y0, x0 + 1] if top and right else zero
        v10 = x[n, c, y0 + 1, x0] if bottom and left else zero
        v11 = x[n, c, y0 + 1, x0 + 1] if bottom and right else zero
        gy += gc * (lx * (v11 - v01) + (like(lx, 1.0) - lx) * (v10 - v00))
        gxx += gc * (ly * (v11 - v10) + (like(ly, 1.0) - ly) * (v01 - v00))
        gm += gc * (w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11)
    return gy, gxx, gm


coord_sums_cpu = njit(inline="always")(_coord_sums)
coord_sums_dev = cuda.jit(device=True)(_coord_sums)


@njit(parallel=True, cache=True)
def deform_coord_bwd_cpu(gcols, x, offset, mask, goffset, gmask, KH, KW, sh, sw, ph, pw, dh, dw, slope_at_minus_one):
    N, TAPS, OH, OW = gmask.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    per_group = C // (TAPS // (KH * KW))
    for nt in prange(N * TAPS):
        n, tap = nt // TAPS, nt % TAPS
        g, ij = tap // (KH * KW), tap % (KH * KW)
        i, j = ij // KW, ij % KW
        for oy in range(OH):
            for ox in range(OW):
                y, xx = tap_position_cpu(offset, n, tap, oy, ox, i, j, sh, sw, ph, pw, dh, dw)
                gy, gxx, gm = like(y, 0.0), like(y, 0.0), like(y, 0.0)
                if has_slope_cpu(y, xx, H, W, slope_at_minus_one):
                    y0, x0, w00, w01, w10, w11, ly, lx = weights_cpu(y, xx)
                    gy, gxx, gm = coord_sums_cpu(gcols, x, n, g * per_group, (g + 1) * per_group, KH * KW, ij,
                                                 oy * OW + ox, y0, x0, w00, w01, w10, w11, ly, lx)
                m = mask[n, tap, oy, ox]
                goffset[n, 2 * tap, oy, ox] = m * gy
                goffset[n, 2 * tap + 1, oy, ox] = m * gxx
                gmask[n, tap, oy, ox] = gm


@cuda.jit(cache=True)
def deform_coord_bwd_cuda(gcols, x, offset, mask, goffset, gmask, KH, KW, sh, sw, ph, pw, dh, dw, slope_at_minus_one):
    N, TAPS, OH, OW = gmask.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    per_group = C // (TAPS // (KH * KW))
    for k in range(cuda.grid(1), gmask.size, cuda.gridsize(1)):
        ox = k % OW
        oy = (k // OW) % OH
        tap = (k // (OW * OH)) % TAPS
        n = k // (OW * OH * TAPS)
        g, ij = tap // (KH * KW), tap % (KH * KW)
        y, xx = tap_position_dev(offset, n, tap, oy, ox, ij // KW, ij % KW, sh, sw, ph, pw, dh, dw)
        gy, gxx, gm = like(y, 0.0), like(y, 0.0), like(y, 0.0)
        if has_slope_dev(y, xx, H, W, slope_at_minus_one):
            y0, x0, w00, w01, w10, w11, ly, lx = weights_dev(y, xx)
            gy, gxx, gm = coord_sums_dev(gcols, x, n, g * per_group, (g + 1) * per_group, KH * KW, ij,
                                         oy * OW + ox, y0, x0, w00, w01, w10, w11, ly, lx)
        m = mask[n, tap, oy, ox]
        goffset[n, 2 * tap, oy, ox] = m * gy
        goffset[n, 2 * tap + 1, oy, ox] = m * gxx
        gmask[n, tap, oy, ox] = gm


deform_coord_bwd = KernelPair(deform_coord_bwd_cpu, deform_coord_bwd_cuda)
