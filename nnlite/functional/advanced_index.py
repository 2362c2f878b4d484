"""Indexing by tensors and masks: x[idx], x[mask], x[...] = v, index_put, masked_select, nonzero.

Also the index machinery the gather/scatter family in `indexing.py` shares:
index tensors checked and turned into int64 arrays, takes and puts along one
dimension, nonzero coordinates, and the in-place protocol.

Advanced indexing (torch/numpy rules) is a single take along one dimension:

1. the basic part of the index (ints, slices, None, Ellipsis) is applied as a
   view, in which every advanced index covers whole dims (a k-dim mask k);
2. the advanced dims are made adjacent - moved to the front when other dims
   separate them, which is why the result dims then come first - and merged
   into one dim of size N: the view is an (outer, N, inner) array;
3. the index tensors broadcast together to a shape B, and become one linear
   index into N (a mask counts as the flat positions of its True elements over
   the dims it covers: a 1-d index of their number);
4. x[index] is index_select of that array, shaped before + B + after;
   x[index] = v is index_copy into it; the gradients are index_add/index_select.
"""
import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import state as _grad_state
from ..backend import dtype as _dt
from ..backend.layout import broadcast_shapes, contiguous_strides
from ..backend.lazy import kernels
from ..backend.memory import to_device
from ..tensor import Tensor
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .binary import operand_array
from .conversion import move_array
from .reduction import sum_to_size
from ._arrays import array_strides, cast_array, contiguous_array, copy_array_into, expand_array, strided_view
from .shape import reshape

KI = kernels("indexing")

TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
              "uint8": "Byte", "bool": "Bool"}
_NUMBER = (int, float, bool, np.number, np.bool_)


# ------------------------------------------------------------------ index arrays

def prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def canonical(shape, dim):
    """(outer, N, inner): `shape` seen as the dims before `dim`, `dim`, and the dims after it."""
    return prod(shape[:dim]), shape[dim], prod(shape[dim + 1:])


def index_array(index, device):
    """The values of an integer index tensor as a contiguous int64 array on `device`."""
    a = index._array
    a = contiguous_array(a) if a.dtype == np.int64 else cast_array(a, np.int64)
    return a if index._device == device else move_array(a, index._device, device)


BOUNDS_THREADS = 4096      # CUDA bounds check: threads reduce their share, then one atomic each
BOUNDS_CHUNKS = 64         # CPU bounds check of a large index: partial bounds per chunk
_I64 = np.iinfo(np.int64)


def index_bounds(a, device):
    """(min, max) of a non-empty int64 array as Python ints (a 16-byte read-back on CUDA)."""
    if type(a) is np.ndarray:
        out = np.empty(2 * BOUNDS_CHUNKS, np.int64)  # the kernel reads small indices serially
        KI.index_bounds_cpu(flat(a), out)
    else:
        out = to_device(np.array([_I64.max, _I64.min], np.int64), device.index)
        KI.index_bounds.launch(min(a.size, BOUNDS_THREADS), flat(a), out)
        out = out.copy_to_host()
    return int(out[0]), int(out[1])


def check_range(a, size, device, error, negative=False):
    """Raise error(v) for the first index v in array a outside [0, size) ([-size, size) with `negative`).

    Returns the smallest index (so callers know whether negatives need wrapping).
    """
    if a.size == 0:
        return 0
    low = -size if negative else 0
    lo, hi = index_bounds(a, device)
    if lo < low or hi >= size:
        h = flat(a if type(a) is np.ndarray else a.copy_to_host())
        raise error(int(h[(h < low) | (h >= size)][0]))
    return lo


_CONVERT_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "int64_t",
                  "int32": "int", "uint8": "uint8_t", "bool": "bool"}


