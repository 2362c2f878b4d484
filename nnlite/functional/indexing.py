"""Indexing: x[idx] and x[idx] = v, gather/scatter, index_select/index_add, take_along_dim, masked_fill.

Basic indices (ints, slices, None, Ellipsis) make views, computed here as
(shape, strides, offset) so that CPU and CUDA tensors index the same way.
Tensor, list and bool-mask indices go to advanced indexing
(`advanced_index.py`, which also holds index_put, masked_select, nonzero and
the index machinery the ops here share).

gather/scatter and index_select/index_add run the kernels of
`kernels/indexing.py` over a canonical (outer, N, inner) layout around the
indexed dimension. Indices are range-checked before any kernel runs. Each
op's autograd Function is out of place; the in-place methods (`scatter_`,
`index_add_`, ...) write straight into the tensor when no graph is recorded
and otherwise follow torch's in-place semantics (`advanced_index.run_inplace`).
"""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.layout import broadcast_plan, broadcast_shapes
from ..tensor import Tensor
from ._util import check_same_device, check_tensor, empty_array, flat, normalize_dim, wrap
from .advanced_index import (KI, TYPE_NAMES, IndexSelect, add_into, advanced_getitem, advanced_setitem, canonical,
                             check_range, copy_array, fill_scalar, index_array, nonzero_array, put_along, run_inplace,
                             take_along, zeros_array)
from .advanced_index import index_put, index_put_, masked_select  # noqa: F401 (exported here)
from .binary import operand_array, where
from .reduction import sum_to_size
from ._arrays import array_strides, contiguous_array, copy_array_into, expand_array, strided_view
from .shape import expand, reshape

_INDEX_DTYPES = (_dt.int32, _dt.int64)
_NUMBER = (int, float, bool, np.number, np.bool_)


# ------------------------------------------------------------------ basic indexing (views)

def _is_basic(item):
    return item is None or item is Ellipsis or isinstance(item, (int, np.integer, slice)) \
        and not isinstance(item, (bool, np.bool_))


def normalize_index(index):
    """The index as a tuple. A list holding slices, None, Ellipsis, tensors or sequences is a
    tuple too (torch's legacy rule for non-tuple sequences, kept by torch 2.x with a warning)."""
    if isinstance(index, tuple):
        return index
    if isinstance(index, list) and len(index) < 32 and any(
            it is None or it is Ellipsis or isinstance(it, (slice, Tensor, list, tuple, np.ndarray)) for it in index):
        return tuple(index)
    return (index,)


