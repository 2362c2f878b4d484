"""Sorting kernels: stable row sorts (sort, argsort, topk, kthvalue) and the run
kernels of unique.

Every sort works on a contiguous (rows, L) array, the sorted dim made last by
the functional layer. The order is a strict total order on (key, position):
keys compare with NaN as the largest value (as in torch), and equal keys keep
their input order, in ascending and in descending sorts alike (torch's
stable=True order). bool keys arrive as uint8.

CPU: a bottom-up merge sort of (key, index) pairs. Runs of RUN elements are
insertion-sorted, then merge passes double the run width, ping-ponging between
the outputs and a scratch pair of the same size. Tasks (runs, then pairs of
runs) of every row go to prange, so one long row still uses every thread
until its last few merges. O(L log L) per row.

CUDA: `sort_tiles_cuda` gives each tile of TILE elements of a row a block that
bitonic-sorts (key, position) pairs in shared memory (a tile padded to a power
of two; padding sorts last). Rows longer than a tile are then merged by
`merge_runs_cuda` passes in global memory: a thread per element finds its place
by a binary search in the other run of its pair, which is exact because no two
(key, position) pairs are equal. Cost: O(L log^2 TILE) for the tiles plus
O(L log L) work for each of log2(L / TILE) merge passes; simple rather than fast.
The values are gathered afterwards (the indexing family's gather kernel).

topk of a few (k <= L / 4) runs `select_rows` instead: per row a bounded heap of
the best k (key, position) pairs, heap-sorted at the end; O(L log k), and on
random data nearly one comparison per element. Its CUDA twin runs a thread per
row, which the functional layer uses only for many rows.
"""
from numba import int32, njit, prange
from numba.extending import register_jitable

from ..backend.cuda import SIMULATOR, compiled, cuda
from ..backend.kernel_pair import KernelPair
from ..backend.launch import grid_1d, grid_blocks
from .indexing import gather as _gather_pair

RUN = 16                                   # CPU: rows are insertion-sorted in runs of this many
SERIAL_WORK = 1 << 14                      # CPU: below this many elements a sort runs serially
TILE = 1024                                # CUDA: elements a block sorts in shared memory
TILE_THREADS = 8 if SIMULATOR else 256     # CUDA: threads of a tile-sorting block


# ---------------------------------------------------------------- the order

# Written once for both targets: register_jitable compiles them into CPU and CUDA kernels alike.
@register_jitable
def _key_before(a, b, descending):
    """Key a sorts strictly before key b; NaN is the largest value (a != a only for NaN)."""
    if descending:
        return a > b or (a != a and b == b)
    return a < b or (b != b and a == a)


@register_jitable
def _pair_before(a, ia, b, ib, descending):
    """(a, ia) sorts before (b, ib): by key, then (equal keys, or two NaNs) by position."""
    if _key_before(a, b, descending):
        return True
    if _key_before(b, a, descending):
        return False
    return ia < ib


# ---------------------------------------------------------------- CPU: merge sort of (key, index) pairs

@njit(inline="always")
def _sort_run(x, vals, idx, lo, s, e, descending):
    """Copy x[lo+s:lo+e] with its row positions into vals/idx and insertion-sort it.
    An element moves left only past keys it strictly precedes, which keeps ties in order."""
    for j in range(s, e):
        v = x[lo + j]
        p = j
        while p > s and _key_before(v, vals[lo + p - 1], descending):
            vals[lo + p] = vals[lo + p - 1]
            idx[lo + p] = idx[lo + p - 1]
            p -= 1
        vals[lo + p] = v
        idx[lo + p] = j


@njit(inline="always")
def _merge(sv, si, dv, di, lo, s, m, e, descending):
    """Merge sorted runs [s, m) and [m, e) of a row at lo from (sv, si) into (dv, di).
    The right run's element goes first only when it strictly precedes: stable."""
    i = s
    j = m
    for o in range(s, e):
        if j < e and (i >= m or _key_before(sv[lo + j], sv[lo + i], descending)):
            dv[lo + o] = sv[lo + j]
            di[lo + o] = si[lo + j]
            j += 1
        else:
            dv[lo + o] = sv[lo + i]
            di[lo + o] = si[lo + i]
            i += 1


