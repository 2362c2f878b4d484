"""Rotated-box kernels (detectron2's box_iou_rotated and nms_rotated), CPU and CUDA.

A rotated box is a row (cx, cy, w, h, angle in degrees, counter-clockwise). In the box's own
frame (u, v) it is the rectangle |u| <= w/2, |v| <= h/2; world and frame are related by
    x = cx + cos(a) u + sin(a) v,   y = cy - sin(a) u + cos(a) v
(detectron2's get_rotated_vertices: corner (w/2, h/2) is (cx + sin h/2 + cos w/2,
cy + cos h/2 - sin w/2)). The map is a rotation, so corners taken counter-clockwise in the
frame stay counter-clockwise in the world, interior on the left of each edge.

Intersection area, by Green's theorem instead of detectron2's vertex list + convex hull (no
arrays, so the same scalar code runs on both targets): the boundary of A n B is the part of
A's boundary inside B plus the part of B's boundary inside A, and the area is half the sum of
cross(p, q) over those boundary pieces p -> q. Each edge of one box is clipped to the other
box in that box's frame (four half-planes, Cyrus-Beck on the edge parameter t), and a clipped
edge adds (t_hi - t_lo) * cross(a, b) for its end points a, b. Coordinates are taken relative
to the midpoint of the two centres, as detectron2 does, for precision.

Edges that (nearly) lie on one line would be counted twice or not at all, depending on
rounding. So for a clipping line within 45 degrees of the edge's direction the test uses a
tolerance TOL * (r1 + r2), r the circumscribed radii: an edge of the first box counts as
inside a same-direction line of the second box up to TOL outside it, an edge of the second
box only from TOL inside; edges of opposite direction (boxes touching from outside) both need
TOL inside. Each shared stretch of boundary is then counted exactly once. TOL = 1e-8 balances
two errors: the tie rule moves the boundary by at most TOL (relative), and rounding noise
(1e-16) in a clip parameter is magnified by at most 1/TOL for lines just outside the band;
both stay near 1e-8 of the IoU, below the float32 rounding of the result.

Everything is computed in float64 whatever the boxes' dtype. Boxes with w * h < 1e-14 have
IoU 0 (detectron2's rule); a box with a NaN or infinite value gives NaN. Boxes whose
circumscribed circles are apart have IoU 0 without any trigonometry (the common case in NMS).

NMS (CPU): detectron2's greedy sweep over boxes sorted by decreasing score; a later box is
suppressed by a kept one when IoU >= threshold. NMS (CUDA): the bitmask scheme of
nnlite.kernels.nms (one 64-bit word per (box, column tile), IoU >= threshold) and the same host
sweep, `nms_sweep_cpu`.
"""
import math
import types

import numpy as np
from numba import njit, prange, uint64

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair

TILE = 64                    # boxes per mask word (CUDA NMS)
TOL = 1e-8                   # relative tolerance for edges on a common line (see above)
MIN_AREA = 1e-14             # detectron2: smaller boxes have IoU 0
DEG = math.pi / 180.0


# ---------------------------------------------------------------- scalar code (both targets)

def _clip(f0, f1, thr, lo, hi):
    """Restrict [lo, hi] to the t where f0 + t (f1 - f0) >= thr; hi < lo means empty."""
    if f0 < thr:
        if f1 < thr:
            return 1.0, 0.0
        t = (thr - f0) / (f1 - f0)
        return (t if t > lo else lo), hi
    if f1 < thr:
        t = (f0 - thr) / (f0 - f1)
        return lo, (t if t < hi else hi)
    return lo, hi


def _threshold(along, toward, tol, first):
    """Inside threshold for a line of box B nearly parallel to the edge (lines crossing the edge
    use 0): `along` is the edge's component on the line's axis and `toward` the sign of B's
    edge on that line, so along * toward > 0 means the two run the same way. The first box's
    edge then counts as inside up to tol outside the line; every other case needs tol inside
    (module doc)."""
    if first and along * toward > 0:
        return -tol
    return tol