def fill_scalar(value, dtype):
    """value as a scalar of `dtype` with torch's checked conversion: floats truncate into integers,
    unsigned types wrap negatives down to -max, anything else out of range is a RuntimeError."""
    overflow = RuntimeError(f"value cannot be converted to type {_CONVERT_NAMES[dtype.name]} without overflow")
    if dtype is _dt.bool_:
        return np.bool_(value)
    if dtype.is_floating_point:
        with np.errstate(over="ignore"):
            out = dtype.np.type(value)
        if np.isinf(out) and np.isfinite(value):
            raise overflow
        return out
    if not np.isfinite(value):
        raise overflow
    v, info = int(value), np.iinfo(dtype.np)
    if not (-info.max if info.min == 0 else info.min) <= v <= info.max:
        raise overflow
    return dtype.np.type(v % (info.max + 1) if v < 0 and info.min == 0 else v)


_ATOMIC_WIDER = {np.dtype(np.float16): np.float32, np.dtype(np.uint8): np.int32, np.dtype(np.bool_): np.int32}


def add_into(kernel, index, src, out, *sizes):
    """Run an accumulating kernel (kernel(index, src, out, *sizes) adds src into out).

    CUDA has atomic adds for 32/64-bit types only: other dtypes accumulate in
    a wider copy of `out` that is cast back.
    """
    wide = None if type(out) is np.ndarray else _ATOMIC_WIDER.get(np.dtype(out.dtype))
    if wide is None:
        kernel(index, src, out, *sizes)
        return
    acc = cast_array(out, wide)
    kernel(index, cast_array(src, wide), acc, *sizes)
    copy_array_into(acc, out)


def copy_array(a, device):
    """A contiguous copy of array a."""
    out = empty_array(a.shape, _dt.from_numpy_dtype(a.dtype), device)
    copy_array_into(a, out)
    return out


def zeros_array(shape, dtype, device):
    out = empty_array(shape, dtype, device)
    if out.size:
        from .creation import fill_
        fill_(wrap(flat(out), device), 0)
    return out


def take_along(a, canon, idx, device):
    """Array a seen as (outer, N, inner), taken at positions idx along N: a new (outer, K, inner) array."""
    outer, N, inner = canon
    out = empty_array((outer, idx.size, inner), _dt.from_numpy_dtype(a.dtype), device)
    if out.size:
        KI.index_select(flat(contiguous_array(a)), idx, flat(out), N, inner)
    return out


def put_along(out, canon, idx, src, accumulate):
    """out seen as (outer, N, inner), any strides: out[:, idx[k], :] = (or +=) src[:, k, :].

    src is a contiguous (outer, K, inner) array, or one element for a scalar.
    """
    outer, N, inner = canon
    if outer * idx.size * inner == 0:
        return
    target = contiguous_array(out)
    if accumulate:
        add_into(KI.index_add, idx, flat(src), flat(target), N, inner)
    else:
        KI.index_copy(idx, flat(src), flat(target), N, inner)
    if target is not out:
        copy_array_into(target, out)


NONZERO_CHUNK = {"cpu": 4096, "cuda": 256}   # elements per task: a task writes its chunk's hits in order


