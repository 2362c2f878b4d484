"""scaled_dot_product_attention on CUDA: the twins of kernels/attention_cpu.py
(same layouts and arguments; see that file for the maths).

Forward and dQ: one thread block per (head, block of BLOCK_Q query rows), one
thread per query row; the block stages BLOCK_K rows of K and V at a time in
shared memory and each thread runs the online softmax of its own row.
dQ also writes delta = rowsum(dO * O), which the dK/dV kernel reads, so it
runs first. dK/dV: one thread block per (key head, block of BLOCK_K key rows),
one thread per key row, staging BLOCK_K query rows of Q and dO (and their lse
and delta) at a time; it loops over every query head that reads its key head,
so it owns its dK/dV rows. Head dims up to MAX_DIM (per-thread local rows).
Shared arrays need a compile-time dtype: each kernel has a float32 and a
float64 entry point around one device function.
"""
import math

from numba import float32, float64

from ..backend.cuda import SIMULATOR, cuda
from .attention_common import keep_factor_dev

BLOCK_Q = 4 if SIMULATOR else 64   # the simulator runs one Python thread per GPU thread
BLOCK_K = 4 if SIMULATOR else 16
MAX_DIM = 8 if SIMULATOR else 128


@cuda.jit(device=True)
def _dot(a, b, n):
    s = a[0] * 0
    for c in range(n):
        s += a[c] * b[c]
    return s


