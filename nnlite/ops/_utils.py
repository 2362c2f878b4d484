"""Box-format helpers shared by the RoI ops (torchvision/ops/_utils.py)."""
from ..functional.creation import full
from ..functional.shape import cat
from ..tensor import Tensor


class BoxesShapeError(ValueError, AssertionError):
    """Boxes of the wrong shape. torchvision raises AssertionError here; this is also a ValueError."""


def _cat(tensors, dim=0):
    """torch.cat, except that one tensor is returned as it is (as torchvision's _cat)."""
    return tensors[0] if len(tensors) == 1 else cat(tensors, dim)


def check_roi_boxes_shape(op, boxes):
    """Boxes must be a Tensor[K, 5] or a list/tuple of Tensor[L, 4]."""
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.ndim != 2 or b.shape[1] != 4:
                given = list(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise BoxesShapeError(f"{op}: the shape of the tensor in the boxes list is not correct as "
                                      f"List[Tensor[L, 4]]: element {i} is {given}")
    elif isinstance(boxes, Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise BoxesShapeError(f"{op}: the boxes tensor shape is not correct as Tensor[K, 5], got "
                                  f"{list(boxes.shape)}")
    else:
        raise BoxesShapeError(f"{op}: boxes is expected to be a Tensor[L, 5] or a List[Tensor[K, 4]], got "
                              f"{type(boxes).__name__}")


def convert_boxes_to_roi_format(boxes):
    """A list of Tensor[L_i, 4] (one per image) -> Tensor[sum L_i, 5] with the image index first."""
    concat_boxes = _cat(list(boxes), dim=0)
    ids = _cat([full((b.shape[0], 1), i, dtype=b.dtype, device=b.device) for i, b in enumerate(boxes)], dim=0)
    return cat([ids, concat_boxes], dim=1)


def convert_boxes_to_roi_format_or_keep(boxes):
    """rois for any accepted boxes form (a Tensor[K, 5] passes through)."""
    return boxes if isinstance(boxes, Tensor) else convert_boxes_to_roi_format(boxes)
