"""unfold (im2col) and fold (col2im), as torch.nn.functional.

Each is the other's backward, and both run conv's im2col / col2im kernels
(kernels/conv.py): no kernel of their own. Those kernels lay the columns out
as (C, KH, KW, N, OH, OW), conv's GEMM operand, while torch's layout is
(N, C*KH*KW, OH*OW). For one image the two are the same array, so on the CPU
the kernel runs once per image straight into (or out of) torch's layout: one
pass over the data. Only tiny images (where N calls cost more than a pass), and
CUDA (where N launches do), run the kernel once over the whole batch and re-lay
the columns with the strided copy.

unfold takes (N, C, H, W) or unbatched (C, H, W); fold takes (N, C*KH*KW, L)
or unbatched (C*KH*KW, L). Arguments are ints or pairs (torch's `_pair`).
"""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ._arrays import contiguous_array, copy_array_into, strided_view
from ._util import check_tensor, empty_array, wrap
from .conv import grad_array
from .shape import squeeze, unsqueeze

KC = kernels("conv")

# Below this many column elements per image, one call over the batch plus a
# re-layout copy beats a call per image on the CPU. Measured on 2 cores: a call
# per image won from (512,1,16,16) k3 (1764 per image: 1.6 vs 2.5 ms) up to
# (8,64,56,56) k3 (2.2 vs 15 ms) and lost only on (256,1,8,8) k2 (196: 0.44 vs 0.14 ms).
PER_IMAGE_WORK = 1 << 10


# ---------------------------------------------------------------- the two array routines


def _per_image(n, work, dev):
    """Whether to run the kernel once per image, in torch's layout (no re-layout pass)."""
    if n == 1:
        return True
    if dev.type != "cpu":  # N launches cost more than one re-layout pass at GPU bandwidth
        return False
    return work >= PER_IMAGE_WORK


def _gemm_view(a, n, rows, blocks):
    """An (N, rows, L) array viewed as conv's (rows, N, L) column layout (no copy)."""
    return strided_view(a, (rows, n, blocks), (blocks, rows * blocks, 1))


def im2col_array(x, geo, dtype, dev):
    """x (N, C, H, W) contiguous -> the (N, C*KH*KW, OH*OW) columns of geo's sliding blocks."""
    (kh, kw), out_hw, args = geo
    n, c = x.shape[:2]
    rows, blocks = c * kh * kw, out_hw[0] * out_hw[1]
    out = empty_array((n, rows, blocks), dtype, dev)
    if out.size == 0:
        return out
    if _per_image(n, rows * blocks, dev):
        for i in range(n):
            KC.im2col(x[i:i + 1], out[i].reshape((c, kh, kw, 1, *out_hw)), *args)
        return out
    cols = empty_array((c, kh, kw, n, *out_hw), dtype, dev)
    KC.im2col(x, cols, *args)
    copy_array_into(cols.reshape((rows, n, blocks)), _gemm_view(out, n, rows, blocks))
    return out


def col2im_array(cols, x_shape, geo, dtype, dev):
    """cols (N, C*KH*KW, L) contiguous -> (N, C, H, W): each column entry summed onto its pixel."""
    (kh, kw), out_hw, args = geo
    n, c = x_shape[:2]
    rows, blocks = c * kh * kw, out_hw[0] * out_hw[1]
    out = empty_array(x_shape, dtype, dev)
    if out.size == 0:
        return out
    if _per_image(n, rows * blocks, dev):
        for i in range(n):
            KC.col2im(cols[i].reshape((c, kh, kw, 1, *out_hw)), out[i:i + 1], *args)
        return out
    gemm = empty_array((c, kh, kw, n, *out_hw), dtype, dev)
    copy_array_into(_gemm_view(cols, n, rows, blocks), gemm.reshape((rows, n, blocks)))
    KC.col2im(gemm, out, *args)
    return out


# ---------------------------------------------------------------- autograd


class Unfold(Function):
    """im2col of a batched (N, C, H, W) input; its gradient is col2im of the output gradient."""

    @staticmethod
    def forward(ctx, input, geo):
        ctx.meta = (tuple(input.shape), geo, input.dtype)
        x = contiguous_array(input._array)
        return wrap(im2col_array(x, geo, input.dtype, input._device), input._device)

    @staticmethod
    def backward(ctx, grad):
        shape, geo, dtype = ctx.meta
        g = grad_array(grad, dtype)
        return wrap(col2im_array(g, shape, geo, dtype, grad._device), grad._device), None


class Fold(Function):
    """col2im of batched (N, C*KH*KW, L) columns into (N, C, H, W); its gradient is im2col."""

    @staticmethod
    def forward(ctx, input, geo, out_shape):
        ctx.meta = (geo, input.dtype)
        cols = contiguous_array(input._array)
        return wrap(col2im_array(cols, out_shape, geo, input.dtype, input._device), input._device)

    @staticmethod
    def backward(ctx, grad):
        geo, dtype = ctx.meta
        g = grad_array(grad, dtype)
        return wrap(im2col_array(g, geo, dtype, grad._device), grad._device), None, None


