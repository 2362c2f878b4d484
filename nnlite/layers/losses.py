"""detectron2.layers.losses: diou_loss and ciou_loss of matching (x1, y1, x2, y2) box pairs.

detectron2's formulas are torchvision's (IoU = intersection / (union + eps), enclosing-box
diagonal + eps, CIoU's alpha without gradient), so these run on nnlite.ops' box-loss code;
what detectron2 adds is the rejection of boxes1 with x2 < x1 or y2 < y1.
"""
import math

import nnlite

from ..functional.atan import atan
from ..ops._loss_utils import check_loss_boxes, check_reduction, reduce_box_loss, upcast_non_float
from ..ops.diou_loss import _diou_iou_loss

__all__ = ["ciou_loss", "diou_loss"]


def _checked(op, boxes1, boxes2, reduction):
    check_loss_boxes(op, boxes1, boxes2)
    check_reduction(op, reduction)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    if not bool((x2 >= x1).all()):
        raise ValueError(f"{op}(): bad box: x1 larger than x2 in boxes1")
    if not bool((y2 >= y1).all()):
        raise ValueError(f"{op}(): bad box: y1 larger than y2 in boxes1")
    return upcast_non_float(boxes1), upcast_non_float(boxes2)


def diou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - IoU + (centre distance / enclosing diagonal)^2; shapes (N, 4) or (4,);
    reduction 'none' | 'mean' | 'sum' ('mean' of no boxes is 0 with a gradient)."""
    boxes1, boxes2 = _checked("diou_loss", boxes1, boxes2, reduction)
    loss, _ = _diou_iou_loss(boxes1, boxes2, eps)
    return reduce_box_loss(loss, reduction)


def ciou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """The DIoU loss plus alpha * v, v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2 and
    alpha = v / (1 - IoU + v + eps) taken without gradient."""
    boxes1, boxes2 = _checked("ciou_loss", boxes1, boxes2, reduction)
    loss, iou = _diou_iou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    v = (4 / math.pi ** 2) * (atan((x2g - x1g) / (y2g - y1g)) - atan((x2 - x1) / (y2 - y1))) ** 2
    with nnlite.no_grad():
        alpha = v / (1 - iou + v + eps)
    return reduce_box_loss(loss + alpha * v, reduction)
