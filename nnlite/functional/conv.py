"""conv1d/2d/3d and conv_transpose1d/2d/3d, as torch.nn.functional.

A 1-D op is its 2-D op with height 1: the arrays are reshaped (no copy) to
(N, C, 1, L) and every kernel below serves both. A 3-D op runs the GEMM paths
with 3-D kernels (Winograd and the depthwise kernels are 2-D only): the
geometry's tuples then have three entries.

Four algorithms for convolutions, chosen per call by `_algorithm`:

- im2col -> one GEMM over the whole batch (the matmul primitive) -> an NCHW
  re-layout that also adds the bias; backward runs the transposed GEMMs and
  col2im (kernels/conv.py has the layouts). Any stride, padding, dilation, groups.
- implicit GEMM for ungrouped convolutions on the CPU (_conv_implicit.py): the
  same GEMMs one cache-sized chunk of columns at a time, never the whole matrix.
- Winograd F(2x2, 3x3) for large 3x3 stride-1 convolutions: 16 GEMMs with
  2.25x fewer flops in all (_conv_winograd.py).
- direct kernels for depthwise convolutions (groups == in_channels), whose
  GEMMs would be tiny and memory-bound.

On the CPU each GEMM is cut into one single-threaded slice per core when
threadpoolctl is installed (see "GEMMs on the CPU" below).

A transposed convolution is a convolution's backward-data: its forward is the
GEMM w.T @ x followed by col2im, and its input gradient is the convolution of
the output gradient by the same weight (im2col + GEMM); its weight gradient
pairs x with those same columns. No kernel of its own. Where the implicit GEMM
serves the convolution, it serves both gradients, and a stride-1 forward.

Backward recomputes the column matrix (or transformed tiles) instead of keeping
it from forward: it is several times the size of the input, too much to hold
per layer while a network trains, and the caching allocator makes the
recomputation cheap.
"""
from typing import NamedTuple

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.cublas import tf32_math
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._util import check_same_device, empty_array, flat, wrap
from .linear import _mT, mm_array
from ._arrays import array_strides, cast_array, contiguous_array, strided_view
from .binary import K as KB, binary_arrays
from .reduction import sum_array
from .shape import squeeze, unsqueeze
from . import _conv_implicit as implicit, _conv_pointwise as pointwise, _conv_winograd as winograd

KC = kernels("conv")
KC3 = kernels("conv3d")
KM = kernels("matmul")


class ConvGeometry(NamedTuple):
    stride: tuple       # (sh, sw), or (sd, sh, sw) in 3-D
    pad: tuple          # (top, left); bottom/right are implied by out_size
    dilation: tuple     # (dh, dw)
    groups: int
    out_size: tuple     # (OH, OW), or (OD, OH, OW)

    def kernel_args(self):
        """The scalar arguments every conv kernel takes after its arrays."""
        return (*self.stride, *self.pad, *self.dilation)


# ---------------------------------------------------------------- argument parsing


def _ints(op, name, value, dims):
    """torch's parsing of an int-or-tuple convolution argument, as `dims` ints."""
    values = (value,) if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) for v in values):
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of {dims} ints, "
                        f"but got {value!r}")
    if len(values) not in (1, dims):
        raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of {dims} values to "
                           f"match the convolution dimensions, but got {name}={list(values)}")
    return tuple(int(v) for v in values) if len(values) == dims else (int(values[0]),) * dims


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _sizes(values):
    """A size as torch prints it in conv errors: (2 x 3), or (2) in 1-D."""
    return "(" + " x ".join(str(v) for v in values) + ")"


def _lift(values, fill):
    """A 1-D argument as the 2-D one of height 1: (fill, v); 2-D arguments as they are."""
    return (fill,) * (2 - len(values)) + tuple(values)


