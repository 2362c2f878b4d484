"""multi_head_attention_forward, as torch.nn.functional's: the computation of
nn.MultiheadAttention on sequence-first (L, N, E) or unbatched (L, E) inputs.

Projections are `linear` (one GEMM for packed self-attention), the attention
itself is `scaled_dot_product_attention`'s fused kernels when the weights are
not returned, and an explicit softmax(q k^T + mask) v otherwise (the weights
must then exist anyway) or when the head dim exceeds the CUDA kernels' limit. Masks follow torch: bool True means "masked out",
float masks are added; a key_padding_mask is merged into attn_mask.
"""
import math
import warnings

from ..backend import dtype as _dt
from ..backend.lazy import kernels
from . import shape as S
from .activation import softmax
from .attention import scaled_dot_product_attention
from .binary import add, mul
from .creation import zeros
from .dropout import dropout
from .linear import bmm, linear
from .padding import pad

OP = "multi_head_attention_forward"
SDPA_KERNELS = kernels("attention")


def canonical_mask(mask, mask_name, other_type, other_name, target_type):
    """A bool mask as an additive float mask of target_type (-inf where True); a float mask as is."""
    if mask is None:
        return None
    if other_type is not None and mask.dtype is not other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both "
                      f"instead.")
    if mask.dtype is _dt.bool_:
        return zeros(tuple(mask.shape), dtype=target_type, device=mask.device).masked_fill(mask, -math.inf)
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    return mask


def none_or_dtype(t):
    if t is None:
        return None
    return t.dtype


def _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True when the input is batched; torch's messages for inconsistent dims."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                                 f"found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                                 f"found {attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                                 f"but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                                     f"3-D but found {attn_mask.dim()}-D tensor instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.dim() == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query "
                         f"tensor")


def _project_packed(q, k, v, w, b):
    """q, k, v through the stacked (3E, E) in-projection: one GEMM when all three are one tensor."""
    E = q.size(-1)
    if k is v and q is k:
        proj = linear(q, w, b)
        return tuple(S.narrow(proj, -1, i * E, E) for i in range(3))
    w_q, w_k, w_v = S.chunk(w, 3)
    b_q, b_k, b_v = (None, None, None) if b is None else S.chunk(b, 3)
    if k is v:  # encoder-decoder attention: key and value projected together
        kv = linear(k, S.cat([w_k, w_v]), None if b is None else S.cat([b_k, b_v]))
        return linear(q, w_q, b_q), S.narrow(kv, -1, 0, E), S.narrow(kv, -1, E, E)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _project_separate(q, k, v, w_q, w_k, w_v, b):
    E, Ek, Ev = q.size(-1), k.size(-1), v.size(-1)
    for name, w, want in (("q", w_q, (E, E)), ("k", w_k, (E, Ek)), ("v", w_v, (E, Ev))):
        if w is None or tuple(w.shape) != want:
            got = None if w is None else tuple(w.shape)
            raise AssertionError(f"expecting {name}_proj_weight shape of {want}, but got {got}")
    b_q, b_k, b_v = (None, None, None) if b is None else S.chunk(b, 3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _check_attn_mask(attn_mask, tgt_len, src_len, bsz, num_heads):
    """attn_mask as (1 or N*H, L, S), checking torch's shapes."""
    if attn_mask.dim() == 2:
        if tuple(attn_mask.shape) != (tgt_len, src_len):
            raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                               f"{(tgt_len, src_len)}.")
        return S.unsqueeze(attn_mask, 0)
    if attn_mask.dim() == 3:
        if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                               f"{(bsz * num_heads, tgt_len, src_len)}.")
        return attn_mask
    raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")


def _heads_first(t, length, bsz, num_heads, head_dim):
    """(length, N, E) -> (N * H, length, head_dim)."""
    return S.transpose(S.reshape(t, length, bsz * num_heads, head_dim), 0, 1)


def _static(t, name, bsz, num_heads, head_dim):
    if t.size(0) != bsz * num_heads:
        raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got {t.size(0)}")
    if t.size(2) != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {t.size(2)}")
    return t


def _check_embed(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight):
    embed_dim = query.shape[2]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    if embed_dim % num_heads:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                                 f"{tuple(value.shape[:2])}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")


def _fused_fits(query, head_dim):
    """Whether the fused attention kernels take this head dim (the CUDA ones have a limit)."""
    return query.device.type != "cuda" or head_dim <= SDPA_KERNELS.CUDA_MAX_DIM


