"""generalized_box_iou_loss, as torchvision.ops.giou_loss."""
from ._loss_utils import (check_loss_boxes, check_reduction, enclosing_corners,
                          loss_inter_union, reduce_box_loss, upcast_non_float)


def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - GIoU of matching (x1, y1, x2, y2) box pairs; reduction 'none' | 'mean' | 'sum'."""
    check_loss_boxes("generalized_box_iou_loss", boxes1, boxes2)
    check_reduction("generalized_box_iou_loss", reduction)
    boxes1, boxes2 = upcast_non_float(boxes1), upcast_non_float(boxes2)
    intsct, union = loss_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    xc1, yc1, xc2, yc2 = enclosing_corners(boxes1, boxes2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    giou = iou - (area_c - union) / (area_c + eps)
    return reduce_box_loss(1 - giou, reduction)
