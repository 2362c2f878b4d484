"""detectron2.layers.aspp: Atrous Spatial Pyramid Pooling (DeepLab v3 / v3+)."""
from copy import deepcopy

import nnlite

from .. import nn
from ..nn import functional as F
from .batch_norm import get_norm
from .blocks import DepthwiseSeparableConv2d, c2_xavier_fill
from .wrappers import Conv2d

__all__ = ["ASPP"]


class ASPP(nn.Module):
    """A 1x1 conv, three 3x3 atrous convs (dilations), and image pooling (global average, or
    an average over `pool_kernel_size` windows) followed by a 1x1 conv, concatenated and
    projected by a 1x1 conv; `norm` goes on every conv but the pooled one's; optional dropout
    on the output; `use_depthwise_separable_conv` makes the atrous convs depthwise-separable."""

    def __init__(self, in_channels, out_channels, dilations, *, norm, activation, pool_kernel_size=None,
                 dropout=0.0, use_depthwise_separable_conv=False):
        super().__init__()
        if len(dilations) != 3:
            raise ValueError(f"ASPP expects 3 dilations, got {len(dilations)}")
        self.pool_kernel_size = pool_kernel_size
        self.dropout = dropout
        use_bias = norm == ""
        self.convs = nn.ModuleList()
        self.convs.append(self._conv(in_channels, out_channels, 1, 0, 1, use_bias, norm, activation))
        for dilation in dilations:
            if use_depthwise_separable_conv:
                self.convs.append(DepthwiseSeparableConv2d(
                    in_channels, out_channels, kernel_size=3, padding=dilation, dilation=dilation, norm1=norm,
                    activation1=deepcopy(activation), norm2=norm, activation2=deepcopy(activation)))
            else:
                self.convs.append(self._conv(in_channels, out_channels, 3, dilation, dilation, use_bias, norm,
                                             activation))
        # no norm after pooling: the map is 1 x 1 (the TF original has one)
        pool = nn.AdaptiveAvgPool2d(1) if pool_kernel_size is None else \
            nn.AvgPool2d(kernel_size=pool_kernel_size, stride=1)
        image_pooling = nn.Sequential(pool, Conv2d(in_channels, out_channels, 1, bias=True,
                                                   activation=deepcopy(activation)))
        c2_xavier_fill(image_pooling[1])
        self.convs.append(image_pooling)
        self.project = self._conv(5 * out_channels, out_channels, 1, 0, 1, use_bias, norm, activation)

    @staticmethod
    def _conv(in_channels, out_channels, kernel_size, padding, dilation, bias, norm, activation):
        conv = Conv2d(in_channels, out_channels, kernel_size=kernel_size, padding=padding, dilation=dilation,
                      bias=bias, norm=get_norm(norm, out_channels), activation=deepcopy(activation))
        c2_xavier_fill(conv)
        return conv

    def forward(self, x):
        size = x.shape[-2:]
        if self.pool_kernel_size is not None:
            if size[0] % self.pool_kernel_size[0] or size[1] % self.pool_kernel_size[1]:
                raise ValueError("`pool_kernel_size` must be divisible by the shape of inputs. "
                                 f"Input size: {tuple(size)} `pool_kernel_size`: {self.pool_kernel_size}")
        res = [conv(x) for conv in self.convs]
        res[-1] = F.interpolate(res[-1], size=tuple(size), mode="bilinear", align_corners=False)
        res = self.project(nnlite.cat(res, dim=1))
        return F.dropout(res, self.dropout, training=self.training) if self.dropout > 0 else res
