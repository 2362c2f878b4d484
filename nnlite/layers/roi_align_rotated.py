"""roi_align_rotated / ROIAlignRotated, as detectron2.layers.roi_align_rotated.

rois are rows (batch index, x_center, y_center, width, height, angle in degrees,
counter-clockwise) in the input's dtype. Each roi is sampled in its own rotated frame around
its centre, always with the half-pixel ("aligned") offset: see
nnlite/kernels/roi_align_rotated.py for detectron2's sampling rules. The gradient flows to the
input only (detectron2 gives rois none either).
"""
import numpy as np

from ..autograd.function import Function
from ..backend.lazy import kernels
from ..backend.memory import to_host
from ..functional._arrays import contiguous_array
from ..functional._util import empty_array, wrap
from ..functional.creation import zeros
from ..nn.modules.module import Module
from ..ops._utils import check_roi_inputs, pair

K = kernels("roi_align_rotated")

__all__ = ["roi_align_rotated", "ROIAlignRotated"]


class ROIAlignRotatedFunction(Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale, sampling_ratio):
        x = contiguous_array(input._array)
        r = contiguous_array(rois._array)
        out = empty_array((r.shape[0], x.shape[1]) + output_size, input.dtype, input._device)
        scale = input.dtype.np.type(spatial_scale)  # detectron2 computes in the input's type
        if out.size:
            K.roi_align_rotated_fwd(x, r, out, scale, sampling_ratio)
        ctx.save_for_backward(rois)
        ctx.args = (tuple(x.shape), scale, sampling_ratio)
        return wrap(out, input._device)

    @staticmethod
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        shape, scale, sampling_ratio = ctx.args
        gx = zeros(*shape, dtype=grad.dtype, device=grad._device)._array
        g = contiguous_array(grad._array)
        if g.size and gx.size:
            K.roi_align_rotated_bwd(g, contiguous_array(rois._array), gx, scale, sampling_ratio)
        return wrap(gx, grad._device), None, None, None, None


def roi_align_rotated(input, rois, output_size, spatial_scale, sampling_ratio):
    """Rotated RoI Align: (K, C, *output_size) features of rois (Tensor[K, 6]) sampled from
    input (Tensor[N, C, H, W]); differentiable with respect to input."""
    op = "roi_align_rotated"
    _check_rois(op, rois)
    output_size = tuple(pair(output_size))
    check_roi_inputs(op, input, rois, output_size)
    _check_sizes(op, rois)
    return ROIAlignRotatedFunction.apply(input, rois, tuple(int(s) for s in output_size),
                                         float(spatial_scale), int(sampling_ratio))


class ROIAlignRotated(Module):
    """Rotated RoI Align (detectron2): output_size (h, w), spatial_scale, sampling_ratio
    (<= 0 takes ceil(roi size / output size) samples per bin)."""

    def __init__(self, output_size, spatial_scale, sampling_ratio):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio

    def forward(self, input, rois):
        """input: NCHW images; rois: Bx6 boxes, the first column the index into N."""
        _check_rois("ROIAlignRotated", rois)
        if input.dtype.name == "float16":   # computed in float32, returned in float16 (detectron2)
            return roi_align_rotated(input.float(), rois.float(), self.output_size, self.spatial_scale,
                                     self.sampling_ratio).half()
        return roi_align_rotated(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio)

    def __repr__(self):
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio})")


def _check_rois(op, rois):
    from ..tensor import Tensor
    if not isinstance(rois, Tensor):
        raise TypeError(f"{op}: rois must be a Tensor[K, 6], got {type(rois).__name__}")
    if rois.ndim != 2 or rois.shape[1] != 6:
        raise RuntimeError(f"{op}: rois should have shape (K, 6) as (batch index, x_center, y_center, width, "
                           f"height, angle_degrees), got shape {tuple(rois.shape)}")


def _check_sizes(op, rois):
    """detectron2: 'ROIs in ROIAlignRotated do not have non-negative size!'."""
    if rois.shape[0] == 0:
        return
    sizes = np.asarray(to_host(contiguous_array(rois._array)))[:, 3:5]
    bad = ~(sizes >= 0).all(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise RuntimeError(f"{op}: ROIs in ROIAlignRotated do not have non-negative size! roi {k} has width "
                           f"{sizes[k, 0]} and height {sizes[k, 1]}")