def basic_view_spec(shape, strides, index):
    """(shape, strides, offset) of x[index] for a tuple of basic indices."""
    n_real = sum(1 for it in index if it is not None and it is not Ellipsis)
    if sum(1 for it in index if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    out_shape, out_strides = [], []
    offset = 0
    dim = 0
    for it in index:
        if it is Ellipsis:
            for _ in range(len(shape) - n_real):
                out_shape.append(shape[dim])
                out_strides.append(strides[dim])
                dim += 1
        elif it is None:
            out_shape.append(1)
            out_strides.append(0)
        elif isinstance(it, slice):
            start, stop, step = it.indices(shape[dim])
            if step <= 0:
                raise ValueError("step must be greater than zero")
            length = max(0, (stop - start + step - 1) // step)
            out_shape.append(length)
            out_strides.append(strides[dim] * step)
            if length:
                offset += start * strides[dim]
            dim += 1
        else:
            i = int(it)
            size = shape[dim]
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
            offset += (i % size) * strides[dim]
            dim += 1
    for d in range(dim, len(shape)):
        out_shape.append(shape[d])
        out_strides.append(strides[d])
    return tuple(out_shape), tuple(out_strides), offset


def basic_view_array(a, index):
    if type(a) is np.ndarray and all(not isinstance(it, slice) or it.step is None or it.step > 0 for it in index):
        # numpy's own basic indexing is the same view, 50x faster than as_strided; a trailing
        # Ellipsis makes it return a 0-d view instead of a scalar. Its errors fall through to
        # basic_view_spec, which raises torch's.
        try:
            return a[index if any(it is Ellipsis for it in index) else index + (Ellipsis,)]
        except IndexError:
            pass
    shape, strides, offset = basic_view_spec(tuple(a.shape), array_strides(a), index)
    return strided_view(a, shape, strides, offset)


class BasicIndex(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.args = (x._array.shape, x.dtype, x._device, index)
        return x._view_of(basic_view_array(x._array, index))

    @staticmethod
    def backward(ctx, g):
        shape, dtype, device, index = ctx.args
        from .creation import zeros
        out = zeros(shape, dtype=dtype, device=device)
        copy_array_into(g._array, basic_view_array(out._array, index))
        return out, None


def getitem(x, index):
    index = normalize_index(index)
    if all(_is_basic(it) for it in index):
        return BasicIndex.apply(x, index)
    return advanced_getitem(x, index)


class BasicIndexPut(Function):
    """x[index] = value for basic indices, in place, differentiable in x and value."""

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.check_inplace(x)
        region = basic_view_array(x._array, index)
        src = value._array if isinstance(value, Tensor) else operand_array(value, x.dtype, x._device)
        copy_array_into(src, region)
        ctx.mark_dirty(x)
        ctx.args = (index, value._array.shape if isinstance(value, Tensor) else None, tuple(region.shape))
        return x

    @staticmethod
    def backward(ctx, g):
        index, value_shape, region_shape = ctx.args
        gx = g.clone()
        from .creation import fill_
        fill_(wrap(basic_view_array(gx._array, index), g._device), 0)
        gv = None
        if value_shape is not None and ctx.needs_input_grad[1]:
            gv = sum_to_size(BasicIndex.apply(g, index), value_shape)
        return gx, gv, None


def setitem(x, index, value):
    index = normalize_index(index)
    if isinstance(value, Tensor):
        if value._device != x._device:
            raise RuntimeError(f"setitem: value is on {value._device} but the tensor is on {x._device}")
    elif isinstance(value, _NUMBER):
        value = fill_scalar(value, x.dtype)
    else:
        from .creation import tensor
        value = tensor(value, dtype=x.dtype, device=x._device)
    if all(_is_basic(it) for it in index):
        if isinstance(value, Tensor) and value.dtype is not x.dtype:
            value = value.to(x.dtype)
        BasicIndexPut.apply(x, value, index)
        return
    advanced_setitem(x, index, value)


# ------------------------------------------------------------------ gather / scatter

def _at_least_1d(shape):
    return tuple(shape) or (1,)


def _as_1d(a):
    """A 0-d array as shape (1,) (a view); other arrays as they are: gather & co treat 0-d as 1-d."""
    return a.reshape(1) if len(a.shape) == 0 else a


def check_index_dtype(op, index, message=None):
    check_tensor(op, "index", index)
    if index.dtype not in _INDEX_DTYPES:
        raise RuntimeError(message or f"{op}(): Expected dtype int32/int64 for index")


def _region(a, shape, dim=None):
    """The part of array a that an index of `shape` addresses: a[:shape[0], ...], all of `dim`."""
    if all(d == dim or n == m for d, (n, m) in enumerate(zip(a.shape, shape))):
        return a
    return basic_view_array(a, tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(shape)))


def gather_array(a, dim, idx, ishape, device):
    """out[..., k, ...] = a[..., idx[..., k, ...], ...] along dim (shapes at least 1-d)."""
    src = contiguous_array(_region(a, ishape, dim))
    _, K, inner = canonical(ishape, dim)
    out = empty_array(ishape, _dt.from_numpy_dtype(a.dtype), device)
    if out.size:
        KI.gather(flat(src), flat(idx), flat(out), a.shape[dim], K, inner)
    return out


def scatter_into(out, dim, idx, ishape, src, reduce):
    """out[..., idx[..., k, ...], ...] = (or +=, *=) src[..., k, ...] in place; out may be strided."""
    region = _region(out, ishape, dim)
    target = contiguous_array(region)
    _, K, inner = canonical(ishape, dim)
    if reduce == "add":
        add_into(KI.scatter_add, flat(idx), flat(src), flat(target), out.shape[dim], K, inner)
    else:
        KI.scatter(flat(idx), flat(src), flat(target), out.shape[dim], K, inner, reduce == "multiply")
    if target is not region:
        copy_array_into(target, region)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, idx, index_shape):
        ishape = _at_least_1d(index_shape)
        ctx.args = (x._array.shape, dim, idx, ishape)
        out = gather_array(_as_1d(x._array), dim, idx, ishape, x._device)
        return wrap(out.reshape(index_shape), x._device)

    @staticmethod
    def backward(ctx, g):
        shape, dim, idx, ishape = ctx.args
        gx = zeros_array(_at_least_1d(shape), g.dtype, g._device)
        scatter_into(gx, dim, idx, ishape, contiguous_array(g._array).reshape(ishape), "add")
        return wrap(gx.reshape(shape), g._device), None, None, None


class Scatter(Function):
    """A copy of x with src (a tensor, or a number) written, added or multiplied in through an index."""

    @staticmethod
    def forward(ctx, x, src, dim, idx, index_shape, reduce, differentiable):
        ishape = _at_least_1d(index_shape)
        out = copy_array(x._array, x._device)
        if isinstance(src, Tensor):
            values = contiguous_array(_region(_as_1d(src._array), ishape))
        else:
            values = operand_array(src, x.dtype, x._device)
        scatter_into(_as_1d(out), dim, idx, ishape, values, reduce)
        ctx.args = (dim, idx, ishape, reduce, differentiable,
                    tuple(src._array.shape) if isinstance(src, Tensor) else None)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        dim, idx, ishape, reduce, differentiable, src_shape = ctx.args
        if not differentiable:
            raise RuntimeError(f"the derivative of scatter with reduce='{reduce}' is not implemented "
                               "(as in PyTorch); use scatter_add or scatter_reduce")
        gx = gs = None
        if ctx.needs_input_grad[0]:
            gx = g
            if reduce != "add":  # written places lose their old value's gradient
                gx = wrap(copy_array(g._array, g._device), g._device)
                scatter_into(_as_1d(gx._array), dim, idx, ishape, operand_array(0, g.dtype, g._device), None)
        if src_shape is not None and ctx.needs_input_grad[1]:
            taken = gather_array(_as_1d(g._array), dim, idx, ishape, g._device)
            if _at_least_1d(src_shape) != ishape:  # src larger than the index: zeros elsewhere
                full = zeros_array(_at_least_1d(src_shape), g.dtype, g._device)
                copy_array_into(taken, _region(full, ishape))
                taken = full
            gs = wrap(taken.reshape(src_shape), g._device)
        return gx, gs, None, None, None, None, None


def _check_gather_shapes(op, x, dim, index, src=None):
    n = max(x.ndim, 1)
    if max(index.ndim, 1) != n:
        raise RuntimeError("Index tensor must have the same number of dimensions as "
                           f"{'input' if op == 'gather' else 'self'} tensor")
    if src is not None and max(src.ndim, 1) != n:
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    xs, js = _at_least_1d(x.shape), _at_least_1d(index.shape)
    ss = _at_least_1d(src.shape) if src is not None else js
    too_big = [d for d in range(n) if d != dim and js[d] > xs[d] or js[d] > ss[d]]
    if not too_big:
        return
    if op == "gather":
        raise RuntimeError(f"Size does not match at dimension {too_big[0]} expected index {list(index.shape)} to be "
                           f"no larger than self {list(x.shape)} apart from dimension {dim}")
    raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(x.shape)} apart from "
                       f"dimension {dim}" + (f" and to be no larger size than src {list(src.shape)}"
                                             if src is not None else ""))


