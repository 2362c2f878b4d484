"""Distances, as torch.nn.functional: pairwise_distance, cosine_similarity and pdist.

pairwise_distance is torch's composition, norm(x1 - x2 + eps, p, last dim), so its
values and gradients (0 at zero distance for p=2) are norm's. cosine_similarity and
pdist are autograd Functions over kernels/distance.py, with torch's numerics:
cosine similarity clamps each norm at eps separately, and its gradient treats the
clamped norm as the norm itself, as torch's no_grad clamp does.
"""
import math

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.layout import broadcast_shapes
from ..backend.lazy import kernels
from . import binary as B
from .reduction import norm
from .shape import expand
from ._arrays import contiguous_array
from ._util import check_same_device, check_tensor, empty_array, flat, normalize_dim, wrap
from .activation import type_name

K = kernels("distance")


# ------------------------------------------------------------------ pairwise_distance

def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim of the broadcast inputs (torch adds eps to the difference)."""
    check_tensor("pairwise_distance", "x1", x1)
    check_tensor("pairwise_distance", "x2", x2)
    check_same_device("pairwise_distance", x1, x2)
    broadcast_shapes(tuple(x1.shape), tuple(x2.shape))  # torch's message when they do not broadcast
    last = max(x1.ndim, x2.ndim) - 1
    return norm(B.add(B.sub(x1, x2), eps), p, last if last >= 0 else None, keepdim)


# ------------------------------------------------------------------ cosine_similarity

class CosineSimilarity(Function):
    """sum over `dim` of (x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)) for same-shape x1, x2."""

    @staticmethod
    def forward(ctx, x1, x2, dim, eps):
        shape = tuple(x1.shape)
        outer, D, inner = math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1:])
        a, b = contiguous_array(x1._array), contiguous_array(x2._array)
        dev, dtype = x1._device, x1.dtype
        out = empty_array((outer * inner,), dtype, dev)
        n1, n2 = empty_array(out.shape, dtype, dev), empty_array(out.shape, dtype, dev)
        if out.size:
            K.cosine_fwd(flat(a), flat(b), out, n1, n2, D, inner, float(eps))
        ctx.args = (a, b, out, n1, n2, D, inner, float(eps), shape)
        return wrap(out.reshape(shape[:dim] + shape[dim + 1:]), dev)

    @staticmethod
    def backward(ctx, g):
        a, b, y, n1, n2, D, inner, eps, shape = ctx.args
        dev = g._device
        gx1, gx2 = empty_array(shape, g.dtype, dev), empty_array(shape, g.dtype, dev)
        if y.size and D:
            K.cosine_bwd(flat(a), flat(b), flat(contiguous_array(g._array)), y, n1, n2, flat(gx1), flat(gx2),
                         D, inner, eps)
        elif gx1.size:  # D == 0: the similarity is the constant 0
            from ._reduce_layout import fill_array
            fill_array(gx1, 0)
            fill_array(gx2, 0)
        return wrap(gx1, dev), wrap(gx2, dev), None, None


def _common_float_dtype(op, x1, x2):
    dtype = _dt.result_type(x1, x2)
    if not dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected common dtype to be floating point, yet common dtype is "
                           f"{type_name(dtype)} (x1: {x1.dtype}, x2: {x2.dtype})")
    return dtype


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine similarity of x1 and x2 (broadcast together) along `dim`."""
    check_tensor("cosine_similarity", "x1", x1)
    check_tensor("cosine_similarity", "x2", x2)
    check_same_device("cosine_similarity", x1, x2)
    dtype = _common_float_dtype("cosine_similarity", x1, x2)
    shape = broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    dim = normalize_dim("cosine_similarity", dim, len(shape))
    if not shape:  # 0-dim inputs: a length-1 vector each
        x1, x2 = x1.reshape(1), x2.reshape(1)
        shape = (1,)
    x1, x2 = (x if x.dtype is dtype else x.to(dtype) for x in (x1, x2))
    x1 = x1 if tuple(x1.shape) == shape else expand(x1, shape)
    x2 = x2 if tuple(x2.shape) == shape else expand(x2, shape)
    return CosineSimilarity.apply(x1, x2, dim, eps)


# ------------------------------------------------------------------ pdist

class Pdist(Function):
    """The p-norm distances between the rows of x (N, M), pairs i < j in row-major order."""

    @staticmethod
    def forward(ctx, x, p):
        a = contiguous_array(x._array)
        N = a.shape[0]
        out = empty_array((N * (N - 1) // 2,), x.dtype, x._device)
        if out.size:
            K.pdist_fwd(a, out, p)
        ctx.args = (a, out, p)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        a, dist, p = ctx.args
        gx = empty_array(a.shape, g.dtype, g._device)
        if gx.size:
            K.pdist_bwd(a, contiguous_array(g._array), dist, gx, p)
        return wrap(gx, g._device), None


def pdist(input, p=2):
    """||x_i - x_j||_p for every pair of rows i < j of a 2-D input, as a 1-D tensor of N(N-1)/2."""
    check_tensor("pdist", "input", input)
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D (size {list(input.shape)})")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"pdist only supports floating-point dtypes, got {type_name(input.dtype)}")
    if not p >= 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got p={p}")
    return Pdist.apply(input, float(p))


__all__ = ["cosine_similarity", "pairwise_distance", "pdist"]
TENSOR_METHODS = []
