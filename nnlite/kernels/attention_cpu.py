"""scaled_dot_product_attention on the CPU: one fused kernel per direction,
flash-attention style (the (L, S) score matrix is never materialised).

Layouts (contiguous): q (BHq, L, E), k (BHk, S, E), v (BHk, S, Ev); query head
bh reads key/value head bh // group (group = BHq // BHk: GQA, or a single
broadcast key head). An additive mask lives in `mask` (M, L, S); query head bh
uses mask[mask_index[bh]] (the functional layer maps broadcast dims there).

Forward: the (head, query block) items are cut into `parts` contiguous ranges,
one per prange iteration, each with its own scratch slices (no allocation in
the kernel, no sharing). For each key block: S = Q K^T by BLAS, online softmax
(running max m, running sum l; old output rows rescaled by exp(m_old - m_new)),
O += P V by BLAS. Saves lse = m + log(l) per query row (-inf for fully masked
rows, whose output is 0 as in torch's CPU kernel).

Backward: one pass, no recomputation of S beyond the one GEMM per tile. Items
are (key/value head, group of key blocks): an item owns dK and dV of its key
rows, and dQ partial sums dq_part[g] of the query heads that read its key head,
so no two iterations write the same element. With enough heads there is one
key-block group and dq_part[0] is dQ itself; with few heads the key blocks are
split across groups for parallelism and the functional layer sums dq_part.
Per tile: P = exp(S * scale + mask - lse), dP = dO V^T, dS = P (dP - delta)
with delta = rowsum(dO * O); dV += P^T dO, dK += scale dS^T Q, dQ += scale dS K.

Dropout: element (bh, i, j) is kept when unit(hash(seed, offset + (bh L + i) S + j))
>= p, the same draw in forward and backward, on CPU and CUDA.
"""
import math

from numba import njit, prange

from .attention_common import keep_factor_cpu
from .fastmath import fexp_nonpos, like
from .matmul import _cblas_gemm


@njit(inline="always")
def _scores_row(row, bn, mask, mi, i, j0, scale, causal, has_mask, neg_inf):
    """row[:bn] = row * scale (+ mask) with keys past the causal diagonal at -inf; returns the row max."""
    mx = neg_inf
    for c in range(bn):
        x = row[c] * scale
        if has_mask:
            x += mask[mi, i, j0 + c]
        if causal and j0 + c > i:
            x = neg_inf
        row[c] = x
        mx = max(mx, x)
    return mx


@njit(inline="always")
def _online_softmax_row(row, bn, m_old, mx):
    """row[:bn] = exp(row - m_new); returns (sum of the exponentials, rescale factor of the old sums)."""
    m_new = max(m_old, mx)
    # a row masked so far has m_new = -inf: shift by 0 so that exp(-inf) = 0, not NaN
    shift = m_new if m_new > -math.inf else like(m_new, 0.0)
    alpha = fexp_nonpos(m_old - shift)
    tot = like(m_old, 0.0)
    for c in range(bn):
        e = fexp_nonpos(row[c] - shift)
        row[c] = e
        tot += e
    return tot, alpha, m_new


@njit(inline="always")
def _drop_row(row, bn, seed, counter, p_drop, keep_scale):
    for c in range(bn):
        row[c] *= keep_factor_cpu(seed, counter + c, p_drop, keep_scale)


