"""Box operators, as torchvision.ops.boxes: area, format conversion, pairwise IoU
(plain, generalized, distance, complete), clipping, small-box removal, masks to boxes.

All are compositions of nnlite's differentiable ops (each a CPU/CUDA kernel pair), so
gradients flow through the box coordinates. Boxes are (x1, y1, x2, y2) unless a format
says otherwise. nms and batched_nms live in nnlite.ops.nms and are re-exported here,
because torchvision's model files call them as `boxes.batched_nms`.
"""
import math

import nnlite
from ..autograd.grad_mode import is_grad_enabled
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array, empty_for
from ..functional._util import wrap
from ..tensor import Tensor
from ..functional.atan import atan
from ._box_convert import CONVERSIONS, FORMAT_WIDTH
from .nms import batched_nms, nms  # noqa: F401  (torchvision.ops.boxes has them too)

K = kernels("boxes")

_FLOAT_DTYPES = ("float32", "float64")
_INT_DTYPES = ("int32", "int64")


def _check_boxes(op, name, boxes, width=4):
    """A Tensor[N, width] of numbers; anything else raises naming the op and the shapes."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(boxes).__name__}")
    if boxes.dtype == nnlite.bool:
        raise TypeError(f"{op}(): expected '{name}' of a numeric dtype, got {boxes.dtype}")
    if boxes.dim() != 2 or boxes.shape[1] != width:
        raise ValueError(f"{op}(): expected '{name}' of shape (N, {width}), got {tuple(boxes.shape)}")


def _upcast(t):
    """Widen to float32/float64 or int32/int64 so products do not overflow (as torchvision)."""
    if t.dtype.is_floating_point:
        return t if str(t.dtype).split(".")[-1] in _FLOAT_DTYPES else t.float()
    return t if str(t.dtype).split(".")[-1] in _INT_DTYPES else t.int()


def box_area(boxes):
    """Area of each (x1, y1, x2, y2) box: Tensor[N]."""
    _check_boxes("box_area", "boxes", boxes)
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_convert(boxes, in_fmt, out_fmt):
    """Convert boxes between 'xyxy', 'xywh', 'cxcywh' and the rotated 'xywhr', 'cxcywhr',
    'xyxyxyxy'; the same format returns a copy."""
    if in_fmt not in FORMAT_WIDTH or out_fmt not in FORMAT_WIDTH:
        raise ValueError("box_convert(): unsupported bounding box conversion for in_fmt "
                         f"'{in_fmt}' and out_fmt '{out_fmt}'; formats are {tuple(FORMAT_WIDTH)}")
    if not isinstance(boxes, Tensor):
        raise TypeError(f"box_convert(): argument 'boxes' must be Tensor, not {type(boxes).__name__}")
    width = FORMAT_WIDTH[in_fmt]
    if boxes.dim() < 1 or boxes.shape[-1] != width:
        raise ValueError(f"box_convert(): expected boxes of shape (..., {width}) for in_fmt "
                         f"'{in_fmt}', got {tuple(boxes.shape)}")
    if in_fmt == out_fmt:
        return boxes.clone()
    chain = CONVERSIONS.get((in_fmt, out_fmt))
    if chain is None:  # rotated <-> axis-aligned: torchvision has no such conversion either
        raise NotImplementedError(f"box_convert(): unsupported bounding box conversion from "
                                  f"'{in_fmt}' to '{out_fmt}'")
    for convert in chain:
        boxes = convert(boxes)
    return boxes


def _box_inter_union(boxes1, boxes2):
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    lt = nnlite.maximum(boxes1[:, None, :2], boxes2[:, :2])
    rb = nnlite.minimum(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter, area1[:, None] + area2 - inter


def _check_pair(op, boxes1, boxes2):
    _check_boxes(op, "boxes1", boxes1)
    _check_boxes(op, "boxes2", boxes2)


def box_iou(boxes1, boxes2):
    """Pairwise IoU of Tensor[N, 4] and Tensor[M, 4]: Tensor[N, M]."""
    _check_pair("box_iou", boxes1, boxes2)
    if _fused_iou_applies(boxes1, boxes2):
        return _fused_box_iou(boxes1, boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    return inter / union


def _fused_iou_applies(boxes1, boxes2):
    """One kernel pass (no temporaries) when no gradient is needed and both are float32 or
    both float64 on one device; otherwise the differentiable composition."""
    needs_grad = is_grad_enabled() and (boxes1.requires_grad or boxes2.requires_grad)
    return (not needs_grad and boxes1.dtype == boxes2.dtype
            and boxes1.dtype in (nnlite.float32, nnlite.float64) and boxes1.device == boxes2.device)


def _fused_box_iou(boxes1, boxes2):
    a, b = contiguous_array(boxes1._array), contiguous_array(boxes2._array)
    out = empty_for(a, (a.shape[0], b.shape[0]))
    if out.size:
        K.box_iou_fwd(a, b, out)
    return wrap(out, boxes1._device)


def _enclosing_wh(boxes1, boxes2):
    """Width and height of the smallest box enclosing each pair: Tensor[N, M, 2]."""
    lti = nnlite.minimum(boxes1[:, None, :2], boxes2[:, :2])
    rbi = nnlite.maximum(boxes1[:, None, 2:], boxes2[:, 2:])
    return _upcast(rbi - lti).clamp(min=0)


def generalized_box_iou(boxes1, boxes2):
    """Pairwise generalized IoU: IoU - (enclosing area - union) / enclosing area."""
    _check_pair("generalized_box_iou", boxes1, boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


def _box_diou_iou(boxes1, boxes2, eps):
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    diagonal_squared = whi[:, :, 0] ** 2 + whi[:, :, 1] ** 2 + eps
    x_p = (boxes1[:, 0] + boxes1[:, 2]) / 2
    y_p = (boxes1[:, 1] + boxes1[:, 3]) / 2
    x_g = (boxes2[:, 0] + boxes2[:, 2]) / 2
    y_g = (boxes2[:, 1] + boxes2[:, 3]) / 2
    centers_squared = (_upcast(x_p[:, None] - x_g[None, :]) ** 2
                       + _upcast(y_p[:, None] - y_g[None, :]) ** 2)
    return iou - centers_squared / diagonal_squared, iou


def distance_box_iou(boxes1, boxes2, eps=1e-7):
    """Pairwise distance IoU: IoU - (centre distance)^2 / (enclosing diagonal)^2."""
    _check_pair("distance_box_iou", boxes1, boxes2)
    diou, _ = _box_diou_iou(_upcast(boxes1), _upcast(boxes2), eps)
    return diou


def complete_box_iou(boxes1, boxes2, eps=1e-7):
    """Pairwise complete IoU: distance IoU minus the aspect-ratio term alpha * v, where
    alpha is computed without gradient (as torchvision)."""
    _check_pair("complete_box_iou", boxes1, boxes2)
    boxes1, boxes2 = _upcast(boxes1), _upcast(boxes2)
    diou, iou = _box_diou_iou(boxes1, boxes2, eps)
    w_pred = boxes1[:, None, 2] - boxes1[:, None, 0]
    h_pred = boxes1[:, None, 3] - boxes1[:, None, 1]
    w_gt = boxes2[:, 2] - boxes2[:, 0]
    h_gt = boxes2[:, 3] - boxes2[:, 1]
    v = (4 / math.pi ** 2) * (atan(w_pred / h_pred) - atan(w_gt / h_gt)) ** 2
    with nnlite.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def clip_boxes_to_image(boxes, size):
    """Clip (..., 4) boxes so x lies in [0, width] and y in [0, height]; size = (height, width)."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"clip_boxes_to_image(): argument 'boxes' must be Tensor, not {type(boxes).__name__}")
    if boxes.dim() < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"clip_boxes_to_image(): expected boxes of shape (..., 4), got {tuple(boxes.shape)}")
    height, width = size
    boxes_x = boxes[..., 0::2].clamp(min=0, max=width)
    boxes_y = boxes[..., 1::2].clamp(min=0, max=height)
    return nnlite.stack((boxes_x, boxes_y), dim=boxes.dim()).reshape(boxes.shape)


