"""ps_roi_pool / PSRoIPool, as torchvision.ops.ps_roi_pool (R-FCN's position-sensitive
RoI pooling: each bin averages its own group of input channels).

Function, functional op and Module together, as in torchvision. The kernels
(nnlite/kernels/ps_roi_pool.py) follow torchvision's CPU forward: rounded box
corners, overlapping floor/ceil bins clipped to [0, H - 1], the bin's mean. The
backward is the exact gradient of that forward.
"""
from ..autograd.function import Function
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array
from ..functional._util import empty_array, wrap
from ..functional.creation import zeros
from ..nn.modules.module import Module
from ._ps_utils import check_ps_channels
from ._utils import check_roi_boxes_shape, check_roi_inputs, convert_boxes_to_roi_format_or_keep, pair

K = kernels("ps_roi_pool")

__all__ = ["ps_roi_pool", "PSRoIPool"]


class PSRoIPoolFunction(Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        x = contiguous_array(input._array)
        r = contiguous_array(rois._array)
        ph, pw = output_size
        out = empty_array((r.shape[0], x.shape[1] // (ph * pw), ph, pw), input.dtype, input._device)
        scale = input.dtype.np.type(spatial_scale)
        if out.size:
            K.ps_roi_pool_fwd(x, r, out, scale)
        ctx.save_for_backward(rois)
        ctx.args = (tuple(x.shape), scale)
        return wrap(out, input._device)

    @staticmethod
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        shape, scale = ctx.args
        gx = zeros(*shape, dtype=grad.dtype, device=grad._device)._array
        g = contiguous_array(grad._array)
        if g.size and gx.size:
            K.ps_roi_pool_bwd(g, contiguous_array(rois._array), gx, scale)
        return wrap(gx, grad._device), None, None, None


def ps_roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """Position-sensitive RoI average pooling: (K, C / (ph * pw), ph, pw) of boxes
    (Tensor[K, 5] or list of Tensor[L, 4])."""
    op = "ps_roi_pool"
    check_roi_boxes_shape(op, boxes)
    rois = convert_boxes_to_roi_format_or_keep(boxes)
    output_size = tuple(int(s) for s in pair(output_size))
    check_roi_inputs(op, input, rois, output_size)
    check_ps_channels(op, input, output_size)
    return PSRoIPoolFunction.apply(input, rois, output_size, float(spatial_scale))


class PSRoIPool(Module):
    """See ps_roi_pool."""

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return ps_roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self):
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"
