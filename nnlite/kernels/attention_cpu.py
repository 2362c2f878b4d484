"""scaled_dot_product_attention on the CPU: one fused kernel per direction,
flash-attention style (the (L, S) score matrix is never materialised).

Layouts (contiguous): q (BHq, L, E), k (BHk, S, E), v (BHk, S, Ev); query head
bh reads key/value head bh // group (group = BHq // BHk: GQA, or a single
broadcast key head). An additive mask lives in `mask` (M, L, S); query head bh
uses mask[mask_index[bh]] (the functional layer maps broadcast dims there).

Forward: the (head, query block) items are cut into `parts` contiguous ranges,
one per prange iteration, each with its own scratch slices (no allocation in
the kernel, no sharing). For each key block: S = scale Q K^T by BLAS, online
softmax (running max m, running sum l), then the output rows are rescaled by
exp(m_old - m_new) and O += P V by a BLAS GEMM with beta = 1. Saves
lse = m + log(l) per query row (-inf for fully masked rows, whose output is 0
as in torch's CPU kernel).

Backward: one pass, 5 GEMMs per tile (S, dP, dV, dK, dQ), no second sweep. Items
are (key/value head, group of key blocks): an item owns dK and dV of its key
rows, and dQ partial sums dq_part[g] of the query heads that read its key head,
so no two iterations write the same element. With enough heads there is one
key-block group and dq_part[0] is dQ itself; with few heads the key blocks are
split across groups for parallelism and the functional layer sums dq_part.
Per tile: P = exp(scale Q K^T + mask - lse), dP = dO V^T, dS = P (dP - delta)
with delta = rowsum(dO * O); dV += P^T dO, dK += scale dS^T Q, dQ += scale dS K
(the scale is each GEMM's alpha, the accumulation its beta = 1).

Dropout: element (bh, i, j) is kept when unit(hash(seed, offset + (bh L + i) S + j))
>= p, the same draw in forward and backward, on CPU and CUDA.
"""
import math

from numba import njit, prange

from .attention_common import keep_factor_cpu
from .fastmath import fexp_nonpos, like
from .matmul import cblas_gemm as _gemm
from .softmax import _row_max, row_dot, row_sum


@njit(inline="always")
def _scores_row(row, mask, mi, i, j0, causal, has_mask, neg_inf):
    """row (already scaled by the GEMM) + mask, keys past the causal diagonal at -inf: branch-free loops."""
    if has_mask:
        mrow = mask[mi, i, j0:j0 + row.size]
        for c in range(row.size):
            row[c] += mrow[c]
    if causal:
        for c in range(max(0, i - j0 + 1), row.size):
            row[c] = neg_inf


@njit(inline="always")
def _online_softmax_row(row, m_old, scratch):
    """row = exp(row - m_new); returns (sum of the exponentials, rescale factor of the old sums, m_new).
    softmax's row max compares the floats' bits as integers, which vectorises (a float max does not);
    a tile holding NaN or +inf makes the sum NaN, so the row's output is NaN as in torch."""
    m_blk, usable = _row_max(row, scratch)
    m_new = max(m_old, m_blk)
    # a row masked so far has m_new = -inf: shift by 0 so that exp(-inf) = 0, not NaN
    shift = m_new if m_new > -math.inf else like(m_new, 0.0)
    alpha = fexp_nonpos(m_old - shift)
    if not usable and m_blk != -math.inf:
        return like(m_new, math.nan), alpha, m_new
    for c in range(row.size):
        row[c] = fexp_nonpos(row[c] - shift)
    return row_sum(row), alpha, m_new


@njit(inline="always")
def _drop_row(row, bn, seed, counter, p_drop, keep_scale):
    for c in range(bn):
        row[c] *= keep_factor_cpu(seed, counter + c, p_drop, keep_scale)


