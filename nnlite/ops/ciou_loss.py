"""complete_box_iou_loss, as torchvision.ops.ciou_loss."""
import math

import nnlite
from ..functional.atan import atan
from ._loss_utils import check_loss_boxes, check_reduction, reduce_box_loss, upcast_non_float
from .diou_loss import _diou_iou_loss


def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - CIoU of matching (x1, y1, x2, y2) box pairs: the DIoU loss plus alpha * v,
    v the aspect-ratio mismatch; alpha takes no gradient (as torchvision)."""
    check_loss_boxes("complete_box_iou_loss", boxes1, boxes2)
    check_reduction("complete_box_iou_loss", reduction)
    boxes1, boxes2 = upcast_non_float(boxes1), upcast_non_float(boxes2)
    diou_loss, iou = _diou_iou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    v = (4 / math.pi ** 2) * (atan((x2g - x1g) / (y2g - y1g)) - atan((x2 - x1) / (y2 - y1))) ** 2
    with nnlite.no_grad():
        alpha = v / (1 - iou + v + eps)
    return reduce_box_loss(diou_loss + alpha * v, reduction)
