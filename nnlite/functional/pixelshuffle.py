"""pixel_shuffle, pixel_unshuffle and channel_shuffle, as torch.nn.functional.

All three only move elements, so they are views and one copy: reshape the
input (a view), permute it (a view), reshape to the output shape (the one
strided copy). Their gradients are the inverse permutations, which the shape
ops already provide; no kernel of their own, any dtype.
"""
import numpy as np

from ._arrays import reshape_array
from ._util import check_tensor
from .shape import clone, permute, reshape


def _copy_to(x, shape):
    """x reshaped to `shape` as a new tensor: the copy a permutation needs, or a clone where the
    permutation moved nothing (r = 1, one group), so the output never aliases the input (as torch)."""
    if reshape_array(x._array, shape) is not None:
        x = clone(x)
    return reshape(x, shape)


def _factor(op, name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{op}(): argument '{name}' (position 2) must be int, not {type(value).__name__}")
    if value <= 0:
        raise RuntimeError(f"{op} expects a positive {name}, but got {value}")
    return int(value)


def _check_rank(op, input):
    check_tensor(op, "input", input)
    if input.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input with {input.ndim} "
                           "dimension(s)")


def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r): out[..., c, h*r + i, w*r + j] = in[..., c*r*r + i*r + j, h, w]."""
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor)
    _check_rank("pixel_shuffle", input)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                           f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    b = len(lead)
    x = reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = permute(x, (*range(b), b, b + 3, b + 1, b + 4, b + 2))  # (*, C, H, r, W, r)
    return _copy_to(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), the inverse of pixel_shuffle."""
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    _check_rank("pixel_unshuffle", input)
    *lead, c, h, w = input.shape
    for name, dim, n in (("height", -2, h), ("width", -1, w)):
        if n % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                               f"input.size({dim})={n} is not divisible by {r}")
    b = len(lead)
    x = reshape(input, (*lead, c, h // r, r, w // r, r))
    x = permute(x, (*range(b), b, b + 2, b + 4, b + 1, b + 3))  # (*, C, r, r, H/r, W/r)
    return _copy_to(x, (*lead, c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """(N, C, *) -> (N, C, *) with channel g*(C/groups) + k moved to k*groups + g (ShuffleNet)."""
    check_tensor("channel_shuffle", "input", input)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"channel_shuffle(): argument 'groups' (position 2) must be int, not "
                        f"{type(groups).__name__}")
    if groups <= 0:
        raise RuntimeError(f"channel_shuffle: Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{list(input.shape)}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"channel_shuffle: Number of channels must be divisible by groups. Got {c} channels and "
                           f"{groups} groups.")
    x = reshape(input, (n, int(groups), c // groups, *rest))
    x = permute(x, (0, 2, 1, *range(3, x.ndim)))
    return _copy_to(x, (n, c, *rest))


__all__ = ["channel_shuffle", "pixel_shuffle", "pixel_unshuffle"]

TENSOR_METHODS = []