def nonzero_array(a, dims, device):
    """Row-major coordinates, over shape `dims`, of the nonzero elements of array a: (n, len(dims)) int64.

    Two passes: count the hits per chunk, then (after a prefix sum on the
    host, which also gives the output size) write each chunk's coordinates.
    """
    x = flat(contiguous_array(a))
    chunk = NONZERO_CHUNK[device.type]
    n_chunks = -(-x.size // chunk)
    if n_chunks == 0:
        return empty_array((0, len(dims)), _dt.int64, device)
    counts = empty_array((n_chunks,), _dt.int64, device)
    _launch(KI.nonzero_count, n_chunks, x, counts, chunk)
    host_counts = counts if device.type == "cpu" else counts.copy_to_host()
    offsets = np.zeros(n_chunks, np.int64)
    np.cumsum(host_counts[:-1], out=offsets[1:])
    total = int(offsets[-1] + host_counts[-1])
    out = empty_array((total, len(dims)), _dt.int64, device)
    if total:
        offsets = offsets if device.type == "cpu" else to_device(offsets, device.index)
        _launch(KI.nonzero_write, n_chunks, x, offsets, flat(out), chunk, tuple(int(d) for d in dims))
    return out


def _launch(pair, work, *args):
    """Run a kernel pair over `work` tasks (the CUDA grid sized for them, not for the arrays)."""
    return pair.cpu(*args) if type(args[0]) is np.ndarray else pair.launch(work, *args)


def run_inplace(op, x, operands, compute, write):
    """x.op_(...): `write()` straight into x's memory when no graph is recorded; otherwise
    torch's in-place semantics through inplace() with the out-of-place op `compute`."""
    if _grad_state.enabled and (x._requires_grad or (x._base is not None and x._base._requires_grad) or
                                any(isinstance(o, Tensor) and o._requires_grad for o in operands)):
        from .inplace import inplace
        return inplace(op, x, compute, operands, uses_self=False)
    write()
    x._version[0] += 1
    return x


class IndexSelect(Function):
    """Whole slices of x along `dim` at positions idx (a checked, non-negative int64 array)."""

    @staticmethod
    def forward(ctx, x, dim, idx):
        shape = tuple(x._array.shape) or (1,)
        canon = canonical(shape, dim)
        ctx.args = (x._array.shape, canon, idx)
        out = take_along(x._array, canon, idx, x._device)
        out_shape = shape[:dim] + (idx.size,) + shape[dim + 1:] if x.ndim else ()
        return wrap(out.reshape(out_shape), x._device)

    @staticmethod
    def backward(ctx, g):
        shape, canon, idx = ctx.args
        gx = zeros_array(shape, g.dtype, g._device)
        put_along(gx, canon, idx, contiguous_array(g._array), True)
        return wrap(gx, g._device), None, None


# ------------------------------------------------------------------ the index plan

def _index_item(it):
    """An index item as torch reads it: ints, slices, None, Ellipsis, or an int/bool index tensor."""
    if it is None or it is Ellipsis or isinstance(it, slice):
        return it
    if isinstance(it, (bool, np.bool_)):
        return Tensor._wrap(np.array(bool(it)))
    if isinstance(it, (int, np.integer)):
        return int(it)
    if isinstance(it, (list, tuple, np.ndarray)):
        try:
            a = np.asarray(it) if not isinstance(it, np.ndarray) or it.dtype.kind in "bi" else it
        except ValueError:  # ragged: let tensor() explain
            a = np.empty((1,), object)
        if a.dtype.kind in "bi" or a.size == 0:  # ints, bools; x[[]] selects nothing
            return _index_item(Tensor._wrap(np.ascontiguousarray(a, np.bool_ if a.dtype.kind == "b" else np.int64)))
        from .creation import tensor
        it = tensor(it)
    if not isinstance(it, Tensor):
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                         f"valid indices (got {type(it).__name__})")
    if it.dtype not in (_dt.int64, _dt.int32, _dt.uint8, _dt.bool_):
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if it.ndim == 0 and it.dtype in (_dt.int64, _dt.int32):
        return int(it.item())  # a 0-d integer tensor selects, like an int
    return it


def _is_mask(it):
    return isinstance(it, Tensor) and it.dtype in (_dt.bool_, _dt.uint8)


def split_index(index, ndim):
    """(basic index tuple, [(view dim, index tensor, is_mask)]): the index as a view plus advanced indices."""
    items = [_index_item(it) for it in index]
    used = sum(it.ndim if _is_mask(it) else 0 if it is None or it is Ellipsis else 1 for it in items)
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    basic, entries, vdim = [], [], 0
    for it in items:
        if _is_mask(it):
            if it.ndim == 0:  # x[True]: a new dim of size 1, masked
                basic.append(None)
                it = reshape(it, (1,))
            else:
                basic += [slice(None)] * it.ndim
            entries.append((vdim, it, True))
            vdim += it.ndim
        elif isinstance(it, Tensor):
            basic.append(slice(None))
            entries.append((vdim, it, False))
            vdim += 1
        else:
            basic.append(it)
            vdim += 0 if isinstance(it, int) else ndim - used if it is Ellipsis else 1
    return tuple(basic), entries


def _check_mask_shape(mask, vdim, view_shape):
    for j, n in enumerate(mask.shape):
        if view_shape[vdim + j] != n:
            raise IndexError(f"The shape of the mask {list(mask.shape)} at index {j} does not match the shape of "
                             f"the indexed tensor {list(view_shape)} at index {vdim + j}")


