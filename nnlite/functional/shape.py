"""Shape ops: views (view, reshape, permute, expand, squeeze, ...) and copies
(contiguous, cat, stack, flip, repeat) with their gradients. The array-level
helpers they share with every other family live in `_arrays.py`.

Views share memory with their input, as in PyTorch: on the CPU they are numpy
views, on CUDA strided device-array views; copies go through the strided copy
kernel (`kernels/copy.py`).
"""
import numpy as np

from ..autograd.function import Function
from ..backend.lazy import kernels
from ..tensor import Tensor
from ._arrays import (array_strides, contiguous_array, copy_array_into, empty_for, infer_shape,
                      is_contiguous_array, reshape_array, shape_arg, strided_view)
from ._util import check_same_device, empty_array, normalize_dim, wrap

KC = kernels("copy")


# ------------------------------------------------------------------ contiguous / clone

class Contiguous(Function):
    @staticmethod
    def forward(ctx, x):
        return wrap(contiguous_array(x._array), x._device)

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(x, memory_format=None):
    if is_contiguous_array(x._array):
        return x
    return Contiguous.apply(x)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        out = empty_for(x._array, x._array.shape)
        KC.strided_copy(x._array, out)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x, memory_format=None):
    return Clone.apply(x)


# ------------------------------------------------------------------ views

class View(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x._array.shape
        arr = reshape_array(x._array, shape)
        if arr is None:
            raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                               "least one dimension spans across two contiguous subspaces). Use "
                               ".reshape(...) instead.")
        return x._view_of(arr)

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None


