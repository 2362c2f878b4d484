"""paste_masks_in_image (detectron2.layers.mask_ops): instance masks of a fixed
resolution pasted into the image at their boxes, one kernel launch for all of
them (kernels/mask_ops.py), on the CPU and on CUDA."""
import numpy as np

import nnlite
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array, empty_for
from ..functional._util import wrap
from ..tensor import Tensor

K = kernels("mask_ops")

__all__ = ["paste_masks_in_image"]


def paste_masks_in_image(masks, boxes, image_shape, threshold=0.5):
    """Paste masks (Tensor[N, M, M], values in [0, 1]) into an image of
    image_shape = (height, width) at boxes (Tensor[N, 4] as (x0, y0, x1, y1), or
    anything with a `.tensor`, such as detectron2's Boxes).

    Returns Tensor[N, height, width]: bool, a pixel being True where the
    bilinearly resampled mask is >= threshold; with threshold < 0, uint8 soft
    masks (value * 255, truncated). Pixels are detectron2's CPU ones; a box
    wholly outside the image pastes nothing (detectron2 raises there).
    """
    if not isinstance(masks, Tensor):
        raise TypeError(f"paste_masks_in_image(): masks must be a Tensor, not {type(masks).__name__}")
    if masks.dim() != 3 or masks.shape[-1] != masks.shape[-2]:
        raise AssertionError("paste_masks_in_image(): only square mask predictions are supported; expected "
                             f"masks of shape (N, M, M), got {tuple(masks.shape)}")
    height, width = (int(s) for s in image_shape)
    n = masks.shape[0]
    if n == 0:
        return nnlite.empty((0, height, width), dtype=nnlite.uint8, device=masks.device)
    if not isinstance(boxes, Tensor):
        boxes = boxes.tensor
    if tuple(boxes.shape) != (n, 4):
        raise ValueError(f"paste_masks_in_image(): expected boxes of shape ({n}, 4) for {n} masks, "
                         f"got {tuple(boxes.shape)}")
    if boxes.device != masks.device:
        raise RuntimeError(f"paste_masks_in_image(): masks are on {masks.device} but boxes on {boxes.device}")
    if not masks.dtype.is_floating_point or masks.dtype == nnlite.float16:
        masks = masks.float()  # as detectron2: integer (and bool) masks sample as float32
    # torch computes the sampling grid in float32 (arange) promoted with the boxes' dtype
    boxes = boxes.double() if boxes.dtype == nnlite.float64 else boxes.float()
    m, b = contiguous_array(masks.detach()._array), contiguous_array(boxes.detach()._array)
    out = empty_for(m, (n, height, width), np.uint8)
    if out.size:
        K.paste_masks(m, b, out, m.dtype.type(threshold), threshold < 0)
    pasted = wrap(out, masks._device)
    return pasted if threshold < 0 else pasted.view(nnlite.bool)