def _edge_fraction(ua, va, ub, vb, hw, hh, tol, first):
    """Fraction of the edge a -> b (in box B's frame) inside B: |u| <= hw, |v| <= hh."""
    du = ub - ua
    dv = vb - va
    near_v = abs(dv) >= abs(du)      # the edge runs along v: u = +-hw are its near-parallel lines
    lo, hi = 0.0, 1.0
    # B's edge on u = hw runs toward +v, on u = -hw toward -v, on v = hh toward -u, on v = -hh +u
    thr = _threshold(dv, 1.0, tol, first) if near_v else 0.0
    lo, hi = _clip(hw - ua, hw - ub, thr, lo, hi)
    thr = _threshold(dv, -1.0, tol, first) if near_v else 0.0
    lo, hi = _clip(hw + ua, hw + ub, thr, lo, hi)
    thr = 0.0 if near_v else _threshold(du, -1.0, tol, first)
    lo, hi = _clip(hh - va, hh - vb, thr, lo, hi)
    thr = 0.0 if near_v else _threshold(du, 1.0, tol, first)
    lo, hi = _clip(hh + va, hh + vb, thr, lo, hi)
    return hi - lo if hi > lo else 0.0


def _boundary_sum(ax, ay, ahw, ahh, ac, as_, bx, by, bhw, bhh, bc, bs, tol, first):
    """Sum of cross(p, q) over the pieces of box A's boundary inside box B (centres relative
    to the common origin)."""
    total = 0.0
    for k in range(4):
        # corners k, k+1 counter-clockwise in A's frame: (+,+), (-,+), (-,-), (+,-)
        su0 = 1.0 if k == 0 or k == 3 else -1.0
        sv0 = 1.0 if k < 2 else -1.0
        su1 = 1.0 if k == 2 or k == 3 else -1.0
        sv1 = 1.0 if k == 0 or k == 3 else -1.0
        x0 = ax + ac * su0 * ahw + as_ * sv0 * ahh
        y0 = ay - as_ * su0 * ahw + ac * sv0 * ahh
        x1 = ax + ac * su1 * ahw + as_ * sv1 * ahh
        y1 = ay - as_ * su1 * ahw + ac * sv1 * ahh
        ua = bc * (x0 - bx) - bs * (y0 - by)
        va = bs * (x0 - bx) + bc * (y0 - by)
        ub = bc * (x1 - bx) - bs * (y1 - by)
        vb = bs * (x1 - bx) + bc * (y1 - by)
        frac = _edge_fraction(ua, va, ub, vb, bhw, bhh, tol, first)
        if frac > 0.0:
            total += frac * (x0 * y1 - y0 * x1)
    return total


def _rotated_iou(cx1, cy1, w1, h1, a1, cx2, cy2, w2, h2, a2):
    """IoU of two rotated boxes (float64 values), detectron2's single_box_iou_rotated."""
    dx = 0.5 * (cx1 - cx2)           # centres relative to their midpoint: +-(dx, dy)
    dy = 0.5 * (cy1 - cy2)
    if not math.isfinite(dx + dy + w1 + h1 + a1 + w2 + h2 + a2):
        return math.nan
    area1 = w1 * h1
    area2 = w2 * h2
    if area1 < MIN_AREA or area2 < MIN_AREA:
        return 0.0
    hw1, hh1, hw2, hh2 = 0.5 * abs(w1), 0.5 * abs(h1), 0.5 * abs(w2), 0.5 * abs(h2)
    reach = math.sqrt(hw1 * hw1 + hh1 * hh1) + math.sqrt(hw2 * hw2 + hh2 * hh2)
    if 4.0 * (dx * dx + dy * dy) >= reach * reach:   # circumscribed circles apart
        return 0.0
    c1, s1 = math.cos(a1 * DEG), math.sin(a1 * DEG)
    c2, s2 = math.cos(a2 * DEG), math.sin(a2 * DEG)
    tol = TOL * reach
    inter = 0.5 * (_boundary_sum(dx, dy, hw1, hh1, c1, s1, -dx, -dy, hw2, hh2, c2, s2, tol, True)
                   + _boundary_sum(-dx, -dy, hw2, hh2, c2, s2, dx, dy, hw1, hh1, c1, s1, tol, False))
    if inter < 0.0:
        inter = 0.0
    return inter / (abs(area1) + abs(area2) - inter)


def _row_iou(boxes1, i, boxes2, j):
    # np.float64, not float(): Numba's float() keeps a float32 a float32
    return _rotated_iou_t(np.float64(boxes1[i, 0]), np.float64(boxes1[i, 1]), np.float64(boxes1[i, 2]),
                          np.float64(boxes1[i, 3]), np.float64(boxes1[i, 4]), np.float64(boxes2[j, 0]),
                          np.float64(boxes2[j, 1]), np.float64(boxes2[j, 2]), np.float64(boxes2[j, 3]),
                          np.float64(boxes2[j, 4]))