def _gather_args(op, input, dim, index, src=None):
    """Check gather/scatter arguments; returns (dim, the index as a checked int64 array)."""
    check_tensor(op, "input", input)
    check_index_dtype(op, index)
    d = normalize_dim(op, dim, input.ndim)
    check_same_device(op, input, index, src)
    if index.numel() == 0:
        return d, None
    _check_gather_shapes(op, input, d, index, src)
    idx = index_array(index, input._device)
    size = _at_least_1d(input.shape)[d]
    check_range(idx, size, input._device,
                lambda v: RuntimeError(f"index {v} is out of bounds for dimension {d} with size {size}"))
    return d, idx


def gather(input, dim, index, *, sparse_grad=False):
    d, idx = _gather_args("gather", input, dim, index)
    if idx is None:
        return wrap(empty_array(index.shape, input.dtype, input._device), input._device)
    return Gather.apply(input, d, idx, tuple(index.shape))


def _scatter_source(op, input, src, value):
    """The tensor src, or the number to write; checks the dtype."""
    if src is None and value is None:
        raise TypeError(f"{op}() missing required argument: 'src' or 'value'")
    if src is None or not isinstance(src, Tensor):
        value = src if src is not None else value
        if isinstance(value, Tensor):
            value = value.item()
        if not isinstance(value, _NUMBER):
            raise TypeError(f"{op}(): argument 'value' must be Number, not {type(value).__name__}")
        return fill_scalar(value, input.dtype)
    if src.dtype is not input.dtype:
        raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
    return src


