"""nnlite.layers: detectron2.layers's names on nnlite kernel pairs (CPU and CUDA), with
detectron2's signatures, defaults and numerics. File names follow detectron2's."""
from .batch_norm import CycleBatchNormList, FrozenBatchNorm2d, NaiveSyncBatchNorm, get_norm
from .deform_conv import DeformConv, ModulatedDeformConv
from .roi_align import ROIAlign, roi_align
from .shape_spec import ShapeSpec
from .wrappers import (BatchNorm2d, Conv2d, ConvTranspose2d, Linear, cat, cross_entropy,
                       empty_input_loss_func_wrapper, interpolate, move_device_like, nonzero_tuple,
                       shapes_to_tensor)
from .blocks import CNNBlockBase, DepthwiseSeparableConv2d
from .aspp import ASPP
from .losses import ciou_loss, diou_loss
from .mask_ops import paste_masks_in_image
from .nms import batched_nms, batched_nms_rotated, nms, nms_rotated
from .roi_align_rotated import ROIAlignRotated, roi_align_rotated
from .rotated_boxes import pairwise_iou_rotated

__all__ = [k for k in globals() if not k.startswith("_")]