@njit(inline="always")
def _fwd_item(q, k, v, mask, mask_index, out, lse, sbuf, pvbuf, stats, bh, qb, scale, causal, has_mask,
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
    m_row, l_row, alpha_row = stats[0], stats[1], stats[2]
    m_row[:bm] = neg_inf
    l_row[:bm] = 0
    j_end = min(S, i1) if causal else S  # later key blocks are all above the diagonal
    for j0 in range(0, j_end, block_k):
        bn = min(block_k, j_end - j0)
        _cblas_gemm(0, 1, bm, bn, E, q[bh, i0:i1], E, k[hk, j0:j0 + bn], E, sbuf, block_k)
        for r in range(bm):
            row = sbuf[r]
            mx = _scores_row(row, bn, mask, mi, i0 + r, j0, scale, causal, has_mask, neg_inf)
            tot, alpha, m_new = _online_softmax_row(row, bn, m_row[r], mx)
            m_row[r] = m_new
            l_row[r] = l_row[r] * alpha + tot
            alpha_row[r] = alpha
            if p_drop > 0:
                _drop_row(row, bn, seed, offset + ((bh * L + i0 + r) * S + j0), p_drop, keep_scale)
        _cblas_gemm(0, 0, bm, ev, bn, sbuf, block_k, v[hk, j0:j0 + bn], ev, pvbuf, ev)
        for r in range(bm):
            a = alpha_row[r]
            for c in range(ev):
                acc[r, c] = acc[r, c] * a + pvbuf[r * ev + c]
    for r in range(bm):
        l = l_row[r]
        inv = 1 / l if l > 0 else l * 0  # fully masked row: output 0 (torch CPU)
        for c in range(ev):
            acc[r, c] *= inv
        lse[bh, i0 + r] = m_row[r] + math.log(l) if l > 0 else neg_inf


@njit(parallel=True, cache=True)
def sdpa_fwd_cpu(q, k, v, mask, mask_index, out, lse, sbuf, pvbuf, stats, scale, causal, has_mask,
                 seed, offset, p_drop, keep_scale, block_q, block_k):
    """out = softmax(q k^T * scale + mask) v per head (dropout on the weights when p_drop > 0);
    sbuf (parts, block_q, block_k), pvbuf (parts, block_q * Ev), stats (parts, 3, block_q) scratch."""
    nqb = (q.shape[1] + block_q - 1) // block_q
    work = q.shape[0] * nqb
    parts = sbuf.shape[0]
    for part in prange(parts):
        for item in range(work * part // parts, work * (part + 1) // parts):
            _fwd_item(q, k, v, mask, mask_index, out, lse, sbuf[part], pvbuf[part], stats[part],
                      item // nqb, item % nqb, scale, causal, has_mask, seed, offset, p_drop, keep_scale,
                      block_q, block_k)


@njit(inline="always")
def _row_deltas(dout, out, bh, i0, bm, delta):
    for r in range(bm):
        d = like(delta[0], 0.0)
        for c in range(dout.shape[2]):
            d += dout[bh, i0 + r, c] * out[bh, i0 + r, c]
        delta[r] = d


@njit(inline="always")
def _grad_scores(sbuf, dpbuf, bm, bn, mask, mi, lse, delta, dmask, bh, i0, j0, scale, causal, has_mask,
                 want_dmask, seed, offset, p_drop, keep_scale, L, S):
    """sbuf: scores -> dropped probabilities (for dV); dpbuf: dO V^T -> scale * dS (for dK, dQ)."""
    zero = scale * 0
    for r in range(bm):
        i = i0 + r
        row_lse = lse[bh, i]
        srow, dprow = sbuf[r], dpbuf[r]
        counter = offset + ((bh * L + i) * S + j0)
        for c in range(bn):
            x = srow[c] * scale
            if has_mask:
                x += mask[mi, i, j0 + c]
            visible = row_lse > -math.inf and not (causal and j0 + c > i)
            p = fexp_nonpos(x - row_lse) if visible else zero
            keep = keep_factor_cpu(seed, counter + c, p_drop, keep_scale) if p_drop > 0 else keep_scale
            ds = p * (dprow[c] * keep - delta[r])
            if want_dmask:
                dmask[bh, i, j0 + c] = ds
            srow[c] = p * keep
            dprow[c] = ds * scale


@njit(inline="always")
def _add_product(dst, src, rows, cols):
    """dst[:rows, :cols] += src viewed as a packed (rows, cols) matrix."""
    for r in range(rows):
        for c in range(cols):
            dst[r, c] += src[r * cols + c]


@njit(inline="always")
def _bwd_item(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf, dpbuf, tbuf, delta,
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
                _cblas_gemm(0, 1, bm, bn, E, q[bh, i0:i0 + bm], E, k[hk, j0:j0 + bn], E, sbuf, block_k)
                _cblas_gemm(0, 1, bm, bn, ev, dout[bh, i0:i0 + bm], ev, v[hk, j0:j0 + bn], ev, dpbuf, block_k)
                _grad_scores(sbuf, dpbuf, bm, bn, mask, mi, lse, delta, dmask, bh, i0, j0, scale, causal,
                             has_mask, want_dmask, seed, offset, p_drop, keep_scale, L, S)
                _cblas_gemm(1, 0, bn, ev, bm, sbuf, block_k, dout[bh, i0:i0 + bm], ev, tbuf, ev)
                _add_product(dv[hk, j0:j0 + bn], tbuf, bn, ev)
                _cblas_gemm(1, 0, bn, E, bm, dpbuf, block_k, q[bh, i0:i0 + bm], E, tbuf, E)
                _add_product(dk[hk, j0:j0 + bn], tbuf, bn, E)
                _cblas_gemm(0, 0, bm, E, bn, dpbuf, block_k, k[hk, j0:j0 + bn], E, tbuf, E)
                _add_product(dq[i0:i0 + bm], tbuf, bm, E)


@njit(parallel=True, cache=True)
def sdpa_bwd_cpu(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf, dpbuf, tbuf,
                 delta, scale, causal, has_mask, want_dmask, seed, offset, p_drop, keep_scale, block_q, block_k):
    """dq_part (groups, BHq, L, E), dk, dv, and dmask (BHq, L, S) = dL/d(scores) when want_dmask;
    scratch per part: sbuf, dpbuf (block_q, block_k), tbuf (max(block_q, block_k) * max(E, Ev)),
    delta (block_q). Item (key head hk, key-block group g) owns dk/dv of its key rows and dq_part[g]
    of the query heads reading hk: race-free."""
    groups = dq_part.shape[0]
    work = k.shape[0] * groups
    parts = sbuf.shape[0]
    for part in prange(parts):
        for item in range(work * part // parts, work * (part + 1) // parts):
            _bwd_item(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf[part],
                      dpbuf[part], tbuf[part], delta[part], item // groups, item % groups, scale, causal,
                      has_mask, want_dmask, seed, offset, p_drop, keep_scale, block_q, block_k)
