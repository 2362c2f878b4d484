"""nnlite.layers: detectron2's layers (detectron2.layers), on CPU and CUDA."""
from .mask_ops import paste_masks_in_image  # noqa: F401
from .nms import batched_nms, batched_nms_rotated, nms, nms_rotated  # noqa: F401
from .roi_align_rotated import ROIAlignRotated, roi_align_rotated  # noqa: F401
from .rotated_boxes import pairwise_iou_rotated  # noqa: F401
