"""pad (torch.nn.functional.pad): constant, reflect, replicate and circular padding.

`pad` lists (before, after) amounts from the last dim backwards, as torch
does; negative amounts crop. The kernels pad up to three trailing dims of a
canonical (B, D, H, W) view; constant padding of more dims is done three
dims at a time (see `_pad_constant_beyond_three`). Padding runs the kernels
of `nnlite.kernels.padding`; gradients flow to the input (never to `value`).
"""
import numpy as np

from ..autograd.function import Function
from ..backend.lazy import kernels
from ._util import check_tensor, empty_array, wrap
from ._arrays import cast_array, contiguous_array
from .shape import narrow, reshape

K = kernels("padding")

_MODES = {"constant": 0, "reflect": 1, "replicate": 2, "circular": 3}
# pad length -> input ranks the non-constant modes accept (torch's table)
_NON_CONSTANT_RANKS = {2: (2, 3), 4: (3, 4), 6: (4, 5)}


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class Pad(Function):
    """Pads the last k <= 3 dims of x by `pairs` [(before, after) for dims -k..-1] in mode `code`."""

    @staticmethod
    def forward(ctx, x, pairs, code, value):
        shape = tuple(x.shape)
        k = len(pairs)
        pairs = [(0, 0)] * (3 - k) + list(pairs)
        sizes = [1] * (3 - k) + list(shape[len(shape) - k:])
        outer = _prod(shape[:len(shape) - k])
        out_sizes = [n + lo + hi for n, (lo, hi) in zip(sizes, pairs)]
        ctx.meta = (shape, outer, sizes, out_sizes, pairs, code)
        out_shape = shape[:len(shape) - k] + tuple(out_sizes[3 - k:])
        y = empty_array(out_shape, x.dtype, x.device)
        if y.size:
            x4 = contiguous_array(x._array).reshape((outer, *sizes))
            K.pad(x4, y.reshape((outer, *out_sizes)), pairs[0][0], pairs[1][0], pairs[2][0], code,
                  x.dtype.np.type(value))
        return wrap(y, x.device)

    @staticmethod
    def backward(ctx, g):
        shape, outer, sizes, out_sizes, pairs, code = ctx.meta
        g4 = contiguous_array(g._array).reshape((outer, *out_sizes))
        if code == _MODES["constant"] and all(lo >= 0 and hi >= 0 for lo, hi in pairs):
            # every input element was copied to exactly one output: the gradient is a crop of g
            crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pairs, sizes))
            grad = cast_array(g4[(slice(None),) + crop], g4.dtype)  # a fresh array, never a view of g
        else:
            grad = _unpad_axes(g4, outer, sizes, out_sizes, pairs, code, g.dtype, g.device)
        return wrap(grad.reshape(shape), g.device), None, None, None


def _unpad_axes(g4, outer, sizes, out_sizes, pairs, code, dtype, device):
    """The input gradient from g4 (outer, D', H', W'), one padded axis at a time (last dim first)."""
    cur = g4
    dims = list(out_sizes)
    for axis in (2, 1, 0):
        lo, hi = pairs[axis]
        if lo == 0 and hi == 0:
            continue
        before, after = outer * _prod(dims[:axis]), _prod(dims[axis + 1:])
        dims[axis] = sizes[axis]
        nxt = empty_array((outer, *dims), dtype, device)
        if nxt.size and cur.size:
            K.pad_bwd_axis(cur.reshape((before, out_sizes[axis], after)),
                           nxt.reshape((before, sizes[axis], after)), lo, code)
        elif nxt.size:  # nothing read this input (cropped away): its gradient is zero
            from .creation import fill_
            fill_(wrap(nxt, device), 0)
        cur = nxt
    return cur


def _check_pad_arg(pad):
    if not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad(): argument 'pad' (position 2) must be tuple of ints, not {type(pad).__name__}")
    for i, p in enumerate(pad):
        if not isinstance(p, (int, np.integer)) or isinstance(p, bool):
            raise TypeError(f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element "
                            f"of type {type(p).__name__} at pos {i}")
    return [int(p) for p in pad]


def _check(input, pad, mode, value):
    """Validate everything before any kernel runs; returns [(before, after)] for dims -k..-1."""
    check_tensor("pad", "input", input)
    pad = _check_pad_arg(pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension "
                           f"but got padding length {len(pad)} and input of dimension {input.ndim}")
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if input.ndim not in _NON_CONSTANT_RANKS.get(len(pad), ()):
            raise NotImplementedError(
                f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
                "Supported combinations for non-constant padding:\n"
                "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    k = len(pad) // 2
    pairs = [(pad[2 * (k - 1 - j)], pad[2 * (k - 1 - j) + 1]) for j in range(k)]  # dims -k..-1
    for j, (lo, hi) in enumerate(pairs):
        _check_dim(input, input.ndim - k + j, lo, hi, mode)
    return pairs


def _check_dim(input, dim, lo, hi, mode):
    n = input.shape[dim]
    if mode == "reflect" and (lo >= n or hi >= n):
        raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                           f"but got: padding ({lo}, {hi}) at dimension {dim} of input {list(input.shape)}")
    if mode == "circular":
        kept = n - max(-lo, 0) - max(-hi, 0)  # circular padding wraps around what cropping leaves
        if kept <= 0 or lo > kept or hi > kept:
            raise RuntimeError("Padding value causes wrapping around more than once.")
    out = n + lo + hi
    if out < 0 or (out == 0 and mode != "constant"):
        raise RuntimeError(f"The input size {n}, plus negative padding {lo} and {hi} resulted in a "
                           f"{'negative' if out < 0 else 'zero'} output size, which is invalid. Check "
                           f"dimension {dim} of your input.")
    if mode != "constant" and n == 0 and (lo or hi):
        raise RuntimeError(f"pad: cannot pad an empty dimension (dimension {dim} of input "
                           f"{list(input.shape)}) in {mode} mode")


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad: pad = (before_last, after_last, before_2nd_last, ...)."""
    pairs = _check(input, pad, mode, value)
    value = 0 if value is None else value
    if not pairs:
        return input.clone()
    if len(pairs) > 3:
        return _pad_constant_beyond_three(input, pairs, value)
    if mode == "circular" and any(lo < 0 or hi < 0 for lo, hi in pairs):
        input, pairs = _crop(input, pairs)
    return Pad.apply(input, pairs, _MODES[mode], value)


def _crop(x, pairs):
    """Negative circular padding: torch crops first, then wraps around the part that is left."""
    k = len(pairs)
    for j, (lo, hi) in enumerate(pairs):
        dim = x.ndim - k + j
        start, stop = max(-lo, 0), x.shape[dim] - max(-hi, 0)
        x = narrow(x, dim, start, stop - start)
    return x, [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]


def _pad_constant_beyond_three(x, pairs, value):
    """Constant padding of more than three dims: pad the last three, merge them into one dim,
    and pad the rest of the dims (the merged one by nothing) the same way."""
    y = Pad.apply(x, pairs[-3:], _MODES["constant"], value)
    tail = tuple(y.shape[-3:])
    merged = reshape(y, tuple(y.shape[:-3]) + (_prod(tail),))
    flat_pad = [0, 0] + [v for pair in reversed(pairs[:-3]) for v in pair]
    z = pad(merged, flat_pad, "constant", value)
    return reshape(z, tuple(z.shape[:-1]) + tail)


__all__ = ["pad"]

TENSOR_METHODS = []