def view(x, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        from .conversion import view_as_dtype
        return view_as_dtype(x, shape[0])
    shape = infer_shape("view", shape_arg(shape), x.numel())
    if shape == x._array.shape:
        return View.apply(x, shape)
    return View.apply(x, shape)


def reshape(x, *shape):
    shape = infer_shape("reshape", shape_arg(shape), x.numel())
    if reshape_array(x._array, shape) is None:
        x = contiguous(x)
    return View.apply(x, shape)


def view_as(x, other):
    return view(x, other.shape)


def reshape_as(x, other):
    return reshape(x, other.shape)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_dim("flatten", start_dim, x.ndim)
    e = normalize_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x._array.shape
    return reshape(x, shape[:s] + (int(np.prod(shape[s:e + 1], dtype=np.int64)),) + shape[e + 1:])


def unflatten(x, dim, sizes):
    d = normalize_dim("unflatten", dim, x.ndim)
    shape = x._array.shape
    sizes = infer_shape("unflatten", tuple(sizes), shape[d])
    return view(x, shape[:d] + sizes + shape[d + 1:])


def squeeze(x, dim=None):
    shape = x._array.shape
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 1]
    else:
        dims = [normalize_dim("squeeze", d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        dims = [d for d in dims if x.ndim and shape[d] == 1]
    return view(x, tuple(s for i, s in enumerate(shape) if i not in dims))


def unsqueeze(x, dim):
    d = normalize_dim("unsqueeze", dim, x.ndim + 1)
    shape = x._array.shape
    return view(x, shape[:d] + (1,) + shape[d:])


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        a = x._array
        if type(a) is np.ndarray:
            return x._view_of(a.transpose(dims))
        strides = array_strides(a)
        return x._view_of(strided_view(a, tuple(a.shape[d] for d in dims), tuple(strides[d] for d in dims)))

    @staticmethod
    def backward(ctx, g):
        inverse = tuple(int(i) for i in np.argsort(ctx.dims))
        return permute(g, inverse), None


def permute(x, *dims):
    dims = shape_arg(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} "
                           f"is not equal to len(dims) = {len(dims)}")
    dims = tuple(normalize_dim("permute", d, x.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(x, dims)


def transpose(x, dim0, dim1):
    n = x.ndim
    if n == 0:
        return view(x, ())
    d0 = normalize_dim("transpose", dim0, n)
    d1 = normalize_dim("transpose", dim1, n)
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, tuple(dims))


swapaxes = swapdims = transpose


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x.view(x.shape)


def movedim(x, source, destination):
    src = [normalize_dim("movedim", d, x.ndim) for d in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [normalize_dim("movedim", d, x.ndim) for d in (destination if isinstance(destination, (tuple, list))
                                                          else (destination,))]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, tuple(order))


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        a = x._array
        ctx.in_shape = a.shape
        lead = len(shape) - a.ndim
        own = array_strides(a)
        strides = [0] * lead + [st if n == m else 0 for st, n, m in zip(own, a.shape, shape[lead:])]
        return x._view_of(strided_view(a, shape, strides))

    @staticmethod
    def backward(ctx, g):
        from .reduction import sum_to_size
        return sum_to_size(g, ctx.in_shape), None


def expand(x, *sizes):
    sizes = shape_arg(sizes)
    shape = x._array.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    out = list(sizes)
    for i, n in enumerate(shape):
        want = sizes[lead + i]
        if want == -1:
            out[lead + i] = n
        elif n != 1 and n != want:
            raise RuntimeError(f"The expanded size of the tensor ({want}) must match the existing size ({n}) "
                               f"at non-singleton dimension {lead + i}.  Target sizes: {list(sizes)}.  "
                               f"Tensor sizes: {list(shape)}")
    for i in range(lead):
        if out[i] < 0:
            raise RuntimeError(f"expand: the expanded size {out[i]} is not allowed in a leading dimension")
    out = tuple(out)
    if out == shape:
        return x.view(shape) if x._requires_grad else x
    return Expand.apply(x, out)


def expand_as(x, other):
    return expand(x, other.shape)


def broadcast_to(x, shape):
    return expand(x, shape)


def broadcast_tensors(*tensors):
    from ._util import broadcast_shapes
    shape = broadcast_shapes(*(t._array.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


# ------------------------------------------------------------------ narrow / split / cat

def _slice_array(a, dim, start, length):
    # a strided view, not a[index]: numba-cuda's own slicing gives a broadcast
    # (stride-0) dim a size of 1, and backward passes slice expanded gradients
    if type(a) is np.ndarray:
        return a[(slice(None),) * dim + (slice(start, start + length),)]
    shape, strides = list(a.shape), array_strides(a)
    shape[dim] = length
    return strided_view(a, shape, strides, start * strides[dim] if length else 0)


class Narrow(Function):
    @staticmethod
    def forward(ctx, x, dim, start, length):
        ctx.args = (x._array.shape, dim, start, length)
        return x._view_of(_slice_array(x._array, dim, start, length))

    @staticmethod
    def backward(ctx, g):
        shape, dim, start, length = ctx.args
        from .creation import zeros
        out = zeros(shape, dtype=g.dtype, device=g.device)
        copy_array_into(g._array, _slice_array(out._array, dim, start, length))
        return out, None, None, None


def narrow(x, dim, start, length):
    d = normalize_dim("narrow", dim, x.ndim)
    size = x._array.shape[d]
    if isinstance(start, Tensor):
        start = int(start.item())
    if start < 0:
        start += size
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise IndexError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return Narrow.apply(x, d, start, length)


class Split(Function):
    @staticmethod
    def forward(ctx, x, dim, sizes):
        ctx.args = (x._array.shape, dim, sizes)
        outs = []
        start = 0
        for n in sizes:
            outs.append(x._view_of(_slice_array(x._array, dim, start, n)))
            start += n
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        shape, dim, sizes = ctx.args
        from .creation import zeros
        out = zeros(shape, dtype=next(g for g in grads if g is not None).dtype,
                    device=next(g for g in grads if g is not None).device)
        start = 0
        for g, n in zip(grads, sizes):
            if g is not None:
                copy_array_into(g._array, _slice_array(out._array, dim, start, n))
            start += n
        return out, None, None


def split(x, split_size_or_sections, dim=0):
    d = normalize_dim("split", dim, x.ndim)
    size = x._array.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and size:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        sizes = [min(step, size - s) for s in range(0, size, step)] if size else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    return Split.apply(x, d, tuple(sizes))


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    d = normalize_dim("chunk", dim, x.ndim)
    size = x._array.shape[d]
    step = max(1, -(-size // chunks))
    return split(x, step, d)


def unbind(x, dim=0):
    d = normalize_dim("unbind", dim, x.ndim)
    return tuple(squeeze(p, d) for p in split(x, 1, d))


def tensor_split(x, sections, dim=0):
    d = normalize_dim("tensor_split", dim, x.ndim)
    size = x._array.shape[d]
    q, r = divmod(size, sections)
    return split(x, [q + 1] * r + [q] * (sections - r), d)


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        first = tensors[0]
        sizes = [t._array.shape[dim] for t in tensors]
        shape = list(first._array.shape)
        shape[dim] = sum(sizes)
        out = empty_array(shape, first.dtype, first._device)
        start = 0
        for t, n in zip(tensors, sizes):
            if n:
                copy_array_into(t._array, _slice_array(out, dim, start, n))
            start += n
        ctx.args = (dim, sizes)
        return wrap(out, first._device)

    @staticmethod
    def backward(ctx, g):
        dim, sizes = ctx.args
        grads = []
        start = 0
        for n in sizes:
            grads.append(narrow(g, dim, start, n) if n else None)
            start += n
        return (None, *grads)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is "
                            f"{type(t).__name__}")
    check_same_device("cat", *tensors)
    # legacy behaviour kept by torch: 1-D empty tensors are skipped
    nonempty = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)] or tensors[:1]
    ref = nonempty[0]
    d = normalize_dim("cat", dim, ref.ndim)
    from ..backend.dtype import promote_types
    dtype = ref.dtype
    for number, t in enumerate(nonempty[1:], 1):
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for i, (a, b) in enumerate(zip(ref._array.shape, t._array.shape)):
            if i != d and a != b:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size {a} "
                                   f"but got size {b} for tensor number {number} in the list.")
        dtype = promote_types(dtype, t.dtype)
    nonempty = [t if t.dtype is dtype else t.to(dtype) for t in nonempty]
    return Cat.apply(d, *nonempty)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._array.shape
    for i, t in enumerate(tensors):
        if t._array.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(t.shape)} at entry {i}")
    d = normalize_dim("stack", dim, len(shape) + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


# ------------------------------------------------------------------ copies: flip / repeat

class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        a = x._array
        strides = list(array_strides(a))
        offset = 0
        for d in dims:
            offset += (a.shape[d] - 1) * strides[d]
            strides[d] = -strides[d]
        out = empty_for(a, a.shape)
        if a.size:
            KC.strided_copy(strided_view(a, a.shape, strides, offset), out)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        return flip(g, ctx.dims), None


def flip(x, *dims, **kwargs):
    """torch.flip(x, dims) and Tensor.flip(*dims) or Tensor.flip(dims=...)."""
    if set(kwargs) - {"dims"}:
        raise TypeError(f"flip() got an unexpected keyword argument {sorted(set(kwargs) - {'dims'})[0]!r}")
    if "dims" in kwargs:
        if dims:
            raise TypeError("flip() got multiple values for argument 'dims'")
        dims = (kwargs["dims"],)
    dims = shape_arg(dims)
    dims = tuple(sorted({normalize_dim("flip", d, x.ndim) for d in dims}))
    return Flip.apply(x, dims)


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def repeat(x, *sizes):
    sizes = shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x._array.shape)
    # (a, b) repeated (r, s) is (r, a, s, b) expanded then merged: one copy, and
    # the gradient comes from expand's sum.
    expanded = []
    interleaved = []
    for n, r in zip(shape, sizes):
        expanded += [1, n]
        interleaved += [r, n]
    y = reshape(x, expanded)
    y = expand(y, interleaved)
    return reshape(contiguous(y), tuple(n * r for n, r in zip(shape, sizes)))


def tile(x, dims):
    dims = tuple(dims)
    if len(dims) < x.ndim:
        dims = (1,) * (x.ndim - len(dims)) + dims
    return repeat(x, dims)


def repeat_interleave(x, repeats, dim=None):
    if dim is None:
        x, dim = flatten(x), 0
    d = normalize_dim("repeat_interleave", dim, x.ndim)
    if not isinstance(repeats, (int, np.integer)):
        raise TypeError("repeat_interleave: nnlite supports an integer number of repeats only")
    shape = x._array.shape
    y = unsqueeze(x, d + 1)
    y = expand(y, shape[:d + 1] + (int(repeats),) + shape[d + 1:])
    return reshape(contiguous(y), shape[:d] + (shape[d] * int(repeats),) + shape[d + 1:])


__all__ = ["broadcast_tensors", "broadcast_to", "cat", "chunk", "clone", "concat", "concatenate",
           "contiguous", "expand", "expand_as", "flatten", "flip", "fliplr", "flipud", "hstack", "movedim",
           "narrow", "permute", "repeat", "repeat_interleave", "reshape", "reshape_as", "split", "squeeze",
           "stack", "swapaxes", "swapdims", "t", "tensor_split", "tile", "transpose", "unbind", "unflatten",
           "unsqueeze", "view", "view_as", "vstack"]

TENSOR_METHODS = [n for n in __all__ if n not in ("broadcast_tensors", "cat", "concat", "concatenate",
                                                  "hstack", "vstack", "stack")]
