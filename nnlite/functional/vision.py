"""Spatial transformers, as torch.nn.functional: grid_sample and affine_grid (torch keeps them in
its vision functions too).

grid_sample runs one kernel pair each way (kernels/grid_sample.py): the input
is viewed as (N, C, D*H*W) with D = 1 for 4-D input and the grid as (N, points,
2 or 3), so 4-D and 5-D share the kernels. affine_grid needs no kernel: it is a
base grid of normalised pixel centres times theta transposed, one batched
matmul, differentiable w.r.t. theta through matmul's own backward.
"""
import functools
import warnings

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._arrays import contiguous_array
from ._util import empty_array, wrap
from .advanced_index import zeros_array
from .conv import grad_array

KG = kernels("grid_sample")

_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
_PADDINGS = {"zeros": 0, "border": 1, "reflection": 2}
_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since "
                  "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
                  "documentation of grid_sample for details.")


class GridSample(Function):
    @staticmethod
    def forward(ctx, input, grid, mode, padding, align_corners):
        dev = input._device
        x = contiguous_array(input._array)
        g = contiguous_array(grid._array)
        N, C = x.shape[0], x.shape[1]
        spatial = (1,) + tuple(x.shape[2:]) if x.ndim == 4 else tuple(x.shape[2:])
        K = g.shape[len(g.shape) - 1]          # (the simulator's device arrays take no negative index)
        out_spatial = tuple(g.shape[1:len(g.shape) - 1])
        P = int(np.prod(out_spatial, dtype=np.int64))
        y = empty_array((N, C) + out_spatial, input.dtype, dev)
        if y.size:
            KG.grid_sample_fwd(x.reshape((N, C, -1)), g.reshape((N, P, K)), y.reshape((N, C, P)),
                               *spatial, mode, padding, align_corners)
        ctx.save_for_backward(input, grid)
        ctx.meta = (x, g, spatial, P, K, mode, padding, align_corners)
        return wrap(y, dev)

    @staticmethod
    def backward(ctx, grad):
        x, g, spatial, P, K, mode, padding, align_corners = ctx.meta
        input, grid = ctx.saved_tensors
        want_x, want_grid = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dev = grad._device
        go = grad_array(grad, input.dtype)
        N, C = x.shape[0], x.shape[1]
        gx = zeros_array(x.shape, input.dtype, dev) if want_x else empty_array((1, 1, 1), input.dtype, dev)
        gg = empty_array(g.shape, grid.dtype, dev) if want_grid else empty_array((1, 1, 1), grid.dtype, dev)
        if go.size or (want_grid and gg.size):
            if not go.size:                      # no channels: the grid gradient is a sum over nothing
                gg = zeros_array(g.shape, grid.dtype, dev)
            else:
                KG.grid_sample_bwd(x.reshape((N, C, -1)), g.reshape((N, P, K)), go.reshape((N, C, P)),
                                   gx.reshape((N, C, -1)) if want_x else gx,
                                   gg.reshape((N, P, K)) if want_grid else gg,
                                   *spatial, mode, padding, align_corners, want_x, want_grid)
        return (wrap(gx, dev) if want_x else None, wrap(gg, dev) if want_grid else None, None, None, None)


def _check_grid_sample(input, grid, mode):
    for name, t in (("input", input), ("grid", grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"grid_sample(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if input._device != grid._device:
        raise RuntimeError(f"grid_sampler(): expected input and grid to be on same device, but input is on "
                           f"{input._device} and grid is on {grid._device}")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have same dtype, but input has "
                           f"{input.dtype.name} and grid has {grid.dtype.name}")
    if input.dtype not in (_dt.float32, _dt.float64):
        raise RuntimeError(f"grid_sampler(): \"grid_sampler\" not implemented for '{input.dtype.name}' "
                           "(nnlite samples float32 and float64 tensors)")
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, "
                           f"but got input with sizes {list(input.shape)} and grid with sizes "
                           f"{list(grid.shape)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got input "
                           f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, "
                           f"but got grid with sizes {list(grid.shape)}")
    for i in range(2, input.ndim):
        if input.shape[i] <= 0:
            raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but "
                               f"input has sizes {list(input.shape)} with dimension {i} being empty")
    if mode == "bicubic" and input.ndim != 4:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    if mode not in _MODES:
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
                         f"'bicubic', but got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    _check_grid_sample(input, grid, mode)
    return GridSample.apply(input, grid, _MODES[mode], _PADDINGS[padding_mode], bool(align_corners))


# ---------------------------------------------------------------- affine_grid


def _linspace(steps, align_corners):
    """torch's linspace_from_neg_one: pixel centres in [-1, 1] (corners with align_corners)."""
    if steps <= 1:
        return np.zeros(max(steps, 0))
    r = np.linspace(-1.0, 1.0, steps)
    return r if align_corners else r * (steps - 1) / steps


@functools.lru_cache(maxsize=64)
def _base_grid(spatial, align_corners, np_dtype):
    """(prod(spatial), k+1) rows (x, y[, z], 1) of the output points, x fastest (cached, read-only)."""
    axes = [_linspace(s, align_corners) for s in spatial]           # (D,) H, W
    mesh = np.meshgrid(*axes, indexing="ij")
    cols = [m.reshape(-1) for m in reversed(mesh)]                  # x (W) first, then y, z
    base = np.stack(cols + [np.ones(cols[0].shape)], axis=1).astype(np_dtype)
    base.flags.writeable = False
    return base


def affine_grid(theta, size, align_corners=None):
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not isinstance(theta, Tensor):
        raise TypeError(f"affine_grid(): argument 'theta' must be Tensor, not {type(theta).__name__}")
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                             f"Got {list(theta.shape)}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                             f"Got {list(theta.shape)}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine "
                                  f"transforms, respectively. Got size {size}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(f"affine_grid: expected theta's batch size {theta.shape[0]} to equal size[0] "
                           f"= {size[0]}")
    from .creation import tensor as _tensor
    from .linear import matmul
    base = _tensor(_base_grid(tuple(int(s) for s in spatial), bool(align_corners), theta.dtype.np.type),
                   device=theta.device)
    grid = matmul(base, theta.transpose(1, 2))                      # (N, points, k)
    return grid.reshape(size[0], *spatial, len(spatial))


__all__ = ["grid_sample", "affine_grid"]

TENSOR_METHODS = []
