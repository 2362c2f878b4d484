"""pairwise_iou_rotated, as detectron2.layers.rotated_boxes.

Rotated boxes are rows (x_center, y_center, width, height, angle in degrees,
counter-clockwise). The IoU is the exact area of the intersection polygon of two rotated
rectangles over the area of their union (nnlite/kernels/rotated_boxes.py), computed in float64
and returned as float32, as detectron2 returns it. Boxes with w * h < 1e-14 have IoU 0.
"""
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array
from ..functional._util import check_same_device, check_tensor, empty_array, wrap

K = kernels("rotated_boxes")

__all__ = ["pairwise_iou_rotated"]

FLOAT_DTYPES = ("float16", "float32", "float64")


def pairwise_iou_rotated(boxes1, boxes2):
    """IoU (Tensor[N, M], float32) of every box of boxes1 (Tensor[N, 5]) with every box of
    boxes2 (Tensor[M, 5])."""
    op = "pairwise_iou_rotated"
    check_rotated_boxes(op, "boxes1", boxes1)
    check_rotated_boxes(op, "boxes2", boxes2)
    check_same_device(op, boxes1, boxes2)
    device = boxes1._device
    out = empty_array((boxes1.shape[0], boxes2.shape[0]), _dt.float32, device)
    if out.size:
        K.pairwise_iou_rotated_fwd(kernel_boxes(boxes1), kernel_boxes(boxes2), out)
    return wrap(out, device)


def kernel_boxes(boxes):
    """The contiguous array the kernels read: float16 boxes go as float32 (the kernels work in
    float64 anyway)."""
    if boxes.dtype.name == "float16":
        boxes = boxes.float()
    return contiguous_array(boxes._array)


def check_rotated_boxes(op, name, boxes):
    """boxes must be a floating Tensor[N, 5]."""
    check_tensor(op, name, boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise RuntimeError(f"{op}: {name} should be rotated boxes of shape (N, 5) as (x_center, y_center, "
                           f"width, height, angle_degrees), got shape {tuple(boxes.shape)}")
    if boxes.dtype.name not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} should be a floating point tensor (float16, float32 or float64), "
                        f"got {boxes.dtype.name}")