def _scatter(op, input, dim, index, src, value, reduce):
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    source = _scatter_source(op, input, src, value)
    d, idx = _gather_args(op, input, dim, index, source if isinstance(source, Tensor) else None)
    return source, d, idx


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    source, d, idx = _scatter("scatter", input, dim, index, src, value, reduce)
    if idx is None:
        return input.clone()
    return Scatter.apply(input, source, d, idx, tuple(index.shape), reduce, reduce is None)


def scatter_add(input, dim, index, src):
    check_tensor("scatter_add", "src", src)
    source, d, idx = _scatter("scatter_add", input, dim, index, src, None, None)
    if idx is None:
        return input.clone()
    return Scatter.apply(input, source, d, idx, tuple(index.shape), "add", True)


def _scatter_inplace(op, input, dim, index, source, idx, reduce, differentiable):
    def write():
        values = (contiguous_array(_region(_as_1d(source._array), _at_least_1d(index.shape)))
                  if isinstance(source, Tensor) else operand_array(source, input.dtype, input._device))
        scatter_into(_as_1d(input._array), dim, idx, _at_least_1d(index.shape), values, reduce)

    def compute(x):
        return Scatter.apply(x, source, dim, idx, tuple(index.shape), reduce, differentiable)
    if idx is None:
        return input
    return run_inplace(op, input, (source,), compute, write)


def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    source, d, idx = _scatter("scatter_", input, dim, index, src, value, reduce)
    return _scatter_inplace("scatter_", input, d, index, source, idx, reduce, reduce is None)


def scatter_add_(input, dim, index, src):
    check_tensor("scatter_add_", "src", src)
    source, d, idx = _scatter("scatter_add_", input, dim, index, src, None, None)
    return _scatter_inplace("scatter_add_", input, d, index, source, idx, "add", True)


# ------------------------------------------------------------------ index_select / index_add