@njit(inline="always")
def _fwd_item(q, k, v, mask, mask_index, out, lse, sbuf, stats, bh, qb, scale, causal, has_mask,
              seed, offset, p_drop, keep_scale, block_q, block_k):
    L, E = q.shape[1], q.shape[2]
    S, ev = k.shape[1], v.shape[2]
    hk = bh // (q.shape[0] // k.shape[0])
    mi = mask_index[bh]
    i0 = qb * block_q
    i1 = min(L, i0 + block_q)
    bm = i1 - i0
    neg_inf = like(scale, -math.inf)
    acc = out[bh, i0:i1]
    acc[:] = 0
    m_row, l_row = stats[0], stats[1]
    m_row[:bm] = neg_inf
    l_row[:bm] = 0
    j_end = min(S, i1) if causal else S  # later key blocks are all above the diagonal
    for j0 in range(0, j_end, block_k):
        bn = min(block_k, j_end - j0)
        _gemm(0, 1, bm, bn, E, scale, q[bh, i0:i1], E, k[hk, j0:j0 + bn], E, 0, sbuf, block_k)
        for r in range(bm):
            row = sbuf[r, :bn]
            _scores_row(row, mask, mi, i0 + r, j0, causal, has_mask, neg_inf)
            tot, alpha, m_new = _online_softmax_row(row, m_row[r], stats[2, :1])
            m_row[r] = m_new
            l_row[r] = l_row[r] * alpha + tot
            arow = acc[r]
            for c in range(ev):  # rescale the old sums; the GEMM below adds this tile's
                arow[c] *= alpha
            if p_drop > 0:
                _drop_row(row, bn, seed, offset + ((bh * L + i0 + r) * S + j0), p_drop, keep_scale)
        _gemm(0, 0, bm, ev, bn, 1, sbuf, block_k, v[hk, j0:j0 + bn], ev, 1, acc, ev)
    for r in range(bm):
        l = l_row[r]
        inv = 1 / l if l > 0 else l * 0  # fully masked row: output 0 (torch CPU); NaN stays NaN
        for c in range(ev):
            acc[r, c] *= inv
        lse[bh, i0 + r] = m_row[r] + math.log(l) if l > 0 else (neg_inf if l == 0 else l)


