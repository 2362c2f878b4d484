"""The PyTorch side's stand-ins for what detectron2's files get from compiled code or from
packages that are not installed here (fvcore, torchvision, detectron2's _C).

- fvcore.nn.weight_init: c2_msra_fill / c2_xavier_fill on torch.nn.init (the nnlite side maps
  the module to nnlite.layers.blocks, which has both).
- detectron2.layers.deform_conv: DeformConv / ModulatedDeformConv with detectron2's arguments,
  parameters and norm/activation, computed by `deform_conv2d` below: a slow reference written
  with gather (bilinear, zero outside), or
  torchvision.ops.deform_conv2d where a test swaps it in. detectron2 itself runs
  torchvision's op on the CPU (and has no CPU backward); its CUDA kernels' rule on the border
  lines y = -1, x = -1 is kept here (see the comment in the function).
- detectron2's other kernel wrappers (nms, roi_align, ...): no kernel exists on this side, so
  calling one says so; these tests compare those with nnlite's own ops elsewhere.
"""
import torch
from torch import nn


def c2_msra_fill(module):
    """fvcore's MSRA fill: He normal over fan_out for ReLU, zero bias."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def c2_xavier_fill(module):
    """fvcore's Xavier fill as Caffe2 does it: kaiming_uniform_ with a=1, zero bias."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _tap_positions(offset, kernel, stride, padding, dilation):
    """(y, x) sample positions, each (N, deformable groups, taps, OH, OW): the plain conv's
    tap positions moved by the offsets, which hold (dy, dx) per group and tap."""
    n, _, oh, ow = offset.shape
    (kh, kw), taps = kernel, kernel[0] * kernel[1]
    off = offset.reshape(n, -1, taps, 2, oh, ow)
    rows = torch.arange(oh, dtype=offset.dtype) * stride[0] - padding[0]
    cols = torch.arange(ow, dtype=offset.dtype) * stride[1] - padding[1]
    tap_y = (torch.arange(kh, dtype=offset.dtype) * dilation[0]).repeat_interleave(kw)
    tap_x = (torch.arange(kw, dtype=offset.dtype) * dilation[1]).repeat(kh)
    y = tap_y[:, None, None] + rows[None, :, None] + off[:, :, :, 0]
    x = tap_x[:, None, None] + cols[None, None, :] + off[:, :, :, 1]
    return y, x


def _bilinear(image, y, x):
    """image (N, C, H, W) read at real positions y, x (N, P): (N, C, P). The four neighbours
    weigh by distance and read zero outside the image. The weights are differences from
    floor(), so on an integer position the slope is the forward difference, as in detectron2's
    and torchvision's kernels (grid_sample's rescaling can land just below the integer)."""
    n, c, h, w = image.shape
    y0, x0 = torch.floor(y), torch.floor(x)
    out = 0
    for dy, wy in ((0, 1 - (y - y0)), (1, y - y0)):
        for dx, wx in ((0, 1 - (x - x0)), (1, x - x0)):
            yi, xi = y0 + dy, x0 + dx
            valid = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
            values = image.reshape(n, c, h * w).gather(2, index[:, None, :].expand(n, c, -1))
            out = out + values * (wy * wx * valid)[:, None, :]
    return out


def _reference_deform_conv2d(input, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """torchvision.ops.deform_conv2d's arguments and layout: each tap samples the input
    bilinearly at its moved position (zero outside), is scaled by its mask, and the samples
    are contracted with the weight as im2col would."""
    n, c, h, w = input.shape
    out_channels, per_group, kh, kw = weight.shape
    groups, taps = c // per_group, kh * kw
    y, x = _tap_positions(offset, (kh, kw), _pair(stride), _pair(padding), _pair(dilation))
    d_groups, (oh, ow) = y.shape[1], y.shape[3:]
    # a sample exactly on the line y = -1 or x = -1 reads zero either way, but detectron2's
    # kernels also give its offset no gradient there, where torchvision takes the one-sided
    # slope: it matters at detectron2's zero-initialised offsets
    inside = ((y > -1) & (x > -1) & (y < h) & (x < w)).to(input.dtype)
    samples = [_bilinear(part, y[:, g].reshape(n, -1), x[:, g].reshape(n, -1)) * inside[:, g].reshape(n, 1, -1)
               for g, part in enumerate(input.chunk(d_groups, dim=1))]
    samples = torch.stack(samples, 1).reshape(n, d_groups, c // d_groups, taps, oh, ow)
    if mask is not None:
        samples = samples * mask.reshape(n, d_groups, 1, taps, oh, ow)
    columns = samples.reshape(n, groups, per_group * taps, oh * ow)
    out = torch.einsum("gok,ngkl->ngol", weight.reshape(groups, -1, per_group * taps), columns)
    out = out.reshape(n, out_channels, oh, ow)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


deform_conv2d = _reference_deform_conv2d  # a test may swap in torchvision.ops.deform_conv2d


class _DeformConvBase(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 deformable_groups, bias, norm, activation):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.groups, self.deformable_groups = groups, deformable_groups
        self.norm, self.activation = norm, activation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def _run(self, x, offset, mask):
        x = deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                          dilation=self.dilation, mask=mask)
        if self.norm is not None:
            x = self.norm(x)
        return x if self.activation is None else self.activation(x)


class DeformConv(_DeformConvBase):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=False, norm=None, activation=None):
        assert not bias
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         deformable_groups, bias, norm, activation)

    def forward(self, x, offset):
        return self._run(x, offset, None)


class ModulatedDeformConv(_DeformConvBase):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=True, norm=None, activation=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         deformable_groups, bias, norm, activation)

    def forward(self, x, offset, mask):
        return self._run(x, offset, mask)


def _no_kernel(name):
    def unavailable(*args, **kwargs):
        raise RuntimeError(f"{name} needs detectron2's compiled _C or torchvision, absent on the PyTorch side")
    unavailable.__name__ = name
    return unavailable


# detectron2.layers/__init__ imports these from its kernel wrappers
paste_masks_in_image = _no_kernel("paste_masks_in_image")
batched_nms = _no_kernel("batched_nms")
batched_nms_rotated = _no_kernel("batched_nms_rotated")
nms = _no_kernel("nms")
nms_rotated = _no_kernel("nms_rotated")
ROIAlign = _no_kernel("ROIAlign")
roi_align = _no_kernel("roi_align")
ROIAlignRotated = _no_kernel("ROIAlignRotated")
roi_align_rotated = _no_kernel("roi_align_rotated")
pairwise_iou_rotated = _no_kernel("pairwise_iou_rotated")
