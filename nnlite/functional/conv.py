"""conv2d, as torch.nn.functional.conv2d.

Three algorithms, chosen per call by `_algorithm`:

- im2col -> one GEMM over the whole batch (the matmul primitive) -> an NCHW
  re-layout that also adds the bias; backward runs the transposed GEMMs and
  col2im (kernels/conv.py has the layouts). Any stride, padding, dilation, groups.
- Winograd F(2x2, 3x3) for large 3x3 stride-1 convolutions: 16 GEMMs with
  2.25x fewer flops in all (kernels/conv_winograd.py).
- direct kernels for depthwise convolutions (groups == in_channels), whose
  GEMMs would be tiny and memory-bound.

On the CPU each GEMM is cut into one single-threaded slice per core when
threadpoolctl is installed (see "GEMMs on the CPU" below).

Backward recomputes the column matrix (or transformed tiles) instead of keeping
it from forward: it is several times the size of the input, too much to hold
per layer while a network trains, and the caching allocator makes the
recomputation cheap.
"""
from typing import NamedTuple

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._util import check_same_device, empty_array, flat, wrap
from .linear import _mT, mm_array
from ._arrays import array_strides, cast_array, contiguous_array, strided_view
from .shape import squeeze, unsqueeze

KC = kernels("conv")
KW = kernels("conv_winograd")
KM = kernels("matmul")


class ConvGeometry(NamedTuple):
    stride: tuple       # (sh, sw)
    pad: tuple          # (top, left); bottom/right are implied by out_size
    dilation: tuple     # (dh, dw)
    groups: int
    out_size: tuple     # (OH, OW)

    def kernel_args(self):
        """The scalar arguments every conv kernel takes after its arrays."""
        return (*self.stride, *self.pad, *self.dilation)


# ---------------------------------------------------------------- argument parsing


