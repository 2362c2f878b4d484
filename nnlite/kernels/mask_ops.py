"""paste_masks_in_image kernels (detectron2.layers.mask_ops), CPU and CUDA.

Arrays: masks (N, M, M) float32/float64, boxes (N, 4) rows (x0, y0, x1, y1) in the
grid's dtype (float32, or float64 when the boxes are), out (N, H, W) uint8.
Scalars: threshold (the masks' dtype), soft (True: out = value * 255 truncated).

detectron2 pastes mask i by sampling it with grid_sample (bilinear, zero padding,
align_corners=False) at every image pixel of the region around its box
[floor(x0) - 1, ceil(x1) + 1) x [floor(y0) - 1, ceil(y1) + 1), clipped to the
image; every other pixel is 0. The arithmetic below is the same sequence of
operations in the same dtypes: the normalised grid coordinate
(x + 0.5 - x0) / (x1 - x0) * 2 - 1 in the boxes' dtype, cast to the masks'
dtype, then grid_sample's (g + 1) * (M / 2) - 0.5 and its corner weights. So a
pixel is inside exactly where detectron2's is (value >= threshold, compared in
the masks' dtype). One launch pastes every mask; each CPU task writes one whole
output row (zeros included), so the output needs no separate zero fill.
(detectron2 skips the region on CUDA and samples the whole image there; border
pixels of its CUDA result can then differ from its CPU result. nnlite follows
the CPU result on both devices.)
"""
import math

import numpy as np
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like


def _region(boxes, i, h, w):
    """(x_lo, x_hi, y_lo, y_hi): the pixels detectron2 samples for mask i."""
    x_lo = max(math.floor(boxes[i, 0]) - 1, 0)
    y_lo = max(math.floor(boxes[i, 1]) - 1, 0)
    x_hi = min(math.ceil(boxes[i, 2]) + 1, w)
    y_hi = min(math.ceil(boxes[i, 3]) + 1, h)
    return x_lo, x_hi, y_lo, y_hi


def _source_coord(p, lo, hi, m, like_mask):
    """The mask coordinate sampled for image pixel p between box edges lo and hi
    (torch's grid, then grid_sample's unnormalisation for a mask of size m)."""
    g = (like(lo, p) + like(lo, 0.5) - lo) / (hi - lo) * like(lo, 2) - like(lo, 1)
    gm = like(like_mask, g)
    return (gm + like(gm, 1)) * (like(gm, m) / like(gm, 2)) - like(gm, 0.5)


def _sample(masks, i, sy, sx, m):
    """Bilinear sample of mask i at (sy, sx), zero outside the mask, in the order of
    torch's CPU grid_sample (its corner weights, then nw + ne + sw + se)."""
    fx, fy = math.floor(sx), math.floor(sy)
    x_w, y_n = int(fx), int(fy)
    w = sx - like(sx, fx)
    e = like(sx, 1) - w
    n = sy - like(sy, fy)
    s = like(sy, 1) - n
    zero = like(masks[i, 0, 0], 0)
    west, east = 0 <= x_w < m, 0 <= x_w + 1 < m
    north, south = 0 <= y_n < m, 0 <= y_n + 1 < m
    nw = masks[i, y_n, x_w] if north and west else zero
    ne = masks[i, y_n, x_w + 1] if north and east else zero
    sw = masks[i, y_n + 1, x_w] if south and west else zero
    se = masks[i, y_n + 1, x_w + 1] if south and east else zero
    return nw * (s * e) + ne * (s * w) + sw * (n * e) + se * (n * w)


def _encode(v, threshold, soft):
    if soft:
        return np.uint8(int(v * like(v, 255)))
    return np.uint8(1 if v >= threshold else 0)


region_cpu = njit(inline="always")(_region)
region_dev = cuda.jit(device=True)(_region)
source_coord_cpu = njit(inline="always")(_source_coord)
source_coord_dev = cuda.jit(device=True)(_source_coord)
sample_cpu = njit(inline="always")(_sample)
sample_dev = cuda.jit(device=True)(_sample)
encode_cpu = njit(inline="always")(_encode)
encode_dev = cuda.jit(device=True)(_encode)


@njit(parallel=True, cache=True)
def paste_masks_cpu(masks, boxes, out, threshold, soft):
    n, h, w = out.shape
    m = masks.shape[1]
    for t in prange(n * h):
        i, y = t // h, t % h
        row = out[i, y]
        x_lo, x_hi, y_lo, y_hi = region_cpu(boxes, i, h, w)
        if y < y_lo or y >= y_hi or x_lo >= x_hi:
            row[:] = 0
            continue
        row[:x_lo] = 0
        row[x_hi:] = 0
        sy = source_coord_cpu(y, boxes[i, 1], boxes[i, 3], m, masks[i, 0, 0])
        for x in range(x_lo, x_hi):
            sx = source_coord_cpu(x, boxes[i, 0], boxes[i, 2], m, masks[i, 0, 0])
            row[x] = encode_cpu(sample_cpu(masks, i, sy, sx, m), threshold, soft)


@cuda.jit(cache=True)
def paste_masks_cuda(masks, boxes, out, threshold, soft):
    n, h, w = out.shape
    m = masks.shape[1]
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x = k % w
        y = (k // w) % h
        i = k // (w * h)
        x_lo, x_hi, y_lo, y_hi = region_dev(boxes, i, h, w)
        value = np.uint8(0)
        if y_lo <= y < y_hi and x_lo <= x < x_hi:
            sy = source_coord_dev(y, boxes[i, 1], boxes[i, 3], m, masks[i, 0, 0])
            sx = source_coord_dev(x, boxes[i, 0], boxes[i, 2], m, masks[i, 0, 0])
            value = encode_dev(sample_dev(masks, i, sy, sx, m), threshold, soft)
        out[i, y, x] = value


paste_masks = KernelPair(paste_masks_cpu, paste_masks_cuda)
