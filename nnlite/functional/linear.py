"""matmul / mm / bmm / dot / linear, on the one matrix-product primitive."""
import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ._util import broadcast_shapes, check_same_device, check_tensor, empty_array, wrap
from ._arrays import contiguous_array, reshape_array, strided_view
from .shape import expand, reshape, squeeze, unsqueeze

KM = kernels("matmul")


def _mT(a):
    """The last two dims of array a swapped (a view)."""
    from ._arrays import array_strides
    st = array_strides(a)
    shape = tuple(a.shape)
    return strided_view(a, shape[:-2] + (shape[-1], shape[-2]), st[:-2] + (st[-1], st[-2]))


def mm_array(a, b, dtype, device):
    """a @ b for arrays of shape (..., M, K) and (..., K, N) with equal batch shapes."""
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)  # device-array shapes refuse negative indices
    out_shape = a_shape[:-1] + b_shape[-1:]
    out = empty_array(out_shape, dtype, device)
    if out.size == 0:
        return out
    if a_shape[-1] == 0:
        from .creation import fill_
        fill_(wrap(out, device), 0)
        return out
    if len(a.shape) > 3 or (device.type == "cuda" and len(a.shape) == 3):
        a3, b3 = _as_batched(a), _as_batched(b)
        KM.matmul(a3, b3, out.reshape((-1,) + out_shape[-2:]))
    else:
        KM.matmul(a, b, out)
    return out


def _as_batched(a):
    """View (..., M, K) as (B, M, K), copying only if the batch dims cannot merge."""
    shape = tuple(a.shape)
    batch = int(np.prod(shape[:-2], dtype=np.int64))
    v = reshape_array(a, (batch,) + shape[-2:])
    return v if v is not None else contiguous_array(a).reshape((batch,) + shape[-2:])


