"""ps_roi_align / PSRoIAlign, as torchvision.ops.ps_roi_align (Light-Head R-CNN's
position-sensitive RoI Align).

Function, functional op and Module together, as in torchvision. The kernels
(nnlite/kernels/ps_roi_align.py) follow torchvision's CPU kernel: roi_align's
sampling with the -0.5 pixel shift always on, and output channel c of bin
(i, j) read from input channel (c * PH + i) * PW + j. The gradient flows to the
input only (torchvision gives boxes none either).
"""
from ..autograd.function import Function
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array
from ..functional._util import empty_array, wrap
from ..functional.creation import zeros
from ..nn.modules.module import Module
from ._ps_utils import check_ps_channels
from ._utils import check_roi_boxes_shape, check_roi_inputs, convert_boxes_to_roi_format_or_keep, pair

K = kernels("ps_roi_align")

__all__ = ["ps_roi_align", "PSRoIAlign"]


class PSRoIAlignFunction(Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale, sampling_ratio):
        x = contiguous_array(input._array)
        r = contiguous_array(rois._array)
        N, C, H, W = x.shape
        ph, pw = output_size
        out = empty_array((r.shape[0], C // (ph * pw), ph, pw), input.dtype, input._device)
        scale = input.dtype.np.type(spatial_scale)  # torchvision computes in the input's type
        if out.size:
            K.ps_roi_align_fwd(x, r, out, scale, int(sampling_ratio))
        ctx.save_for_backward(rois)
        ctx.args = ((N, C, H, W), scale, int(sampling_ratio))
        return wrap(out, input._device)

    @staticmethod
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        shape, scale, sampling_ratio = ctx.args
        gx = zeros(*shape, dtype=grad.dtype, device=grad._device)._array
        g = contiguous_array(grad._array)
        if g.size and gx.size:
            K.ps_roi_align_bwd(g, contiguous_array(rois._array), gx, scale, sampling_ratio)
        return wrap(gx, grad._device), None, None, None, None


def ps_roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1):
    """Position-sensitive RoI Align: (K, C / (ph * pw), ph, pw) features of boxes
    (Tensor[K, 5] or list of Tensor[L, 4])."""
    op = "ps_roi_align"
    check_roi_boxes_shape(op, boxes)
    rois = convert_boxes_to_roi_format_or_keep(boxes)
    output_size = tuple(int(s) for s in pair(output_size))
    check_roi_inputs(op, input, rois, output_size)
    check_ps_channels(op, input, output_size)
    return PSRoIAlignFunction.apply(input, rois, output_size, float(spatial_scale), int(sampling_ratio))


class PSRoIAlign(Module):
    """See ps_roi_align."""

    def __init__(self, output_size, spatial_scale, sampling_ratio):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio

    def forward(self, input, rois):
        return ps_roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio)

    def __repr__(self):
        return (f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio})")