def _masks(key_padding_mask, attn_mask, query, need_weights, is_causal):
    """(key_padding_mask, attn_mask, is_causal) as float masks, torch's rules for is_causal."""
    key_padding_mask = canonical_mask(key_padding_mask, "key_padding_mask", none_or_dtype(attn_mask),
                                      "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        return None, None, True  # the kernel's own causal mask replaces attn_mask
    attn_mask = canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
    return key_padding_mask, attn_mask, is_causal and key_padding_mask is None


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention on (L, N, E) query and (S, N, Ek/Ev) key/value (or unbatched 2-D).

    Returns (output (L, N, E), weights (N, L, S) averaged over heads, (N, H, L, S) per head,
    or None when need_weights=False), as torch.nn.functional.multi_head_attention_forward."""
    is_batched = _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = S.unsqueeze(query, 1), S.unsqueeze(key, 1), S.unsqueeze(value, 1)
        if key_padding_mask is not None:
            key_padding_mask = S.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query.shape
    _check_embed(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight)
    head_dim = embed_dim // num_heads
    # the weights are computed explicitly when returned, or when the fused kernels cannot take the head dim
    explicit = need_weights or not _fused_fits(query, head_dim)
    key_padding_mask, attn_mask, is_causal = _masks(key_padding_mask, attn_mask, query, explicit, is_causal)
    if use_separate_proj_weight:
        q, k, v = _project_separate(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias)
    else:
        q, k, v = _project_packed(query, key, value, in_proj_weight, in_proj_bias)
    if attn_mask is not None:
        attn_mask = _check_attn_mask(attn_mask, tgt_len, key.shape[0], bsz, num_heads)
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key/value.")
        k = S.cat([k, S.repeat(bias_k, 1, bsz, 1)])
        v = S.cat([v, S.repeat(bias_v, 1, bsz, 1)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    elif (bias_k is None) != (bias_v is None):
        raise AssertionError("bias_k and bias_v must both be given or both be None")
    q = _heads_first(q, tgt_len, bsz, num_heads, head_dim)
    k = _heads_first(k, k.shape[0], bsz, num_heads, head_dim) if static_k is None else \
        _static(static_k, "static_k", bsz, num_heads, head_dim)
    v = _heads_first(v, v.shape[0], bsz, num_heads, head_dim) if static_v is None else \
        _static(static_v, "static_v", bsz, num_heads, head_dim)
    if add_zero_attn:
        zero = zeros((bsz * num_heads, 1, head_dim), dtype=q.dtype, device=q.device)
        k, v = S.cat([k, zero], 1), S.cat([v, zero], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k.size(1)
    if key_padding_mask is not None:
        attn_mask = _merge_padding(key_padding_mask, attn_mask, bsz, num_heads, src_len)
    if not training:
        dropout_p = 0.0
    if explicit:
        out, weights = _attend_with_weights(q, k, v, attn_mask, dropout_p, (tgt_len, bsz, embed_dim, num_heads),
                                            (out_proj_weight, out_proj_bias), average_attn_weights, is_batched)
        return out, (weights if need_weights else None)
    if attn_mask is not None:
        attn_mask = S.unsqueeze(attn_mask, 0) if attn_mask.size(0) == 1 else \
            S.reshape(attn_mask, bsz, num_heads, -1, src_len)
    q, k, v = (S.reshape(t, bsz, num_heads, t.size(1), head_dim) for t in (q, k, v))
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = S.reshape(S.permute(out, 2, 0, 1, 3), bsz * tgt_len, embed_dim)
    out = S.reshape(linear(out, out_proj_weight, out_proj_bias), tgt_len, bsz, embed_dim)
    return (out if is_batched else S.squeeze(out, 1)), None


def _merge_padding(key_padding_mask, attn_mask, bsz, num_heads, src_len):
    """attn_mask + key_padding_mask broadcast over heads and query rows, (N * H, 1 or L, S)."""
    if tuple(key_padding_mask.shape) != (bsz, src_len):
        raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                             f"{key_padding_mask.shape}")
    kpm = S.reshape(S.expand(S.reshape(key_padding_mask, bsz, 1, 1, src_len), bsz, num_heads, 1, src_len),
                    bsz * num_heads, 1, src_len)
    return kpm if attn_mask is None else add(attn_mask, kpm)


def _attend_with_weights(q, k, v, attn_mask, dropout_p, sizes, out_proj, average, is_batched):
    """softmax(q k^T / sqrt(d) + mask) v with the weights kept, as torch's need_weights path."""
    tgt_len, bsz, embed_dim, num_heads = sizes
    q_scaled = mul(q, math.sqrt(1.0 / q.size(-1)))
    scores = bmm(q_scaled, S.transpose(k, -2, -1))
    if attn_mask is not None:
        scores = add(attn_mask, scores)
    weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, p=dropout_p)
    out = S.reshape(S.contiguous(S.transpose(bmm(weights, v), 0, 1)), tgt_len * bsz, embed_dim)
    out = S.reshape(linear(out, *out_proj), tgt_len, bsz, embed_dim)
    weights = S.reshape(weights, bsz, num_heads, tgt_len, weights.size(-1))
    if average:
        weights = weights.mean(dim=1)
    if not is_batched:
        return S.squeeze(out, 1), S.squeeze(weights, 0)
    return out, weights


__all__ = ["multi_head_attention_forward"]

TENSOR_METHODS = []