def remove_small_boxes(boxes, min_size):
    """Indices (int64) of the boxes whose width and height are both at least min_size."""
    _check_boxes("remove_small_boxes", "boxes", boxes)
    ws = boxes[:, 2] - boxes[:, 0]
    hs = boxes[:, 3] - boxes[:, 1]
    return nnlite.where((ws >= min_size) & (hs >= min_size))[0]


def masks_to_boxes(masks):
    """The (x1, y1, x2, y2) float32 box around the non-zero pixels of each of N masks
    (Tensor[N, H, W]); an all-zero mask raises, as torchvision's min of nothing does."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"masks_to_boxes(): argument 'masks' must be Tensor, not {type(masks).__name__}")
    if masks.numel() == 0:
        return nnlite.zeros((0, 4), dtype=nnlite.float32, device=masks.device)
    if masks.dim() != 3:
        raise ValueError(f"masks_to_boxes(): expected masks of shape (N, H, W), got {tuple(masks.shape)}")
    on = masks != 0
    cols = on.any(dim=1)  # (N, W): which x hold a pixel
    rows = on.any(dim=2)  # (N, H)
    if not bool(cols.any(dim=1).all()):
        empty = int(nnlite.where(~cols.any(dim=1))[0][0])
        raise RuntimeError(f"masks_to_boxes(): mask {empty} has no non-zero pixel, so it has no box")
    x1, x2 = _first_last(cols)
    y1, y2 = _first_last(rows)
    return nnlite.stack((x1, y1, x2, y2), dim=1).float()


def _first_last(present):
    """First and last index along dim 1 where `present` (N, L) is true."""
    length = present.shape[1]
    index = nnlite.arange(length, device=present.device).expand(present.shape)
    first = nnlite.where(present, index, nnlite.full_like(index, length)).min(dim=1).values
    last = nnlite.where(present, index, nnlite.full_like(index, -1)).max(dim=1).values
    return first, last
