"""Box-format helpers shared by the RoI ops (torchvision/ops/_utils.py)."""
import numpy as np

from ..backend.memory import to_host
from ..functional._arrays import contiguous_array
from ..functional._util import check_same_device, check_tensor
from ..functional.creation import full
from ..functional.shape import cat
from ..tensor import Tensor


_FLOAT_DTYPES = ("float32", "float64")


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


def pair(v):
    """An output size as (height, width)."""
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def check_roi_inputs(op, input, rois, output_size):
    """The checks shared by the RoI ops, before any kernel runs."""
    check_tensor(op, "input", input)
    if input.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4D input (N, C, H, W), got size {list(input.shape)}")
    if input.dtype.name not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: expected a float32 or float64 input, got {input.dtype.name}")
    if rois.dtype is not input.dtype:
        raise RuntimeError(f"{op}: expected boxes of the input's dtype {input.dtype.name}, got {rois.dtype.name}")
    check_same_device(op, input, rois)
    if len(output_size) != 2 or any(int(s) != s or s <= 0 for s in output_size):
        raise ValueError(f"{op}: output_size must be two positive ints, got {output_size}")
    _check_batch_indices(op, rois, input.shape[0])


def _check_batch_indices(op, rois, batch):
    """Every roi's batch index must name an image of the input (torchvision does not check)."""
    if rois.shape[0] == 0:
        return
    idx = np.asarray(to_host(contiguous_array(rois._array)))[:, 0]
    bad = (idx < 0) | (idx >= batch) | (idx != np.floor(idx))
    if bad.any():
        k = int(np.argmax(bad))
        raise IndexError(f"{op}: roi {k} has batch index {idx[k]}, expected an integer in [0, {batch - 1}] "
                         f"for an input of batch size {batch}")
