"""Shared pieces of the box losses (torchvision keeps them in ops/_utils.py)."""
import nnlite
from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def check_loss_boxes(op, boxes1, boxes2):
    """Two float/int Tensors of boxes (..., 4) of one shape; clear errors otherwise."""
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(b).__name__}")
        if b.dtype == nnlite.bool:
            raise TypeError(f"{op}(): expected '{name}' of a numeric dtype, got {b.dtype}")
        if b.dim() < 1 or b.shape[-1] != 4:
            raise ValueError(f"{op}(): expected '{name}' of shape (..., 4), got {tuple(b.shape)}")
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"{op}(): boxes1 and boxes2 must have one shape, got "
                         f"{tuple(boxes1.shape)} and {tuple(boxes2.shape)}")


def check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}(): invalid value for 'reduction': '{reduction}'; "
                         f"supported are 'none', 'mean', 'sum'")


def upcast_non_float(t):
    """Integer (and half) boxes compute in float32, as torchvision's _upcast_non_float."""
    return t if t.dtype in (nnlite.float32, nnlite.float64) else t.float()


def reduce_box_loss(loss, reduction):
    """'mean' of no boxes is 0 (kept in the graph), not NaN, as torchvision."""
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def loss_inter_union(boxes1, boxes2):
    """Intersection and union of matching box pairs (elementwise, not pairwise)."""
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1 = nnlite.maximum(x1, x1g)
    ykis1 = nnlite.maximum(y1, y1g)
    xkis2 = nnlite.minimum(x2, x2g)
    ykis2 = nnlite.minimum(y2, y2g)
    overlaps = (ykis2 > ykis1) & (xkis2 > xkis1)
    # where() rather than masked assignment: same values, and no gradient where boxes miss
    intsct = nnlite.where(overlaps, (xkis2 - xkis1) * (ykis2 - ykis1), nnlite.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsct
    return intsct, union


def enclosing_corners(boxes1, boxes2):
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    return (nnlite.minimum(x1, x1g), nnlite.minimum(y1, y1g),
            nnlite.maximum(x2, x2g), nnlite.maximum(y2, y2g))
