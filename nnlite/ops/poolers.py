"""MultiScaleRoIAlign, as torchvision.ops.MultiScaleRoIAlign: RoI Align over FPN levels, each box
pooled from the level the FPN paper's Eqn. (1) assigns it.

Level assignment is bookkeeping on box coordinates (no gradient flows to boxes in torchvision
either), so it runs in numpy in the boxes' dtype; the pooling is nnlite.ops.roi_align per level,
and the per-level results are put back in box order by one differentiable gather.
"""
import numpy as np

import nnlite
from nnlite import nn

from .roi_align import roi_align

__all__ = ["MultiScaleRoIAlign", "LevelMapper", "initLevelMapper"]


class LevelMapper:
    """Maps each box to an FPN level index in [0, k_max - k_min] by
    floor(canonical_level + log2(sqrt(area) / canonical_scale) + eps), clamped to [k_min, k_max]."""

    def __init__(self, k_min, k_max, canonical_scale=224, canonical_level=4, eps=1e-6):
        self.k_min = k_min
        self.k_max = k_max
        self.s0 = canonical_scale
        self.lvl0 = canonical_level
        self.eps = eps

    def __call__(self, boxlists):
        boxes = np.concatenate([_host(b) for b in boxlists], axis=0)
        dtype = boxes.dtype.type
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):  # zero-area boxes give -inf: level k_min
            s = np.sqrt(area)
            # same operation order and precision as torchvision (float32 boxes stay float32)
            target = np.floor(dtype(self.lvl0) + np.log2(s / dtype(self.s0)) + dtype(self.eps))
        target = np.clip(target, self.k_min, self.k_max)
        return target.astype(np.int64) - self.k_min


def initLevelMapper(k_min, k_max, canonical_scale=224, canonical_level=4, eps=1e-6):  # noqa: N802
    return LevelMapper(k_min, k_max, canonical_scale, canonical_level, eps)


def _host(t):
    return t.detach().cpu().numpy() if isinstance(t, nnlite.Tensor) else np.asarray(t)


def _infer_scale(feature, original_size):
    """The power of two nearest to feature size / image size (torchvision rounds in float32)."""
    size = tuple(feature.shape[-2:])
    scales = [2.0 ** float(np.round(np.log2(np.float32(float(s1) / float(s2)))))
              for s1, s2 in zip(size, original_size)]
    return scales[0]


def _setup_scales(features, image_shapes, canonical_scale, canonical_level):
    if not image_shapes:
        raise ValueError("MultiScaleRoIAlign: images list should not be empty")
    original_input_shape = (max(int(s[0]) for s in image_shapes), max(int(s[1]) for s in image_shapes))
    scales = [_infer_scale(feat, original_input_shape) for feat in features]
    # levels follow from the fact that each FPN level halves the resolution
    lvl_min = -float(np.log2(np.float32(scales[0])))
    lvl_max = -float(np.log2(np.float32(scales[-1])))
    mapper = initLevelMapper(int(lvl_min), int(lvl_max), canonical_scale=canonical_scale,
                             canonical_level=canonical_level)
    return scales, mapper


def _filter_input(x, featmap_names):
    return [v for k, v in x.items() if k in featmap_names]


def _check_inputs(features, boxes):
    if not features:
        raise ValueError("MultiScaleRoIAlign: none of featmap_names is in the input feature dict")
    if not isinstance(boxes, (list, tuple)):
        raise TypeError(f"MultiScaleRoIAlign: boxes should be a list of Tensor[L, 4] (one per image), "
                        f"got {type(boxes).__name__}")
    for i, b in enumerate(boxes):
        if not isinstance(b, nnlite.Tensor) or b.dim() != 2 or b.shape[1] != 4:
            shape = tuple(b.shape) if hasattr(b, "shape") else type(b).__name__
            raise ValueError(f"MultiScaleRoIAlign: boxes[{i}] should have shape (L, 4), got {shape}")
    channels = features[0].shape[1]
    for f in features:
        if f.dim() != 4 or f.shape[1] != channels:
            raise ValueError(f"MultiScaleRoIAlign: feature maps should all have shape (N, {channels}, H, W), "
                             f"got {tuple(f.shape)}")


def _multiscale_roi_align(features, boxes, output_size, sampling_ratio, scales, mapper):
    if scales is None or mapper is None:
        raise ValueError("MultiScaleRoIAlign: scales and mapper should not be None")
    if len(features) == 1:
        return roi_align(features[0], list(boxes), output_size=output_size, spatial_scale=scales[0],
                         sampling_ratio=sampling_ratio)
    levels = mapper(boxes)
    rois = nnlite.cat([_roi_rows(b, i) for i, b in enumerate(boxes)], 0)
    device = features[0].device
    pieces, order = [], []
    for level, (feature, scale) in enumerate(zip(features, scales)):
        idx = np.nonzero(levels == level)[0]
        rois_here = rois[nnlite.tensor(idx, device=rois.device)]
        pieces.append(roi_align(feature, rois_here, output_size=output_size, spatial_scale=scale,
                                sampling_ratio=sampling_ratio))
        order.append(idx)
    # torchvision leaves zero the boxes mapped to a level that has no feature map (featmap_names
    # skipping a level); they come last here
    unmatched = np.nonzero(levels >= len(features))[0]
    if len(unmatched):
        pieces.append(nnlite.zeros(len(unmatched), features[0].shape[1], *output_size,
                                   dtype=features[0].dtype, device=device))
        order.append(unmatched)
    # pieces are grouped by level; scatter them back to box order with the inverse permutation
    inverse = np.empty(len(levels), dtype=np.int64)
    inverse[np.concatenate(order)] = np.arange(len(levels))
    return nnlite.cat(pieces, 0)[nnlite.tensor(inverse, device=device)]


def _roi_rows(b, image_index):
    ids = nnlite.full((b.shape[0], 1), float(image_index), dtype=b.dtype, device=b.device)
    return nnlite.cat([ids, b.detach()], 1)


class MultiScaleRoIAlign(nn.Module):
    """RoI Align over several feature maps: forward(x: dict of (N, C, H, W), boxes: list of
    Tensor[L, 4] per image in image coordinates, image_shapes: list of (H, W)) -> (K, C, *output_size).
    The scales are inferred on the first call from the feature and image sizes."""

    def __init__(self, featmap_names, output_size, sampling_ratio, *, canonical_scale=224, canonical_level=4):
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.featmap_names = featmap_names
        self.sampling_ratio = sampling_ratio
        self.output_size = tuple(output_size)
        self.scales = None
        self.map_levels = None
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level

    def forward(self, x, boxes, image_shapes):
        features = _filter_input(x, self.featmap_names)
        _check_inputs(features, boxes)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(features, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        return _multiscale_roi_align(features, boxes, self.output_size, self.sampling_ratio,
                                     self.scales, self.map_levels)

    def extra_repr(self):
        return (f"featmap_names={self.featmap_names}, output_size={self.output_size}, "
                f"sampling_ratio={self.sampling_ratio}")
