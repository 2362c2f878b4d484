"""Pairwise box IoU in one pass (the fast path of nnlite.ops.box_iou when no gradient is
needed; with gradients box_iou is a composition of differentiable ops).

Kernels take boxes1 (N, 4), boxes2 (M, 4) contiguous float arrays and write out (N, M).
The arithmetic follows torchvision's order (areas, clamped overlap, union = area1 + area2
- inter, inter / union) in the boxes' dtype, so results equal the composed version.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import like


def _iou(ax1, ay1, ax2, ay2, area1, bx1, by1, bx2, by2, zero):
    """IoU of box a (with its area) and box b; `zero` is 0 in the boxes' dtype so float32
    math stays float32."""
    w = min(ax2, bx2) - max(ax1, bx1)
    h = min(ay2, by2) - max(ay1, by1)
    if w < zero:       # clamp(min=0); NaN passes through, as torch's clamp
        w = zero
    if h < zero:
        h = zero
    inter = w * h
    area2 = (bx2 - bx1) * (by2 - by1)
    return inter / (area1 + area2 - inter)


_iou_cpu = njit(inline="always")(_iou)
_iou_dev = cuda.jit(device=True)(_iou)


# error_model="numpy": a zero union gives NaN/inf as in torch, not ZeroDivisionError
@njit(parallel=True, cache=True, error_model="numpy")
def box_iou_fwd_cpu(boxes1, boxes2, out):
    m = boxes2.shape[0]
    for i in prange(boxes1.shape[0]):
        ax1, ay1, ax2, ay2 = boxes1[i, 0], boxes1[i, 1], boxes1[i, 2], boxes1[i, 3]
        area1 = (ax2 - ax1) * (ay2 - ay1)
        zero = like(area1, 0)
        for j in range(m):
            out[i, j] = _iou_cpu(ax1, ay1, ax2, ay2, area1,
                                 boxes2[j, 0], boxes2[j, 1], boxes2[j, 2], boxes2[j, 3], zero)


@cuda.jit(cache=True)
def box_iou_fwd_cuda(boxes1, boxes2, out):
    m = boxes2.shape[0]
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        i = k // m
        j = k - i * m
        ax1, ay1, ax2, ay2 = boxes1[i, 0], boxes1[i, 1], boxes1[i, 2], boxes1[i, 3]
        area1 = (ax2 - ax1) * (ay2 - ay1)
        zero = ax1 - ax1   # 0 in the boxes' dtype (NaN only for a non-finite box, whose IoU is NaN anyway)
        out[i, j] = _iou_dev(ax1, ay1, ax2, ay2, area1,
                             boxes2[j, 0], boxes2[j, 1], boxes2[j, 2], boxes2[j, 3], zero)


box_iou_fwd = KernelPair(box_iou_fwd_cpu, box_iou_fwd_cuda)