def _int_pair(op, name, value):
    """torch's parsing of an int-or-pair convolution argument."""
    values = (value,) if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) for v in values):
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of two ints, "
                        f"but got {value!r}")
    if len(values) not in (1, 2):
        raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of 2 values to "
                           f"match the convolution dimensions, but got {name}={list(values)}")
    return (int(values[0]), int(values[-1]))


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _padding(op, padding, stride, dilation, kernel):
    """((top, bottom), (left, right)) from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise RuntimeError(f"{op}: Invalid padding string: '{padding}'")
        if stride != (1, 1):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions")
        # total padding d*(k-1); when odd, the extra row/column goes bottom/right (as torch)
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in total)
    ph, pw = _int_pair(op, "padding", padding)
    if ph < 0 or pw < 0:
        raise RuntimeError(f"{op}: negative padding is not supported")
    return (ph, ph), (pw, pw)


def _check_shapes(x, weight, bias, groups):
    w_shape = list(weight.shape)
    if groups <= 0:
        raise RuntimeError("conv2d: non-positive groups is not supported")
    if weight.shape[0] < groups or weight.shape[0] % groups:
        what = "be divisible by" if weight.shape[0] >= groups else "be at least"
        raise RuntimeError(f"conv2d: Given groups={groups}, expected weight to {what} {groups} at dimension "
                           f"0, but got weight of size {w_shape} instead")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"conv2d: Given groups={groups}, weight of size {w_shape}, expected "
                           f"input{list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
                           f"{x.shape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        raise RuntimeError(f"conv2d: Given weight of size {w_shape}, expected bias to be 1-dimensional "
                           f"with {weight.shape[0]} elements, but got bias of size {list(bias.shape)} instead")


def _check_types(input, weight, bias):
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if not isinstance(t, Tensor) and not (name == "bias" and t is None):
            raise TypeError(f"conv2d(): argument '{name}' must be Tensor, not {type(t).__name__}")
    check_same_device("conv2d", input, weight, bias)
    if input.dtype not in (_dt.float32, _dt.float64):
        raise RuntimeError(f"conv2d: expected a float32 or float64 input, but got {input.dtype.name}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype is not input.dtype:
            raise RuntimeError(f"conv2d: Input type ({input.dtype.name}) and {name} type ({t.dtype.name}) should be "
                               "the same")


def _geometry(x, weight, stride, padding, dilation, groups):
    kernel = tuple(weight.shape[2:])
    stride = _int_pair("conv2d", "stride", stride)
    dilation = _int_pair("conv2d", "dilation", dilation)
    if min(stride) <= 0:
        raise RuntimeError("conv2d: non-positive stride is not supported")
    if min(dilation) <= 0:
        raise RuntimeError("conv2d: non-positive dilation is not supported")
    pads = _padding("conv2d", padding, stride, dilation, kernel)
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)]
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if padded[0] < span[0] or padded[1] < span[1]:
        raise RuntimeError(f"conv2d: Calculated padded input size per channel: ({padded[0]} x {padded[1]}). "
                           f"Kernel size: ({span[0]} x {span[1]}). Kernel size can't be greater than "
                           "actual input size")
    out = tuple((p - k) // s + 1 for p, k, s in zip(padded, span, stride))
    return ConvGeometry(stride, (pads[0][0], pads[1][0]), dilation, groups, out)


def _gemm(a, b, dtype, dev):
    """a @ b for 2-D or batched 3-D arrays, as a new array."""
    return mm_array(a, b, dtype, dev)


# ---------------------------------------------------------------- the three algorithms

# Winograd pays off once the GEMMs dominate: enough channels on both sides and
# enough work that its six transform kernels (and their cold-start load, ~10 ms
# each) are worth it. Tests lower these to cover it on small shapes.
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_MACS = 1 << 24


def _algorithm(x_shape, w_shape, geo):
    """(forward, backward) for this convolution.

    Depthwise: direct kernels. 3x3, stride 1, dilation 1, and big enough:
    Winograd F(2x2, 3x3) (2.25x fewer GEMM flops, and transformed tiles smaller
    than im2col's columns). Everything else: im2col + GEMM.
    """
    if geo.groups == x_shape[1]:
        return _depthwise_forward, _depthwise_backward
    o, c = w_shape[0], x_shape[1]
    macs = x_shape[0] * o * c * 9 * geo.out_size[0] * geo.out_size[1]
    if (tuple(w_shape[2:]) == (3, 3) and geo.stride == (1, 1) and geo.dilation == (1, 1) and geo.groups == 1
            and min(o, c) >= WINOGRAD_MIN_CHANNELS and macs >= WINOGRAD_MIN_MACS):
        return _winograd_forward, _winograd_backward
    return _gemm_forward, _gemm_backward


def _grouped(a, groups, rows, cols):
    """A contiguous array viewed as one (rows, cols) matrix per group."""
    return a.reshape((rows, cols)) if groups == 1 else a.reshape((groups, rows, cols))


def _columns(x, w_shape, geo, dtype, dev):
    """im2col of x: (C, KH, KW, N, OH, OW) = (C*KH*KW, N*OH*OW) rows of input taps."""
    n, c = x.shape[:2]
    cols = empty_array((c, *w_shape[2:], n, *geo.out_size), dtype, dev)
    KC.im2col(x, cols, *geo.kernel_args())
    return cols


def _gemm_forward(x, w, bias, geo, dtype, dev):
    n, o, g = x.shape[0], w.shape[0], geo.groups
    plane = geo.out_size[0] * geo.out_size[1]
    rows, pixels = w.size // o, n * plane
    cols = _columns(x, w.shape, geo, dtype, dev)
    product = _gemm(_grouped(w, g, o // g, rows), _grouped(cols, g, rows, pixels), dtype, dev)
    del cols  # back to the allocator before the output is taken
    out = empty_array((n, o, *geo.out_size), dtype, dev)
    # with no bias the kernel still needs an array of the right type: the weight stands in
    KC.cnhw_to_nchw(product.reshape((o, n, plane)), flat(w) if bias is None else bias,
                    out.reshape((n, o, plane)), bias is not None)
    return out


def _gemm_backward(g, x, w, geo, needs, dtype, dev):
    n, o, groups = x.shape[0], w.shape[0], geo.groups
    plane = geo.out_size[0] * geo.out_size[1]
    rows, pixels = w.size // o, n * plane
    g_cols = empty_array((o, n, plane), dtype, dev)
    g_bias = empty_array((o,), dtype, dev)
    KC.nchw_to_cnhw(g.reshape((n, o, plane)), g_cols, g_bias)
    g_cols = _grouped(g_cols, groups, o // groups, pixels)
    gx = gw = None
    if needs[1]:
        cols = _columns(x, w.shape, geo, dtype, dev)
        gw = _gemm(g_cols, _mT(_grouped(cols, groups, rows, pixels)), dtype, dev).reshape(w.shape)
        del cols
    if needs[0]:
        d_cols = _gemm(_mT(_grouped(w, groups, o // groups, rows)), g_cols, dtype, dev)
        gx = empty_array(x.shape, dtype, dev)
        KC.col2im(d_cols.reshape((x.shape[1], *w.shape[2:], n, *geo.out_size)), gx, *geo.kernel_args())
    return gx, gw, g_bias


def _depthwise_forward(x, w, bias, geo, dtype, dev):
    n, o = x.shape[0], w.shape[0]
    out = empty_array((n, o, *geo.out_size), dtype, dev)
    taps = w.reshape((o, *w.shape[2:]))
    KC.depthwise_fwd(x, taps, flat(taps) if bias is None else bias, out, bias is not None,
                     *geo.kernel_args())
    return out


def _depthwise_backward(g, x, w, geo, needs, dtype, dev):
    o = w.shape[0]
    taps = w.reshape((o, *w.shape[2:]))
    gx = gw = g_bias = None
    if needs[0]:
        gx = empty_array(x.shape, dtype, dev)
        KC.depthwise_bwd_input(g, taps, gx, *geo.kernel_args())
    if needs[1] or needs[2]:
        gw = empty_array(w.shape, dtype, dev)
        g_bias = empty_array((o,), dtype, dev)
        KC.depthwise_bwd_weight(g, x, gw.reshape(taps.shape), g_bias, *geo.kernel_args())
    return gx, gw, g_bias


# Winograd buffers are 16 planes (one per tile position) whose plane stride is
# PLANE_PAD elements more than their size: plane sizes are usually multiples of
# 4 KiB, and 16 load/store streams 4 KiB apart fight over the same L1 sets
# (the input transform ran 6x slower without the gap).
PLANE_PAD = 32


def _planes16(shape, dtype, dev):
    """An uninitialised (16, *shape) array with padded planes (a strided view)."""
    size = _prod(shape)
    buf = empty_array((16 * (size + PLANE_PAD),), dtype, dev)
    inner = tuple(_prod(shape[i + 1:]) for i in range(len(shape)))
    return strided_view(buf, (16, *shape), (size + PLANE_PAD, *inner))


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _matrices(planes):
    """(16, channels, ...) planes as 16 (channels, rest) matrices (a view)."""
    shape = tuple(planes.shape)
    st = array_strides(planes)
    return strided_view(planes, (16, shape[1], _prod(shape[2:])), (st[0], st[1], 1))


def _gemm_into(a, b, out):
    """out = a @ b for (16, M, K) @ (16, K, N) into 16 padded planes; returns out."""
    KM.matmul(a, b, _matrices(out))
    return out


def _tile_grid(x, geo):
    """(N, TH, TW): the Winograd tile grid, one tile per 2x2 block of outputs."""
    return x.shape[0], (geo.out_size[0] + 1) // 2, (geo.out_size[1] + 1) // 2


def _winograd_inputs(x, geo, dtype, dev):
    v = _planes16((x.shape[1], *_tile_grid(x, geo)), dtype, dev)
    KW.winograd_input(x, v, *geo.pad, dtype.np.type(0))
    return v


def _winograd_weights(w, dtype, dev):
    u = _planes16(w.shape[:2], dtype, dev)
    KW.winograd_weight(w, u)
    return u


def _winograd_forward(x, w, bias, geo, dtype, dev):
    n, o = x.shape[0], w.shape[0]
    v = _winograd_inputs(x, geo, dtype, dev)
    m = _gemm_into(_winograd_weights(w, dtype, dev), _matrices(v), _planes16((o, *_tile_grid(x, geo)), dtype, dev))
    del v
    out = empty_array((n, o, *geo.out_size), dtype, dev)
    KW.winograd_output(m, flat(w) if bias is None else bias, out, bias is not None)
    return out


def _winograd_backward(g, x, w, geo, needs, dtype, dev):
    # All transforms first, then both GEMMs, then the inverse transforms: Numba's
    # threads and BLAS's hand over the cores twice instead of four times.
    o, c, grid = w.shape[0], x.shape[1], _tile_grid(x, geo)
    g_tiles = _planes16((o, *grid), dtype, dev)
    g_bias = empty_array((o,), dtype, dev)
    KW.winograd_output_grad(g, g_tiles, g_bias, dtype.np.type(0))
    v = _winograd_inputs(x, geo, dtype, dev) if needs[1] else None
    u = _winograd_weights(w, dtype, dev) if needs[0] else None
    g_u = _gemm_into(_matrices(g_tiles), _mT(_matrices(v)), _planes16((o, c), dtype, dev)) if needs[1] else None
    del v
    g_v = _gemm_into(_mT(u), _matrices(g_tiles), _planes16((c, *grid), dtype, dev)) if needs[0] else None
    del g_tiles
    gx = gw = None
    if needs[1]:
        gw = empty_array(w.shape, dtype, dev)
        KW.winograd_weight_grad(g_u, gw)
    if needs[0]:
        gx = empty_array(x.shape, dtype, dev)
        KW.winograd_input_grad(g_v, gx, *geo.pad)
    return gx, gw, g_bias


def grad_array(grad, dtype):
    """An output gradient as a contiguous array of the op's dtype (torch casts a mismatched one)."""
    g = grad._array
    return contiguous_array(g if grad.dtype is dtype else cast_array(g, dtype.np))


class Conv2d(Function):
    """conv2d of a 4-D input; `geo` holds the parsed stride, padding, dilation and groups."""

    @staticmethod
    def forward(ctx, input, weight, bias, geo):
        ctx.save_for_backward(input, weight)
        ctx.geo = geo
        x = contiguous_array(input._array)
        w = contiguous_array(weight._array)
        b = None if bias is None else contiguous_array(bias._array)
        forward, _ = _algorithm(x.shape, w.shape, geo)
        return wrap(forward(x, w, b, geo, input.dtype, input._device), input._device)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        geo = ctx.geo
        x = contiguous_array(input._array)
        w = contiguous_array(weight._array)
        g = grad_array(grad, input.dtype)
        _, backward = _algorithm(x.shape, w.shape, geo)
        needs = ctx.needs_input_grad[:3]
        dev = grad._device
        gx, gw, gb = backward(g, x, w, geo, needs, input.dtype, dev)
        return (wrap(gx, dev) if needs[0] else None, wrap(gw, dev) if needs[1] else None,
                wrap(gb, dev) if needs[2] else None, None)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of a (N, C, H, W) or (C, H, W) input, as torch."""
    _check_types(input, weight, bias)
    if input.ndim not in (3, 4):
        raise RuntimeError("conv2d: Expected 3D (unbatched) or 4D (batched) input to conv2d, but got "
                           f"input of size: {list(input.shape)}")
    if weight.ndim != 4:
        raise RuntimeError("conv2d: expected weight to be 4-dimensional (out_channels, in_channels / "
                           f"groups, kH, kW), but got weight of size {list(weight.shape)}")
    if not _is_int(groups):
        raise TypeError(f"conv2d(): argument 'groups' must be int, not {type(groups).__name__}")
    batched = input.ndim == 4
    x = input if batched else unsqueeze(input, 0)
    _check_shapes(x, weight, bias, groups)
    geo = _geometry(x, weight, stride, padding, dilation, int(groups))
    out = Conv2d.apply(x, weight, bias, geo)
    return out if batched else squeeze(out, 0)


__all__ = ["conv2d"]

TENSOR_METHODS = []