class IndexPlan:
    """Where x[index] reads and writes: see the module docstring.

    basic: the view's index tuple (None when it is x itself); perm: the
    permutation that makes the advanced dims adjacent (None when they are);
    canon: (outer, N, inner); single_dim: the view's dim when the block is
    one dim; index: the linear int64 index into N; result_shape: the shape
    of x[index].
    """

    def __init__(self, x, basic, entries):
        from .indexing import basic_view_spec
        shape = tuple(x._array.shape)
        view_shape = basic_view_spec(shape, contiguous_strides(shape), basic)[0]
        self.basic = None if view_shape == shape and all(b == slice(None) or b is Ellipsis for b in basic) \
            else basic
        device = x._device
        arrays, shapes, sizes, wrap_negative, ordinal = [], [], [], False, 0
        for vdim, t, is_mask in entries:
            if is_mask:
                _check_mask_shape(t, vdim, view_shape)
                a = t._array if t._device == device else move_array(t._array, t._device, device)
                a = flat(nonzero_array(a, (t.numel(),), device))
                sizes.append(t.numel())
                ordinal += t.ndim
            else:
                size = view_shape[vdim]
                a = index_array(t, t._device)  # range-checked where it lives, then moved
                lo = check_range(a, size, t._device, lambda v, d=ordinal, n=size: IndexError(
                    f"index {v} is out of bounds for dimension {d} with size {n}" if n else
                    "index is out of bounds for dimension with size 0"), negative=True)
                wrap_negative |= lo < 0
                a = a if t._device == device else move_array(a, t._device, device)
                sizes.append(size)
                ordinal += 1
            arrays.append(a)
            shapes.append(tuple(a.shape))
        try:
            broadcast = broadcast_shapes(*shapes)
        except RuntimeError:
            raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                             + ", ".join(str(list(s)) for s in shapes)) from None
        self._place_block(view_shape, entries, broadcast)
        self.index = self._linear_index(arrays, shapes, sizes, broadcast, wrap_negative, device)

    @classmethod
    def along(cls, shape, dim, idx, ndims=1):
        """The plan of x[..., idx, ...] with one 1-d index into dims dim .. dim + ndims - 1
        (merged; a mask's flat positions) and full slices elsewhere."""
        plan = cls.__new__(cls)
        plan.basic = plan.perm = None
        plan.single_dim = dim if ndims == 1 else None
        plan.canon = (prod(shape[:dim]), prod(shape[dim:dim + ndims]), prod(shape[dim + ndims:]))
        plan.index = idx
        plan.result_shape = shape[:dim] + (idx.size,) + shape[dim + ndims:]
        return plan

    def _place_block(self, view_shape, entries, broadcast):
        block = [d for vdim, t, is_mask in entries for d in range(vdim, vdim + (t.ndim if is_mask else 1))]
        adjacent = block == list(range(block[0], block[0] + len(block)))
        before = list(range(block[0])) if adjacent else []
        after = [d for d in range(len(view_shape)) if d not in block and d not in before]
        order = before + block + after
        self.perm = None if order == list(range(len(view_shape))) else tuple(order)
        self.single_dim = block[0] if len(block) == 1 else None
        self.canon = (prod(view_shape[d] for d in before), prod(view_shape[d] for d in block),
                      prod(view_shape[d] for d in after))
        self.result_shape = tuple(view_shape[d] for d in before) + broadcast + tuple(view_shape[d] for d in after)

    @staticmethod
    def _linear_index(arrays, shapes, sizes, broadcast, wrap_negative, device):
        if len(arrays) == 1 and shapes[0] == broadcast and not wrap_negative:
            return flat(arrays[0])
        P = prod(broadcast)
        out = empty_array((P,), _dt.int64, device)
        if P == 0:
            return out
        stacked = empty_array((len(arrays),) + broadcast, _dt.int64, device)
        strides = contiguous_strides(broadcast)
        for j, a in enumerate(arrays):
            copy_array_into(a, strided_view(stacked, broadcast, strides, j * P))
        block_strides = tuple(prod(sizes[j + 1:]) for j in range(len(sizes)))
        KI.linear_index(flat(stacked), out, tuple(sizes), block_strides)
        return out

    def view_array(self, a):
        """Array a with the basic index applied and the advanced dims adjacent (a view)."""
        if self.basic is not None:
            from .indexing import basic_view_array
            a = basic_view_array(a, self.basic)
        if self.perm is not None:
            strides = array_strides(a)
            a = strided_view(a, tuple(a.shape[d] for d in self.perm), tuple(strides[d] for d in self.perm))
        return a

    def view(self, x):
        """view_array for a tensor, differentiably."""
        if self.basic is not None:
            from .indexing import BasicIndex
            x = BasicIndex.apply(x, self.basic)
        if self.perm is not None:
            from .shape import permute
            x = permute(x, self.perm)
        return x