class Matmul(Function):
    """(..., M, K) @ (..., K, N) with equal batch shapes, or (..., M, K) @ (K, N)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        dev, dtype = a._device, a.dtype
        if b.ndim == 2 and a.ndim > 2:
            # fold the batch into rows: one large GEMM instead of many small ones
            a2 = contiguous_array(a._array)
            out = mm_array(a2.reshape(-1, a.shape[-1]), b._array, dtype, dev)
            return wrap(out.reshape(tuple(a.shape[:-1]) + (b.shape[-1],)), dev)
        return wrap(mm_array(a._array, b._array, dtype, dev), dev)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        dev, dtype = g._device, g.dtype
        ga = gb = None
        garr = contiguous_array(g._array)
        if b.ndim == 2 and a.ndim > 2:
            g2 = garr.reshape(-1, g.shape[-1])
            if need_a:
                ga = wrap(mm_array(g2, _mT(b._array), dtype, dev).reshape(a._array.shape), dev)
            if need_b:
                a2 = contiguous_array(a._array).reshape(-1, a.shape[-1])
                gb = wrap(mm_array(_mT(a2), g2, dtype, dev), dev)
            return ga, gb
        if need_a:
            ga = wrap(mm_array(garr, _mT(b._array), dtype, dev), dev)
        if need_b:
            gb = wrap(mm_array(_mT(a._array), garr, dtype, dev), dev)
        return ga, gb


def _promote_pair(op, a, b):
    check_tensor(op, "input", a)
    check_tensor(op, "other", b)
    check_same_device(op, a, b)
    if a.dtype is not b.dtype:
        raise RuntimeError(f"{op}: expected both tensors to have the same dtype, but got: "
                           f"{a.dtype} != {b.dtype}")
    if a.dtype is _dt.bool_:
        raise RuntimeError(f"{op}: not implemented for 'Bool'")


def matmul(input, other):
    """torch.matmul: 1-D, 2-D and batched products with broadcasting of batch dims."""
    _promote_pair("matmul", input, other)
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = unsqueeze(a, 0)
    if b_vec:
        b = unsqueeze(b, -1)
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[-2]}x{a.shape[-1]} and "
                           f"{b.shape[-2]}x{b.shape[-1]})" if a.ndim == 2 and b.ndim == 2 else
                           f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{list(b.shape[:-2])}, {a.shape[-1]}] but got: {list(b.shape)}.")
    if not (b.ndim == 2 or (a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2])):
        batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        a = expand(a, batch + tuple(a.shape[-2:]))
        b = expand(b, batch + tuple(b.shape[-2:]))
    out = Matmul.apply(a, b)
    if a_vec:
        out = squeeze(out, -2)
    if b_vec:
        out = squeeze(out, -1)
    return out


def mm(input, mat2):
    _promote_pair("mm", input, mat2)
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {input.ndim}D and {mat2.ndim}D")
    return matmul(input, mat2)


def bmm(input, mat2):
    _promote_pair("bmm", input, mat2)
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expected 3D tensors, got {input.ndim}D and {mat2.ndim}D")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes must match, got {input.shape[0]} and {mat2.shape[0]}")
    return matmul(input, mat2)


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a 2D matrix and a 1D vector, got {input.ndim}D and {vec.ndim}D")
    return matmul(input, vec)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements, but got "
                           f"{input.shape[0]} and {other.shape[0]} elements respectively")
    return matmul(input, other)


class Linear(Function):
    """y = x @ W.T + b for a 2-D weight: one GEMM each way, and the weight's
    gradient computed as g.T @ x so that it comes out contiguous (no transpose copy)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        dev, dtype = x._device, x.dtype
        x2 = contiguous_array(x._array).reshape(-1, x.shape[-1])
        out = mm_array(x2, _mT(weight._array), dtype, dev)
        if bias is not None:
            from .binary import K as KB, binary_arrays
            binary_arrays(KB.add, out, contiguous_array(bias._array), dtype, dev, out=out)
        return wrap(out.reshape(tuple(x.shape[:-1]) + (weight.shape[0],)), dev)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dev, dtype = g._device, g.dtype
        g2 = contiguous_array(g._array).reshape(-1, weight.shape[0])
        gx = gw = gb = None
        if need_x:
            gx = wrap(mm_array(g2, contiguous_array(weight._array), dtype, dev).reshape(x._array.shape), dev)
        if need_w:
            x2 = contiguous_array(x._array).reshape(-1, x.shape[-1])
            gw = wrap(mm_array(_mT(g2), x2, dtype, dev), dev)
        if need_b:
            from .reduction import sum_array
            gb = wrap(sum_array(g2, (0,), dtype, dev), dev)
        return gx, gw, gb


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias, as torch.nn.functional.linear."""
    check_tensor("linear", "input", input)
    check_tensor("linear", "weight", weight)
    if weight.ndim not in (1, 2):
        raise RuntimeError(f"linear: weight must be 1D or 2D, got {weight.ndim}D")
    if input.ndim == 0:
        raise RuntimeError("linear: input must have at least one dimension")
    if input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: mat1 and mat2 shapes cannot be multiplied "
                           f"({int(np.prod(input.shape[:-1]))}x{input.shape[-1]} and "
                           f"{weight.shape[-1]}x{weight.shape[0] if weight.ndim == 2 else 1})")
    check_same_device("linear", input, weight, bias)
    if weight.ndim == 2 and input.dtype is weight.dtype and (bias is None or (
            bias.dtype is weight.dtype and tuple(bias.shape) == (weight.shape[0],))):
        return Linear.apply(input, weight, bias)
    out = matmul(input, weight.t() if weight.ndim == 2 else weight)  # 1-D weight or broadcast bias
    if bias is not None:
        out = out + bias
    return out


def bilinear(input1, input2, weight, bias=None):
    """y[n, o] = x1[n] @ W[o] @ x2[n] + b[o]."""
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError("bilinear: input1 and input2 must have the same leading dimensions")
    x1 = reshape(input1, (-1, input1.shape[-1]))
    x2 = reshape(input2, (-1, input2.shape[-1]))
    out_features, in1, in2 = weight.shape
    t = matmul(x1, reshape(weight.permute(1, 0, 2), (in1, out_features * in2)))
    t = reshape(t, (-1, out_features, in2))
    y = matmul(t, unsqueeze(x2, -1)).squeeze(-1)
    if bias is not None:
        y = y + bias
    return reshape(y, tuple(input1.shape[:-1]) + (out_features,))


__all__ = ["matmul", "mm", "bmm", "mv", "dot", "linear", "bilinear"]

TENSOR_METHODS = ["matmul", "mm", "bmm", "mv", "dot"]