def _padding(op, padding, stride, dilation, kernel):
    """(lo, hi) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    dims = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding != "same":
            raise RuntimeError(f"{op}: Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions")
        # total padding d*(k-1); when odd, the extra row/column goes bottom/right (as torch)
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in total)
    pads = _ints(op, "padding", padding, dims)
    if min(pads) < 0:
        raise RuntimeError(f"{op}: negative padding is not supported")
    return tuple((p, p) for p in pads)


def _check_shapes(op, x, weight, bias, groups, transposed=False):
    """Channels, groups and bias against the weight: (O, C/g, *k), or (C, O/g, *k) when transposed."""
    w_shape = list(weight.shape)
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported")
    if weight.shape[0] < groups or weight.shape[0] % groups:
        what = "be divisible by" if weight.shape[0] >= groups else "be at least"
        raise RuntimeError(f"{op}: Given groups={groups}, expected weight to {what} {groups} at dimension "
                           f"0, but got weight of size {w_shape} instead")
    given = "transposed=1" if transposed else f"groups={groups}"
    channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.shape[1] != channels:
        raise RuntimeError(f"{op}: Given {given}, weight of size {w_shape}, expected input{list(x.shape)} to have "
                           f"{channels} channels, but got {x.shape[1]} channels instead")
    outputs = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != outputs):
        given = "transposed=1, weight" if transposed else "weight"
        raise RuntimeError(f"{op}: Given {given} of size {w_shape}, expected bias to be 1-dimensional with "
                           f"{outputs} elements, but got bias of size {list(bias.shape)} instead")


def _check_types(op, input, weight, bias):
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if not isinstance(t, Tensor) and not (name == "bias" and t is None):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    check_same_device(op, input, weight, bias)
    if input.dtype not in (_dt.float32, _dt.float64):
        raise RuntimeError(f"{op}: expected a float32 or float64 input, but got {input.dtype.name}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype is not input.dtype:
            raise RuntimeError(f"{op}: Input type ({input.dtype.name}) and {name} type ({t.dtype.name}) should be "
                               "the same")


def _check_args(op, input, weight, bias, groups, dims):
    """Types, ranks and groups of a conv/conv_transpose call with `dims` spatial dims."""
    _check_types(op, input, weight, bias)
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{op}: Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {op}, but "
                           f"got input of size: {list(input.shape)}")
    if weight.ndim != dims + 2:
        raise RuntimeError(f"{op}: expected weight to be {dims + 2}-dimensional, but got weight of size "
                           f"{list(weight.shape)}")
    if not _is_int(groups):
        raise TypeError(f"{op}(): argument 'groups' must be int, not {type(groups).__name__}")


def _positive(op, name, values):
    if min(values) <= 0:
        raise RuntimeError(f"{op}: non-positive {name} is not supported")


def _geometry(op, x, weight, stride, padding, dilation, groups):
    """The 2-D ConvGeometry of a convolution of x (N, C, *spatial) by weight (O, C/g, *k)."""
    kernel = tuple(weight.shape[2:])
    dims = len(kernel)
    stride = _ints(op, "stride", stride, dims)
    dilation = _ints(op, "dilation", dilation, dims)
    _positive(op, "stride", stride)
    _positive(op, "dilation", dilation)
    pads = _padding(op, padding, stride, dilation, kernel)
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)]
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(p < k for p, k in zip(padded, span)):
        raise RuntimeError(f"{op}: Calculated padded input size per channel: {_sizes(padded)}. Kernel size: "
                           f"{_sizes(span)}. Kernel size can't be greater than actual input size")
    out = tuple((p - k) // s + 1 for p, k, s in zip(padded, span, stride))
    return ConvGeometry(_lift(stride, 1), _lift([lo for lo, _ in pads], 0), _lift(dilation, 1), groups,
                        _lift(out, 1))


def _transposed_geometry(op, x, weight, stride, padding, output_padding, dilation, groups):
    """(geometry of the convolution whose backward-data this is, the 2-D output size)."""
    kernel = tuple(weight.shape[2:])
    dims = len(kernel)
    stride = _ints(op, "stride", stride, dims)
    padding = _ints(op, "padding", padding, dims)
    output_padding = _ints(op, "output_padding", output_padding, dims)
    dilation = _ints(op, "dilation", dilation, dims)
    _positive(op, "stride", stride)
    _positive(op, "dilation", dilation)
    if min(padding) < 0:
        raise RuntimeError(f"{op}: negative padding is not supported")
    if min(output_padding) < 0:
        raise RuntimeError(f"{op}: negative output_padding is not supported")
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        axes = ("depth", "height", "width")[3 - max(2, dims):]
        got = " ".join(f"{what}_{axis}: {v}" for what, values in (("output_padding", _lift(output_padding, 0)),
                                                                   ("stride", _lift(stride, 1)),
                                                                   ("dilation", _lift(dilation, 1)))
                       for axis, v in zip(axes, values))
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but got {got}")
    spatial = tuple(x.shape[2:])
    out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1
                for i, s, p, d, k, o in zip(spatial, stride, padding, dilation, kernel, output_padding))
    if min(out) <= 0:
        raise RuntimeError(f"{op}: Given input size per channel: {_sizes(spatial)}. Calculated output size per "
                           f"channel: {_sizes(out)}. Output size is too small")
    # the convolution of the output by the weight has the input's size (output_padding < stride
    # keeps it so; where output_padding >= stride it would be longer, and im2col reads only that much)
    geo = ConvGeometry(_lift(stride, 1), _lift(padding, 0), _lift(dilation, 1), groups, _lift(spatial, 1))
    return geo, _lift(out, 1)


def _gemm(a, b, dtype, dev):
    """a @ b for 2-D or batched 3-D arrays, as a new array."""
    return mm_array(a, b, dtype, dev)


# ---------------------------------------------------------------- the three algorithms

# Winograd pays off once the GEMMs dominate: enough channels on both sides and
# enough work that its six transform kernels (and their cold-start load, ~10 ms
# each) are worth it. Tests lower these to cover it on small shapes.
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_MACS = 1 << 24


def _algorithm(x_shape, w_shape, geo, dtype, dev):
    """(forward, backward) for this convolution.

    2-D depthwise: direct kernels. 2-D 1x1 stride 1 on the CPU: per-image GEMMs on
    the NCHW layout. 2-D 3x3, stride 1, dilation 1, and big enough:
    Winograd F(2x2, 3x3) (2.25x fewer GEMM flops, and transformed tiles smaller
    than im2col's columns). Other ungrouped convolutions on the CPU: implicit
    GEMM, except 2-D strided ones (see STRIDED_IMPLICIT_MIN_PLANE). Everything
    else (grouped, CUDA): im2col + GEMM.
    """
    if len(geo.out_size) == 2 and geo.groups == x_shape[1]:
        return _depthwise_forward, _depthwise_backward
    if pointwise.usable(x_shape, w_shape, geo, dev):
        return pointwise.forward, pointwise.backward
    o, c = w_shape[0], x_shape[1]
    macs = x_shape[0] * o * c * 9 * _prod(geo.out_size)
    if (tuple(w_shape[2:]) == (3, 3) and geo.stride == (1, 1) and geo.dilation == (1, 1) and geo.groups == 1
            and min(o, c) >= WINOGRAD_MIN_CHANNELS and macs >= WINOGRAD_MIN_MACS):
        return winograd.forward, winograd.backward
    if implicit.usable(x_shape, w_shape, geo, dtype, dev):
        if len(geo.out_size) == 2 and not implicit.is_unit_stride(geo):
            return _strided_2d_forward(geo), _gemm_backward
        return implicit.forward, _implicit_backward
    return _gemm_forward, _gemm_backward


# Strided 2-D convolutions on the CPU (ResNet's stride-2 3x3 and 1x1 downsample convs, the
# 7x7 stem), one thread, process CPU time, batch 16: im2col + one GEMM ran the backward
# 1.0-2.0x faster than the implicit GEMM on every shape tried (stem at 128 and 224 included),
# and the forward 1.2-3.2x faster on output planes up to 28x28, where the implicit GEMM's
# per-chunk GEMMs are a few hundred columns wide; from 64x64 output planes up (the stem) the
# implicit forward won by 1.2-1.5x, as it never writes the whole column matrix (planes in
# between were not measured).
STRIDED_IMPLICIT_MIN_PLANE = 2048


def _strided_2d_forward(geo):
    return implicit.forward if _prod(geo.out_size) >= STRIDED_IMPLICIT_MIN_PLANE else _gemm_forward


def _grouped(a, groups, rows, cols):
    """A contiguous array viewed as one (rows, cols) matrix per group."""
    return a.reshape((rows, cols)) if groups == 1 else a.reshape((groups, rows, cols))


def _columns(x, w_shape, geo, dtype, dev):
    """im2col of x: (C, KH, KW, N, OH, OW) = (C*KH*KW, N*OH*OW) rows of input taps (and KD, OD in 3-D)."""
    n, c = x.shape[:2]
    cols = empty_array((c, *w_shape[2:], n, *geo.out_size), dtype, dev)
    (KC.im2col if x.ndim == 4 else KC3.im2col3d)(x, cols, *geo.kernel_args())
    return cols


def _gemm_forward(x, w, bias, geo, dtype, dev):
    # no local name for the columns, so _columns_to_output can free them early
    return _columns_to_output(_columns(x, w.shape, geo, dtype, dev), w, bias, x.shape[0], geo, dtype, dev)


def _columns_to_output(cols, w, bias, n, geo, dtype, dev):
    """The NCHW output w @ cols (+ bias) of im2col columns; frees cols before taking the output."""
    o, g = w.shape[0], geo.groups
    plane = _prod(geo.out_size)
    rows = w.size // o
    product = _gemm(_grouped(w, g, o // g, rows), _grouped(cols, g, rows, n * plane), dtype, dev)
    del cols  # back to the allocator before the output is taken, unless the caller still holds it
    out = empty_array((n, o, *geo.out_size), dtype, dev)
    # with no bias the kernel still needs an array of the right type: the weight stands in
    KC.cnhw_to_nchw(product.reshape((o, n, plane)), flat(w) if bias is None else bias,
                    out.reshape((n, o, plane)), bias is not None)
    return out


def _gemm_operand(g, groups, dtype, dev):
    """A (N, O, H, W) array as the GEMM operand (O, N*H*W), grouped, and its per-channel sums."""
    n, o = g.shape[:2]
    plane = _prod(g.shape[2:])
    cols = empty_array((o, n, plane), dtype, dev)
    sums = empty_array((o,), dtype, dev)
    KC.nchw_to_cnhw(g.reshape((n, o, plane)), cols, sums)
    return _grouped(cols, groups, o // groups, n * plane), sums


def _weight_grad(g_cols, cols, w_shape, groups, dtype, dev):
    """g_cols (O, N*P) @ cols.T (C*KH*KW, N*P), per group, as a weight of shape w_shape."""
    rows = _prod(w_shape[1:])
    pixels = g_cols.shape[len(g_cols.shape) - 1]  # (the simulator's shapes take no negative index)
    # Computed as (cols @ g_cols.T).T: OpenBLAS runs the long-K product with the small
    # (O, rows) output up to 18x slower on two threads than with its operands swapped
    # (conv3d (2,32,16,32,32) k3: 600 ms -> 32 ms); the transpose copies only the weight.
    gw_t = _gemm(_grouped(cols, groups, rows, pixels), _mT(g_cols), dtype, dev)
    return contiguous_array(_mT(gw_t)).reshape(w_shape)


def _input_grad(g_cols, w, x_shape, geo, dtype, dev):
    """col2im of w.T @ g_cols: the gradient reaching an input of shape x_shape."""
    o, groups = w.shape[0], geo.groups
    d_cols = _gemm(_mT(_grouped(w, groups, o // groups, w.size // o)), g_cols, dtype, dev)
    gx = empty_array(x_shape, dtype, dev)
    (KC.col2im if len(x_shape) == 4 else KC3.col2im3d)(
        d_cols.reshape((x_shape[1], *w.shape[2:], x_shape[0], *geo.out_size)), gx, *geo.kernel_args())
    return gx


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _implicit_backward(g, x, w, geo, needs, dtype, dev):
    if implicit.is_unit_stride(geo):
        return implicit.backward(g, x, w, geo, needs, dtype, dev)
    gx, _, gb = _gemm_backward(g, x, w, geo, (needs[0], False, needs[2]), dtype, dev)
    return gx, implicit.weight_grad(g, x, w, geo, dtype) if needs[1] else None, gb


def _gemm_backward(g, x, w, geo, needs, dtype, dev):
    g_cols, g_bias = _gemm_operand(g, geo.groups, dtype, dev)
    gx = gw = None
    if needs[1]:
        gw = _weight_grad(g_cols, _columns(x, w.shape, geo, dtype, dev), w.shape, geo.groups, dtype, dev)
    if needs[0]:
        gx = _input_grad(g_cols, w, x.shape, geo, dtype, dev)
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


# ---------------------------------------------------------------- transposed convolutions
# w is (C, O/g, KH, KW): read as the weight of a convolution from O to C channels, the
# transposed conv of x is that convolution's backward-data (col2im of w.T @ x).


def _transposed_implicit(x_shape, w_shape, geo, dtype, dev):
    return implicit.usable(x_shape, w_shape, geo, dtype, dev)


def _transposed_forward(x, w, bias, geo, out_size, dtype, dev):
    out_shape = (x.shape[0], w.shape[1] * geo.groups, *out_size)
    if _transposed_implicit(out_shape, w.shape, geo, dtype, dev) and implicit.is_unit_stride(geo):
        out = implicit.input_grad(x, w, out_shape, geo, dtype)
    else:
        x_cols, _ = _gemm_operand(x, geo.groups, dtype, dev)
        out = _input_grad(x_cols, w, out_shape, geo, dtype, dev)
    if bias is not None:
        binary_arrays(KB.add, out, bias.reshape((1, bias.shape[0]) + (1,) * len(out_size)), dtype, dev, out=out)
    return out


def _transposed_backward(g, x, w, geo, needs, dtype, dev):
    gx = gw = gb = None
    if needs[2]:
        gb = sum_array(g, tuple(i for i in range(g.ndim) if i != 1), dtype, dev)
    if _transposed_implicit(g.shape, w.shape, geo, dtype, dev):
        # x is the output gradient of the convolution of g by w
        gx = implicit.forward(g, w, None, geo, dtype, dev) if needs[0] else None
        gw = implicit.weight_grad(x, g, w, geo, dtype) if needs[1] else None
        return gx, gw, gb
    # the columns of g serve both gradients: gx = w @ cols (a convolution), gw = x @ cols.T
    cols = _columns(g, w.shape, geo, dtype, dev) if needs[0] or needs[1] else None
    if needs[1]:
        x_cols, _ = _gemm_operand(x, geo.groups, dtype, dev)
        gw = _weight_grad(x_cols, cols, w.shape, geo.groups, dtype, dev)
        del x_cols
    if needs[0]:
        gx = _columns_to_output(cols, w, None, x.shape[0], geo, dtype, dev)
    return gx, gw, gb


def grad_array(grad, dtype):
    """An output gradient as a contiguous array of the op's dtype (torch casts a mismatched one)."""
    g = grad._array
    return contiguous_array(g if grad.dtype is dtype else cast_array(g, dtype.np))


def _as_2d(a):
    """A contiguous (N, C, L) array as (N, C, 1, L), without a copy; 4-D and 5-D arrays as they are."""
    return a if a.ndim != 3 else a.reshape((a.shape[0], a.shape[1], 1, a.shape[2]))


def _unlift(out, ndim):
    """A kernel's output for a batched input of rank ndim: 1-D loses the height of 1 again."""
    return out if ndim != 3 else out.reshape((out.shape[0], out.shape[1], out.shape[3]))


class Convolution(Function):
    """conv1d/2d/3d of a batched input; `geo` holds the parsed stride, padding, dilation, groups."""

    @staticmethod
    def forward(ctx, input, weight, bias, geo):
        ctx.save_for_backward(input, weight)
        ctx.geo = geo
        x = _as_2d(contiguous_array(input._array))
        w = _as_2d(contiguous_array(weight._array))
        b = None if bias is None else contiguous_array(bias._array)
        forward, _ = _algorithm(x.shape, w.shape, geo, input.dtype, input._device)
        with tf32_math():
            out = forward(x, w, b, geo, input.dtype, input._device)
        return wrap(_unlift(out, input.ndim), input._device)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        geo = ctx.geo
        x = _as_2d(contiguous_array(input._array))
        w = _as_2d(contiguous_array(weight._array))
        g = _as_2d(grad_array(grad, input.dtype))
        needs = ctx.needs_input_grad[:3]
        dev = grad._device
        _, backward = _algorithm(x.shape, w.shape, geo, input.dtype, dev)
        with tf32_math():
            gx, gw, gb = backward(g, x, w, geo, needs, input.dtype, dev)
        return (wrap(gx.reshape(input._array.shape), dev) if needs[0] else None,
                wrap(gw.reshape(weight._array.shape), dev) if needs[1] else None,
                wrap(gb, dev) if needs[2] else None, None)


class ConvTranspose(Function):
    """conv_transpose1d/2d/3d of a batched input: the backward-data of the convolution `geo` describes."""

    @staticmethod
    def forward(ctx, input, weight, bias, geo, out_size):
        ctx.save_for_backward(input, weight)
        ctx.geo = geo
        x = _as_2d(contiguous_array(input._array))
        w = _as_2d(contiguous_array(weight._array))
        b = None if bias is None else contiguous_array(bias._array)
        with tf32_math():
            out = _transposed_forward(x, w, b, geo, out_size, input.dtype, input._device)
        return wrap(_unlift(out, input.ndim), input._device)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        x = _as_2d(contiguous_array(input._array))
        w = _as_2d(contiguous_array(weight._array))
        g = _as_2d(grad_array(grad, input.dtype))
        needs = ctx.needs_input_grad[:3]
        dev = grad._device
        with tf32_math():
            gx, gw, gb = _transposed_backward(g, x, w, ctx.geo, needs, input.dtype, dev)
        return (wrap(gx.reshape(input._array.shape), dev) if needs[0] else None,
                wrap(gw.reshape(weight._array.shape), dev) if needs[1] else None,
                wrap(gb, dev) if needs[2] else None, None, None)


def _batched(input, dims, apply):
    """apply(batched input), unbatched input getting and losing a batch of one, as torch."""
    if input.ndim == dims + 2:
        return apply(input)
    return squeeze(apply(unsqueeze(input, 0)), 0)


def _conv(op, dims, input, weight, bias, stride, padding, dilation, groups):
    _check_args(op, input, weight, bias, groups, dims)

    def apply(x):
        _check_shapes(op, x, weight, bias, groups)
        return Convolution.apply(x, weight, bias, _geometry(op, x, weight, stride, padding, dilation, int(groups)))
    return _batched(input, dims, apply)


def _conv_transpose(op, dims, input, weight, bias, stride, padding, output_padding, groups, dilation):
    _check_args(op, input, weight, bias, groups, dims)

    def apply(x):
        _check_shapes(op, x, weight, bias, groups, transposed=True)
        geo, out_size = _transposed_geometry(op, x, weight, stride, padding, output_padding, dilation, int(groups))
        return ConvTranspose.apply(x, weight, bias, geo, out_size)
    return _batched(input, dims, apply)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of a (N, C, L) or (C, L) input, as torch."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of a (N, C, H, W) or (C, H, W) input, as torch."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) of a (N, C, D, H, W) or (C, D, H, W) input, as torch."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution of a (N, C, L) or (C, L) input by a (C, O/groups, K) weight, as torch."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution of a (N, C, H, W) or (C, H, W) input by a (C, O/groups, KH, KW) weight."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution of a (N, C, D, H, W) or (C, D, H, W) input by a (C, O/groups, KD, KH, KW)
    weight, as torch."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

TENSOR_METHODS = []