@cuda.jit(device=True)
def _stage_rows(src, head, r0, rows, dim, tile, t, nthreads):
    """tile[:rows, :dim] = src[head, r0:r0 + rows] by all the block's threads."""
    for idx in range(t, rows * dim, nthreads):
        tile[idx // dim, idx % dim] = src[head, r0 + idx // dim, idx % dim]


@cuda.jit(device=True)
def _score(qrow, krow, E, mask, mi, i, j, scale, causal, has_mask):
    """The masked, scaled score of query row i and key row j."""
    x = _dot(qrow, krow, E) * scale
    if has_mask:
        x += mask[mi, i, j]
    if causal and j > i:
        x = -math.inf
    return x


@cuda.jit(device=True)
def _fwd(q, k, v, mask, mask_index, out, lse, kt, vt, qrow, acc, scale, causal, has_mask, seed, offset, p_drop,
         keep_scale):
    bhq, L, E = q.shape
    S, ev = k.shape[1], v.shape[2]
    group = bhq // k.shape[0]
    nqb = (L + BLOCK_Q - 1) // BLOCK_Q
    t = cuda.threadIdx.x
    for blk in range(cuda.blockIdx.x, bhq * nqb, cuda.gridDim.x):
        bh, qb = blk // nqb, blk % nqb
        hk, mi, i = bh // group, mask_index[bh], qb * BLOCK_Q + t
        valid = i < L
        for c in range(E if valid else 0):
            qrow[c] = q[bh, i, c]
        for c in range(ev):
            acc[c] = 0
        m, l = -math.inf, 0.0
        j_end = min(S, (qb + 1) * BLOCK_Q) if causal else S
        for j0 in range(0, j_end, BLOCK_K):
            bn = min(BLOCK_K, j_end - j0)
            _stage_rows(k, hk, j0, bn, E, kt, t, BLOCK_Q)
            _stage_rows(v, hk, j0, bn, ev, vt, t, BLOCK_Q)
            cuda.syncthreads()
            for c in range(bn if valid else 0):
                x = _score(qrow, kt[c], E, mask, mi, i, j0 + c, scale, causal, has_mask)
                if x != x:
                    l = x  # a NaN score makes the row NaN, as in torch
                    continue
                m_new = max(m, x)
                if m_new == -math.inf:
                    continue  # nothing visible in this row yet
                alpha = math.exp(m - m_new)
                e = math.exp(x - m_new)
                l = l * alpha + e
                if p_drop > 0:
                    e *= keep_factor_dev(seed, offset + ((bh * L + i) * S + j0 + c), p_drop, keep_scale)
                for d in range(ev):
                    acc[d] = acc[d] * alpha + e * vt[c, d]
                m = m_new
            cuda.syncthreads()
        if valid:
            inv = 1 / l if l > 0 else l * 0  # fully masked row: output 0 (torch CPU); NaN stays NaN
            for d in range(ev):
                out[bh, i, d] = acc[d] * inv
            lse[bh, i] = m + math.log(l) if l > 0 else (-math.inf if l == 0 else l)


@cuda.jit(cache=True)
def sdpa_fwd_f32_cuda(q, k, v, mask, mask_index, out, lse, scale, causal, has_mask, seed, offset, p_drop,
                      keep_scale):
    kt = cuda.shared.array((BLOCK_K, MAX_DIM), float32)
    vt = cuda.shared.array((BLOCK_K, MAX_DIM), float32)
    qrow = cuda.local.array(MAX_DIM, float32)
    acc = cuda.local.array(MAX_DIM, float32)
    _fwd(q, k, v, mask, mask_index, out, lse, kt, vt, qrow, acc, scale, causal, has_mask, seed, offset, p_drop,
         keep_scale)


@cuda.jit(cache=True)
def sdpa_fwd_f64_cuda(q, k, v, mask, mask_index, out, lse, scale, causal, has_mask, seed, offset, p_drop,
                      keep_scale):
    kt = cuda.shared.array((BLOCK_K, MAX_DIM), float64)
    vt = cuda.shared.array((BLOCK_K, MAX_DIM), float64)
    qrow = cuda.local.array(MAX_DIM, float64)
    acc = cuda.local.array(MAX_DIM, float64)
    _fwd(q, k, v, mask, mask_index, out, lse, kt, vt, qrow, acc, scale, causal, has_mask, seed, offset, p_drop,
         keep_scale)


@cuda.jit(device=True)
def _prob(x, row_lse, seed, counter, p_drop, keep_scale):
    """(softmax weight, dropout factor) of one score."""
    p = math.exp(x - row_lse) if row_lse > -math.inf and x > -math.inf else 0.0
    if row_lse != row_lse:  # a NaN row of the forward: NaN gradients, as torch
        p = row_lse
    keep = keep_factor_dev(seed, counter, p_drop, keep_scale) if p_drop > 0 else keep_scale
    return p, keep


@cuda.jit(device=True)
def _dq(q, k, v, mask, mask_index, out, lse, dout, dq, delta, dmask, kt, vt, qrow, grow, acc, scale, causal,
        has_mask, want_dmask, seed, offset, p_drop, keep_scale):
    bhq, L, E = q.shape
    S, ev = k.shape[1], v.shape[2]
    group = bhq // k.shape[0]
    nqb = (L + BLOCK_Q - 1) // BLOCK_Q
    t = cuda.threadIdx.x
    for blk in range(cuda.blockIdx.x, bhq * nqb, cuda.gridDim.x):
        bh, qb = blk // nqb, blk % nqb
        hk, mi, i = bh // group, mask_index[bh], qb * BLOCK_Q + t
        valid = i < L
        row_lse, row_delta = 0.0, 0.0
        if valid:
            row_lse = lse[bh, i]
            for c in range(E):
                qrow[c] = q[bh, i, c]
                acc[c] = 0
            for c in range(ev):
                grow[c] = dout[bh, i, c]
                row_delta += grow[c] * out[bh, i, c]
            delta[bh, i] = row_delta
        j_end = min(S, (qb + 1) * BLOCK_Q) if causal else S
        for j0 in range(0, j_end, BLOCK_K):
            bn = min(BLOCK_K, j_end - j0)
            _stage_rows(k, hk, j0, bn, E, kt, t, BLOCK_Q)
            _stage_rows(v, hk, j0, bn, ev, vt, t, BLOCK_Q)
            cuda.syncthreads()
            for c in range(bn if valid else 0):
                x = _score(qrow, kt[c], E, mask, mi, i, j0 + c, scale, causal, has_mask)
                p, keep = _prob(x, row_lse, seed, offset + ((bh * L + i) * S + j0 + c), p_drop, keep_scale)
                ds = p * (_dot(grow, vt[c], ev) * keep - row_delta)
                if want_dmask:
                    dmask[bh, i, j0 + c] = ds
                for d in range(E):
                    acc[d] += ds * scale * kt[c, d]
            cuda.syncthreads()
        if valid:
            for d in range(E):
                dq[bh, i, d] = acc[d]


@cuda.jit(cache=True)
def sdpa_bwd_dq_f32_cuda(q, k, v, mask, mask_index, out, lse, dout, dq, delta, dmask, scale, causal, has_mask,
                         want_dmask, seed, offset, p_drop, keep_scale):
    kt = cuda.shared.array((BLOCK_K, MAX_DIM), float32)
    vt = cuda.shared.array((BLOCK_K, MAX_DIM), float32)
    qrow = cuda.local.array(MAX_DIM, float32)
    grow = cuda.local.array(MAX_DIM, float32)
    acc = cuda.local.array(MAX_DIM, float32)
    _dq(q, k, v, mask, mask_index, out, lse, dout, dq, delta, dmask, kt, vt, qrow, grow, acc, scale, causal,
        has_mask, want_dmask, seed, offset, p_drop, keep_scale)


@cuda.jit(cache=True)
def sdpa_bwd_dq_f64_cuda(q, k, v, mask, mask_index, out, lse, dout, dq, delta, dmask, scale, causal, has_mask,
                         want_dmask, seed, offset, p_drop, keep_scale):
    kt = cuda.shared.array((BLOCK_K, MAX_DIM), float64)
    vt = cuda.shared.array((BLOCK_K, MAX_DIM), float64)
    qrow = cuda.local.array(MAX_DIM, float64)
    grow = cuda.local.array(MAX_DIM, float64)
    acc = cuda.local.array(MAX_DIM, float64)
    _dq(q, k, v, mask, mask_index, out, lse, dout, dq, delta, dmask, kt, vt, qrow, grow, acc, scale, causal,
        has_mask, want_dmask, seed, offset, p_drop, keep_scale)


@cuda.jit(device=True)
def _stage_stats(lse, delta, bh, i0, rows, ls, ds, t):
    if t < rows:
        ls[t] = lse[bh, i0 + t]
        ds[t] = delta[bh, i0 + t]


@cuda.jit(device=True)
def _dkdv(q, k, v, mask, mask_index, lse, dout, delta, dk, dv, qt, gt, ls, dls, krow, vrow, dkacc, dvacc, scale,
          causal, has_mask, seed, offset, p_drop, keep_scale):
    bhq, L, E = q.shape
    bhk, S, ev = k.shape[0], k.shape[1], v.shape[2]
    group = bhq // bhk
    nkb = (S + BLOCK_K - 1) // BLOCK_K
    t = cuda.threadIdx.x
    for blk in range(cuda.blockIdx.x, bhk * nkb, cuda.gridDim.x):
        hk, kb = blk // nkb, blk % nkb
        j = kb * BLOCK_K + t
        valid = j < S
        for c in range(E if valid else 0):
            krow[c] = k[hk, j, c]
            dkacc[c] = 0
        for c in range(ev if valid else 0):
            vrow[c] = v[hk, j, c]
            dvacc[c] = 0
        # query rows before the block's first key see none of its keys under the causal mask
        i_start = kb * BLOCK_K if causal else 0
        for bh in range(hk * group, (hk + 1) * group):
            mi = mask_index[bh]
            for i0 in range(i_start, L, BLOCK_K):
                bm = min(BLOCK_K, L - i0)
                _stage_rows(q, bh, i0, bm, E, qt, t, BLOCK_K)
                _stage_rows(dout, bh, i0, bm, ev, gt, t, BLOCK_K)
                _stage_stats(lse, delta, bh, i0, bm, ls, dls, t)
                cuda.syncthreads()
                for r in range(bm if valid else 0):
                    i = i0 + r
                    x = _score(qt[r], krow, E, mask, mi, i, j, scale, causal, has_mask)
                    p, keep = _prob(x, ls[r], seed, offset + ((bh * L + i) * S + j), p_drop, keep_scale)
                    ds = p * (_dot(gt[r], vrow, ev) * keep - dls[r]) * scale
                    for d in range(ev):
                        dvacc[d] += p * keep * gt[r, d]
                    for d in range(E):
                        dkacc[d] += ds * qt[r, d]
                cuda.syncthreads()
        for c in range(E if valid else 0):
            dk[hk, j, c] = dkacc[c]
        for c in range(ev if valid else 0):
            dv[hk, j, c] = dvacc[c]


@cuda.jit(cache=True)
def sdpa_bwd_dkdv_f32_cuda(q, k, v, mask, mask_index, lse, dout, delta, dk, dv, scale, causal, has_mask, seed,
                           offset, p_drop, keep_scale):
    qt = cuda.shared.array((BLOCK_K, MAX_DIM), float32)
    gt = cuda.shared.array((BLOCK_K, MAX_DIM), float32)
    ls = cuda.shared.array(BLOCK_K, float32)
    dls = cuda.shared.array(BLOCK_K, float32)
    krow = cuda.local.array(MAX_DIM, float32)
    vrow = cuda.local.array(MAX_DIM, float32)
    dkacc = cuda.local.array(MAX_DIM, float32)
    dvacc = cuda.local.array(MAX_DIM, float32)
    _dkdv(q, k, v, mask, mask_index, lse, dout, delta, dk, dv, qt, gt, ls, dls, krow, vrow, dkacc, dvacc, scale,
          causal, has_mask, seed, offset, p_drop, keep_scale)


@cuda.jit(cache=True)
def sdpa_bwd_dkdv_f64_cuda(q, k, v, mask, mask_index, lse, dout, delta, dk, dv, scale, causal, has_mask, seed,
                           offset, p_drop, keep_scale):
    qt = cuda.shared.array((BLOCK_K, MAX_DIM), float64)
    gt = cuda.shared.array((BLOCK_K, MAX_DIM), float64)
    ls = cuda.shared.array(BLOCK_K, float64)
    dls = cuda.shared.array(BLOCK_K, float64)
    krow = cuda.local.array(MAX_DIM, float64)
    vrow = cuda.local.array(MAX_DIM, float64)
    dkacc = cuda.local.array(MAX_DIM, float64)
    dvacc = cuda.local.array(MAX_DIM, float64)
    _dkdv(q, k, v, mask, mask_index, lse, dout, delta, dk, dv, qt, gt, ls, dls, krow, vrow, dkacc, dvacc, scale,
          causal, has_mask, seed, offset, p_drop, keep_scale)