def index_select(input, dim, index):
    check_tensor("index_select", "input", input)
    d = normalize_dim("index_select", dim, input.ndim)
    check_index_dtype("index_select", index, "index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if input.ndim == 0 and index.numel() != 1:
        raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {index.numel()} value(s)")
    check_same_device("index_select", input, index)
    idx = flat(index_array(index, input._device))
    check_range(idx, _at_least_1d(input.shape)[d], input._device, lambda v: IndexError("index out of range in self"))
    return IndexSelect.apply(input, d, idx)


class IndexAdd(Function):
    """A copy of x with source's slices along dim added at positions idx."""

    @staticmethod
    def forward(ctx, x, source, dim, idx):
        canon = canonical(_at_least_1d(x.shape), dim)
        ctx.args = (canon, idx, tuple(source.shape))
        out = copy_array(x._array, x._device)
        put_along(out, canon, idx, contiguous_array(source._array), True)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        canon, idx, source_shape = ctx.args
        gs = None
        if ctx.needs_input_grad[1]:
            gs = wrap(take_along(g._array, canon, idx, g._device).reshape(source_shape), g._device)
        return g, gs, None, None


def _index_add_args(input, dim, index, source, alpha):
    check_tensor("index_add", "input", input)
    check_tensor("index_add", "source", source)
    d = normalize_dim("index_add", dim, input.ndim)
    check_tensor("index_add", "index", index)
    if index.ndim > 1:
        raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{TYPE_NAMES[index.dtype.name]} and size: {list(index.shape)}")
    check_index_dtype("index_add", index, "index_add_(): Expected dtype int32/int64 for index but got: "
                      f"{TYPE_NAMES[index.dtype.name]}")
    if source.dtype is not input.dtype:
        raise RuntimeError(f"index_add_(): self ({TYPE_NAMES[input.dtype.name]}) and source "
                           f"({TYPE_NAMES[source.dtype.name]}) must have the same scalar type")
    shape, source_shape = _at_least_1d(input.shape), _at_least_1d(source.shape)
    n_source = source_shape[d] if d < len(source_shape) else 1
    if index.numel() != n_source:
        raise RuntimeError(f"index_add_(): Number of indices ({index.numel()}) should be equal to "
                           f"source.size(dim): ({n_source}), for dim: {d}")
    if len(source_shape) != len(shape) or any(i != d and a != b for i, (a, b) in enumerate(zip(shape, source_shape))):
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}")
    check_same_device("index_add", input, index, source)
    idx = flat(index_array(index, input._device))
    check_range(idx, shape[d], input._device,
                lambda v: RuntimeError(f"index {v} is out of bounds for dimension {d} with size {shape[d]}"))
    return d, idx, source if alpha == 1 else source * alpha


def index_add(input, dim, index, source, *, alpha=1):
    d, idx, source = _index_add_args(input, dim, index, source, alpha)
    return IndexAdd.apply(input, source, d, idx)


def index_add_(input, dim, index, source, *, alpha=1):
    d, idx, source = _index_add_args(input, dim, index, source, alpha)
    canon = canonical(_at_least_1d(input.shape), d)
    return run_inplace("index_add_", input, (source,), lambda x: IndexAdd.apply(x, source, d, idx),
                       lambda: put_along(input._array, canon, idx, contiguous_array(source._array), True))


def take_along_dim(input, indices, dim=None):
    check_tensor("take_along_dim", "input", input)
    check_tensor("take_along_dim", "indices", indices)
    if indices.dtype is not _dt.int64:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{TYPE_NAMES[indices.dtype.name]}")
    if dim is None:
        return gather(reshape(input, (-1,)), 0, reshape(indices, (-1,)))
    d = normalize_dim("take_along_dim", dim, input.ndim)
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    a, b = list(input.shape), list(indices.shape)
    a[d] = b[d] = 1
    common = list(broadcast_shapes(tuple(a), tuple(b)))
    input_shape, indices_shape = list(common), list(common)
    input_shape[d], indices_shape[d] = input.shape[d], indices.shape[d]
    return gather(expand(input, input_shape), d, expand(indices, indices_shape))


# ------------------------------------------------------------------ masked_fill, nonzero

_C_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
                 "int32": "int", "uint8": "unsigned char", "bool": "bool"}


