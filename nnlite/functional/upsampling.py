"""Resampling, as torch.nn.functional: interpolate (every mode), upsample, upsample_nearest,
upsample_bilinear (kernels in kernels/upsampling.py, sampling weights in kernels/sampling.py).

Every mode is separable: one pass per spatial axis, each a table of taps and
weights built on the host with torch's rounding (see kernels/upsampling.py),
so one kernel pair serves nearest, nearest-exact, linear, bilinear, bicubic,
trilinear, area and antialiased modes in 1, 2 and 3 dimensions, forward and
backward. 4-D `area` is adaptive_avg_pool2d, as in torch.
"""
import functools
import math
import warnings

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..backend.memory import to_device
from ..tensor import Tensor
from ._arrays import contiguous_array
from ._util import empty_array, wrap
from .conv import grad_array

KU = kernels("upsampling")

MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}   # mode -> the input ndim it needs
# kernel table codes (kernels/upsampling.py)
_NEAREST, _NEAREST_EXACT, _LINEAR, _CUBIC, _AREA, _AA_LINEAR, _AA_CUBIC = range(7)


# ---------------------------------------------------------------- tables


def _scale(mode_code, in_size, out_size, align_corners, scale_factor, np_dtype):
    """The source step torch uses, in the float type torch computes it in."""
    if mode_code in (_NEAREST, _NEAREST_EXACT):   # compute_scales_value<float>
        if scale_factor is not None and scale_factor > 0:
            return np.float32(1.0 / scale_factor)
        return np.float32(in_size) / np.float32(out_size)
    if mode_code == _AREA:
        return np_dtype(0)
    if align_corners:                             # area_pixel_compute_scale
        return np_dtype(in_size - 1) / np_dtype(out_size - 1) if out_size > 1 else np_dtype(0)
    if scale_factor is not None and scale_factor > 0:
        return np_dtype(1.0 / scale_factor)
    return np_dtype(in_size) / np_dtype(out_size)


