"""scaled_dot_product_attention, as torch.nn.functional's, on one fused kernel
pair per direction (kernels/attention_cpu.py, attention_cuda.py): the (L, S)
weights are never stored; forward saves the output and one logsumexp per
query row, backward recomputes the weights tile by tile from them.

Leading batch dims broadcast between query, key and value (expanded copies,
whose gradients autograd sums back). A key/value head count H of 1, equal to
the query's Hq, or (with enable_gqa) dividing it maps query head h to key head
h // (Hq / H) in the kernels, without copies. A bool mask becomes an additive
0 / -inf mask; a float mask is added and gets a gradient when it requires one.
"""
import math

import numpy as np

from ..autograd.function import Function
from ..backend.lazy import kernels
from ..backend.memory import to_device
from ..backend.random import default_generator
from ._arrays import contiguous_array, empty_for
from ._util import broadcast_shapes, check_same_device, check_tensor, wrap

K = kernels("attention")
OP = "scaled_dot_product_attention"


class _Config:
    """The scalars both directions need (block sizes are a parameter for tests)."""
    __slots__ = ("scale", "causal", "draw", "keep_scale", "block_q", "block_k", "mask_index")

    def __init__(self, scale, causal, draw, keep_scale, blocks, mask_index):
        self.scale, self.causal, self.draw, self.keep_scale = scale, causal, draw, keep_scale
        self.block_q, self.block_k = blocks
        self.mask_index = mask_index


def _flat3(a, lead):
    """A contiguous (lead, rows, cols) view of an array whose last two dims are (rows, cols)."""
    a = contiguous_array(a)
    return a.reshape((lead,) + tuple(a.shape[-2:]))


def _mask_arrays(mask, like):
    """(mask (M, L, S), has_mask) for the kernels; a 1-element dummy without a mask."""
    if mask is None:
        return empty_for(like, (1, 1, 1)), False
    return _flat3(mask._array, math.prod(mask.shape[:-2])), True


class ScaledDotProductAttention(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, cfg):
        BHq, L = math.prod(q.shape[:-2]), q.shape[-2]
        qa, ka, va = _flat3(q._array, BHq), _flat3(k._array, math.prod(k.shape[:-2])), \
            _flat3(v._array, math.prod(v.shape[:-2]))
        if qa.shape[2] == 0:  # E = 0: every score is 0, as with a zero query and key of width 1
            qa, ka = q.new_zeros((BHq, L, 1))._array, k.new_zeros((ka.shape[0], ka.shape[1], 1))._array
        out = empty_for(qa, (BHq, L, va.shape[2]))
        lse = empty_for(qa, (BHq, L))
        mask_a, has_mask = _mask_arrays(mask, qa)
        if out.size:
            K.sdpa_fwd(qa, ka, va, mask_a, cfg.mask_index, out, lse, cfg.scale, cfg.causal, has_mask,
                       *cfg.draw, cfg.keep_scale, cfg.block_q, cfg.block_k)
        ctx.cfg, ctx.arrays = cfg, (qa, ka, va, mask_a, has_mask, out, lse)
        ctx.shapes = (q.shape, k.shape, v.shape, None if mask is None else mask.shape)
        return wrap(out.reshape(tuple(q.shape[:-1]) + (va.shape[2],)), q._device)

    @staticmethod
    def backward(ctx, g):
        cfg = ctx.cfg
        qa, ka, va, mask_a, has_mask, out, lse = ctx.arrays
        q_shape, k_shape, v_shape, mask_shape = ctx.shapes
        want_dmask = bool(ctx.needs_input_grad[3])
        ga = contiguous_array(g._array).reshape(out.shape)
        on_cpu = type(qa) is np.ndarray
        groups = K.key_groups(qa.shape, ka.shape, cfg.block_k) if on_cpu else 1
        dq_part = empty_for(qa, (groups,) + tuple(qa.shape))
        dk, dv = empty_for(ka, ka.shape), empty_for(va, va.shape)
        dmask = empty_for(qa, (qa.shape[0], qa.shape[1], ka.shape[1]) if want_dmask else (1, 1, 1))
        delta = empty_for(qa, lse.shape)
        full_mask_shape = tuple(q_shape[:-1]) + (ka.shape[1],)
        if not (out.size and ka.shape[1]):  # no query rows or no keys: every gradient is 0
            return _zero_grads(g, (q_shape, k_shape, v_shape, full_mask_shape, mask_shape), want_dmask)
        K.sdpa_bwd(qa, ka, va, mask_a, cfg.mask_index, out, lse, ga, dq_part, dk, dv, dmask, delta, cfg.scale,
                   cfg.causal, has_mask, want_dmask, *cfg.draw, cfg.keep_scale, cfg.block_q, cfg.block_k)
        dq = dq_part[0] if groups == 1 else dq_part.sum(axis=0)
        if q_shape[-1] == 0:
            dq, dk = (empty_for(qa, s) for s in (q_shape, k_shape))
        grads = [wrap(dq.reshape(q_shape), g._device), wrap(dk.reshape(k_shape), g._device),
                 wrap(dv.reshape(v_shape), g._device), None, None]
        if want_dmask:
            grads[3] = wrap(dmask.reshape(full_mask_shape), g._device).sum_to_size(*mask_shape)
        return tuple(grads)


