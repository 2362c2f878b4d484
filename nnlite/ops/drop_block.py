"""torchvision.ops.drop_block: DropBlock (Ghiasi et al.), which zeroes contiguous square (cubic)
regions of feature maps. Block centres are drawn on the valid (H-bs+1) x (W-bs+1) grid and grown
into blocks by a stride-1 max-pool, exactly as torchvision builds its mask."""
import nnlite
import nnlite.nn.functional as F
from nnlite import nn
from nnlite.ops.stochastic_depth import _bernoulli, _check_p


def _drop_block(op, input, p, block_size, inplace, eps, training, spatial_dims):
    _check_p(op, p)
    if input.dim() != spatial_dims + 2:
        raise ValueError(f"{op}: input should be {spatial_dims + 2} dimensional. "
                         f"Got {input.dim()} dimensions (shape {tuple(input.shape)}).")
    if not training or p == 0.0:
        return input
    spatial = tuple(input.shape[2:])
    block_size = min((block_size,) + spatial)
    if block_size % 2 == 0:
        # An even block would grow the mask by one row/column (padding bs // 2 twice): torchvision
        # rejects it rather than fail later on broadcasting.
        raise ValueError(f"{op}: block size should be odd. Got {block_size} which is even "
                         f"(after clamping to the input's spatial shape {spatial}).")
    valid = [s - block_size + 1 for s in spatial]
    # Rate of block centres such that about p of the elements end up dropped.
    gamma = p * _product(spatial) / (block_size ** spatial_dims * _product(valid))
    centres = _bernoulli(tuple(input.shape[:2]) + tuple(valid), gamma, input)
    half = block_size // 2
    centres = F.pad(centres, [half] * (2 * spatial_dims), value=0)
    pool = F.max_pool2d if spatial_dims == 2 else F.max_pool3d
    blocks = pool(centres, kernel_size=(block_size,) * spatial_dims, stride=1, padding=half)
    keep = 1 - blocks
    # One global rescale over the whole tensor, as torchvision does (not per sample).
    normalize_scale = keep.numel() / (eps + keep.sum())
    if inplace:
        return input.mul_(keep).mul_(normalize_scale)
    return input * keep * normalize_scale


def _product(values):
    out = 1
    for v in values:
        out *= v
    return out


def drop_block2d(input, p, block_size, inplace=False, eps=1e-06, training=True):
    """DropBlock on (N, C, H, W)."""
    return _drop_block("drop_block2d", input, p, block_size, inplace, eps, training, 2)


def drop_block3d(input, p, block_size, inplace=False, eps=1e-06, training=True):
    """DropBlock on (N, C, D, H, W)."""
    return _drop_block("drop_block3d", input, p, block_size, inplace, eps, training, 3)


class DropBlock2d(nn.Module):
    def __init__(self, p, block_size, inplace=False, eps=1e-06):
        super().__init__()
        self.p = p
        self.block_size = block_size
        self.inplace = inplace
        self.eps = eps

    def forward(self, input):
        return drop_block2d(input, self.p, self.block_size, self.inplace, self.eps, self.training)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p}, block_size={self.block_size}, inplace={self.inplace})"


class DropBlock3d(DropBlock2d):
    def forward(self, input):
        return drop_block3d(input, self.p, self.block_size, self.inplace, self.eps, self.training)