# ------------------------------------------------------------------ x[index], x[index] = v, index_put

def _plan_along_one_dim(x, index, masks=True):
    """The quick plan of x[idx], x[:, idx], x[..., mask] (one 1-d integer index or, with `masks`, one
    mask among full slices), or None."""
    indexed = [i for i, it in enumerate(index) if not (isinstance(it, slice) and it == slice(None) or it is Ellipsis)]
    if len(indexed) != 1:
        return None
    p = indexed[0]
    it = index[p] if isinstance(index[p], Tensor) else _index_item(index[p]) if isinstance(index[p], list) else None
    if not isinstance(it, Tensor) or it.ndim == 0 or not (_is_mask(it) and masks or
                                                          it.ndim == 1 and it.dtype in (_dt.int64, _dt.int32)):
        return None
    ndims = it.ndim if _is_mask(it) else 1
    ellipsis = [i for i, e in enumerate(index) if e is Ellipsis]
    if len(ellipsis) > 1 or len(index) - len(ellipsis) - 1 + ndims > x.ndim:
        return None  # the general path explains
    dim = p if not ellipsis or ellipsis[0] > p else x.ndim - ndims - (len(index) - p - 1)
    shape = tuple(x._array.shape)
    if ndims > 1 or _is_mask(it):
        _check_mask_shape(it, dim, shape)
        mask = it._array if it._device == x._device else move_array(it._array, it._device, x._device)
        return IndexPlan.along(shape, dim, flat(nonzero_array(mask, (it.numel(),), x._device)), ndims)
    idx = index_array(it, it._device)
    size = shape[dim]
    lo = check_range(idx, size, it._device, lambda v: IndexError(
        f"index {v} is out of bounds for dimension 0 with size {size}" if size else
        "index is out of bounds for dimension with size 0"), negative=True)
    if lo < 0:
        return None  # the general plan wraps negative indices
    return IndexPlan.along(shape, dim, idx if it._device == x._device else move_array(idx, it._device, x._device))


def advanced_getitem(x, index):
    plan = _plan_along_one_dim(x, index) or IndexPlan(x, *split_index(index, x.ndim))
    view = plan.view(x)
    if plan.single_dim is not None:  # one indexed dim: take along it in place
        taken = IndexSelect.apply(view, plan.single_dim, plan.index)
    else:
        taken = IndexSelect.apply(reshape(view, plan.canon), 1, plan.index)
    return taken if tuple(taken._array.shape) == plan.result_shape else reshape(taken, plan.result_shape)


class IndexPut(Function):
    """A copy of x with `values` written (or added, with accumulate) at the places a plan indexes."""

    @staticmethod
    def forward(ctx, x, values, plan, accumulate):
        out = copy_array(x._array, x._device)
        write_values(out, plan, values, accumulate, x.dtype, x._device)
        ctx.args = (plan, accumulate, tuple(values.shape) if isinstance(values, Tensor) else None)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        plan, accumulate, values_shape = ctx.args
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = g
            if not accumulate:  # overwritten places lose their old value's gradient
                gx = wrap(copy_array(g._array, g._device), g._device)
                put_along(plan.view_array(gx._array), plan.canon, plan.index,
                          operand_array(0, g.dtype, g._device), False)
        if values_shape is not None and ctx.needs_input_grad[1]:
            taken = take_along(plan.view_array(g._array), plan.canon, plan.index, g._device)
            gv = sum_to_size(wrap(taken.reshape(plan.result_shape), g._device), values_shape)
        return gx, gv, None, None


