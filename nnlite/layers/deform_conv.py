"""detectron2.layers.deform_conv: DeformConv (v1) and ModulatedDeformConv (v2) with groups,
deformable_groups, norm and activation, on the kernels of nnlite.ops.deform_conv2d.

detectron2's offsets are torchvision's layout: channel 2*(g*KH*KW + tap) holds tap's dy and
the next one its dx for deformable group g, the mask has one channel per (g, tap), and a sample
outside (-1, H) x (-1, W) is zero; so the tensors go to deform_conv2d unchanged, except that a
tap exactly on the padding line -1 gets no offset gradient, as in detectron2's CUDA kernel
(torchvision takes the one-sided slope there). Unlike
detectron2 (CUDA only, and no CPU deformable_groups > 1), this runs forward and backward on
both devices.
"""
import nnlite

from .. import nn
from ..nn import init
from ..ops._utils import pair
from ..ops.deform_conv import deform_conv2d_with
from ..tensor import Tensor

__all__ = ["DeformConv", "ModulatedDeformConv", "deform_conv", "modulated_deform_conv"]


def _check_layout(op, input, offset, mask, weight, groups, deformable_groups):
    """The shapes detectron2's kernels assume (deform_conv2d infers groups from the shapes, so
    a wrong channel count must be caught here, by name)."""
    for name, t in (("input", input), ("offset", offset), ("weight", weight), ("mask", mask)):
        if name != "mask" or t is not None:
            if not isinstance(t, Tensor):
                raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
            if t.dim() != 4:
                raise ValueError(f"{op}: expected a 4D {name} tensor, got {t.dim()}D tensor of shape "
                                 f"{tuple(t.shape)} instead")
    if groups < 1 or deformable_groups < 1:
        raise ValueError(f"{op}: groups and deformable_groups must be positive, got {groups} and "
                         f"{deformable_groups}")
    channels, (out_channels, per_group, kh, kw) = input.shape[1], tuple(weight.shape)
    if channels != per_group * groups:
        raise RuntimeError(f"{op}: expected input with {per_group * groups} channels (weight {tuple(weight.shape)}, "
                           f"groups={groups}), got input of shape {tuple(input.shape)}")
    if out_channels % groups or channels % deformable_groups:
        raise RuntimeError(f"{op}: out_channels {out_channels} must be divisible by groups {groups} and input "
                           f"channels {channels} by deformable_groups {deformable_groups}")
    taps = deformable_groups * kh * kw
    if offset.shape[1] != 2 * taps or offset.shape[0] != input.shape[0]:
        raise RuntimeError(f"{op}: expected offset of shape ({input.shape[0]}, {2 * taps}, OH, OW) "
                           f"(2 * deformable_groups * {kh} * {kw}), got {tuple(offset.shape)}")
    if mask is not None and (mask.shape[1] != taps or mask.shape[0] != input.shape[0]):
        raise RuntimeError(f"{op}: expected mask of shape ({input.shape[0]}, {taps}, OH, OW) "
                           f"(deformable_groups * {kh} * {kw}), got {tuple(mask.shape)}")


def deform_conv(input, offset, weight, stride=1, padding=0, dilation=1, groups=1, deformable_groups=1,
                im2col_step=64):
    """Deformable convolution v1 (no bias); im2col_step is accepted for detectron2's signature."""
    _check_layout("deform_conv", input, offset, None, weight, groups, deformable_groups)
    return deform_conv2d_with(input, offset, weight, None, pair(stride), pair(padding), pair(dilation), None,
                              slope_at_minus_one=False)


def modulated_deform_conv(input, offset, mask, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                          deformable_groups=1):
    """Modulated deformable convolution (v2): each sample scaled by its mask value."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"modulated_deform_conv: expected mask to be a Tensor, got {type(mask).__name__}")
    _check_layout("modulated_deform_conv", input, offset, mask, weight, groups, deformable_groups)
    return deform_conv2d_with(input, offset, weight, bias, pair(stride), pair(padding), pair(dilation), mask,
                              slope_at_minus_one=False)


def _empty_output(x, weight, stride, padding, dilation):
    """The output of an empty input: the right shape, still attached to x for backward."""
    shape = [(size + 2 * p - (d * (k - 1) + 1)) // s + 1
             for size, p, d, k, s in zip(x.shape[-2:], pair(padding), pair(dilation), weight.shape[-2:],
                                         pair(stride))]
    shape = [x.shape[0], weight.shape[0]] + shape
    return nnlite.zeros(*shape, dtype=x.dtype, device=x.device) + x.sum() * 0


class _DeformConvBase(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, groups, deformable_groups, norm, activation):
        super().__init__()
        name = type(self).__name__
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} cannot be divisible by groups {groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels {out_channels} cannot be divisible by groups {groups}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size)
        self.groups = groups
        self.deformable_groups = deformable_groups
        self.norm = norm
        self.activation = activation
        self.weight = nn.Parameter(nnlite.empty(out_channels, in_channels // groups, *self.kernel_size))
        init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def _post(self, x):
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"deformable_groups={self.deformable_groups}, bias={self.bias is not None}")


class DeformConv(_DeformConvBase):
    """Deformable convolution (v1): forward(x, offset), offset (N, 2*deformable_groups*KH*KW, OH, OW).
    No bias (bias=True is refused, as in detectron2); norm, then activation, after the conv."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=False, norm=None, activation=None):
        if bias:
            raise ValueError("DeformConv: bias=True is not supported (detectron2's DeformConv has no bias; "
                             "use ModulatedDeformConv or a norm layer)")
        super().__init__(in_channels, out_channels, kernel_size, groups, deformable_groups, norm, activation)
        self.stride = pair(stride)
        self.padding = pair(padding)
        self.dilation = pair(dilation)
        self.bias = None

    def forward(self, x, offset):
        if x.numel() == 0:
            return _empty_output(x, self.weight, self.stride, self.padding, self.dilation)
        x = deform_conv(x, offset, self.weight, self.stride, self.padding, self.dilation, self.groups,
                        self.deformable_groups)
        return self._post(x)


class ModulatedDeformConv(_DeformConvBase):
    """Modulated deformable convolution (v2): forward(x, offset, mask), mask
    (N, deformable_groups*KH*KW, OH, OW), usually a sigmoid; bias (zero-initialised) by default."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=True, norm=None, activation=None):
        super().__init__(in_channels, out_channels, kernel_size, groups, deformable_groups, norm, activation)
        # kept as given (detectron2 stores ints here)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.with_bias = bias
        if bias:
            self.bias = nn.Parameter(nnlite.zeros(out_channels))
        else:
            self.register_parameter("bias", None)

    def forward(self, x, offset, mask):
        if x.numel() == 0:
            return _empty_output(x, self.weight, self.stride, self.padding, self.dilation)
        x = modulated_deform_conv(x, offset, mask, self.weight, self.bias, self.stride, self.padding,
                                  self.dilation, self.groups, self.deformable_groups)
        return self._post(x)
