"""nms and batched_nms, as torchvision.ops.

`nms(boxes, scores, iou_threshold)` keeps boxes greedily in decreasing score
order and drops every later box whose IoU with a kept one is strictly greater
than the threshold. Scores are sorted once on the host, stably and descending
with NaN first (torch's sort order), so equal scores keep the lower index
first, as torchvision's CPU kernel does. The result is int64 on the boxes'
device. NMS returns indices, so there is nothing to differentiate.

`batched_nms` runs NMS per category by one of torchvision's two strategies,
chosen as torchvision chooses: the coordinate-offset trick for small inputs
(<= 4000 coordinates on the CPU, <= 100000 on CUDA), a loop over categories
above that. Both give the same indices.
"""
import numpy as np

from ..backend.lazy import kernels
from ..backend.memory import to_device, to_host
from ..functional._arrays import contiguous_array
from ..functional._util import check_same_device, check_tensor, wrap

K = kernels("nms")

__all__ = ["nms", "batched_nms"]

_FLOAT_DTYPES = ("float32", "float64")
_VANILLA_ABOVE = {"cpu": 4000, "cuda": 100_000}   # torchvision's thresholds, in box coordinates


def nms(boxes, scores, iou_threshold):
    """Indices (int64) of the boxes kept by non-maximum suppression, by decreasing score."""
    _check_boxes_scores("nms", boxes, scores)
    host_boxes, host_scores = _host(boxes), _host(scores)
    keep = _nms_host_arrays(host_boxes, host_scores, float(iou_threshold), boxes.device)
    return _index_tensor(keep, boxes.device)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS applied independently to each category idxs[i]; indices by decreasing score."""
    _check_boxes_scores("batched_nms", boxes, scores)
    _check_idxs(boxes, idxs)
    if boxes.numel() > _VANILLA_ABOVE[boxes.device.type]:
        return _batched_nms_vanilla(boxes, scores, idxs, iou_threshold)
    return _batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold)


def _batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold):
    """Shift each category's boxes by idx * (max coordinate + 1) so categories never overlap,
    then one NMS. The shift is computed in the boxes' dtype, as torchvision does."""
    host_boxes = _host(boxes)
    if host_boxes.size == 0:
        return _index_tensor(np.empty(0, np.int64), boxes.device)
    dt = host_boxes.dtype.type
    offsets = _host(idxs).astype(host_boxes.dtype) * (host_boxes.max() + dt(1))
    shifted = host_boxes + offsets[:, None]
    keep = _nms_host_arrays(shifted, _host(scores), float(iou_threshold), boxes.device)
    return _index_tensor(keep, boxes.device)


def _batched_nms_vanilla(boxes, scores, idxs, iou_threshold):
    """One NMS per category, then the union of the kept boxes sorted by score."""
    host_boxes, host_scores, host_idxs = _host(boxes), _host(scores), _host(idxs)
    by_score = _descending_order(host_scores)
    keep_mask = np.zeros(host_scores.shape[0], dtype=bool)
    if boxes.device.type == "cpu":
        keep_mask[_kept_by_category_cpu(host_boxes, host_idxs, by_score, iou_threshold)] = True
    else:
        for category in np.unique(host_idxs):
            members = np.flatnonzero(host_idxs == category)
            kept = _nms_host_arrays(host_boxes[members], host_scores[members], float(iou_threshold),
                                    boxes.device)
            keep_mask[members[kept]] = True
    # torchvision sorts the kept indices (ascending) by score, stably: by_score's order
    return _index_tensor(by_score[keep_mask[by_score]], boxes.device)


def _kept_by_category_cpu(boxes, idxs, by_score, iou_threshold):
    """The categories as segments of one array sorted by (category, score): one kernel call
    instead of a Python-level call per category."""
    by_category = by_score[np.argsort(idxs[by_score], kind="stable")]
    sorted_idxs = idxs[by_category]
    starts = np.flatnonzero(sorted_idxs[1:] != sorted_idxs[:-1]) + 1
    segments = np.concatenate([[0], starts, [sorted_idxs.shape[0]]]).astype(np.int64)
    sorted_boxes = np.ascontiguousarray(boxes[by_category])
    threshold = _threshold_like(float(iou_threshold), sorted_boxes.dtype)
    return by_category[_nms_cpu(sorted_boxes, threshold, segments)]


# ------------------------------------------------------------------ the two targets

def _nms_host_arrays(boxes, scores, iou_threshold, device):
    """Kept indices (numpy int64) of host arrays; the IoU work runs on `device`."""
    if boxes.shape[0] == 0:
        return np.empty(0, np.int64)
    order = _descending_order(scores)
    sorted_boxes = np.ascontiguousarray(boxes[order])
    iou_threshold = _threshold_like(iou_threshold, sorted_boxes.dtype)
    if device.type == "cpu":
        kept_positions = _nms_cpu(sorted_boxes, iou_threshold)
    else:
        kept_positions = _nms_cuda(sorted_boxes, iou_threshold, device)
    return order[kept_positions]