def masked_fill_array(a, mask, fill, dtype, device, inplace=False):
    """`fill` where mask else a (broadcast together): a new array, or written into `a` (contiguous, of the
    broadcast shape) with `inplace`."""
    a, mask = contiguous_array(a), contiguous_array(mask)
    out_shape, shape4, strides = broadcast_plan(tuple(a.shape), tuple(mask.shape))
    if shape4 is None:  # more than 4 dims after collapsing: materialise the broadcast
        a, mask = (a if inplace else expand_array(a, out_shape, device)), expand_array(mask, out_shape, device)
        out_shape, shape4, strides = broadcast_plan(out_shape, out_shape)
    if inplace:
        if a.size:
            KI.masked_fill_inplace(flat(mask), flat(a), fill, shape4, strides[1])
        return a
    out = empty_array(out_shape, dtype, device)
    if out.size:
        KI.masked_fill(flat(a), flat(mask), flat(out), fill, shape4, strides[0], strides[1])
    return out


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value, fill):
        ctx.save_for_backward(mask)
        ctx.args = (tuple(x.shape), value.dtype if isinstance(value, Tensor) else None)
        return wrap(masked_fill_array(x._array, mask._array, fill, x.dtype, x._device), x._device)

    @staticmethod
    def backward(ctx, g):
        mask, = ctx.saved_tensors
        shape, value_dtype = ctx.args
        gx = gv = None
        if ctx.needs_input_grad[0]:
            zero = g.dtype.np.type(0)
            gx = sum_to_size(wrap(masked_fill_array(g._array, mask._array, zero, g.dtype, g._device), g._device),
                             shape)
        if value_dtype is not None and ctx.needs_input_grad[2]:
            gv = where(mask, g, 0.0).sum().to(value_dtype)
        return gx, None, gv, None


def _masked_fill_args(input, mask, value):
    """Check masked_fill's arguments; returns (value tensor needing grad or None, fill scalar in input's dtype)."""
    check_tensor("masked_fill", "input", input)
    check_tensor("masked_fill", "mask", mask)
    if mask.dtype is not _dt.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{_C_TYPE_NAMES[mask.dtype.name]}")
    check_same_device("masked_fill", input, mask)
    value_tensor = None
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value_tensor = value if value._requires_grad else None
        value = value.item()
    elif not isinstance(value, _NUMBER):
        raise TypeError(f"masked_fill(): argument 'value' must be Number or Tensor, not {type(value).__name__}")
    broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return value_tensor, fill_scalar(value, input.dtype)


def masked_fill(input, mask, value):
    value_tensor, fill = _masked_fill_args(input, mask, value)
    return MaskedFill.apply(input, mask, value_tensor, fill)


def masked_fill_(input, mask, value):
    value_tensor, fill = _masked_fill_args(input, mask, value)
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    if shape != tuple(input.shape):
        raise RuntimeError(f"output with shape {list(input.shape)} doesn't match the broadcast shape {list(shape)}")

    def write():
        a = masked_fill_array(input._array, mask._array, fill, input.dtype, input._device, inplace=True)
        if a is not input._array:  # input was strided: filled a contiguous copy
            copy_array_into(a, input._array)
    return run_inplace("masked_fill_", input, (value_tensor,),
                       lambda s: MaskedFill.apply(s, mask, value_tensor, fill), write)


def nonzero(input, *, as_tuple=False):
    check_tensor("nonzero", "input", input)
    coords = nonzero_array(input._array, tuple(input.shape) or (1,), input._device)
    device = input._device
    n, ndim = coords.shape
    if as_tuple:  # the columns, as views
        return tuple(wrap(strided_view(coords, (n,), (ndim,), j) if n else empty_array((0,), _dt.int64, device),
                          device) for j in range(ndim))
    if input.ndim == 0:
        coords = empty_array((coords.shape[0], 0), _dt.int64, device)
    return wrap(coords, device)


__all__ = ["gather", "index_add", "index_put", "index_put_", "index_select", "masked_fill", "masked_select",
           "nonzero", "scatter", "scatter_add", "take_along_dim"]

TENSOR_METHODS = __all__ + ["index_add_", "masked_fill_", "scatter_", "scatter_add_"]
