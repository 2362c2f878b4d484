"""Indexing kernels: take/put along one dimension, gather/scatter, masked fill, nonzero.

Every kernel sees flat contiguous arrays in a canonical 3-D layout chosen by
the functional layer: the indexed dimension in the middle, `outer` = the
product of the dims before it, `inner` = the product of the dims after it.

- One index vector for a whole dimension (index_select, index_add and advanced
  indexing, which moves its indexed dims into one block and linearises its
  index tensors into one vector): x/out are (outer, N, inner), `index` is
  (K,), the gathered side is (outer, K, inner).
- gather/scatter, whose index has the gathered side's full shape: `index` and
  `src` are (outer, K, inner), x/out are (outer, N, inner).

Indices arrive validated and non-negative: the functional layer range-checks
them before any kernel runs (kernels cannot raise). CPU kernels address
through them as np.uint64, which drops Numba's negative-index wraparound
check (gathers run 4x faster). A one-element `src` of a put/scatter kernel
stands for a scalar broadcast over every indexed place.

Writing through an index without races: CPU tasks own disjoint parts of the
output - (outer block, range of target rows, column strip) for the put
kernels, (outer block, column strip) for scatter - and each walks the index
in order, so repeated indices resolve deterministically (the last write wins,
as on torch's CPU). CUDA kernels use cuda.atomic.add, which exists for 32/64-bit
types only: the functional layer widens float16/uint8/bool before accumulating.
"""
import numpy as np
from numba import config, njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import ROW, SERIAL_WORK, bcast_offsets

MIN_STRIP = 16     # fewest columns a scatter task owns
WIDE_STRIP = 64    # fewest columns a put task owns (its rows are added vectorised)
BLOCK = 4096       # elements per task in the take kernels
THREADS = config.NUMBA_NUM_THREADS   # a constant to the kernels (a call would make them uncacheable)


