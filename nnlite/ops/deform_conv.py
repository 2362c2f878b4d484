"""deform_conv2d / DeformConv2d, as torchvision.ops (deformable convolution v1 and, with a
mask, v2).

The op is a deformable im2col (nnlite/kernels/deform_conv.py) followed by nnlite.matmul
with the weight viewed as (groups, O/groups, C/groups*KH*KW); matmul's autograd gives the
weight gradient (grad_out @ cols^T) and the column gradient (W^T @ grad_out), and the
im2col Function turns the column gradient into input, offset and mask gradients.
"""
import math

from ..autograd.function import Function
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array
from ..functional._util import check_same_device, check_tensor, empty_array, wrap
from ..functional.creation import empty, ones, zeros
from ..functional.linear import matmul
from ..nn import init
from ..nn.modules.module import Module
from ..nn.parameter import Parameter
from ._utils import pair

K = kernels("deform_conv")

__all__ = ["deform_conv2d", "DeformConv2d"]


class DeformIm2col(Function):
    """(input, offset, mask) -> columns (N, C*KH*KW, OH*OW) of mask-weighted bilinear samples."""

    @staticmethod
    def forward(ctx, input, offset, mask, kernel, geometry, slope_at_minus_one):
        x, off, m = (contiguous_array(t._array) for t in (input, offset, mask))
        N, C = x.shape[0], x.shape[1]
        OH, OW = off.shape[2], off.shape[3]
        cols = empty_array((N, C * kernel[0] * kernel[1], OH * OW), input.dtype, input._device)
        if cols.size:
            K.deform_im2col_fwd(x, off, m, cols, *kernel, *geometry)
        ctx.save_for_backward(input, offset, mask)
        ctx.args = (kernel, geometry, slope_at_minus_one)
        return wrap(cols, input._device)

    @staticmethod
    def backward(ctx, grad):
        input, offset, mask = ctx.saved_tensors
        kernel, geometry, slope_at_minus_one = ctx.args
        dev = grad._device
        x, off, m = (contiguous_array(t._array) for t in (input, offset, mask))
        g = contiguous_array(grad._array)
        gx = zeros(*input.shape, dtype=grad.dtype, device=dev)._array
        goff = zeros(*offset.shape, dtype=grad.dtype, device=dev)._array
        gm = zeros(*mask.shape, dtype=grad.dtype, device=dev)._array
        need_input, need_offset, need_mask = ctx.needs_input_grad[:3]
        if g.size and need_input:
            K.deform_col2im_bwd(g, off, m, gx, *kernel, *geometry)
        if g.size and (need_offset or need_mask):  # one kernel gives both (they share the samples)
            K.deform_coord_bwd(g, x, off, m, goff, gm, *kernel, *geometry, slope_at_minus_one)
        return (wrap(gx, dev) if need_input else None, wrap(goff, dev) if need_offset else None,
                wrap(gm, dev) if need_mask else None, None, None, None)


def _check(op, input, offset, weight, bias, mask, stride, padding, dilation):
    for name, t in (("input", input), ("offset", offset), ("weight", weight)):
        check_tensor(op, name, t)
    for name, t in (("bias", bias), ("mask", mask)):
        if t is not None:
            check_tensor(op, name, t)
    check_same_device(op, input, offset, weight, bias, mask)
    for name, t in (("offset", offset), ("weight", weight), ("bias", bias), ("mask", mask)):
        if t is not None and t.dtype is not input.dtype:
            raise RuntimeError(f"{op}: expected {name} to have dtype {input.dtype.name} like input, got {t.dtype.name}")
    if input.dtype.name not in ("float32", "float64"):
        raise TypeError(f"{op}: expected a float32 or float64 input, got {input.dtype.name}")
    if input.ndim != 4 or offset.ndim != 4 or weight.ndim != 4 or (mask is not None and mask.ndim != 4):
        raise RuntimeError(f"{op}: expected 4-D input, offset, weight and mask, got input {tuple(input.shape)}, "
                         f"offset {tuple(offset.shape)}, weight {tuple(weight.shape)}")
    if min(stride) <= 0 or min(dilation) <= 0 or min(padding) < 0:
        raise RuntimeError(f"{op}: expected stride > 0, dilation > 0, padding >= 0, got stride {stride}, "
                         f"padding {padding}, dilation {dilation}")


