"""Non-maximum suppression kernels (torchvision.ops.nms), CPU and CUDA.

NMS returns indices, so it has no backward. Both targets take the boxes
already sorted by decreasing score (the caller sorts once, stably, on the
host) and compute the IoU exactly as torchvision's kernels do, in the boxes'
dtype: inter / (area_i + area_j - inter), compared with `> threshold`, so two
zero-area boxes give NaN and never suppress each other.

CPU: one greedy sweep. For each box still alive, the inner loop computes the
IoU with every later box without branches (suppression is an OR), so LLVM
vectorises it; coordinates live in five contiguous rows (x1, y1, x2, y2,
area) that the caller allocates. The sweep itself is sequential, as in
torchvision; the work per kept box is a vector loop.

CUDA: torchvision's bitmask scheme. One block of 64 threads per (row tile,
column tile) with column tile >= row tile; thread t sets bit b of
mask[row, col_tile] when box (col_tile*64 + b) comes after the row box and
overlaps it by more than the threshold. The host then sweeps the mask words
(`nms_sweep_cpu`), as torchvision does.
"""
from numba import njit, uint64

from ..backend.cuda import cuda
from .fastmath import like

TILE = 64   # boxes per mask word


@njit(cache=True, error_model="numpy")
def nms_fwd_cpu(sorted_boxes, segments, coords, suppressed, keep, count, iou_threshold):
    """Greedy NMS over (N, 4) boxes sorted by score within each segment
    [segments[k], segments[k+1]) (one segment for nms, one per category for batched_nms);
    keep[:count[0]] gets the kept positions. iou_threshold comes in the boxes' dtype
    (see ops/nms.py: same comparisons, full vectors)."""
    x1, y1, x2, y2, area = coords[0], coords[1], coords[2], coords[3], coords[4]
    for i in range(sorted_boxes.shape[0]):
        x1[i], y1[i] = sorted_boxes[i, 0], sorted_boxes[i, 1]
        x2[i], y2[i] = sorted_boxes[i, 2], sorted_boxes[i, 3]
        area[i] = (x2[i] - x1[i]) * (y2[i] - y1[i])
        suppressed[i] = 0
    kept = 0
    for k in range(segments.shape[0] - 1):
        end = segments[k + 1]
        for i in range(segments[k], end):
            if suppressed[i]:
                continue
            keep[kept] = i
            kept += 1
            # slices, so the inner loop's index starts at 0: Numba then drops the negative-index
            # wraparound check that would stop LLVM vectorising it (8x slower without)
            s = i + 1
            _suppress_overlaps(x1[i], y1[i], x2[i], y2[i], area[i], x1[s:end], y1[s:end], x2[s:end],
                               y2[s:end], area[s:end], suppressed[s:end], iou_threshold)
    count[0] = kept


@njit(inline="always", error_model="numpy")
def _suppress_overlaps(ix1, iy1, ix2, iy2, iarea, x1, y1, x2, y2, area, suppressed, iou_threshold):
    """OR into suppressed[j] whether box j overlaps box i by more than the threshold.
    Branch-free so that it vectorises; the max/min are written as std::max/std::min
    (same operand order) so NaN coordinates behave as in torchvision."""
    zero = like(ix1, 0)    # keeps float32 math in float32
    for j in range(x1.shape[0]):
        xx1 = x1[j] if ix1 < x1[j] else ix1
        yy1 = y1[j] if iy1 < y1[j] else iy1
        xx2 = x2[j] if x2[j] < ix2 else ix2
        yy2 = y2[j] if y2[j] < iy2 else iy2
        w = xx2 - xx1
        h = yy2 - yy1
        w = w if zero < w else zero
        h = h if zero < h else zero
        inter = w * h
        ovr = inter / (iarea + area[j] - inter)
        suppressed[j] = suppressed[j] | (ovr > iou_threshold)


@cuda.jit(cache=True)
def nms_fwd_cuda(sorted_boxes, mask, iou_threshold):
    """mask[i, c] bit b: sorted box c*64+b (after i) overlaps box i by more than the threshold.
    Blocks of 64 threads stride over the upper-triangular (row tile, column tile) pairs."""
    n = sorted_boxes.shape[0]
    tiles = (n + TILE - 1) // TILE
    t = cuda.threadIdx.x
    for pair in range(cuda.blockIdx.x, tiles * tiles, cuda.gridDim.x):
        row_tile = pair // tiles
        col_tile = pair - row_tile * tiles
        i = row_tile * TILE + t
        if col_tile < row_tile or i >= n:
            continue
        mask[i, col_tile] = _overlap_bits(sorted_boxes, i, col_tile * TILE, n, iou_threshold)


@cuda.jit(device=True)
def _overlap_bits(boxes, i, start, n, iou_threshold):
    ix1, iy1, ix2, iy2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
    iarea = (ix2 - ix1) * (iy2 - iy1)
    zero = like(ix1, 0)
    bits = uint64(0)
    first = i + 1 if i + 1 > start else start
    end = start + TILE if start + TILE < n else n
    for j in range(first, end):
        jx1, jy1, jx2, jy2 = boxes[j, 0], boxes[j, 1], boxes[j, 2], boxes[j, 3]
        xx1 = jx1 if ix1 < jx1 else ix1
        yy1 = jy1 if iy1 < jy1 else iy1
        xx2 = jx2 if jx2 < ix2 else ix2
        yy2 = jy2 if jy2 < iy2 else iy2
        w = xx2 - xx1
        h = yy2 - yy1
        w = w if zero < w else zero
        h = h if zero < h else zero
        inter = w * h
        ovr = inter / (iarea + (jx2 - jx1) * (jy2 - jy1) - inter)
        if ovr > iou_threshold:
            bits |= uint64(1) << uint64(j - start)
    return bits


@njit(cache=True)
def nms_sweep_cpu(mask, keep, removed, count):
    """Host half of the CUDA scheme: walk the sorted boxes, keep those no kept box removed,
    and OR each kept box's mask row into `removed` (words from its own tile on)."""
    n, words = mask.shape
    for w in range(words):
        removed[w] = 0
    kept = 0
    for i in range(n):
        word = i // TILE
        bit = uint64(1) << uint64(i - word * TILE)
        if removed[word] & bit:
            continue
        keep[kept] = i
        kept += 1
        for w in range(word, words):
            removed[w] |= mask[i, w]
    count[0] = kept
