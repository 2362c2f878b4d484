"""nnlite.ops: torchvision.ops's operators and layers as nnlite kernel pairs (CPU and CUDA),
with torchvision's names, signatures, defaults and numerics. One file per op, as torchvision."""
__all__ = []

from nnlite.ops.drop_block import DropBlock2d, DropBlock3d, drop_block2d, drop_block3d  # noqa: E402
from nnlite.ops.misc import (Conv2dNormActivation, Conv3dNormActivation,  # noqa: E402
                             FrozenBatchNorm2d, MLP, Permute, SqueezeExcitation)
from nnlite.ops.stochastic_depth import StochasticDepth, stochastic_depth  # noqa: E402
from nnlite.ops.roi_align import RoIAlign, roi_align  # noqa: E402
__all__ += ["RoIAlign", "roi_align"]
from nnlite.ops.roi_pool import RoIPool, roi_pool  # noqa: E402
__all__ += ["RoIPool", "roi_pool"]
from nnlite.ops.ps_roi_align import PSRoIAlign, ps_roi_align  # noqa: E402
from nnlite.ops.ps_roi_pool import PSRoIPool, ps_roi_pool  # noqa: E402
__all__ += ["PSRoIAlign", "ps_roi_align", "PSRoIPool", "ps_roi_pool"]
from nnlite.ops.nms import batched_nms, nms  # noqa: E402
__all__ += ["batched_nms", "nms"]
from nnlite.ops.boxes import (box_area, box_convert, box_iou, clip_boxes_to_image,  # noqa: E402
                              complete_box_iou, distance_box_iou, generalized_box_iou,
                              masks_to_boxes, remove_small_boxes)
from nnlite.ops.giou_loss import generalized_box_iou_loss  # noqa: E402
from nnlite.ops.ciou_loss import complete_box_iou_loss  # noqa: E402
from nnlite.ops.diou_loss import distance_box_iou_loss  # noqa: E402
from nnlite.ops.focal_loss import sigmoid_focal_loss  # noqa: E402
from nnlite.ops.deform_conv import DeformConv2d, deform_conv2d  # noqa: E402
__all__ += ["DeformConv2d", "deform_conv2d"]
from nnlite.ops.feature_pyramid_network import (ExtraFPNBlock, FeaturePyramidNetwork,  # noqa: E402
                                                LastLevelMaxPool, LastLevelP6P7)
from nnlite.ops.poolers import MultiScaleRoIAlign  # noqa: E402
__all__ += ["ExtraFPNBlock", "FeaturePyramidNetwork", "LastLevelMaxPool", "LastLevelP6P7", "MultiScaleRoIAlign"]
__all__ += ["box_area", "box_convert", "box_iou", "clip_boxes_to_image", "complete_box_iou",
            "distance_box_iou", "generalized_box_iou", "masks_to_boxes", "remove_small_boxes",
            "generalized_box_iou_loss", "complete_box_iou_loss", "distance_box_iou_loss",
            "sigmoid_focal_loss"]

__all__ += ["DropBlock2d", "DropBlock3d", "drop_block2d", "drop_block3d", "Conv2dNormActivation",
            "Conv3dNormActivation", "FrozenBatchNorm2d", "MLP", "Permute", "SqueezeExcitation",
            "StochasticDepth", "stochastic_depth"]
