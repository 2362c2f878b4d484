"""Sparse (lookup) ops, as torch.nn.functional: embedding, embedding_bag and one_hot.

embedding gathers rows of a weight matrix; embedding_bag reduces bags of looked-up
rows (sum, mean or max) with optional per-sample weights. Their weight gradient is
a scatter-add (kernels/embedding.py) into a dense zero-filled matrix: `sparse=True`
is accepted for compatibility but nnlite has no sparse tensors, so it also gives a
dense gradient (the same values torch's sparse gradient holds once densified).
"""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..backend.memory import to_device, to_host
from ._arrays import cast_array, contiguous_array, copy_array_into
from ._reduce_layout import fill_array
from ._util import check_same_device, check_tensor, empty_array, flat, wrap
from .activation import type_name

K = kernels("embedding")

_MODES = {"sum": 0, "mean": 1, "max": 2}
_INT64 = np.iinfo(np.int64)


# ------------------------------------------------------------------ shared helpers

def _threads():
    from numba import get_num_threads  # numba loads with the first kernel, not with nnlite
    return get_num_threads()


def _zeros(shape, dtype, device):
    return fill_array(empty_array(shape, dtype, device), 0)


def _host_to(array, device):
    """A numpy array on `device` (the array itself on the CPU)."""
    return array if device.type == "cpu" else to_device(array, device.index or 0)


def _index_array(input):
    """The indices as a flat contiguous int64 array (int32 indices are widened once, so that
    every kernel compiles for one index type)."""
    a = contiguous_array(input._array)
    if a.dtype != np.int64:
        a = cast_array(a, np.int64)
    return flat(a)


def _check_index_dtype(op, input, argument="indices"):
    check_tensor(op, "input", input)
    if input.dtype.name not in ("int64", "int32"):
        raise RuntimeError(f"{op}: Expected tensor for argument #1 '{argument}' to have one of the following "
                           f"scalar types: Long, Int; but got {type_name(input.dtype)} instead")


def _index_bounds(idx, device):
    """(min, max) of a non-empty int64 index array, read back to the host."""
    out = np.array([_INT64.max, _INT64.min], np.int64)
    out = _host_to(out, device)
    K.index_bounds(idx, out)
    lo, hi = to_host(out)
    return int(lo), int(hi)


def _first_out_of_range(idx, rows):
    """(position, value) of the first index outside [0, rows) (the error path only)."""
    host = to_host(idx)
    k = int(np.flatnonzero((host < 0) | (host >= rows))[0])
    return k, int(host[k])


def _padding_index(op, padding_idx, rows):
    """padding_idx as a row number, -1 for none (negative values count from the end, as torch)."""
    if padding_idx is None:
        return -1
    if not -rows <= padding_idx < rows:
        raise ValueError(f"{op}: padding_idx must be within num_embeddings (-{rows} through {rows - 1}), "
                         f"but got {padding_idx}")
    return int(padding_idx) % rows


def _check_weight(op, weight):
    check_tensor(op, "weight", weight)
    if weight.ndim != 2:
        raise RuntimeError(f"{op}: 'weight' must be 2-D (num_embeddings, embedding_dim), but got a tensor of "
                           f"size {list(weight.shape)}")


def _renorm_(weight, idx, max_norm, norm_type):
    """torch's embedding_renorm_: scale the looked-up rows whose norm exceeds max_norm, in
    place and outside autograd (the weight's version moves, as torch's does)."""
    if not idx.size:
        return
    rows = weight.shape[0]
    mark = _zeros((rows,), _dt.uint8, weight._device)
    K.mark_rows(idx, mark)
    w = contiguous_array(weight._array)
    K.renorm_rows(mark, w, float(max_norm), float(norm_type))
    if w is not weight._array:  # a strided weight: write the renormalised copy back
        copy_array_into(w, weight._array)
    weight._version[0] += 1


def _scatter_rows(idx, offsets, g, psw, bag_size, rows, padding_idx, mean, scale_grad_by_freq, device):
    """The dense weight gradient: each entry's bag gradient row added into the entry's row."""
    gw = _zeros((rows, g.shape[1]), _dt.from_numpy_dtype(g.dtype), device)
    counts = _zeros((rows if scale_grad_by_freq else 1,), _dt.int64, device)
    if scale_grad_by_freq:
        K.index_counts(idx, counts)
    K.embedding_bag_bwd(idx, offsets, g, psw, bag_size, counts, gw, padding_idx, mean, psw.size == idx.size,
                        scale_grad_by_freq, _threads())
    return gw


# ------------------------------------------------------------------ embedding

