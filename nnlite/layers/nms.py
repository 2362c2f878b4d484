"""nms, batched_nms, nms_rotated and batched_nms_rotated, as detectron2.layers.nms.

`nms` is torchvision's (nnlite.ops.nms); `batched_nms` is nnlite.ops.batched_nms on boxes of
at least float32 (float16 lacks the range for the per-category offsets, which is why
detectron2 wraps it).

`nms_rotated` works on rotated boxes (x_center, y_center, width, height, angle in degrees,
counter-clockwise): boxes are taken greedily in decreasing score order (stable, NaN first, as
nnlite.ops.nms) and every later box whose IoU with a kept box is >= iou_threshold is
discarded. That is detectron2's CPU kernel; detectron2's CUDA kernel discards IoU >
iou_threshold instead, so the two differ for an IoU exactly at the threshold. nnlite uses >= on
both devices. `batched_nms_rotated` shifts each category's centres by idx * (max coordinate -
min coordinate + 1), computed in float32 as detectron2 does, and runs one nms_rotated.
"""
import numpy as np

from ..backend.lazy import kernels
from ..functional._util import check_same_device, check_tensor
from ..ops.nms import _descending_order, _host, _index_tensor
from ..ops.nms import batched_nms as _ops_batched_nms
from ..ops.nms import nms
from .rotated_boxes import check_rotated_boxes

K = kernels("rotated_boxes")
K_NMS = kernels("nms")

__all__ = ["nms", "batched_nms", "nms_rotated", "batched_nms_rotated"]


def batched_nms(boxes, scores, idxs, iou_threshold):
    """torchvision's batched_nms with float16 boxes (and scores) taken as float32."""
    check_tensor("batched_nms", "boxes", boxes)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise RuntimeError(f"batched_nms: boxes should have shape (N, 4) as (x1, y1, x2, y2), got shape "
                           f"{tuple(boxes.shape)}")
    if boxes.dtype.name == "float16":
        boxes = boxes.float()
    if scores.dtype.name == "float16":
        scores = scores.float()
    return _ops_batched_nms(boxes, scores, idxs, iou_threshold)


def nms_rotated(boxes, scores, iou_threshold):
    """Indices (int64) of the rotated boxes kept by NMS, in decreasing order of score. A box is
    discarded when its IoU with a higher-scoring kept box is >= iou_threshold (detectron2's CPU
    rule; its CUDA kernel uses >)."""
    _check_boxes_scores("nms_rotated", boxes, scores)
    if boxes.dtype != scores.dtype:
        raise RuntimeError(f"nms_rotated: dets should have the same type as scores, got boxes of "
                           f"{boxes.dtype.name} and scores of {scores.dtype.name}")
    keep = _keep_rotated(_host_boxes(boxes), _host(scores), float(iou_threshold), boxes.device)
    return _index_tensor(keep, boxes.device)


def batched_nms_rotated(boxes, scores, idxs, iou_threshold):
    """nms_rotated within each category idxs[i]; indices (int64) in decreasing order of score."""
    op = "batched_nms_rotated"
    _check_boxes_scores(op, boxes, scores)
    _check_idxs(op, boxes, idxs)
    if boxes.shape[0] == 0:
        return _index_tensor(np.empty(0, np.int64), boxes.device)
    shifted = _category_shifted(_host_boxes(boxes).astype(np.float32), _host(idxs))
    keep = _keep_rotated(shifted, _host(scores), float(iou_threshold), boxes.device)
    return _index_tensor(keep, boxes.device)


def _category_shifted(boxes, idxs):
    """detectron2's offsets, in float32: categories end up farther apart than any box reaches."""
    half_side = np.maximum(boxes[:, 2], boxes[:, 3]) / np.float32(2)
    max_coordinate = (np.maximum(boxes[:, 0], boxes[:, 1]) + half_side).max()
    min_coordinate = (np.minimum(boxes[:, 0], boxes[:, 1]) - half_side).min()
    offsets = idxs.astype(np.float32) * (max_coordinate - min_coordinate + np.float32(1))
    shifted = boxes.copy()
    shifted[:, :2] += offsets[:, None]
    return shifted


# ------------------------------------------------------------------ the two targets

def _keep_rotated(boxes, scores, iou_threshold, device):
    """Kept indices (numpy int64) of host arrays; the IoU work runs on `device`."""
    if boxes.shape[0] == 0:
        return np.empty(0, np.int64)
    order = _descending_order(scores)
    sorted_boxes = np.ascontiguousarray(boxes[order])
    if device.type == "cpu":
        kept = _nms_rotated_cpu(sorted_boxes, iou_threshold)
    else:
        kept = _nms_rotated_cuda(sorted_boxes, iou_threshold, device)
    return order[kept]


def _nms_rotated_cpu(sorted_boxes, iou_threshold):
    n = sorted_boxes.shape[0]
    keep = np.empty(n, np.int64)
    count = np.zeros(1, np.int64)
    K.nms_rotated_fwd_cpu(sorted_boxes, np.empty(n), np.empty(n, np.uint8), keep, count, iou_threshold)
    return keep[:count[0]]


def _nms_rotated_cuda(sorted_boxes, iou_threshold, device):
    """Bit mask of suppressions on the device, greedy sweep over it on the host."""
    from ..backend.cuda import compiled
    from ..backend.launch import grid_blocks
    from ..backend.memory import device_empty, to_device
    n = sorted_boxes.shape[0]
    words = (n + K.TILE - 1) // K.TILE
    mask = device_empty((n, words), np.dtype(np.uint64), device.index)
    blocks, _ = grid_blocks(words * words, K.TILE)
    compiled(K.nms_rotated_fwd_cuda)[blocks, K.TILE](to_device(sorted_boxes, device.index), mask,
                                                     iou_threshold)
    keep = np.empty(n, np.int64)
    count = np.zeros(1, np.int64)
    K_NMS.nms_sweep_cpu(mask.copy_to_host(), keep, np.empty(words, np.uint64), count)
    return keep[:count[0]]


# ------------------------------------------------------------------ checks

def _host_boxes(boxes):
    host = _host(boxes)
    return host.astype(np.float32) if host.dtype == np.float16 else host


def _check_boxes_scores(op, boxes, scores):
    check_rotated_boxes(op, "boxes", boxes)
    check_tensor(op, "scores", scores)
    check_same_device(op, boxes, scores)
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise RuntimeError(f"{op}: scores should have shape ({boxes.shape[0]},) to match boxes of shape "
                           f"{tuple(boxes.shape)}, got {tuple(scores.shape)}")
    if not scores.dtype.is_floating_point:
        raise TypeError(f"{op}: scores should be a floating point tensor, got {scores.dtype.name}")


def _check_idxs(op, boxes, idxs):
    check_tensor(op, "idxs", idxs)
    check_same_device(op, boxes, idxs)
    if tuple(idxs.shape) != (boxes.shape[0],):
        raise RuntimeError(f"{op}: idxs should have shape ({boxes.shape[0]},) to match boxes, got "
                           f"{tuple(idxs.shape)}")
