"""detectron2.layers.wrappers: thin wrappers over nnlite.nn / nnlite.nn.functional that
detectron2's model code imports (Conv2d with norm and activation, cat without a copy for one
tensor, a cross_entropy that gives 0 for no targets, ...)."""
import nnlite

from .. import nn
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["BatchNorm2d", "Conv2d", "ConvTranspose2d", "Linear", "cat", "cross_entropy",
           "empty_input_loss_func_wrapper", "interpolate", "move_device_like", "nonzero_tuple",
           "shapes_to_tensor"]

# detectron2 re-exports these unchanged (the empty-input workarounds they once needed are gone).
ConvTranspose2d = nn.ConvTranspose2d
BatchNorm2d = nn.BatchNorm2d
Linear = nn.Linear
interpolate = F.interpolate


def shapes_to_tensor(x, device=None):
    """A 1-D int64 tensor of a list of ints (or of 0-d integer tensors)."""
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"shapes_to_tensor(): expected a list of ints, got {type(x).__name__}")
    if any(isinstance(v, Tensor) for v in x):
        return nnlite.stack([v if isinstance(v, Tensor) else nnlite.tensor(v) for v in x]).to(device=device)
    return nnlite.as_tensor(list(x), device=device)


def cat(tensors, dim=0):
    """nnlite.cat, except that a one-element list gives that tensor itself (no copy)."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"cat(): expected a list or tuple of Tensors, got {type(tensors).__name__}")
    if len(tensors) == 1:
        return tensors[0]
    return nnlite.cat(tensors, dim)


def empty_input_loss_func_wrapper(loss_func):
    """`loss_func(input, target, reduction=..., **kwargs)`, but a 'mean' over no targets is 0
    (instead of NaN), still connected to `input` so that backward runs."""

    def wrapped_loss_func(input, target, *, reduction="mean", **kwargs):
        if target.numel() == 0 and reduction == "mean":
            return input.sum() * 0.0
        return loss_func(input, target, reduction=reduction, **kwargs)

    wrapped_loss_func.__name__ = getattr(loss_func, "__name__", "wrapped_loss_func")
    wrapped_loss_func.__doc__ = (f"{wrapped_loss_func.__name__}, but 0 (with a gradient) for an empty "
                                 "target under reduction='mean'.")
    return wrapped_loss_func


cross_entropy = empty_input_loss_func_wrapper(F.cross_entropy)


class Conv2d(nn.Conv2d):
    """nn.Conv2d with two extra keyword arguments, applied after the convolution in this order:
    `norm` (a Module or None) and `activation` (a callable or None)."""

    def __init__(self, *args, **kwargs):
        norm = kwargs.pop("norm", None)
        activation = kwargs.pop("activation", None)
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x):
        if x.numel() == 0 and self.training and isinstance(self.norm, nn.SyncBatchNorm):
            # as detectron2: statistics of nothing cannot be synchronised
            raise AssertionError("SyncBatchNorm does not support empty inputs!")
        # F.conv2d directly (as detectron2), so padding_mode is not applied
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def nonzero_tuple(x):
    """x.nonzero(as_tuple=True): one index tensor per dim."""
    if not isinstance(x, Tensor):
        raise TypeError(f"nonzero_tuple(): expected a Tensor, got {type(x).__name__}")
    return x.nonzero(as_tuple=True)


def move_device_like(src, dst):
    """src on dst's device."""
    return src.to(dst.device)