class Embedding(Function):
    """out[..., :] = weight[input[...], :]; the gradient scatters into weight's rows (none to padding_idx)."""

    @staticmethod
    def forward(ctx, weight, input, idx, padding_idx, scale_grad_by_freq):
        w = contiguous_array(weight._array)
        out = empty_array((idx.size, w.shape[1]), weight.dtype, weight._device)
        if out.size:
            K.embedding_fwd(idx, w, out)
        ctx.idx, ctx.rows, ctx.dim = idx, w.shape[0], w.shape[1]
        ctx.padding_idx, ctx.scale_grad_by_freq = padding_idx, scale_grad_by_freq
        return wrap(out.reshape(tuple(input.shape) + (w.shape[1],)), weight._device)

    @staticmethod
    def backward(ctx, g):
        idx, dev = ctx.idx, g._device
        dim = ctx.dim
        if not idx.size:
            return wrap(_zeros((ctx.rows, dim), g.dtype, dev), dev), None, None, None, None
        g2 = contiguous_array(g._array).reshape(idx.size, dim)
        # one entry per bag: bag k is entry k
        offsets = _host_to(np.arange(idx.size + 1, dtype=np.int64), dev)
        unused = empty_array((1,), g.dtype, dev)
        gw = _scatter_rows(idx, offsets, g2, unused, empty_array((1,), _dt.int64, dev), ctx.rows,
                           ctx.padding_idx, False, ctx.scale_grad_by_freq, dev)
        return wrap(gw, dev), None, None, None, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of `weight` looked up by the integer tensor `input` (any shape): output input.shape + (D,).

    `sparse=True` gives the same dense gradient as sparse=False (nnlite has no sparse tensors)."""
    _check_index_dtype("embedding", input)
    _check_weight("embedding", weight)
    check_same_device("embedding", input, weight)
    rows = weight.shape[0]
    padding_idx = _padding_index("embedding", padding_idx, rows)
    idx = _index_array(input)
    if idx.size:
        lo, hi = _index_bounds(idx, input._device)
        if lo < 0 or hi >= rows:
            k, v = _first_out_of_range(idx, rows)
            raise IndexError(f"embedding: index out of range in self: input[{k}] (flattened) is {v}, but the "
                             f"weight has {rows} rows (valid range [0, {rows}))")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return Embedding.apply(weight, input, idx, padding_idx, bool(scale_grad_by_freq))


# ------------------------------------------------------------------ embedding_bag

class EmbeddingBag(Function):
    """out[b] = reduce over bag b's entries j (not padding_idx) of psw[j] * weight[idx[j]]."""

    @staticmethod
    def forward(ctx, weight, per_sample_weights, idx, offsets, mode, padding_idx, scale_grad_by_freq):
        dev = weight._device
        w = contiguous_array(weight._array)
        bags = offsets.shape[0] - 1
        out = empty_array((bags, w.shape[1]), weight.dtype, dev)
        bag_size = empty_array((bags,), _dt.int64, dev)
        argmax = empty_array((bags, w.shape[1]) if mode == "max" else (1, 1), _dt.int64, dev)
        psw = (flat(contiguous_array(per_sample_weights._array)) if per_sample_weights is not None
               else empty_array((1,), weight.dtype, dev))
        if out.size:
            K.embedding_bag_fwd(idx, offsets, w, psw, out, bag_size, argmax, _MODES[mode], padding_idx,
                                per_sample_weights is not None)
        elif bags:
            fill_array(bag_size, 0)
        ctx.args = (idx, offsets, psw, bag_size, argmax, w, mode, padding_idx, scale_grad_by_freq)
        return wrap(out, dev)

    @staticmethod
    def backward(ctx, g):
        idx, offsets, psw, bag_size, argmax, w, mode, padding_idx, scale_grad_by_freq = ctx.args
        dev = g._device
        g2 = contiguous_array(g._array)
        rows = w.shape[0]
        need_weight, need_psw = ctx.needs_input_grad[:2]
        gw = gpsw = None
        if need_weight and mode == "max":
            gw = _zeros((rows, w.shape[1]), g.dtype, dev)
            if g2.size:
                K.embedding_bag_max_bwd(argmax, g2, gw, _threads())
        elif need_weight:
            gw = (_scatter_rows(idx, offsets, g2, psw, bag_size, rows, padding_idx, mode == "mean",
                                scale_grad_by_freq, dev) if g2.size else _zeros(w.shape, g.dtype, dev))
        if need_psw:
            gpsw = _zeros((idx.size,), g.dtype, dev)
            if g2.size:
                K.embedding_bag_psw_bwd(idx, offsets, g2, w, gpsw, padding_idx)
        return (None if gw is None else wrap(gw, dev), None if gpsw is None else wrap(gpsw, dev),
                None, None, None, None, None)