@njit(inline="always")
def _tasks_per_block(outer):
    """Tasks to split each of `outer` blocks into: two per thread in all (every task rescans the index)."""
    return max(1, (2 * THREADS + outer - 1) // outer)


@njit(inline="always")
def _strip_width(outer, inner):
    """Columns per scatter task when `outer` blocks of `inner` columns are split for the threads."""
    per_block = max(1, min((inner + MIN_STRIP - 1) // MIN_STRIP, _tasks_per_block(outer)))
    return (inner + per_block - 1) // per_block


# ---------------------------------------------------------------- take / put along a dim

@njit(inline="always")
def _take_rows(x, index, out, N, K, inner, lo, hi):
    # Output rows [lo, hi) of the (outer * K) rows, in segments that stay in one outer block.
    r = lo
    while r < hi:
        o = r // K
        k0 = r - o * K
        n = min(K - k0, hi - r)
        xo = x[o * N * inner:(o + 1) * N * inner]
        ix = index[k0:k0 + n]
        if inner == 1:
            seg = out[r:r + n]
            for k in range(n):
                seg[k] = xo[np.uint64(ix[k])]
        else:
            for k in range(n):
                row = xo[ix[k] * inner:ix[k] * inner + inner]
                dst = out[(r + k) * inner:(r + k + 1) * inner]
                for i in range(inner):
                    dst[i] = row[i]
        r += n


@njit(parallel=True, cache=True)
def index_select_cpu(x, index, out, N, inner):
    """out[o, k, :] = x[o, index[k], :]; tasks are blocks of output rows."""
    K = index.size
    rows = out.size // inner
    if out.size <= SERIAL_WORK:
        _take_rows(x, index, out, N, K, inner, 0, rows)
    else:
        block = max(1, BLOCK // inner)
        for t in prange((rows + block - 1) // block):
            _take_rows(x, index, out, N, K, inner, t * block, min(rows, t * block + block))


@cuda.jit(cache=True)
def index_select_cuda(x, index, out, N, inner):
    K = index.size
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        r = t // inner
        out[t] = x[((r // K) * N + index[r % K]) * inner + t % inner]


@njit(inline="always")
def _put_row(dst, row, n, accumulate):
    if accumulate:
        for i in range(n):
            dst[i] += row[i]
    else:
        for i in range(n):
            dst[i] = row[i]


@njit(inline="always")
def _put_value(dst, v, n, accumulate):
    if accumulate:
        for i in range(n):
            dst[i] += v
    else:
        for i in range(n):
            dst[i] = v


@njit(inline="always")
def _put_task(index, src, out, N, K, inner, o, lo, hi, c0, c1, accumulate):
    # Block o, target rows [lo, hi), columns [c0, c1): walk the whole index in
    # order and apply the hits that land in this task's rows.
    n = c1 - c0
    whole = lo == 0 and hi == N
    for k in range(K):
        j = index[k]
        if whole or lo <= j < hi:
            start = (o * N + j) * inner + c0
            if src.size == 1:
                _put_value(out[start:start + n], src[0], n, accumulate)
            elif n == 1:  # one element per row: no row slices
                v = src[np.uint64((o * K + k) * inner + c0)]
                if accumulate:
                    out[np.uint64(start)] += v
                else:
                    out[np.uint64(start)] = v
            else:
                s = (o * K + k) * inner + c0
                _put_row(out[start:start + n], src[s:s + n], n, accumulate)


@njit(inline="always")
def _put_loop(index, src, out, N, inner, accumulate):
    # Tasks own (outer block, part of the target rows, column strip): no two
    # write the same element. Every task rescans the whole index, so there are
    # few of them (two per thread), preferably wide column strips; rows too
    # short to split (inner < MIN_STRIP) leave one task per outer block (a 1-d
    # put runs serially).
    K = index.size
    outer = out.size // (N * inner)
    per_block = _tasks_per_block(outer)
    strips = max(1, min(per_block, inner // WIDE_STRIP))
    parts = max(1, min(N, per_block // strips)) if inner >= MIN_STRIP else 1
    rows = (N + parts - 1) // parts
    width = (inner + strips - 1) // strips
    if outer * K * inner <= SERIAL_WORK:
        for o in range(outer):
            _put_task(index, src, out, N, K, inner, o, 0, N, 0, inner, accumulate)
    else:
        for t in prange(outer * parts * strips):
            c = t % strips
            p = (t // strips) % parts
            _put_task(index, src, out, N, K, inner, t // (strips * parts), p * rows, min(N, p * rows + rows),
                      c * width, min(inner, c * width + width), accumulate)


@njit(parallel=True, cache=True)
def index_copy_cpu(index, src, out, N, inner):
    """out[o, index[k], :] = src[o, k, :] (advanced setitem; the last of repeated indices wins)."""
    _put_loop(index, src, out, N, inner, False)


@cuda.jit(cache=True)
def index_copy_cuda(index, src, out, N, inner):
    K = index.size
    for t in range(cuda.grid(1), out.size // N * K, cuda.gridsize(1)):
        r = t // inner
        j = ((r // K) * N + index[r % K]) * inner + t % inner
        out[j] = src[0] if src.size == 1 else src[t]


@njit(parallel=True, cache=True)
def index_add_cpu(index, src, out, N, inner):
    """out[o, index[k], :] += src[o, k, :] (index_add, and the gradient of taking)."""
    _put_loop(index, src, out, N, inner, True)


@cuda.jit(cache=True)
def index_add_cuda(index, src, out, N, inner):
    K = index.size
    for t in range(cuda.grid(1), out.size // N * K, cuda.gridsize(1)):
        r = t // inner
        j = ((r // K) * N + index[r % K]) * inner + t % inner
        cuda.atomic.add(out, j, src[0] if src.size == 1 else src[t])


# ---------------------------------------------------------------- gather / scatter

@njit(inline="always")
def _gather_rows(x, index, out, N, K, inner, lo, hi):
    o = lo // K
    k = lo - o * K
    for r in range(lo, hi):
        base = o * N * inner
        if inner == 1:
            out[r] = x[np.uint64(base + index[r])]
        else:
            idx = index[r * inner:r * inner + inner]
            dst = out[r * inner:r * inner + inner]
            for i in range(inner):
                dst[i] = x[np.uint64(base + idx[i] * inner + i)]
        k += 1
        if k == K:
            k = 0
            o += 1


@njit(parallel=True, cache=True)
def gather_cpu(x, index, out, N, K, inner):
    """out[o, k, i] = x[o, index[o, k, i], i]; tasks are blocks of output rows."""
    rows = out.size // inner
    if out.size <= SERIAL_WORK:
        _gather_rows(x, index, out, N, K, inner, 0, rows)
    else:
        block = max(1, BLOCK // inner)
        for t in prange((rows + block - 1) // block):
            _gather_rows(x, index, out, N, K, inner, t * block, min(rows, t * block + block))


@cuda.jit(cache=True)
def gather_cuda(x, index, out, N, K, inner):
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        i = t % inner
        out[t] = x[((t // inner) // K * N + index[t]) * inner + i]


SET, ADD, MUL = 0, 1, 2


@njit(inline="always")
def _scatter_strip(index, src, out, N, K, inner, o, lo, hi, op):
    for k in range(K):
        s = (o * K + k) * inner
        for i in range(lo, hi):
            j = np.uint64((o * N + index[s + i]) * inner + i)
            v = src[0] if src.size == 1 else src[s + i]
            if op == SET:
                out[j] = v
            elif op == ADD:
                out[j] += v
            else:
                out[j] *= v


@njit(inline="always")
def _scatter_loop(index, src, out, N, K, inner, op):
    outer = out.size // (N * inner)
    width = _strip_width(outer, inner)
    strips = (inner + width - 1) // width
    if index.size <= SERIAL_WORK:
        for t in range(outer * strips):
            lo = (t % strips) * width
            _scatter_strip(index, src, out, N, K, inner, t // strips, lo, min(lo + width, inner), op)
    else:
        for t in prange(outer * strips):
            lo = (t % strips) * width
            _scatter_strip(index, src, out, N, K, inner, t // strips, lo, min(lo + width, inner), op)


@njit(parallel=True, cache=True)
def scatter_cpu(index, src, out, N, K, inner, multiply):
    """out[o, index[o, k, i], i] = src[o, k, i] (or *= with `multiply`)."""
    _scatter_loop(index, src, out, N, K, inner, MUL if multiply else SET)


@cuda.jit(cache=True)
def scatter_cuda(index, src, out, N, K, inner, multiply):
    scalar = src.size == 1
    if multiply:
        # There is no atomic multiply: one thread per (o, i) column walks k in order.
        outer = out.size // (N * inner)
        for c in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
            o = c // inner
            i = c % inner
            for k in range(K):
                s = (o * K + k) * inner + i
                j = (o * N + index[s]) * inner + i
                out[j] = out[j] * (src[0] if scalar else src[s])
    else:
        for t in range(cuda.grid(1), index.size, cuda.gridsize(1)):
            i = t % inner
            out[((t // inner) // K * N + index[t]) * inner + i] = src[0] if scalar else src[t]


@njit(parallel=True, cache=True)
def scatter_add_cpu(index, src, out, N, K, inner):
    """out[o, index[o, k, i], i] += src[o, k, i]."""
    _scatter_loop(index, src, out, N, K, inner, ADD)


@cuda.jit(cache=True)
def scatter_add_cuda(index, src, out, N, K, inner):
    scalar = src.size == 1
    for t in range(cuda.grid(1), index.size, cuda.gridsize(1)):
        i = t % inner
        j = ((t // inner) // K * N + index[t]) * inner + i
        cuda.atomic.add(out, j, src[0] if scalar else src[t])


# ---------------------------------------------------------------- masked fill

@njit(inline="always")
def _masked_fill_task(x, mask, out, value, shape, sx, sm, rows, t):
    # One stretch of up to ROW elements along the last (canonical) dim.
    lo = (t % rows) * ROW
    r = t // rows
    k = r % shape[2]
    r //= shape[2]
    j = r % shape[1]
    h = r // shape[1]
    n = min(ROW, shape[3] - lo)
    ox = h * sx[0] + j * sx[1] + k * sx[2] + lo * sx[3]
    om = h * sm[0] + j * sm[1] + k * sm[2] + lo * sm[3]
    oo = ((h * shape[1] + j) * shape[2] + k) * shape[3] + lo
    o = out[oo:oo + n]
    if sx[3] == 1 and sm[3] == 1:  # the common case, vectorised as a blend
        xr = x[ox:ox + n]
        mr = mask[om:om + n]
        for l in range(n):
            o[l] = value if mr[l] else xr[l]
    else:
        for l in range(n):
            o[l] = value if mask[om + l * sm[3]] else x[ox + l * sx[3]]


@njit(parallel=True, cache=True)
def masked_fill_cpu(x, mask, out, value, shape, sx, sm):
    """out = value where mask else x, over the canonical 4-D `shape` (sx, sm: element strides)."""
    rows = (shape[3] + ROW - 1) // ROW
    tasks = shape[0] * shape[1] * shape[2] * rows
    if out.size <= SERIAL_WORK:
        for t in range(tasks):
            _masked_fill_task(x, mask, out, value, shape, sx, sm, rows, t)
    else:
        for t in prange(tasks):
            _masked_fill_task(x, mask, out, value, shape, sx, sm, rows, t)


@cuda.jit(cache=True)
def masked_fill_cuda(x, mask, out, value, shape, sx, sm):
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ix, im = bcast_offsets(t, shape, sx, sm)
        out[t] = value if mask[im] else x[ix]


@njit(inline="always")
def _fill_task(mask, out, value, shape, sm, rows, t):
    lo = (t % rows) * ROW
    r = t // rows
    k = r % shape[2]
    r //= shape[2]
    j = r % shape[1]
    h = r // shape[1]
    n = min(ROW, shape[3] - lo)
    om = h * sm[0] + j * sm[1] + k * sm[2] + lo * sm[3]
    oo = ((h * shape[1] + j) * shape[2] + k) * shape[3] + lo
    o = out[oo:oo + n]
    if sm[3] == 1:  # reads and writes `out` only, so it vectorises as a blend
        mr = mask[om:om + n]
        for l in range(n):
            o[l] = value if mr[l] else o[l]
    elif mask[om]:
        for l in range(n):
            o[l] = value


@njit(parallel=True, cache=True)
def masked_fill_inplace_cpu(mask, out, value, shape, sm):
    """out = value where mask, in place (masked_fill_ and x[mask] = v).

    Kept apart from masked_fill_cpu: with `out` also its input, that loop
    could not rule out aliasing and ran scalar (and branchy): 50x slower.
    """
    rows = (shape[3] + ROW - 1) // ROW
    tasks = shape[0] * shape[1] * shape[2] * rows
    if out.size <= SERIAL_WORK:
        for t in range(tasks):
            _fill_task(mask, out, value, shape, sm, rows, t)
    else:
        for t in prange(tasks):
            _fill_task(mask, out, value, shape, sm, rows, t)


@cuda.jit(cache=True)
def masked_fill_inplace_cuda(mask, out, value, shape, sm):
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        if mask[bcast_offsets(t, shape, sm, sm)[0]]:
            out[t] = value


# ---------------------------------------------------------------- nonzero

@njit(inline="always")
def _count_chunk(x, counts, chunk, c):
    lo = c * chunk
    row = x[lo:min(lo + chunk, x.size)]
    n = 0
    for i in range(row.size):
        n += 1 if row[i] != 0 else 0
    counts[c] = n


@njit(parallel=True, cache=True)
def nonzero_count_cpu(x, counts, chunk):
    """counts[c] = how many elements of x[c*chunk:(c+1)*chunk] are nonzero."""
    if x.size <= SERIAL_WORK:
        for c in range(counts.size):
            _count_chunk(x, counts, chunk, c)
    else:
        for c in prange(counts.size):
            _count_chunk(x, counts, chunk, c)


@cuda.jit(cache=True)
def nonzero_count_cuda(x, counts, chunk):
    for c in range(cuda.grid(1), counts.size, cuda.gridsize(1)):
        n = 0
        for i in range(c * chunk, min(c * chunk + chunk, x.size)):
            n += 1 if x[i] != 0 else 0
        counts[c] = n


def _write_chunk(x, offsets, out, chunk, dims, c):
    # Chunk c's hits as rows of `out` from row offsets[c]. Only the first hit is
    # unravelled with divisions; each next one is the previous row plus the
    # gap, carried through the dims (a division only when a row is crossed).
    ndim = len(dims)
    pos = offsets[c]
    prev = -1
    for i in range(c * chunk, min(c * chunk + chunk, x.size)):
        if x[i] != 0:
            row = pos * ndim
            if prev < 0:
                rem = i
                for d in range(ndim - 1, -1, -1):
                    out[row + d] = rem % dims[d]
                    rem //= dims[d]
            else:
                for d in range(ndim):
                    out[row + d] = out[row - ndim + d]
                carry = i - prev
                d = ndim - 1
                while carry > 0:
                    v = out[row + d] + carry
                    carry = 0 if v < dims[d] else v // dims[d]
                    out[row + d] = v if carry == 0 else v % dims[d]
                    d -= 1
            prev = i
            pos += 1


_write_chunk_cpu = njit(inline="always")(_write_chunk)
_write_chunk_dev = cuda.jit(device=True)(_write_chunk)


@njit(parallel=True, cache=True)
def nonzero_write_cpu(x, offsets, out, chunk, dims):
    """Coordinates (over shape `dims`) of x's nonzero elements, in order, as rows of `out`.

    offsets[c] is the row where chunk c's first nonzero element goes (an
    exclusive prefix sum of nonzero_count's counts).
    """
    if x.size <= SERIAL_WORK:
        for c in range(offsets.size):
            _write_chunk_cpu(x, offsets, out, chunk, dims, c)
    else:
        for c in prange(offsets.size):
            _write_chunk_cpu(x, offsets, out, chunk, dims, c)


@cuda.jit(cache=True)
def nonzero_write_cuda(x, offsets, out, chunk, dims):
    for c in range(cuda.grid(1), offsets.size, cuda.gridsize(1)):
        _write_chunk_dev(x, offsets, out, chunk, dims, c)


# ---------------------------------------------------------------- index arithmetic

@njit(inline="always")
def _linear(stacked, out, sizes, strides, P, p):
    lin = 0
    for j in range(len(sizes)):
        v = stacked[j * P + p]
        lin += (v + sizes[j] if v < 0 else v) * strides[j]
    out[p] = lin


@njit(parallel=True, cache=True)
def linear_index_cpu(stacked, out, sizes, strides):
    """out[p] = sum_j wrap(stacked[j, p]) * strides[j]: several index tensors as one.

    `stacked` holds the broadcast index tensors as m rows of P; negative
    indices wrap by sizes[j] (they were range-checked before).
    """
    P = out.size
    if stacked.size <= SERIAL_WORK:
        for p in range(P):
            _linear(stacked, out, sizes, strides, P, p)
    else:
        for p in prange(P):
            _linear(stacked, out, sizes, strides, P, p)


@cuda.jit(cache=True)
def linear_index_cuda(stacked, out, sizes, strides):
    P = out.size
    for p in range(cuda.grid(1), P, cuda.gridsize(1)):
        lin = 0
        for j in range(len(sizes)):
            v = stacked[j * P + p]
            lin += (v + sizes[j] if v < 0 else v) * strides[j]
        out[p] = lin


@njit(inline="always")
def _bounds(row):
    lo = row[0]
    hi = row[0]
    for i in range(row.size):
        v = row[i]
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


@njit(parallel=True, cache=True)
def index_bounds_cpu(index, out):
    """out[0], out[1] = min(index), max(index) of a non-empty index: its range check.

    out[2:] is scratch: large indices are split into out.size // 2 chunks
    whose partial bounds go to out[2c], out[2c + 1].
    """
    n = index.size
    if n <= SERIAL_WORK or out.size < 4:
        lo, hi = _bounds(index)
    else:
        step = (n + out.size // 2 - 1) // (out.size // 2)
        chunks = (n + step - 1) // step
        for c in prange(chunks):
            out[2 * c], out[2 * c + 1] = _bounds(index[c * step:min(n, c * step + step)])
        lo, hi = out[0], out[1]
        for c in range(1, chunks):
            lo = min(lo, out[2 * c])
            hi = max(hi, out[2 * c + 1])
    out[0] = lo
    out[1] = hi


@cuda.jit(cache=True)
def index_bounds_cuda(index, out):
    """out[0] = min(out[0], min(index)), out[1] = max(out[1], max(index)).

    The caller starts out at (int64 max, int64 min). Each thread reduces its
    grid-stride share, then one atomic per thread: launch it on a small grid.
    """
    lo = index[0]
    hi = index[0]
    for t in range(cuda.grid(1), index.size, cuda.gridsize(1)):
        v = index[t]
        lo = min(lo, v)
        hi = max(hi, v)
    cuda.atomic.min(out, 0, lo)
    cuda.atomic.max(out, 1, hi)


index_select = KernelPair(index_select_cpu, index_select_cuda)
index_copy = KernelPair(index_copy_cpu, index_copy_cuda)
index_add = KernelPair(index_add_cpu, index_add_cuda)
gather = KernelPair(gather_cpu, gather_cuda)
scatter = KernelPair(scatter_cpu, scatter_cuda)
scatter_add = KernelPair(scatter_add_cpu, scatter_add_cuda)
masked_fill = KernelPair(masked_fill_cpu, masked_fill_cuda)
masked_fill_inplace = KernelPair(masked_fill_inplace_cpu, masked_fill_inplace_cuda)
nonzero_count = KernelPair(nonzero_count_cpu, nonzero_count_cuda)
nonzero_write = KernelPair(nonzero_write_cpu, nonzero_write_cuda)
linear_index = KernelPair(linear_index_cpu, linear_index_cuda)
index_bounds = KernelPair(index_bounds_cpu, index_bounds_cuda)