def _nms_cpu(sorted_boxes, iou_threshold, segments=None):
    n = sorted_boxes.shape[0]
    if segments is None:
        segments = np.array([0, n], np.int64)
    coords = np.empty((5, n), sorted_boxes.dtype)    # x1, y1, x2, y2, area rows
    suppressed = np.empty(n, np.uint8)
    keep = np.empty(n, np.int64)
    count = np.zeros(1, np.int64)
    K.nms_fwd_cpu(sorted_boxes, segments, coords, suppressed, keep, count, iou_threshold)
    return keep[:count[0]]


def _nms_cuda(sorted_boxes, iou_threshold, device):
    """Bit mask of overlaps on the device, greedy sweep over it on the host (as torchvision)."""
    from ..backend.cuda import compiled
    from ..backend.launch import grid_blocks
    from ..backend.memory import device_empty
    n = sorted_boxes.shape[0]
    words = (n + K.TILE - 1) // K.TILE
    mask = device_empty((n, words), np.dtype(np.uint64), device.index)
    blocks, _ = grid_blocks(words * words, K.TILE)
    compiled(K.nms_fwd_cuda)[blocks, K.TILE](to_device(sorted_boxes, device.index), mask,
                                             iou_threshold)
    keep = np.empty(n, np.int64)
    count = np.zeros(1, np.int64)
    K.nms_sweep_cpu(mask.copy_to_host(), keep, np.empty(words, np.uint64), count)
    return keep[:count[0]]


# ------------------------------------------------------------------ helpers

def _descending_order(scores):
    """Stable descending argsort with NaN first, as torch.sort(descending=True)."""
    is_nan = np.isnan(scores)
    rest = np.flatnonzero(~is_nan)
    rest = rest[np.argsort(-scores[rest], kind="stable")]
    return np.concatenate([np.flatnonzero(is_nan), rest]).astype(np.int64, copy=False)


def _threshold_like(threshold, dtype):
    """The threshold in the boxes' dtype, giving the same `iou > threshold` answers.

    torchvision compares a float32 IoU with a double threshold; a float32 compare keeps the
    kernel's vectors full width. For float32 x, x > t exactly when x > t_down, the largest
    float32 <= t (no float32 lies strictly between t_down and t)."""
    if dtype != np.float32:
        return dtype.type(threshold)
    t = np.float32(threshold)
    if float(t) > threshold:    # compared in double (NumPy would compare a float32 in float32)
        t = np.nextafter(t, np.float32(-np.inf))
    return t


def _host(t):
    return to_host(contiguous_array(t._array))


def _index_tensor(keep, device):
    keep = np.ascontiguousarray(keep, dtype=np.int64)
    if device.type == "cpu":
        return wrap(keep, device)
    return wrap(to_device(keep, device.index), device)


def _check_boxes_scores(op, boxes, scores):
    check_tensor(op, "boxes", boxes)
    check_tensor(op, "scores", scores)
    check_same_device(op, boxes, scores)
    if boxes.dim() != 2:
        raise RuntimeError(f"{op}: boxes should be a 2d tensor of shape (N, 4), got {boxes.dim()}D "
                           f"with shape {tuple(boxes.shape)}")
    if boxes.shape[1] != 4:
        raise RuntimeError(f"{op}: boxes should have 4 elements in dimension 1, got shape "
                           f"{tuple(boxes.shape)}")
    if scores.dim() != 1:
        raise RuntimeError(f"{op}: scores should be a 1d tensor of shape (N,), got {scores.dim()}D "
                           f"with shape {tuple(scores.shape)}")
    if boxes.shape[0] != scores.shape[0]:
        raise RuntimeError(f"{op}: boxes and scores should have the same number of elements in "
                           f"dimension 0, got {boxes.shape[0]} and {scores.shape[0]}")
    if str(boxes.dtype).removeprefix("nnlite.") not in _FLOAT_DTYPES:
        raise NotImplementedError(f"{op}: not implemented for boxes of dtype {boxes.dtype} "
                                  "(expected float32 or float64)")
    if boxes.dtype != scores.dtype:
        raise RuntimeError(f"{op}: boxes should have the same dtype as scores, got {boxes.dtype} "
                           f"and {scores.dtype}")


def _check_idxs(boxes, idxs):
    check_tensor("batched_nms", "idxs", idxs)
    check_same_device("batched_nms", boxes, idxs)
    if tuple(idxs.shape) != (boxes.shape[0],):
        raise RuntimeError(f"batched_nms: idxs should have shape ({boxes.shape[0]},) to match boxes, "
                           f"got {tuple(idxs.shape)}")