def _zero_grads(g, shapes, want_dmask):
    q_shape, k_shape, v_shape, full_mask_shape, mask_shape = shapes
    zeros = [g.new_zeros(tuple(s)) for s in (q_shape, k_shape, v_shape)]
    return (*zeros, g.new_zeros(tuple(mask_shape)) if want_dmask else None, None)


# ---------------------------------------------------------------- argument checks

def _check_inputs(query, key, value, dropout_p):
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(OP, name, t)
    check_same_device(OP, query, key, value)
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(f"{OP}: Expected query, key, and value to all be at least 2 dimensional, but got "
                           f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead.")
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(f"{OP}: Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead.")
    if query.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"{OP}: expected float32 or float64 query, key and value, got {query.dtype}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{OP}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got "
                           f"query {list(query.shape)}, key {list(key.shape)} and value {list(value.shape)}")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"{OP}: dropout probability has to be between 0 and 1, but got {dropout_p}")


def _heads(t):
    return t.shape[-3] if t.ndim >= 3 else 1


def _group(query, key, value, enable_gqa):
    """Query heads per key/value head, checking the head counts."""
    hq, hk, hv = _heads(query), _heads(key), _heads(value)
    if hk != hv:
        raise RuntimeError(f"{OP}: key and value must have the same number of heads, got key "
                           f"{list(key.shape)} and value {list(value.shape)}")
    if hk == hq or hk == 1 or hq == 1:  # equal, or one side broadcast
        return max(hq // hk, 1)
    if enable_gqa and hq % hk == 0:
        return hq // hk
    need = "divide" if enable_gqa else "equal (or, with enable_gqa=True, divide)"
    raise RuntimeError(f"{OP}: Number of heads in key and value must {need} the number of heads in query: "
                       f"query {list(query.shape)}, key {list(key.shape)}, value {list(value.shape)}")


def _broadcast_leading(query, key, value):
    """The three tensors with their batch dims broadcast alike, and a single query head
    broadcast to the key's heads (expanded copies; autograd sums their gradients back)."""
    def batch(t):
        return tuple(t.shape[:-3])
    try:
        common = tuple(broadcast_shapes(batch(query), batch(key), batch(value)))
    except (RuntimeError, ValueError):
        raise RuntimeError(f"{OP}: the batch dims of query {list(query.shape)}, key {list(key.shape)} and value "
                           f"{list(value.shape)} do not broadcast") from None
    hk = _heads(key)
    hq = _heads(query) if _heads(query) > 1 else hk
    heads_dim = max(query.ndim, key.ndim, value.ndim) >= 3

    def expanded(t, heads):
        shape = (common + (heads,) if heads_dim else ()) + tuple(t.shape[-2:])
        if tuple(t.shape) == shape:
            return t
        t = t.reshape(*((1,) * (len(shape) - t.ndim)), *t.shape)
        return t.expand(*shape).contiguous()
    return expanded(query, hq), expanded(key, hk), expanded(value, hk)


def _prepare_mask(attn_mask, query, S, is_causal):
    """(additive mask tensor or None, mask_index array (BHq,)) for the kernels."""
    lead = tuple(query.shape[:-2])
    if attn_mask is None:
        return None, np.zeros(max(1, math.prod(lead)), np.int64)
    check_tensor(OP, "attn_mask", attn_mask)
    if is_causal:
        raise RuntimeError(f"{OP}: Explicit attn_mask should not be set when is_causal=True")
    if attn_mask.dtype.name != "bool" and attn_mask.dtype != query.dtype:
        raise RuntimeError(f"{OP}: Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                           f"attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead.")
    target = lead + (query.shape[-2], S)
    if attn_mask.ndim > len(target) or _broadcast_or_none(tuple(attn_mask.shape), target) != target:
        raise RuntimeError(f"{OP}: attn_mask of shape {list(attn_mask.shape)} does not broadcast to the attention "
                           f"weights' shape {list(target)} (query {list(query.shape)}, S = {S})")
    if attn_mask.dtype.name == "bool":
        additive = attn_mask.new_zeros(tuple(attn_mask.shape), dtype=query.dtype)
        attn_mask = additive.masked_fill(attn_mask.logical_not(), -math.inf)
    mask_lead = (1,) * (len(target) - attn_mask.ndim) + tuple(attn_mask.shape[:-2])
    mask = attn_mask.reshape(*mask_lead, *attn_mask.shape[-2:]).expand(*mask_lead, *target[-2:])
    slots = np.broadcast_to(np.arange(math.prod(mask_lead), dtype=np.int64).reshape(mask_lead), lead)
    return mask, np.ascontiguousarray(slots).reshape(-1)


def _broadcast_or_none(a, b):
    try:
        return tuple(broadcast_shapes(a, b))
    except (RuntimeError, ValueError):
        return None


def _dropout_draw(query, rows, dropout_p):
    """(seed, offset, p) of the weights' dropout mask, and the kept weights' scale."""
    if dropout_p == 0:
        return (np.uint64(0), np.int64(0), 0.0), 1.0
    seed, offset = default_generator(query._device).take(rows)
    keep_scale = 1.0 / (1.0 - dropout_p) if dropout_p < 1 else 0.0
    return (np.uint64(seed), np.int64(offset), float(dropout_p)), keep_scale


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, block_sizes=None):
    """softmax(query key^T * scale + mask) value, with dropout on the weights when dropout_p > 0.

    `block_sizes` = (query rows, key rows) of the CPU kernels' tiles (a keyword for tests)."""
    _check_inputs(query, key, value, dropout_p)
    _group(query, key, value, enable_gqa)
    query, key, value = _broadcast_leading(query, key, value)
    L, E, S, Ev = query.shape[-2], query.shape[-1], key.shape[-2], value.shape[-1]
    if query._device.type == "cuda" and max(E, Ev) > K.CUDA_MAX_DIM:
        raise RuntimeError(f"{OP}: the CUDA kernel supports head dims up to {K.CUDA_MAX_DIM}, got query "
                           f"{list(query.shape)} and value {list(value.shape)}")
    mask, mask_index = _prepare_mask(attn_mask, query, S, is_causal)
    if query._device.type == "cuda":
        mask_index = to_device(mask_index, query._device.index or 0)
    scale = (1.0 / math.sqrt(E) if E else 1.0) if scale is None else float(scale)
    draw, keep_scale = _dropout_draw(query, math.prod(query.shape[:-1]) * S, dropout_p)
    blocks = block_sizes or (K.BLOCK_Q, K.BLOCK_K)
    cfg = _Config(scale, bool(is_causal), draw, keep_scale, blocks, mask_index)
    return ScaledDotProductAttention.apply(query, key, value, mask, cfg)


__all__ = ["scaled_dot_product_attention"]

TENSOR_METHODS = []
