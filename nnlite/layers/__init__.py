"""nnlite.layers: detectron2's layers (detectron2.layers), on CPU and CUDA."""
from .mask_ops import paste_masks_in_image  # noqa: F401
