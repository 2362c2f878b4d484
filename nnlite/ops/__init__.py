"""nnlite.ops: torchvision.ops's operators and layers as nnlite kernel pairs (CPU and CUDA),
with torchvision's names, signatures, defaults and numerics. One file per op, as torchvision."""
__all__ = []

from nnlite.ops.drop_block import DropBlock2d, DropBlock3d, drop_block2d, drop_block3d  # noqa: E402
from nnlite.ops.misc import (Conv2dNormActivation, Conv3dNormActivation,  # noqa: E402
                             FrozenBatchNorm2d, MLP, Permute, SqueezeExcitation)
from nnlite.ops.stochastic_depth import StochasticDepth, stochastic_depth  # noqa: E402
from nnlite.ops.roi_align import RoIAlign, roi_align  # noqa: E402
__all__ += ["RoIAlign", "roi_align"]
from nnlite.ops.nms import batched_nms, nms  # noqa: E402
__all__ += ["batched_nms", "nms"]

__all__ += ["DropBlock2d", "DropBlock3d", "drop_block2d", "drop_block3d", "Conv2dNormActivation",
            "Conv3dNormActivation", "FrozenBatchNorm2d", "MLP", "Permute", "SqueezeExcitation",
            "StochasticDepth", "stochastic_depth"]