@njit(parallel=True, cache=True)
def sdpa_fwd_cpu(q, k, v, mask, mask_index, out, lse, sbuf, stats, scale, causal, has_mask,
                 seed, offset, p_drop, keep_scale, block_q, block_k):
    """out = softmax(q k^T * scale + mask) v per head (dropout on the weights when p_drop > 0);
    sbuf (parts, block_q, block_k), stats (parts, 3, block_q) scratch."""
    nqb = (q.shape[1] + block_q - 1) // block_q
    work = q.shape[0] * nqb
    parts = sbuf.shape[0]
    for part in prange(parts):
        for item in range(work * part // parts, work * (part + 1) // parts):
            _fwd_item(q, k, v, mask, mask_index, out, lse, sbuf[part], stats[part],
                      item // nqb, item % nqb, scale, causal, has_mask, seed, offset, p_drop, keep_scale,
                      block_q, block_k)


@njit(inline="always")
def _row_deltas(dout, out, bh, i0, bm, delta):
    for r in range(bm):
        delta[r] = row_dot(dout[bh, i0 + r], out[bh, i0 + r])


@njit(inline="always")
def _probs_row(srow, mask, mi, i, j0, row_lse, causal, has_mask):
    """srow = softmax weights exp(score - lse) of one row of a tile (0 above the causal diagonal
    and in fully masked rows); branch-free loops."""
    visible = srow.size if not causal else min(srow.size, max(0, i - j0 + 1))
    if row_lse != row_lse:  # a NaN row of the forward: NaN gradients, as torch
        srow[:] = row_lse
        return
    if not row_lse > -math.inf:
        visible = 0
    if has_mask:
        mrow = mask[mi, i, j0:j0 + srow.size]
        for c in range(visible):
            srow[c] = fexp_nonpos(srow[c] + mrow[c] - row_lse)
    else:
        for c in range(visible):
            srow[c] = fexp_nonpos(srow[c] - row_lse)
    for c in range(visible, srow.size):
        srow[c] = 0


@njit(inline="always")
def _grad_scores(sbuf, dpbuf, bm, bn, mask, mi, lse, delta, dmask, bh, i0, j0, causal, has_mask,
                 want_dmask, seed, offset, p_drop, keep_scale, L, S):
    """sbuf: scaled scores -> dropped weights (for dV); dpbuf: dO V^T -> dS (for dK, dQ)."""
    for r in range(bm):
        i = i0 + r
        srow, dprow = sbuf[r, :bn], dpbuf[r, :bn]
        _probs_row(srow, mask, mi, i, j0, lse[bh, i], causal, has_mask)
        d = delta[r]
        if p_drop > 0:
            counter = offset + ((bh * L + i) * S + j0)
            for c in range(bn):
                keep = keep_factor_cpu(seed, counter + c, p_drop, keep_scale)
                dprow[c] = srow[c] * (dprow[c] * keep - d)
                srow[c] *= keep
        else:
            for c in range(bn):
                dprow[c] = srow[c] * (dprow[c] - d)
        if want_dmask:
            dmask[bh, i, j0:j0 + bn] = dprow


@njit(inline="always")
def _bwd_item(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf, dpbuf, delta,
              hk, g, scale, causal, has_mask, want_dmask, seed, offset, p_drop, keep_scale, block_q, block_k):
    L, E = q.shape[1], q.shape[2]
    S, ev = k.shape[1], v.shape[2]
    group = q.shape[0] // k.shape[0]
    groups = dq_part.shape[0]
    nkb = (S + block_k - 1) // block_k
    kb0, kb1 = nkb * g // groups, nkb * (g + 1) // groups
    dk[hk, kb0 * block_k:min(S, kb1 * block_k)] = 0
    dv[hk, kb0 * block_k:min(S, kb1 * block_k)] = 0
    for bh in range(hk * group, (hk + 1) * group):
        mi = mask_index[bh]
        dq = dq_part[g, bh]
        for i0 in range(0, L, block_q):
            bm = min(block_q, L - i0)
            _row_deltas(dout, out, bh, i0, bm, delta)
            dq[i0:i0 + bm] = 0
            for kb in range(kb0, kb1):
                j0 = kb * block_k
                if causal and j0 > i0 + bm - 1:
                    break  # this key block and the later ones are above the diagonal
                bn = min(block_k, S - j0)
                qi, gi, kj, vj = q[bh, i0:i0 + bm], dout[bh, i0:i0 + bm], k[hk, j0:j0 + bn], v[hk, j0:j0 + bn]
                _gemm(0, 1, bm, bn, E, scale, qi, E, kj, E, 0, sbuf, block_k)
                _gemm(0, 1, bm, bn, ev, 1, gi, ev, vj, ev, 0, dpbuf, block_k)
                _grad_scores(sbuf, dpbuf, bm, bn, mask, mi, lse, delta, dmask, bh, i0, j0, causal,
                             has_mask, want_dmask, seed, offset, p_drop, keep_scale, L, S)
                _gemm(1, 0, bn, ev, bm, 1, sbuf, block_k, gi, ev, 1, dv[hk, j0:j0 + bn], ev)
                _gemm(1, 0, bn, E, bm, scale, dpbuf, block_k, qi, E, 1, dk[hk, j0:j0 + bn], E)
                _gemm(0, 0, bm, E, bn, scale, dpbuf, block_k, kj, E, 1, dq[i0:i0 + bm], E)


@njit(parallel=True, cache=True)
def sdpa_bwd_cpu(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf, dpbuf, delta, scale,
                 causal, has_mask, want_dmask, seed, offset, p_drop, keep_scale, block_q, block_k):
    """dq_part (groups, BHq, L, E), dk, dv, and dmask (BHq, L, S) = dL/d(scores) when want_dmask;
    scratch per part: sbuf, dpbuf (block_q, block_k), delta (block_q). Item (key head hk, key-block
    group g) owns dk/dv of its key rows and dq_part[g] of the query heads reading hk: race-free."""
    groups = dq_part.shape[0]
    work = k.shape[0] * groups
    parts = sbuf.shape[0]
    for part in prange(parts):
        for item in range(work * part // parts, work * (part + 1) // parts):
            _bwd_item(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf[part],
                      dpbuf[part], delta[part], item // groups, item % groups, scale, causal,
                      has_mask, want_dmask, seed, offset, p_drop, keep_scale, block_q, block_k)
