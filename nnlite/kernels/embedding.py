"""Embedding kernels: row gathers (embedding, embedding_bag sum/mean/max), their
scatter-add backwards, max_norm renormalisation, index checks and one_hot.

Indices are flat int64 arrays; weights, outputs and gradients are 2-D (rows, D).
A bag b covers entries offsets[b] .. offsets[b + 1] - 1 (the functional layer
gives every bag its end, so `offsets` has one more element than there are bags);
plain embedding is embedding_bag with one entry per bag.

Backward is a scatter-add into the weight's rows, where several entries may hit
the same row. CPU kernels stay race-free without atomics by giving each
parallel task a range of weight rows: every task scans all entries and adds
only those that fall in its rows (the scan is cheap next to the D-wide adds).
CUDA kernels run one thread per (bag, column) and add with atomics.
`padding_idx` is -1 when there is none (indices are checked non-negative).
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK

MODE_SUM = 0
MODE_MEAN = 1
MODE_MAX = 2


# ---------------------------------------------------------------- index checks

@njit(cache=True)
def index_bounds_cpu(idx, out):
    """out[0] = min(idx), out[1] = max(idx) (idx non-empty); one pass that vectorises."""
    lo = idx[0]
    hi = idx[0]
    for k in range(idx.size):
        v = idx[k]
        lo = min(lo, v)
        hi = max(hi, v)
    out[0] = lo
    out[1] = hi


@cuda.jit(cache=True)
def index_bounds_cuda(idx, out):
    # out must hold (idx[0], idx[0]) on entry
    for k in range(cuda.grid(1), idx.size, cuda.gridsize(1)):
        cuda.atomic.min(out, 0, idx[k])
        cuda.atomic.max(out, 1, idx[k])


index_bounds = KernelPair(index_bounds_cpu, index_bounds_cuda)


# ---------------------------------------------------------------- embedding forward

@njit(parallel=True, cache=True)
def embedding_fwd_cpu(idx, weight, out):
    D = weight.shape[1]
    if idx.size * D <= SERIAL_WORK:
        for k in range(idx.size):
            out[k, :] = weight[idx[k]]
    else:
        for k in prange(idx.size):
            src = weight[idx[k]]
            dst = out[k]
            for d in range(D):
                dst[d] = src[d]


@cuda.jit(cache=True)
def embedding_fwd_cuda(idx, weight, out):
    D = weight.shape[1]
    for e in range(cuda.grid(1), idx.size * D, cuda.gridsize(1)):
        k = e // D
        d = e - k * D
        out[k, d] = weight[idx[k], d]


embedding_fwd = KernelPair(embedding_fwd_cpu, embedding_fwd_cuda)


# ---------------------------------------------------------------- max_norm, frequencies

@njit(cache=True)
def mark_rows_cpu(idx, mark):
    """mark[r] = 1 for every row r that idx looks up (serial: idx is small next to the rows)."""
    for k in range(idx.size):
        mark[idx[k]] = 1


@cuda.jit(cache=True)
def mark_rows_cuda(idx, mark):
    for k in range(cuda.grid(1), idx.size, cuda.gridsize(1)):
        mark[idx[k]] = 1   # every writer stores the same value


@njit(inline="always")
def _row_norm(row, norm_type):
    s = 0.0
    if norm_type == 1.0:
        for d in range(row.size):
            s += abs(row[d])
        return s
    if norm_type == 2.0:
        for d in range(row.size):
            s += float(row[d]) * float(row[d])
        return s ** 0.5
    if norm_type == math.inf:
        for d in range(row.size):
            s = max(s, abs(float(row[d])))
        return s
    for d in range(row.size):
        s += abs(float(row[d])) ** norm_type
    return s ** (1.0 / norm_type)


@njit(inline="always")
def _renorm_row(row, max_norm, norm_type):
    # torch's embedding_renorm_: rows whose norm exceeds max_norm are scaled to max_norm / (norm + 1e-7)
    norm = _row_norm(row, norm_type)
    if norm > max_norm:
        scale = row.dtype.type(max_norm / (norm + 1e-7))
        for d in range(row.size):
            row[d] *= scale


@njit(parallel=True, cache=True)
def renorm_rows_cpu(mark, weight, max_norm, norm_type):
    for r in prange(weight.shape[0]):
        if mark[r]:
            _renorm_row(weight[r], max_norm, norm_type)


@cuda.jit(device=True)
def _renorm_row_cuda(weight, r, max_norm, norm_type):
    D = weight.shape[1]
    s = 0.0
    for d in range(D):
        a = abs(float(weight[r, d]))
        if norm_type == 1.0:
            s += a
        elif norm_type == 2.0:
            s += a * a
        elif norm_type == math.inf:
            s = max(s, a)
        else:
            s += a ** norm_type
    if norm_type == 2.0:
        s = s ** 0.5
    elif norm_type != 1.0 and norm_type != math.inf:
        s = s ** (1.0 / norm_type)
    if s > max_norm:
        scale = max_norm / (s + 1e-7)
        for d in range(D):
            weight[r, d] *= scale


@cuda.jit(cache=True)
def renorm_rows_cuda(mark, weight, max_norm, norm_type):
    for r in range(cuda.grid(1), weight.shape[0], cuda.gridsize(1)):
        if mark[r]:
            _renorm_row_cuda(weight, r, max_norm, norm_type)


@njit(cache=True)
def index_counts_cpu(idx, counts):
    """counts[r] += number of entries equal to r (counts zeroed by the caller); serial, race-free."""
    for k in range(idx.size):
        counts[idx[k]] += 1


@cuda.jit(cache=True)
def index_counts_cuda(idx, counts):
    for k in range(cuda.grid(1), idx.size, cuda.gridsize(1)):
        cuda.atomic.add(counts, idx[k], 1)


mark_rows = KernelPair(mark_rows_cpu, mark_rows_cuda)
renorm_rows = KernelPair(renorm_rows_cpu, renorm_rows_cuda)
index_counts = KernelPair(index_counts_cpu, index_counts_cuda)


# ---------------------------------------------------------------- embedding_bag forward

@njit(inline="always")
def _bag_fwd(idx, offsets, weight, psw, out, bag_size, argmax, mode, padding_idx, use_psw, b):
    dst = out[b]
    D = dst.size
    for d in range(D):
        dst[d] = 0
    count = 0
    for j in range(offsets[b], offsets[b + 1]):
        r = idx[j]
        if r == padding_idx:
            continue
        src = weight[r]
        if mode == MODE_MAX:
            if count == 0:
                for d in range(D):
                    dst[d] = src[d]
                    argmax[b, d] = r
            else:
                for d in range(D):
                    if src[d] > dst[d]:   # strict: the first of equal rows wins, as in torch
                        dst[d] = src[d]
                        argmax[b, d] = r
        elif use_psw:
            s = psw[j]
            for d in range(D):
                dst[d] += src[d] * s
        else:
            for d in range(D):
                dst[d] += src[d]
        count += 1
    if mode == MODE_MEAN and count > 0:
        inv = dst.dtype.type(1) / dst.dtype.type(count)
        for d in range(D):
            dst[d] *= inv
    if mode == MODE_MAX and count == 0:
        for d in range(D):
            argmax[b, d] = -1   # an empty bag: zeros, and no gradient
    bag_size[b] = count


@njit(parallel=True, cache=True)
def embedding_bag_fwd_cpu(idx, offsets, weight, psw, out, bag_size, argmax, mode, padding_idx, use_psw):
    B = out.shape[0]
    if idx.size * out.shape[1] <= SERIAL_WORK:
        for b in range(B):
            _bag_fwd(idx, offsets, weight, psw, out, bag_size, argmax, mode, padding_idx, use_psw, b)
    else:
        for b in prange(B):
            _bag_fwd(idx, offsets, weight, psw, out, bag_size, argmax, mode, padding_idx, use_psw, b)


@cuda.jit(cache=True)
def embedding_bag_fwd_cuda(idx, offsets, weight, psw, out, bag_size, argmax, mode, padding_idx, use_psw):
    B, D = out.shape
    for e in range(cuda.grid(1), B * D, cuda.gridsize(1)):
        b = e // D
        d = e - b * D
        acc = 0.0   # a float64 accumulator, stored in out's type at the end
        best = -1
        count = 0
        for j in range(offsets[b], offsets[b + 1]):
            r = idx[j]
            if r == padding_idx:
                continue
            v = weight[r, d]
            if mode == MODE_MAX:
                if count == 0 or v > acc:
                    acc = v
                    best = r
            elif use_psw:
                acc += v * psw[j]
            else:
                acc += v
            count += 1
        if mode == MODE_MEAN and count > 0:
            acc = acc / count
        out[b, d] = acc
        if mode == MODE_MAX:
            argmax[b, d] = best
        if d == 0:
            bag_size[b] = count


embedding_bag_fwd = KernelPair(embedding_bag_fwd_cpu, embedding_bag_fwd_cuda)


# ---------------------------------------------------------------- scatter-add backward

@njit(inline="always")
def _bag_scale(psw, bag_size, counts, mean, use_psw, scale_freq, b, j, r):
    """The factor of entry j (row r, bag b) in the weight gradient, as a float64."""
    s = 1.0
    if mean:
        s = 1.0 / bag_size[b]
    if use_psw:
        s *= psw[j]
    if scale_freq:
        s /= counts[r]
    return s


@njit(parallel=True, cache=True)
def embedding_bag_bwd_cpu(idx, offsets, g, psw, bag_size, counts, gw, padding_idx, mean, use_psw, scale_freq,
                          tasks):
    """gw (zeroed by the caller) += each entry's bag gradient row, scaled; task t owns a range of gw's rows."""
    V, D = gw.shape
    B = g.shape[0]
    for t in prange(tasks):
        lo = t * V // tasks
        hi = (t + 1) * V // tasks
        for b in range(B):
            src = g[b]
            for j in range(offsets[b], offsets[b + 1]):
                r = idx[j]
                if r < lo or r >= hi or r == padding_idx:
                    continue
                s = src.dtype.type(_bag_scale(psw, bag_size, counts, mean, use_psw, scale_freq, b, j, r))
                dst = gw[r]
                for d in range(D):
                    dst[d] += src[d] * s


@cuda.jit(cache=True)
def embedding_bag_bwd_cuda(idx, offsets, g, psw, bag_size, counts, gw, padding_idx, mean, use_psw, scale_freq,
                           tasks):
    B, D = g.shape
    for e in range(cuda.grid(1), B * D, cuda.gridsize(1)):
        b = e // D
        d = e - b * D
        v = g[b, d]
        for j in range(offsets[b], offsets[b + 1]):
            r = idx[j]
            if r == padding_idx:
                continue
            s = 1.0
            if mean:
                s = 1.0 / bag_size[b]
            if use_psw:
                s *= psw[j]
            if scale_freq:
                s /= counts[r]
            cuda.atomic.add(gw, (r, d), v * s)


@njit(parallel=True, cache=True)
def embedding_bag_max_bwd_cpu(argmax, g, gw, tasks):
    """gw (zeroed) [argmax[b, d], d] += g[b, d]; task t owns a range of gw's rows."""
    V = gw.shape[0]
    B, D = g.shape
    for t in prange(tasks):
        lo = t * V // tasks
        hi = (t + 1) * V // tasks
        for b in range(B):
            for d in range(D):
                r = argmax[b, d]
                if r >= lo and r < hi:
                    gw[r, d] += g[b, d]