@njit(inline="always")
def _merge_task(vals, idx, tv, ti, t, pairs, L, width, into_scratch, descending):
    """Merge pair of runs number t (pairs per row) of one pass, in the pass's direction."""
    lo = (t // pairs) * L
    s = (t % pairs) * 2 * width
    m = min(s + width, L)
    e = min(s + 2 * width, L)
    if into_scratch:
        _merge(vals, idx, tv, ti, lo, s, m, e, descending)
    else:
        _merge(tv, ti, vals, idx, lo, s, m, e, descending)


@njit(parallel=True, cache=True)
def sort_rows_cpu(x, values, indices, scratch_values, scratch_indices, rows, L, descending):
    """values/indices (rows, L, flat) = each row of x sorted stably, and the rows' positions.
    scratch_values/scratch_indices: the same sizes, the merge passes' other buffer."""
    if rows * L == 0:
        return
    runs = (L + RUN - 1) // RUN
    serial = rows * L <= SERIAL_WORK
    if serial:
        for t in range(rows * runs):
            s = (t % runs) * RUN
            _sort_run(x, values, indices, (t // runs) * L, s, min(s + RUN, L), descending)
    else:
        for t in prange(rows * runs):
            s = (t % runs) * RUN
            _sort_run(x, values, indices, (t // runs) * L, s, min(s + RUN, L), descending)
    width = RUN
    in_scratch = False                      # where the sorted runs are now
    while width < L:
        pairs = (L + 2 * width - 1) // (2 * width)
        if serial or rows * pairs == 1:
            for t in range(rows * pairs):
                _merge_task(values, indices, scratch_values, scratch_indices, t, pairs, L, width,
                            not in_scratch, descending)
        else:
            for t in prange(rows * pairs):
                _merge_task(values, indices, scratch_values, scratch_indices, t, pairs, L, width,
                            not in_scratch, descending)
        in_scratch = not in_scratch
        width *= 2
    if in_scratch:
        for i in prange(rows * L):
            values[i] = scratch_values[i]
            indices[i] = scratch_indices[i]


# ---------------------------------------------------------------- CUDA: bitonic tiles, merge passes

@cuda.jit(device=True)
def _slot_before(keys, pos, a, b, descending):
    """Shared slot a sorts before slot b; padding (position -1) sorts after everything."""
    if pos[a] < 0:
        return False
    if pos[b] < 0:
        return True
    return _pair_before(keys[a], pos[a], keys[b], pos[b], descending)


@cuda.jit(device=True)
def _bitonic(keys, pos, p, descending):
    """Sort p (a power of two) shared slots; every thread of the block must call it."""
    t = cuda.threadIdx.x
    k = 2
    while k <= p:
        j = k // 2
        while j > 0:
            for i in range(t, p, cuda.blockDim.x):
                partner = i ^ j
                if partner > i:
                    up = (i & k) == 0
                    first, second = (i, partner) if up else (partner, i)
                    if _slot_before(keys, pos, second, first, descending):
                        kv = keys[i]
                        keys[i] = keys[partner]
                        keys[partner] = kv
                        pv = pos[i]
                        pos[i] = pos[partner]
                        pos[partner] = pv
            cuda.syncthreads()
            j //= 2
        k *= 2


@cuda.jit(cache=True)
def sort_tiles_cuda(x, order, rows, L, descending):
    """order[row, tile] = the row positions of each TILE-element tile of x's rows, sorted."""
    keys = cuda.shared.array(TILE, x.dtype)
    pos = cuda.shared.array(TILE, int32)
    t = cuda.threadIdx.x
    tiles = (L + TILE - 1) // TILE
    for task in range(cuda.blockIdx.x, rows * tiles, cuda.gridDim.x):  # uniform over the block
        base = (task // tiles) * L
        start = (task % tiles) * TILE
        n = min(TILE, L - start)
        p = 1
        while p < n:
            p *= 2
        for j in range(t, p, cuda.blockDim.x):
            if j < n:
                keys[j] = x[base + start + j]
                pos[j] = start + j
            else:
                pos[j] = -1
        cuda.syncthreads()
        _bitonic(keys, pos, p, descending)
        for j in range(t, n, cuda.blockDim.x):
            order[base + start + j] = pos[j]
        cuda.syncthreads()                  # the next task refills the shared arrays


@cuda.jit(device=True)
def _count_before(x, src, base, lo, hi, key, position, descending):
    """How many elements of the sorted run src[base+lo:base+hi] sort before (key, position)."""
    a = lo
    b = hi
    while a < b:
        mid = (a + b) // 2
        q = src[base + mid]
        if _pair_before(x[base + q], q, key, position, descending):
            a = mid + 1
        else:
            b = mid
    return a - lo


@cuda.jit(cache=True)
def merge_runs_cuda(x, src, dst, rows, L, width, descending):
    """One merge pass: runs of `width` row positions in src, merged in pairs into dst."""
    for e in range(cuda.grid(1), rows * L, cuda.gridsize(1)):
        base = (e // L) * L
        p = e - base
        s = (p // (2 * width)) * 2 * width
        m = min(s + width, L)
        end = min(s + 2 * width, L)
        q = src[e]
        if p < m:    # left run: its rank plus the right run's elements before it
            place = p + _count_before(x, src, base, m, end, x[base + q], q, descending)
        else:        # right run: its rank in its run plus the left run's elements before it
            place = s + (p - m) + _count_before(x, src, base, s, m, x[base + q], q, descending)
        dst[base + place] = q


class SortPair(KernelPair):
    """sort_rows: the CPU merge sort, or on CUDA the tile sort, the merge passes and the gather."""
    __slots__ = ()

    def launch(self, work, x, values, indices, scratch_values, scratch_indices, rows, L, descending):
        if rows * L == 0:
            return
        passes = 0
        width = TILE
        while width < L:
            passes += 1
            width *= 2
        # Start in the buffer that makes the last pass land in `indices`.
        src, dst = (scratch_indices, indices) if passes % 2 else (indices, scratch_indices)
        tiles = rows * ((L + TILE - 1) // TILE)
        compiled(sort_tiles_cuda)[grid_blocks(tiles, TILE_THREADS)](x, src, rows, L, descending)
        width = TILE
        for _ in range(passes):
            compiled(merge_runs_cuda)[grid_1d(rows * L)](x, src, dst, rows, L, width, descending)
            src, dst = dst, src
            width *= 2
        _gather_pair(x, indices, values, L, L, 1)


sort_rows = SortPair(sort_rows_cpu, sort_tiles_cuda)


# ---------------------------------------------------------------- topk of few: a bounded heap per row

@register_jitable
def _sift_down(vals, idx, lo, p, n, descending):
    """Restore the heap below slot p of the n-slot heap at lo: each parent sorts after its children
    (the root is the worst kept element)."""
    while True:
        c = 2 * p + 1
        if c >= n:
            return
        if c + 1 < n and _pair_before(vals[lo + c], idx[lo + c], vals[lo + c + 1], idx[lo + c + 1], descending):
            c += 1                                   # the later of the two children
        if not _pair_before(vals[lo + p], idx[lo + p], vals[lo + c], idx[lo + c], descending):
            return
        v = vals[lo + p]
        vals[lo + p] = vals[lo + c]
        vals[lo + c] = v
        i = idx[lo + p]
        idx[lo + p] = idx[lo + c]
        idx[lo + c] = i
        p = c


@register_jitable
def _select_row(x, vals, idx, row, L, k, descending):
    """The first k of row `row` of x in the sort order, sorted, into vals/idx (rows of k): a heap
    of the best k so far; an element enters when it sorts before the worst kept one."""
    xs = row * L
    lo = row * k
    for j in range(k):
        vals[lo + j] = x[xs + j]
        idx[lo + j] = j
    for p in range(k // 2 - 1, -1, -1):
        _sift_down(vals, idx, lo, p, k, descending)
    for j in range(k, L):
        v = x[xs + j]
        if _pair_before(v, j, vals[lo], idx[lo], descending):
            vals[lo] = v
            idx[lo] = j
            _sift_down(vals, idx, lo, 0, k, descending)
    for n in range(k - 1, 0, -1):                    # heapsort: the worst goes to the end
        v = vals[lo]
        vals[lo] = vals[lo + n]
        vals[lo + n] = v
        i = idx[lo]
        idx[lo] = idx[lo + n]
        idx[lo + n] = i
        _sift_down(vals, idx, lo, 0, n, descending)


@njit(parallel=True, cache=True)
def select_rows_cpu(x, values, indices, rows, L, k, descending):
    """values/indices (rows, k) = the first k of each row of x (rows, L) in the stable sort order,
    sorted: topk for k much smaller than L, O(L log k) per row instead of a full sort."""
    if rows == 1 or rows * L <= SERIAL_WORK:
        for r in range(rows):
            _select_row(x, values, indices, r, L, k, descending)
    else:
        for r in prange(rows):
            _select_row(x, values, indices, r, L, k, descending)


@cuda.jit(cache=True)
def select_rows_cuda(x, values, indices, rows, L, k, descending):
    # A thread per row: worth it only with many rows (the functional layer decides).
    for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
        _select_row(x, values, indices, r, L, k, descending)


select_rows = KernelPair(select_rows_cpu, select_rows_cuda)


# ---------------------------------------------------------------- unique: runs of equal sorted values

@njit(parallel=True, cache=True)
def run_starts_cpu(sorted_values, starts):
    """starts[i] = 1 where sorted element i differs from the one before it (NaNs all differ, as in torch)."""
    for i in prange(sorted_values.size):
        starts[i] = 1 if i == 0 or sorted_values[i] != sorted_values[i - 1] else 0


@cuda.jit(cache=True)
def run_starts_cuda(sorted_values, starts):
    for i in range(cuda.grid(1), sorted_values.size, cuda.gridsize(1)):
        starts[i] = 1 if i == 0 or sorted_values[i] != sorted_values[i - 1] else 0


run_starts = KernelPair(run_starts_cpu, run_starts_cuda)


@njit(parallel=True, cache=True)
def run_results_cpu(sorted_values, order, group, uniques, inverse, first):
    """group = inclusive prefix sum of the run starts (1-based run numbers): each run's
    value and first position, and each input element's run (inverse, in input order)."""
    for i in prange(sorted_values.size):
        g = group[i] - 1
        inverse[order[i]] = g
        if i == 0 or group[i] != group[i - 1]:
            uniques[g] = sorted_values[i]
            first[g] = i


@cuda.jit(cache=True)
def run_results_cuda(sorted_values, order, group, uniques, inverse, first):
    for i in range(cuda.grid(1), sorted_values.size, cuda.gridsize(1)):
        g = group[i] - 1
        inverse[order[i]] = g
        if i == 0 or group[i] != group[i - 1]:
            uniques[g] = sorted_values[i]
            first[g] = i


run_results = KernelPair(run_results_cpu, run_results_cuda)


@njit(parallel=True, cache=True)
def run_lengths_cpu(first, total, counts):
    """counts[g] = the length of run g, from the runs' first positions and the element count."""
    n = counts.size
    for g in prange(n):
        counts[g] = (first[g + 1] if g + 1 < n else total) - first[g]


@cuda.jit(cache=True)
def run_lengths_cuda(first, total, counts):
    n = counts.size
    for g in range(cuda.grid(1), n, cuda.gridsize(1)):
        counts[g] = (first[g + 1] if g + 1 < n else total) - first[g]


run_lengths = KernelPair(run_lengths_cpu, run_lengths_cuda)