# ---------------------------------------------------------------- argument checks (torch's order and words)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _pair(op, name, value):
    """torch's `_pair` followed by im2col/col2im's check that a size has two entries."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    for i, v in enumerate(values):
        if not _is_int(v):
            raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, but found element of type "
                            f"{type(v).__name__} at pos {i}")
    if len(values) != 2:
        raise RuntimeError(f"{op}: It is expected {name} equals to 2, but got size {len(values)}")
    return int(values[0]), int(values[1])


def _window(op, kernel_size, dilation, padding, stride):
    kernel = _pair(op, "kernel_size", kernel_size)
    dilation = _pair(op, "dilation", dilation)
    padding = _pair(op, "padding", padding)
    stride = _pair(op, "stride", stride)
    if min(kernel) <= 0:
        raise RuntimeError(f"{op}: kernel size should be greater than zero, but got kernel_height: {kernel[0]} "
                           f"kernel_width: {kernel[1]}")
    if min(stride) <= 0:
        raise RuntimeError(f"{op}: stride should be greater than zero, but got stride_height: {stride[0]} "
                           f"stride_width: {stride[1]}")
    if min(dilation) <= 0:
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got dilation_height: "
                           f"{dilation[0]} dilation_width: {dilation[1]}")
    if min(padding) < 0:
        raise RuntimeError(f"{op}: padding should be non-negative, but got pad_height: {padding[0]} "
                           f"pad_width: {padding[1]}")
    return kernel, dilation, padding, stride


def _blocks(size, kernel, dilation, padding, stride):
    """The number of sliding blocks along each spatial dim (may be < 1: the caller checks)."""
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))


def _geometry(kernel, dilation, padding, stride, blocks):
    """What the array routines take: kernel, (OH, OW), and the conv kernels' scalar arguments."""
    return kernel, blocks, (*stride, *padding, *dilation)


def _check_dtype(op, input):
    check_tensor(op, "input", input)
    if input.dtype not in (_dt.float32, _dt.float64):
        raise NotImplementedError(f'"{op}" not implemented for \'{input.dtype.name}\' (nnlite folds float32 and '
                                  'float64 tensors)')


def _batched(input, dims, apply):
    """apply(batched input); an unbatched input gets and loses a batch of one, as torch."""
    if input.ndim == dims + 1:
        return apply(input)
    return squeeze(apply(unsqueeze(input, 0)), 0)


# ---------------------------------------------------------------- the functions


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extracts sliding local blocks: (N, C, H, W) -> (N, C*KH*KW, L), L the number of blocks, as torch."""
    _check_dtype("unfold", input)
    kernel, dilation, padding, stride = _window("unfold", kernel_size, dilation, padding, stride)
    if input.ndim < 3:
        raise IndexError(f"unfold: Dimension out of range: expected a 3D or 4D input, but got input of size "
                         f"{list(input.shape)}")
    if input.ndim > 4 or 0 in tuple(input.shape[-3:]):
        raise RuntimeError("unfold: Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other "
                           f"non-zero dimensions for input, but got: {list(input.shape)}")
    size = tuple(input.shape[-2:])
    blocks = _blocks(size, kernel, dilation, padding, stride)
    if min(blocks) < 1:
        raise RuntimeError(f"unfold: Given input with spatial size {size}, kernel_size={kernel}, dilation="
                           f"{dilation}, padding={padding}, calculated shape of the array of sliding blocks as "
                           f"{blocks}, but its components must be at least one.")
    geo = _geometry(kernel, dilation, padding, stride, blocks)
    return _batched(input, 3, lambda x: Unfold.apply(x, geo))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combines sliding local blocks into a tensor, summing overlaps: (N, C*KH*KW, L) -> (N, C, *output_size)."""
    _check_dtype("fold", input)
    output_size = _pair("fold", "output_size", output_size)
    kernel, dilation, padding, stride = _window("fold", kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3) or 0 in tuple(input.shape[-2:]):
        raise RuntimeError("fold: Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
                           f"non-zero dimensions for input, but got: {list(input.shape)}")
    rows, length = input.shape[-2:]
    if rows % (kernel[0] * kernel[1]):
        raise RuntimeError(f"fold: Expected size of input's dimension {input.ndim - 2} to be divisible by the "
                           f"product of kernel_size, but got input.size({input.ndim - 2})={rows} and "
                           f"kernel_size={kernel}.")
    blocks = _blocks(output_size, kernel, dilation, padding, stride)
    if min(blocks) < 1 or blocks[0] * blocks[1] != length:
        raise RuntimeError(f"fold: Given output_size={output_size}, kernel_size={kernel}, dilation={dilation}, "
                           f"padding={padding}, stride={stride}, expected size of input's dimension "
                           f"{input.ndim - 1} to match the calculated number of sliding blocks {blocks[0]} * "
                           f"{blocks[1]} = {blocks[0] * blocks[1]}, but got input.size({input.ndim - 1})={length}.")
    geo = _geometry(kernel, dilation, padding, stride, blocks)
    channels = rows // (kernel[0] * kernel[1])
    return _batched(input, 2, lambda x: Fold.apply(x, geo, (x.shape[0], channels, *output_size)))


__all__ = ["fold", "unfold"]

TENSOR_METHODS = []
