"""distance_box_iou_loss, as torchvision.ops.diou_loss."""
from ._loss_utils import (check_loss_boxes, check_reduction, enclosing_corners,
                          loss_inter_union, reduce_box_loss, upcast_non_float)


def _diou_iou_loss(boxes1, boxes2, eps=1e-7):
    """(1 - IoU + centre distance^2 / enclosing diagonal^2, IoU) of matching pairs."""
    intsct, union = loss_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    xc1, yc1, xc2, yc2 = enclosing_corners(boxes1, boxes2)
    diagonal_squared = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    distance = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + distance / diagonal_squared, iou


def distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - DIoU of matching (x1, y1, x2, y2) box pairs; reduction 'none' | 'mean' | 'sum'."""
    check_loss_boxes("distance_box_iou_loss", boxes1, boxes2)
    check_reduction("distance_box_iou_loss", reduction)
    boxes1, boxes2 = upcast_non_float(boxes1), upcast_non_float(boxes2)
    loss, _ = _diou_iou_loss(boxes1, boxes2, eps)
    return reduce_box_loss(loss, reduction)
