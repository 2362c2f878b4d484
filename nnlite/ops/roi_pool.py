"""roi_pool / RoIPool, as torchvision.ops.roi_pool (Fast R-CNN's RoI max pooling).

Function, functional op and Module together, as in torchvision. The kernels
(nnlite/kernels/roi_pool.py) follow torchvision's CPU kernel: rounded box
corners, overlapping floor/ceil bins, the first maximum of a bin wins.
"""
from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array
from ..functional._util import empty_array, wrap
from ..functional.creation import zeros
from ..nn.modules.module import Module
from ._utils import check_roi_boxes_shape, check_roi_inputs, convert_boxes_to_roi_format_or_keep, pair

K = kernels("roi_pool")

__all__ = ["roi_pool", "RoIPool"]


class RoIPoolFunction(Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        x = contiguous_array(input._array)
        r = contiguous_array(rois._array)
        dev = input._device
        out = empty_array((r.shape[0], x.shape[1]) + output_size, input.dtype, dev)
        argmax = empty_array(out.shape, _dt.int32, dev)  # kept for backward: where each max came from
        if out.size:
            K.roi_pool_fwd(x, r, out, argmax, input.dtype.np.type(spatial_scale))
        ctx.save_for_backward(rois)
        ctx.args = (tuple(x.shape), argmax)
        return wrap(out, dev)

    @staticmethod
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        shape, argmax = ctx.args
        gx = zeros(*shape, dtype=grad.dtype, device=grad._device)._array
        g = contiguous_array(grad._array)
        if g.size and gx.size:
            K.roi_pool_bwd(g, argmax, contiguous_array(rois._array), gx)
        return wrap(gx, grad._device), None, None, None


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling: (K, C, output_size) of boxes (Tensor[K, 5] or list of Tensor[L, 4])."""
    op = "roi_pool"
    check_roi_boxes_shape(op, boxes)
    rois = convert_boxes_to_roi_format_or_keep(boxes)
    output_size = tuple(int(s) for s in pair(output_size))
    check_roi_inputs(op, input, rois, output_size)
    return RoIPoolFunction.apply(input, rois, output_size, float(spatial_scale))


class RoIPool(Module):
    """See roi_pool."""

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self):
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"