def _bag_offsets(input, offsets, include_last_offset, device):
    """The int64 bag boundaries (one more than there are bags) of a 2-D input or a 1-D input with offsets."""
    n = input.numel()
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: if input is 2D, then offsets has to be None, as input is treated "
                             "as a mini-batch of fixed length sequences. However, found offsets of type "
                             f"{type(offsets).__name__}")
        length = input.shape[1]
        bounds = np.arange(input.shape[0] + 1, dtype=np.int64) * length
        return _host_to(bounds, device)
    if offsets is None or not hasattr(offsets, "ndim") or offsets.ndim != 1:
        got = "None" if offsets is None else f"size {list(offsets.shape)}" if hasattr(offsets, "shape") \
            else type(offsets).__name__
        raise ValueError(f"embedding_bag: offsets has to be a 1D Tensor for a 1D input, but got {got}")
    _check_index_dtype("embedding_bag", offsets, "offsets")
    check_same_device("embedding_bag", input, offsets)
    bounds = to_host(contiguous_array(offsets._array)).astype(np.int64)
    if bounds.size and bounds[0] != 0:
        raise RuntimeError(f"embedding_bag: offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           f"has to start from position 0. However, got {bounds[0]}")
    if bounds.size and bounds[-1] > n:
        raise RuntimeError(f"embedding_bag: offsets[-1] can not be greater than input's length {n} but got "
                           f"offsets[-1] of {bounds[-1]}")
    if bounds.size > 1 and np.any(np.diff(bounds) < 0):
        raise RuntimeError(f"embedding_bag: offsets must be non-decreasing, got {bounds.tolist()[:8]}")
    if not include_last_offset:
        bounds = np.append(bounds, n)  # the last bag runs to the end of the input
    elif bounds.size == 0:
        raise ValueError("embedding_bag: with include_last_offset=True, offsets needs at least one element")
    # (torch documents offsets[-1] == len(input) here; entries past it are in no bag. torch itself is
    # inconsistent about them: max and mean's count take them into the last bag, sum does not.)
    return _host_to(np.ascontiguousarray(bounds), device)


def _check_bag_args(input, weight, mode, per_sample_weights, scale_grad_by_freq, sparse):
    _check_weight("embedding_bag", weight)
    check_tensor("embedding_bag", "input", input)
    if input.ndim not in (1, 2):
        raise ValueError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    _check_index_dtype("embedding_bag", input)
    if not weight.dtype.is_floating_point:
        raise RuntimeError(f"embedding_bag: expected a floating point weight, got {type_name(weight.dtype)}")
    if mode not in _MODES:
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("embedding_bag: max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("embedding_bag: max mode does not support sparse weights")
    if per_sample_weights is None:
        return
    check_tensor("embedding_bag", "per_sample_weights", per_sample_weights)
    if mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}')")
    if tuple(per_sample_weights.shape) != tuple(input.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, "
                         f"then it must have the same shape as the input ({list(input.shape)})")
    if per_sample_weights.dtype is not weight.dtype:
        raise RuntimeError(f"embedding_bag: expected per_sample_weights of the weight's type "
                           f"{type_name(weight.dtype)}, but got {type_name(per_sample_weights.dtype)}")


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embeddings: a 2-D input (B, L) is B bags of L indices; a 1-D input
    is cut into bags at `offsets`. Entries equal to padding_idx are left out (and out of mean's count);
    empty bags give zeros. `sparse=True` gives a dense gradient (nnlite has no sparse tensors)."""
    _check_bag_args(input, weight, mode, per_sample_weights, scale_grad_by_freq, sparse)
    check_same_device("embedding_bag", input, weight, per_sample_weights)
    rows = weight.shape[0]
    if padding_idx is not None and not -rows <= padding_idx < rows:
        raise RuntimeError(f"embedding_bag: padding_idx must be within the number of embeddings, -{rows} "
                           f"through {rows - 1}, but got {padding_idx}")
    padding_idx = _padding_index("embedding_bag", padding_idx, rows)
    bounds = _bag_offsets(input, offsets, include_last_offset, input._device)
    idx = _index_array(input)
    if idx.size:
        lo, hi = _index_bounds(idx, input._device)
        if lo < 0 or hi >= rows:
            k, v = _first_out_of_range(idx, rows)
            raise RuntimeError(f"embedding_bag: Index {k} of input takes value {v} which is not in the valid "
                               f"range [0, {rows})")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return EmbeddingBag.apply(weight, per_sample_weights, idx, bounds, mode, padding_idx, bool(scale_grad_by_freq))


# ------------------------------------------------------------------ one_hot

def one_hot(tensor, num_classes=-1):
    """An int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each index (num_classes=-1: max + 1)."""
    check_tensor("one_hot", "tensor", tensor)
    if tensor.dtype.name != "int64":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, got "
                           f"{type_name(tensor.dtype)}")
    dev = tensor._device
    idx = _index_array(tensor)
    if not idx.size and num_classes == -1:
        raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
    lo, hi = _index_bounds(idx, dev) if idx.size else (0, -1)
    if lo < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative, got {lo}.")
    classes = hi + 1 if num_classes == -1 else int(num_classes)
    if hi >= classes or classes < 0:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({classes}), got {hi}.")
    out = empty_array((idx.size, classes), _dt.int64, dev)
    if out.size:
        K.one_hot(idx, out)
    return wrap(out.reshape(tuple(tensor.shape) + (classes,)), dev)


__all__ = ["embedding", "embedding_bag", "one_hot"]
TENSOR_METHODS = []
