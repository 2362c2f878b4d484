"""detectron2.layers.blocks: CNNBlockBase (a block with in/out channels and a stride that can
be frozen) and DepthwiseSeparableConv2d."""
from .. import nn
from ..nn import init
from .batch_norm import FrozenBatchNorm2d, get_norm
from .wrappers import Conv2d

__all__ = ["CNNBlockBase", "DepthwiseSeparableConv2d", "c2_msra_fill", "c2_xavier_fill"]


def c2_msra_fill(module):
    """Caffe2's MSRAFill (fvcore.nn.weight_init): He normal init over fan_out, zero bias."""
    init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        init.constant_(module.bias, 0)


def c2_xavier_fill(module):
    """Caffe2's XavierFill (fvcore.nn.weight_init): kaiming_uniform_ with a=1, zero bias."""
    init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        init.constant_(module.bias, 0)


class CNNBlockBase(nn.Module):
    """A block mapping NCHW to NCHW with known in_channels, out_channels and stride; subclasses'
    __init__ take these three arguments too."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def freeze(self):
        """Make the block untrainable: no parameter requires grad and every BatchNorm becomes a
        FrozenBatchNorm2d (in place). Returns the block."""
        for p in self.parameters():
            p.requires_grad = False
        FrozenBatchNorm2d.convert_frozen_batchnorm(self)
        return self


class DepthwiseSeparableConv2d(nn.Module):
    """A k x k depthwise conv then a 1 x 1 conv, each with its optional norm and activation
    (a conv has a bias only when it has no norm)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, dilation=1, *, norm1=None,
                 activation1=None, norm2=None, activation2=None):
        super().__init__()
        self.depthwise = Conv2d(in_channels, in_channels, kernel_size=kernel_size, padding=padding,
                                dilation=dilation, groups=in_channels, bias=not norm1,
                                norm=get_norm(norm1, in_channels), activation=activation1)
        self.pointwise = Conv2d(in_channels, out_channels, kernel_size=1, bias=not norm2,
                                norm=get_norm(norm2, out_channels), activation=activation2)
        c2_msra_fill(self.depthwise)
        c2_msra_fill(self.pointwise)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