@cuda.jit(cache=True)
def embedding_bag_max_bwd_cuda(argmax, g, gw, tasks):
    B, D = g.shape
    for e in range(cuda.grid(1), B * D, cuda.gridsize(1)):
        b = e // D
        d = e - b * D
        r = argmax[b, d]
        if r >= 0:
            cuda.atomic.add(gw, (r, d), g[b, d])


@njit(inline="always")
def _psw_grad_bag(idx, offsets, g, weight, gpsw, padding_idx, b):
    src = g[b]
    for j in range(offsets[b], offsets[b + 1]):
        r = idx[j]
        s = 0.0
        if r != padding_idx:
            row = weight[r]
            for d in range(src.size):
                s += src[d] * row[d]
        gpsw[j] = s


@njit(parallel=True, cache=True)
def embedding_bag_psw_bwd_cpu(idx, offsets, g, weight, gpsw, padding_idx):
    """gpsw[j] = <g[bag of j], weight[idx[j]]>, 0 for padding entries (gpsw zeroed by the caller:
    entries after the last bag belong to none)."""
    for b in prange(g.shape[0]):
        _psw_grad_bag(idx, offsets, g, weight, gpsw, padding_idx, b)


@cuda.jit(cache=True)
def embedding_bag_psw_bwd_cuda(idx, offsets, g, weight, gpsw, padding_idx):
    for b in range(cuda.grid(1), g.shape[0], cuda.gridsize(1)):
        for j in range(offsets[b], offsets[b + 1]):
            r = idx[j]
            s = 0.0
            if r != padding_idx:
                for d in range(g.shape[1]):
                    s += g[b, d] * weight[r, d]
            gpsw[j] = s


embedding_bag_bwd = KernelPair(embedding_bag_bwd_cpu, embedding_bag_bwd_cuda)
embedding_bag_max_bwd = KernelPair(embedding_bag_max_bwd_cpu, embedding_bag_max_bwd_cuda)
embedding_bag_psw_bwd = KernelPair(embedding_bag_psw_bwd_cpu, embedding_bag_psw_bwd_cuda)


# ---------------------------------------------------------------- one_hot

@njit(parallel=True, cache=True)
def one_hot_cpu(idx, out):
    C = out.shape[1]
    for k in prange(idx.size):
        row = out[k]
        for c in range(C):
            row[c] = 0
        row[idx[k]] = 1


@cuda.jit(cache=True)
def one_hot_cuda(idx, out):
    C = out.shape[1]
    for e in range(cuda.grid(1), idx.size * C, cuda.gridsize(1)):
        k = e // C
        c = e - k * C
        out[k, c] = 1 if idx[k] == c else 0


one_hot = KernelPair(one_hot_cpu, one_hot_cuda)