def write_values(out, plan, values, accumulate, dtype, device):
    """out[plan] = values (or +=) in place; values broadcast to the indexing result."""
    if not isinstance(values, Tensor):
        src = operand_array(values, dtype, device)
    elif values.numel() == 1:
        src = contiguous_array(values._array).reshape(1)
    elif tuple(values.shape) == plan.result_shape:
        src = contiguous_array(values._array)
    else:
        src = expand_array(values._array, plan.result_shape, device)
    put_along(plan.view_array(out), plan.canon, plan.index, src, accumulate)


def _check_values(x, values, plan, any_dtype=False):
    if not isinstance(values, Tensor):
        return fill_scalar(values, x.dtype)
    if values.dtype is not x.dtype:
        if not any_dtype:
            raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                               f"{TYPE_NAMES[x.dtype.name]} for the destination and "
                               f"{TYPE_NAMES[values.dtype.name]} for the source.")
        values = values.to(x.dtype)
    shape, result = tuple(values.shape), plan.result_shape
    if len(shape) > len(result) or any(n not in (1, m) for n, m in zip(reversed(shape), reversed(result))):
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(plan.result_shape)}")
    return values


def _index_put(op, x, plan, values, accumulate):
    return run_inplace(op, x, (values,), lambda s: IndexPut.apply(s, values, plan, accumulate),
                       lambda: write_values(x._array, plan, values, accumulate, x.dtype, x._device))


def advanced_setitem(x, index, value):
    plan = _plan_along_one_dim(x, index, masks=False)
    any_dtype = False
    if plan is None:
        basic, entries = split_index(index, x.ndim)
        one_value = not isinstance(value, Tensor) or value.numel() == 1
        any_dtype = len(entries) == 1 and entries[0][2] and one_value  # torch fills a lone mask with any dtype
        if any_dtype and all(b == slice(None) or b is Ellipsis for b in basic):
            _fill_mask(x, entries[0][0], entries[0][1], value)
            return
        plan = IndexPlan(x, basic, entries)
    _index_put("index_put_", x, plan, _check_values(x, value, plan, any_dtype), False)


def _fill_mask(x, dim, mask, value):
    """x[..., mask] = one value, as masked_fill_ (torch's fast path; it casts the value to x's dtype)."""
    _check_mask_shape(mask, dim, tuple(x.shape))
    mask = mask if mask._device == x._device else mask.to(x._device)
    trailing = (1,) * (x.ndim - dim - mask.ndim)  # broadcast over the dims after the mask's
    mask = reshape(mask if mask.dtype is _dt.bool_ else mask.bool(), tuple(mask.shape) + trailing)
    from .indexing import masked_fill_
    masked_fill_(x, mask, reshape(value, ()) if isinstance(value, Tensor) else value)


def _index_put_args(x, indices, values):
    check_tensor("index_put_", "input", x)
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put_(): argument 'indices' (position 1) must be tuple of Tensors, not "
                        f"{type(indices).__name__}")
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put_(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    check_same_device("index_put_", x, values)
    plan = IndexPlan(x, *split_index(tuple(indices), x.ndim))
    return plan, _check_values(x, values, plan)


def index_put(input, indices, values, accumulate=False):
    plan, values = _index_put_args(input, indices, values)
    return IndexPut.apply(input, values, plan, bool(accumulate))


def index_put_(input, indices, values, accumulate=False):
    plan, values = _index_put_args(input, indices, values)
    return _index_put("index_put_", input, plan, values, bool(accumulate))


# ------------------------------------------------------------------ masks

def masked_select(input, mask):
    check_tensor("masked_select", "input", input)
    check_tensor("masked_select", "mask", mask)
    if mask.dtype is not _dt.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    check_same_device("masked_select", input, mask)
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    m = mask._array if tuple(mask.shape) == shape else expand_array(mask._array, shape, mask._device)
    positions = flat(nonzero_array(m, (prod(shape),), input._device))
    from .shape import expand
    return IndexSelect.apply(reshape(expand(input, shape), (-1,)), 0, positions)
