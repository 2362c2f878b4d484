"""Adaptive pooling kernels (average and max, 1-3 dimensions, forward and backward).

The (N, C, D, H, W) volumes, the window rules and the task layout are kernels/pooling.py's,
whose helpers these kernels share: output o of an axis of `size` pools the input range
[floor(o*size/out), ceil((o+1)*size/out)). A global average (output size 1) sums rows
side by side instead (`_global_avg_rows`).
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .pooling import _adaptive_covering, _adaptive_window, _row_sum, _scatter_by_index_volume, _unflatten


@njit(inline="always")
def _adaptive_avg_volume(x, out, p):
    C, D, H, W = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    n = p // C
    c = p % C
    src = x[n, c]
    for od in range(OD):
        d0, d1 = _adaptive_window(od, OD, D)
        for oh in range(OH):
            h0, h1 = _adaptive_window(oh, OH, H)
            for ow in range(OW):
                w0, w1 = _adaptive_window(ow, OW, W)
                acc = 0.0
                for id in range(d0, d1):
                    for ih in range(h0, h1):
                        acc += _row_sum(src[id, ih], w0, w1)
                out[n, c, od, oh, ow] = acc / ((d1 - d0) * (h1 - h0) * (w1 - w0))


@njit(inline="always")
def _sum8(rows, c0, c1):
    """Sums of columns c0..c1 (c1 > c0) of 8 rows, in the array's dtype: eight independent sums
    side by side, so the adds do not wait on one another (one running sum is latency-bound)."""
    a0, a1, a2, a3 = rows[0, c0], rows[1, c0], rows[2, c0], rows[3, c0]
    a4, a5, a6, a7 = rows[4, c0], rows[5, c0], rows[6, c0], rows[7, c0]
    for i in range(c0 + 1, c1):
        a0 += rows[0, i]
        a1 += rows[1, i]
        a2 += rows[2, i]
        a3 += rows[3, i]
        a4 += rows[4, i]
        a5 += rows[5, i]
        a6 += rows[6, i]
        a7 += rows[7, i]
    return a0, a1, a2, a3, a4, a5, a6, a7


GLOBAL_CHUNK = 64      # columns summed in the input's dtype before adding into float64 totals


@njit(inline="always")
def _global_avg_rows(x, out, lo, hi):
    """Means of rows lo..hi of x viewed as (planes, volume), 8 rows at a time (2x faster than
    one row with four partial sums); chunks of 64 columns keep float32 sums accurate."""
    L = x.size // out.size
    xs = x.reshape(out.size, L)
    os = out.reshape(out.size)
    r = lo
    while r + 8 <= hi:
        rows = xs[r:r + 8]
        t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = 0.0
        for c0 in range(0, L, GLOBAL_CHUNK):
            a0, a1, a2, a3, a4, a5, a6, a7 = _sum8(rows, c0, min(c0 + GLOBAL_CHUNK, L))
            t0 += a0
            t1 += a1
            t2 += a2
            t3 += a3
            t4 += a4
            t5 += a5
            t6 += a6
            t7 += a7
        dst = os[r:r + 8]
        dst[0], dst[1], dst[2], dst[3] = t0 / L, t1 / L, t2 / L, t3 / L
        dst[4], dst[5], dst[6], dst[7] = t4 / L, t5 / L, t6 / L, t7 / L
        r += 8
    for p in range(r, hi):
        acc = 0.0
        for i in range(L):
            acc += xs[p, i]
        os[p] = acc / L


@njit(inline="always")
def _global_avg_grad_rows(g, dx, lo, hi):
    L = dx.size // g.size
    ds = dx.reshape(g.size, L)
    gs = g.reshape(g.size)
    for p in range(lo, hi):
        share = gs[p] / L
        row = ds[p]
        for i in range(L):
            row[i] = share


GLOBAL_BLOCK = 4096    # elements per task of the global (output size 1) paths


@njit(parallel=True, cache=True)
def adaptive_avg_pool_fwd_cpu(x, out):
    planes = x.shape[0] * x.shape[1]
    if out.size == planes:     # global pooling: contiguous row means, planes in blocks
        block = max(8, GLOBAL_BLOCK // (x.size // planes) // 8 * 8)
        if x.size <= SERIAL_WORK:
            _global_avg_rows(x, out, 0, planes)
        else:
            for t in prange((planes + block - 1) // block):
                _global_avg_rows(x, out, t * block, min(planes, t * block + block))
    elif x.size + out.size <= SERIAL_WORK:
        for p in range(planes):
            _adaptive_avg_volume(x, out, p)
    else:
        for p in prange(planes):
            _adaptive_avg_volume(x, out, p)


@cuda.jit(cache=True)
def adaptive_avg_pool_fwd_cuda(x, out):
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n, c, od, oh, ow = _unflatten(i, out.shape[1], OD, OH, OW)
        d0, d1 = _adaptive_window(od, OD, D)
        h0, h1 = _adaptive_window(oh, OH, H)
        w0, w1 = _adaptive_window(ow, OW, W)
        acc = 0.0
        for id in range(d0, d1):
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    acc += x[n, c, id, ih, iw]
        out[n, c, od, oh, ow] = acc / ((d1 - d0) * (h1 - h0) * (w1 - w0))


adaptive_avg_pool_fwd = KernelPair(adaptive_avg_pool_fwd_cpu, adaptive_avg_pool_fwd_cuda)


@njit(inline="always")
def _adaptive_avg_grad_volume(g, dx, p):
    C, D, H, W = dx.shape[1], dx.shape[2], dx.shape[3], dx.shape[4]
    OD, OH, OW = g.shape[2], g.shape[3], g.shape[4]
    n = p // C
    c = p % C
    dst = dx[n, c]
    flat = dst.reshape(D * H * W)
    for i in range(flat.size):
        flat[i] = 0
    for od in range(OD):
        d0, d1 = _adaptive_window(od, OD, D)
        for oh in range(OH):
            h0, h1 = _adaptive_window(oh, OH, H)
            for ow in range(OW):
                w0, w1 = _adaptive_window(ow, OW, W)
                share = g[n, c, od, oh, ow] / ((d1 - d0) * (h1 - h0) * (w1 - w0))
                for id in range(d0, d1):
                    for ih in range(h0, h1):
                        row = dst[id, ih]
                        for iw in range(w0, w1):
                            row[iw] += share


@njit(parallel=True, cache=True)
def adaptive_avg_pool_bwd_cpu(g, dx):
    planes = dx.shape[0] * dx.shape[1]
    if g.size == planes:
        block = max(1, GLOBAL_BLOCK // (dx.size // planes))
        if dx.size <= SERIAL_WORK:
            _global_avg_grad_rows(g, dx, 0, planes)
        else:
            for t in prange((planes + block - 1) // block):
                _global_avg_grad_rows(g, dx, t * block, min(planes, t * block + block))
    elif dx.size + g.size <= SERIAL_WORK:
        for p in range(planes):
            _adaptive_avg_grad_volume(g, dx, p)
    else:
        for p in prange(planes):
            _adaptive_avg_grad_volume(g, dx, p)


@cuda.jit(cache=True)
def adaptive_avg_pool_bwd_cuda(g, dx):
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    OD, OH, OW = g.shape[2], g.shape[3], g.shape[4]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, c, id, ih, iw = _unflatten(i, dx.shape[1], D, H, W)
        od0, od1 = _adaptive_covering(id, D, OD)
        oh0, oh1 = _adaptive_covering(ih, H, OH)
        ow0, ow1 = _adaptive_covering(iw, W, OW)
        acc = 0.0
        for od in range(od0, od1):
            d0, d1 = _adaptive_window(od, OD, D)
            if id < d0 or id >= d1:
                continue
            for oh in range(oh0, oh1):
                h0, h1 = _adaptive_window(oh, OH, H)
                if ih < h0 or ih >= h1:
                    continue
                for ow in range(ow0, ow1):
                    w0, w1 = _adaptive_window(ow, OW, W)
                    if w0 <= iw < w1:
                        acc += g[n, c, od, oh, ow] / ((d1 - d0) * (h1 - h0) * (w1 - w0))
        dx[n, c, id, ih, iw] = acc


adaptive_avg_pool_bwd = KernelPair(adaptive_avg_pool_bwd_cpu, adaptive_avg_pool_bwd_cuda)


@njit(inline="always")
def _adaptive_max_volume(x, out, idx, p):
    C, D, H, W = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    n = p // C
    c = p % C
    src = x[n, c]
    for od in range(OD):
        d0, d1 = _adaptive_window(od, OD, D)
        for oh in range(OH):
            h0, h1 = _adaptive_window(oh, OH, H)
            for ow in range(OW):
                w0, w1 = _adaptive_window(ow, OW, W)
                best = -math.inf
                where = (d0 * H + h0) * W + w0
                for id in range(d0, d1):
                    for ih in range(h0, h1):
                        row = src[id, ih]
                        for iw in range(w0, w1):
                            v = row[iw]
                            if v > best or v != v:
                                best = v
                                where = (id * H + ih) * W + iw
                out[n, c, od, oh, ow] = best
                idx[n, c, od, oh, ow] = where


@njit(parallel=True, cache=True)
def adaptive_max_pool_fwd_cpu(x, out, idx):
    planes = x.shape[0] * x.shape[1]
    if x.size + out.size <= SERIAL_WORK:
        for p in range(planes):
            _adaptive_max_volume(x, out, idx, p)
    else:
        for p in prange(planes):
            _adaptive_max_volume(x, out, idx, p)


@cuda.jit(cache=True)
def adaptive_max_pool_fwd_cuda(x, out, idx):
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n, c, od, oh, ow = _unflatten(i, out.shape[1], OD, OH, OW)
        d0, d1 = _adaptive_window(od, OD, D)
        h0, h1 = _adaptive_window(oh, OH, H)
        w0, w1 = _adaptive_window(ow, OW, W)
        best = -math.inf
        where = (d0 * H + h0) * W + w0
        for id in range(d0, d1):
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    v = x[n, c, id, ih, iw]
                    if v > best or v != v:
                        best = v
                        where = (id * H + ih) * W + iw
        out[n, c, od, oh, ow] = best
        idx[n, c, od, oh, ow] = where


adaptive_max_pool_fwd = KernelPair(adaptive_max_pool_fwd_cpu, adaptive_max_pool_fwd_cuda)


@njit(parallel=True, cache=True)
def adaptive_max_pool_bwd_cpu(g, idx, dx):
    planes = dx.shape[0] * dx.shape[1]
    if dx.size + g.size <= SERIAL_WORK:
        for p in range(planes):
            _scatter_by_index_volume(g, idx, dx, p)
    else:
        for p in prange(planes):
            _scatter_by_index_volume(g, idx, dx, p)


@cuda.jit(cache=True)
def adaptive_max_pool_bwd_cuda(g, idx, dx):
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    OD, OH, OW = g.shape[2], g.shape[3], g.shape[4]
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, c, id, ih, iw = _unflatten(i, dx.shape[1], D, H, W)
        here = (id * H + ih) * W + iw
        od0, od1 = _adaptive_covering(id, D, OD)
        oh0, oh1 = _adaptive_covering(ih, H, OH)
        ow0, ow1 = _adaptive_covering(iw, W, OW)
        acc = 0.0
        for od in range(od0, od1):
            for oh in range(oh0, oh1):
                for ow in range(ow0, ow1):
                    if idx[n, c, od, oh, ow] == here:
                        acc += g[n, c, od, oh, ow]
        dx[n, c, id, ih, iw] = acc


adaptive_max_pool_bwd = KernelPair(adaptive_max_pool_bwd_cpu, adaptive_max_pool_bwd_cuda)