def _taps(mode_code, in_size, out_size, scale):
    if mode_code in (_NEAREST, _NEAREST_EXACT):
        return 1
    if mode_code == _LINEAR:
        return 2
    if mode_code == _CUBIC:
        return 4
    if mode_code == _AREA:
        return -(-in_size // out_size) + 1
    interp = 2 if mode_code == _AA_LINEAR else 4
    support = type(scale)(interp * 0.5 * scale) if scale >= 1.0 else interp * 0.5
    return int(math.ceil(support)) * 2 + 1


@functools.lru_cache(maxsize=512)
def _table(mode_code, in_size, out_size, align_corners, scale_factor, np_dtype):
    """(idx, w) of one axis's pass; w in the data's dtype. Cached: a model resamples the same
    shapes every step (callers never write to the arrays)."""
    scale = _scale(mode_code, in_size, out_size, align_corners, scale_factor, np_dtype)
    T = _taps(mode_code, in_size, out_size, scale)
    idx = np.empty((out_size, T), np.int64)
    w = np.empty((out_size, T), np.float64)
    KU.resample_table(mode_code, in_size, scale, bool(align_corners), idx, w)
    return idx, w.astype(np_dtype)


@functools.lru_cache(maxsize=512)
def _copies(key):
    return _is_identity(*_table(*key), key[1])


def _is_identity(idx, w, in_size):
    """Whether a pass copies its input (same size, weight 1 on the same index, nothing else read)."""
    if idx.shape[0] != in_size:
        return False
    own = idx[:, :1]
    rest = idx[:, 1:]
    return bool(np.all(own[:, 0] == np.arange(in_size)) and np.all(w[:, 0] == 1)
                and np.all((rest == own) | (rest < 0)) and np.all(w[:, 1:] == 0))


@functools.lru_cache(maxsize=512)
def _adjoint(key):
    """The cached table of the backward pass of the pass `key` (the arguments of _table)."""
    return _transpose(*_table(*key), key[1])


@functools.lru_cache(maxsize=512)
def _device_table(key, adjoint, index):
    """A pass's table copied to CUDA device `index` once."""
    idx, w = _adjoint(key) if adjoint else _table(*key)
    return to_device(idx, index), to_device(w, index)


def _transpose(idx, w, in_size):
    """The table of the adjoint pass: for each input position, the outputs that read it."""
    O, T = idx.shape
    outs = np.repeat(np.arange(O, dtype=np.int64), T)
    src, weights = idx.reshape(-1), w.reshape(-1)
    keep = src >= 0
    outs, src, weights = outs[keep], src[keep], weights[keep]
    order = np.argsort(src, kind="stable")
    outs, src, weights = outs[order], src[order], weights[order]
    counts = np.bincount(src, minlength=in_size)
    slot = np.arange(src.size) - (np.cumsum(counts) - counts)[src]
    tidx = np.full((in_size, max(1, int(counts.max(initial=0)))), -1, np.int64)
    tw = np.zeros(tidx.shape, w.dtype)
    tidx[src, slot] = outs
    tw[src, slot] = weights
    return tidx, tw


# ---------------------------------------------------------------- the op


def _run_pass(a, axis, key, adjoint, device):
    """One separable pass of contiguous array `a` along `axis` (the adjoint pass for backward)."""
    idx, w = _adjoint(key) if adjoint else _table(*key)
    shape = tuple(a.shape)
    A = int(np.prod(shape[:axis], dtype=np.int64))
    B = int(np.prod(shape[axis + 1:], dtype=np.int64))
    out = empty_array(shape[:axis] + (idx.shape[0],) + shape[axis + 1:], _dt._FROM_NP[np.dtype(w.dtype)],
                      device)
    if out.size:
        if device.type != "cpu":
            idx, w = _device_table(key, adjoint, device.index or 0)
        KU.resample(a.reshape((A, shape[axis], B)), idx, w, out.reshape((A, idx.shape[0], B)))
    return out


class Resample(Function):
    """Separable resampling: `passes` is a list of (axis, table key), applied in order."""

    @staticmethod
    def forward(ctx, input, passes):
        dev = input._device
        a = contiguous_array(input._array)
        for axis, key in passes:
            a = _run_pass(a, axis, key, False, dev)
        ctx.meta = (passes, input.dtype)
        return wrap(a, dev)

    @staticmethod
    def backward(ctx, grad):
        passes, dtype = ctx.meta
        g = grad_array(grad, dtype)
        for axis, key in reversed(passes):
            g = _run_pass(g, axis, key, True, grad._device)
        return wrap(g, grad._device), None


def _mode_code(mode, antialias):
    if mode in ("nearest", "nearest-exact"):
        return _NEAREST if mode == "nearest" else _NEAREST_EXACT
    if mode == "area":
        return _AREA
    if mode == "bicubic":
        return _AA_CUBIC if antialias else _CUBIC
    return _AA_LINEAR if antialias else _LINEAR


def _resample(input, out_sizes, scales, mode, align_corners, antialias):
    if mode == "area" and input.ndim == 4:
        from .pooling import adaptive_avg_pool2d   # torch's area is adaptive average pooling
        return adaptive_avg_pool2d(input, tuple(out_sizes))
    code = _mode_code(mode, antialias)
    passes = []
    for d in reversed(range(len(out_sizes))):      # last axis first: torch's order of products
        axis = d + 2
        key = (code, int(input.shape[axis]), out_sizes[d], bool(align_corners), scales[d], input.dtype.np.type)
        passes.append((axis, key))
    kept = [(axis, key) for axis, key in passes if not _copies(key)]
    if not kept:
        from .shape import clone
        return clone(input)
    return Resample.apply(input, kept)


# ---------------------------------------------------------------- argument handling (torch's order)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_input(input, mode):
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dtype not in (_dt.float32, _dt.float64):
        raise TypeError(f'interpolate ({mode}): "upsample" not implemented for \'{input.dtype.name}\' '
                        "(nnlite resamples float32 and float64 tensors)")


def _output_geometry(input, size, scale_factor, dim):
    """(output_size or None, scale_factors or None) as torch's interpolate parses them."""
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError("Input and output must have the same number of spatial dimensions, but got "
                                 f"input with spatial dimensions of {spatial} and output size of {size}. "
                                 "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output "
                                 "size in (o1, o2, ...,oK) format.")
            sizes = list(size)
        else:
            sizes = [size] * dim
        if not all(_is_int(s) for s in sizes):
            raise TypeError(f"interpolate(): size must be an int or a tuple of ints, but got {size!r}")
        return [int(s) for s in sizes], None
    if scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError("Input and scale_factor must have the same number of spatial dimensions, but "
                                 f"got input with spatial dimensions of {spatial} and scale_factor of shape "
                                 f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                                 "and scale_factor in (s1, s2, ...,sK) format.")
            factors = list(scale_factor)
        else:
            factors = [scale_factor] * dim
        if not all(isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool)
                   for f in factors):
            raise TypeError(f"interpolate(): scale_factor must be a float or a tuple of floats, but got "
                            f"{scale_factor!r}")
        return None, [float(f) for f in factors]
    raise ValueError("either size or scale_factor should be defined")


def _check_sizes(input, out_sizes, mode):
    nd = input.ndim
    if any(s == 0 for s in input.shape[1:]):
        raise RuntimeError(f"interpolate ({mode}): Non-empty {nd}D data tensor expected but got a tensor "
                           f"with sizes {list(input.shape)}")
    names = ("D", "H", "W")[3 - (nd - 2):]
    if min(out_sizes) <= 0:
        ins = ", ".join(f"{n}: {s}" for n, s in zip(names, input.shape[2:]))
        outs = ", ".join(f"{n}: {s}" for n, s in zip(names, out_sizes))
        raise RuntimeError(f"interpolate ({mode}): Input and output sizes should be greater than 0, but got "
                           f"input ({ins}) output ({outs})")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    _check_input(input, mode)
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    out_sizes, scales = _output_geometry(input, size, scale_factor, dim)
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out_sizes is None:       # area always works from sizes
        recompute_scale_factor = True
    if out_sizes is None:
        out_sizes = [int(math.floor(float(n) * f)) for n, f in zip(input.shape[2:], scales)]
        if recompute_scale_factor:
            scales = None
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and requires "
                         "a 4-D tensor as input")
    needed = _LINEAR_MODES.get(mode, 4 if mode == "bicubic" else None)
    if mode not in MODES or input.ndim not in (3, 4, 5) or (needed is not None and input.ndim != needed):
        if mode in _LINEAR_MODES and input.ndim in (3, 4, 5):
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {needed}D input")
        raise NotImplementedError("Input Error: Only 3D, 4D and 5D input Tensors supported "
                                  f"(got {input.ndim}D) for the modes: nearest | linear | bilinear | bicubic | "
                                  f"trilinear | area | nearest-exact (got {mode})")
    _check_sizes(input, out_sizes, mode)
    return _resample(input, out_sizes, scales or [None] * dim, mode, align_corners, antialias)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

TENSOR_METHODS = []
