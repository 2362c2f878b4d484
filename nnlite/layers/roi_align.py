"""detectron2.layers.roi_align: ROIAlign (aligned=True by default, unlike torchvision's RoIAlign)
and roi_align (torchvision's function, aligned=False by default), on nnlite.ops.roi_align."""
from .. import nn
from ..ops.roi_align import roi_align
from ..tensor import Tensor

__all__ = ["ROIAlign", "roi_align"]


class ROIAlign(nn.Module):
    """RoI Align of (K, 5) rois (batch index, x1, y1, x2, y2) into output_size (h, w) bins.

    aligned=True shifts the scaled box by -0.5 pixel so that a continuous coordinate c has the
    pixel neighbours floor(c - 0.5) and ceil(c - 0.5); sampling_ratio <= 0 samples adaptively.
    """

    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=True):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input, rois):
        if not isinstance(rois, Tensor) or rois.dim() != 2 or rois.shape[1] != 5:
            got = tuple(rois.shape) if isinstance(rois, Tensor) else type(rois).__name__
            raise RuntimeError(f"ROIAlign: expected rois of shape (K, 5) (batch index, x1, y1, x2, y2), got {got}")
        return roi_align(input, rois.to(dtype=input.dtype), self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def __repr__(self):
        return (f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})")
