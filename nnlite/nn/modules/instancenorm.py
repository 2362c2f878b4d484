"""InstanceNorm1d/2d/3d (as torch.nn): batch_norm's parameters and buffers around instance_norm."""
import warnings

from .. import functional as F
from .batchnorm import _BatchNorm


class _InstanceNorm(_BatchNorm):
    """Normalises each channel of each sample over its spatial dims.

    Unlike BatchNorm, affine and track_running_stats default to False, and
    num_batches_tracked is a buffer (as torch keeps it) that never counts.
    With track_running_stats, eval mode uses the running statistics.
    """

    _NO_BATCH_DIMS = None      # the rank of an unbatched input: (C, L) is 2, (C, H, W) 3, (C, D, H, W) 4

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def _check_input_dim(self, input):
        ranks = (self._NO_BATCH_DIMS, self._NO_BATCH_DIMS + 1)
        if input.dim() not in ranks:
            raise ValueError(f"expected {ranks[0]}D or {ranks[1]}D input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        unbatched = input.dim() == self._NO_BATCH_DIMS
        channels = input.shape[0 if unbatched else 1]
        if channels != self.num_features:
            where = f"input's size at dim={0 if unbatched else 1}"
            if self.affine:
                raise ValueError(f"expected {where} to match num_features ({self.num_features}), but got: "
                                 f"{channels}.")
            warnings.warn(f"{where} does not match num_features. You can silence this warning by not passing "
                          "in num_features, which is not used because affine=False")
        x = input.unsqueeze(0) if unbatched else input
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Over (N, C, L) or unbatched (C, L) input."""
    _NO_BATCH_DIMS = 2


class InstanceNorm2d(_InstanceNorm):
    """Over (N, C, H, W) or unbatched (C, H, W) input."""
    _NO_BATCH_DIMS = 3


class InstanceNorm3d(_InstanceNorm):
    """Over (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    _NO_BATCH_DIMS = 4