def _output_size(op, input, weight, stride, padding, dilation):
    H, W = input.shape[2], input.shape[3]
    KH, KW = weight.shape[2], weight.shape[3]
    OH = (H + 2 * padding[0] - (dilation[0] * (KH - 1) + 1)) // stride[0] + 1
    OW = (W + 2 * padding[1] - (dilation[1] * (KW - 1) + 1)) // stride[1] + 1
    if OH <= 0 or OW <= 0:
        raise RuntimeError(f"{op}: calculated output size ({OH}, {OW}) is too small for input {tuple(input.shape)} "
                         f"and kernel ({KH}, {KW})")
    return OH, OW


def _check_groups(op, input, offset, weight, mask, out_size):
    N, C = input.shape[0], input.shape[1]
    O, Cg, KH, KW = weight.shape
    taps = KH * KW
    if Cg == 0 or C % Cg or O % (C // Cg):
        raise RuntimeError(f"{op}: input channels {C} must be a multiple of weight.shape[1] {Cg} and the "
                         f"groups {C // Cg if Cg else 0} must divide the output channels {O}")
    if offset.shape[1] == 0 or offset.shape[1] % (2 * taps) or C % (offset.shape[1] // (2 * taps)):
        raise RuntimeError(f"{op}: offset channels must be 2 * offset_groups * {KH} * {KW} with offset_groups "
                         f"dividing the input channels {C}, got offset {tuple(offset.shape)}")
    groups = offset.shape[1] // (2 * taps)
    want = (N, 2 * groups * taps) + out_size
    if tuple(offset.shape) != want:
        raise RuntimeError(f"{op}: expected offset of shape {want}, got {tuple(offset.shape)}")
    if mask is not None and tuple(mask.shape) != (N, groups * taps) + out_size:
        raise RuntimeError(f"{op}: expected mask of shape {(N, groups * taps) + out_size}, got {tuple(mask.shape)}")
    if O == 0:
        raise RuntimeError(f"{op}: weight has no output channels")
    return groups


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    """Deformable 2-D convolution (torchvision.ops.deform_conv2d); mask makes it DCNv2."""
    return deform_conv2d_with(input, offset, weight, bias, stride, padding, dilation, mask, slope_at_minus_one=True)


def deform_conv2d_with(input, offset, weight, bias, stride, padding, dilation, mask, *, slope_at_minus_one):
    """deform_conv2d, choosing the offset gradient of a tap exactly on the padding line -1:
    torchvision's one-sided slope (True) or detectron2's zero (False, nnlite.layers)."""
    op = "deform_conv2d"
    stride, padding, dilation = (tuple(int(v) for v in pair(a)) for a in (stride, padding, dilation))
    _check(op, input, offset, weight, bias, mask, stride, padding, dilation)
    out_size = _output_size(op, input, weight, stride, padding, dilation)
    offset_groups = _check_groups(op, input, offset, weight, mask, out_size)
    N, C = input.shape[0], input.shape[1]
    O, Cg, KH, KW = weight.shape
    groups = C // Cg
    if mask is None:
        mask = ones(N, offset_groups * KH * KW, *out_size, dtype=input.dtype, device=input.device)
    geometry = stride + padding + dilation
    cols = DeformIm2col.apply(input, offset, mask, (KH, KW), geometry, bool(slope_at_minus_one))
    out = matmul(weight.reshape(groups, O // groups, Cg * KH * KW),
                 cols.reshape(N, groups, Cg * KH * KW, out_size[0] * out_size[1]))
    out = out.reshape(N, O, *out_size)
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1)
    return out


class DeformConv2d(Module):
    """See deform_conv2d; forward(input, offset, mask=None)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True):
        super().__init__()
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.padding = pair(padding)
        self.dilation = pair(dilation)
        self.groups = groups
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size))
        if bias:
            self.bias = Parameter(empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input, offset, mask=None):
        return deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                             dilation=self.dilation, mask=mask)

    def __repr__(self):
        s = (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        s += f", padding={self.padding}" if self.padding != (0, 0) else ""
        s += f", dilation={self.dilation}" if self.dilation != (1, 1) else ""
        s += f", groups={self.groups}" if self.groups != 1 else ""
        s += ", bias=False" if self.bias is None else ""
        return s + ")"