def _for_target(f, names, compile_):
    """f compiled with its helper names bound to one target's compiled helpers: the scalar
    code is written once (as in grid_sample.py)."""
    scope = dict(globals())
    scope.update(names)
    return compile_(types.FunctionType(f.__code__, scope, f.__name__))


def _compile_chain(compile_):
    """The helper chain _clip -> ... -> _row_iou for one target."""
    names = {}
    for name, f in (("_clip", _clip), ("_threshold", _threshold), ("_edge_fraction", _edge_fraction),
                    ("_boundary_sum", _boundary_sum), ("_rotated_iou_t", _rotated_iou),
                    ("_row_iou_t", _row_iou)):
        names[name] = _for_target(f, names, compile_)
    return names


_CPU = _compile_chain(njit)
_DEV = _compile_chain(cuda.jit(device=True))
rotated_iou_cpu = _CPU["_rotated_iou_t"]
rotated_iou_dev = _DEV["_rotated_iou_t"]
row_iou_cpu = _CPU["_row_iou_t"]
row_iou_dev = _DEV["_row_iou_t"]


# ---------------------------------------------------------------- pairwise IoU

@njit(parallel=True, cache=True)
def pairwise_iou_rotated_fwd_cpu(boxes1, boxes2, out):
    """out[i, j] (float32) = IoU of boxes1[i] and boxes2[j]."""
    m = boxes2.shape[0]
    for i in prange(boxes1.shape[0]):
        for j in range(m):
            out[i, j] = row_iou_cpu(boxes1, i, boxes2, j)


@cuda.jit(cache=True)
def pairwise_iou_rotated_fwd_cuda(boxes1, boxes2, out):
    m = boxes2.shape[0]
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        i = k // m
        out[i, k - i * m] = row_iou_dev(boxes1, i, boxes2, k - i * m)


pairwise_iou_rotated_fwd = KernelPair(pairwise_iou_rotated_fwd_cpu, pairwise_iou_rotated_fwd_cuda)


# ---------------------------------------------------------------- NMS

@njit(cache=True)
def nms_rotated_fwd_cpu(sorted_boxes, reach, suppressed, keep, count, iou_threshold):
    """Greedy NMS over boxes sorted by decreasing score; keep[:count[0]] gets the kept
    positions. Sequential as detectron2's (each step depends on the last). `reach` (float64,
    n) takes each box's circumscribed radius, so that far-apart pairs (IoU 0, which suppresses
    only when the threshold is <= 0) cost a few flops."""
    n = sorted_boxes.shape[0]
    for i in range(n):
        w, h = np.float64(sorted_boxes[i, 2]), np.float64(sorted_boxes[i, 3])
        reach[i] = 0.5 * math.sqrt(w * w + h * h)
        suppressed[i] = 0
    cull = iou_threshold > 0.0
    kept = 0
    for i in range(n):
        if suppressed[i]:
            continue
        keep[kept] = i
        kept += 1
        xi, yi, ri = np.float64(sorted_boxes[i, 0]), np.float64(sorted_boxes[i, 1]), reach[i]
        for j in range(i + 1, n):
            if suppressed[j]:
                continue
            if cull:
                dx = np.float64(sorted_boxes[j, 0]) - xi
                dy = np.float64(sorted_boxes[j, 1]) - yi
                r = ri + reach[j]
                if dx * dx + dy * dy >= r * r:
                    continue
            if row_iou_cpu(sorted_boxes, i, sorted_boxes, j) >= iou_threshold:
                suppressed[j] = 1
    count[0] = kept


@cuda.jit(cache=True)
def nms_rotated_fwd_cuda(sorted_boxes, mask, iou_threshold):
    """mask[i, c] bit b: sorted box c*64+b (after i) has IoU >= threshold with box i. Blocks
    of 64 threads stride over the upper-triangular (row tile, column tile) pairs."""
    n = sorted_boxes.shape[0]
    tiles = (n + TILE - 1) // TILE
    t = cuda.threadIdx.x
    for pair in range(cuda.blockIdx.x, tiles * tiles, cuda.gridDim.x):
        row_tile = pair // tiles
        col_tile = pair - row_tile * tiles
        i = row_tile * TILE + t
        if col_tile < row_tile or i >= n:
            continue
        start = col_tile * TILE
        bits = uint64(0)
        for j in range(max(i + 1, start), min(start + TILE, n)):
            if row_iou_dev(sorted_boxes, i, sorted_boxes, j) >= iou_threshold:
                bits |= uint64(1) << uint64(j - start)
        mask[i, col_tile] = bits
