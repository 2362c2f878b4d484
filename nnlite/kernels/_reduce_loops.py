"""Loops of the reduction kernels (kernels/reduction.py and reduction_float.py).

Every reduction reads its input `x` as `outer` blocks of `R` rows of `inner`
contiguous elements and writes `outer * inner` results, index k = o * inner + i
(the functional layer moves the reduced dims into one block). Backward
kernels write `gx` in the same layout.

A CPU reduction comes in two shapes. Along a row (inner == 1) a task reduces
one row, and rows longer than CHUNK are split so that a single long row still
uses every thread. Across rows (inner > 1) a task owns a strip of STRIP
columns and walks the R rows, vectorised along the contiguous columns. The
loops are written once here:

- `_accumulate`: sums and products in a wide accumulator (float64 for floats,
  int64 for integers) under `fastmath={"reassoc"}`, which lets LLVM reorder
  the additions into vector lanes; no other fast-math flag is set, so NaN and
  inf propagate. An inline skeleton that takes the kernel's scalar function.
- `_fold`: max/min in the input dtype. A NaN-propagating select is not a
  reduction LLVM vectorises, so a row is folded into LANES independent
  accumulators (a plain vectorisable loop) that are combined at the end.
- `_arg`: the first index of the max/min (NaN counts as the largest).
- `_spread`: the backward direction, one value per output spread back over
  its R rows.

The row and strip loops of the last three are ordinary (not inlined) functions
that take a flag or an op code instead of a scalar function: each compiles once
per dtype and serves every kernel and call site, where inlining copied it into
each (compiling amax took 7 s instead of 3 s). LLVM hoists the loop-invariant
flag out of the loops, so each variant still vectorises.

Slices (`row = x[lo:hi]`) rather than offset indices keep every index provably
non-negative, which vectorisation needs (offset indices made sum 20x slower).

Numba's cache keys a kernel on the text of its own file only: after editing
this file, delete nnlite/kernels/__pycache__/reduction.* so the kernels recompile.
"""
import math

from numba import njit, prange

from ..backend.cuda import SIMULATOR, cuda
from ..backend.launch import fill_blocks
from ._block import BLOCK_THREADS
from .fastmath import fexp

SERIAL_WORK = 1 << 15
CHUNK = 1 << 14            # elements per partial result when one row is split
STRIP = 1024               # columns per task when reducing across rows
LANES = 256                # independent accumulators of a max/min row fold
MIN_TASKS = 16             # fewer column strips than this: split the rows too (see _row_parts)


# ---------------------------------------------------------------- scalar math
# Written once, compiled for both targets.

def _pick(acc, v, largest):
    """The larger (smaller) of acc and v; a NaN wins, so it propagates."""
    better = v > acc if largest else v < acc
    return v if (better or v != v) else acc


def _beats(v, best, largest):
    """v replaces best as the arg-max (arg-min): strictly better, or the first NaN."""
    better = v > best if largest else v < best
    return better or (v != v and best == best)


def _is_tie(v, m):
    """v is the extreme m (NaN ties with NaN, as torch.max's gradient counts it)."""
    return v == m or (v != v and m != m)


def _logsumexp_finish(m, s):
    """m + log(s) for the row max m and s = sum exp(x - m); an infinite max is the answer."""
    return m if math.isinf(m) else m + math.log(s)


pick_cpu = njit(inline="always")(_pick)
pick_dev = cuda.jit(device=True)(_pick)
beats_cpu = njit(inline="always")(_beats)
beats_dev = cuda.jit(device=True)(_beats)
is_tie_cpu = njit(inline="always")(_is_tie)
is_tie_dev = cuda.jit(device=True)(_is_tie)
logsumexp_finish_cpu = njit(inline="always")(_logsumexp_finish)
logsumexp_finish_dev = cuda.jit(device=True)(_logsumexp_finish)

SHARE, CENTER, SOFTMAX = range(3)  # the backward spreads


@njit(inline="always")
def _spread_value(op, v, a, b):
    if op == SHARE:  # amax/amin: the extreme a's ties share b (b - b: an infinite share gives NaN, as torch)
        return b if is_tie_cpu(v, a) else b - b
    if op == CENTER:  # var/std: (x - mean) * coef
        return (v - a) * b
    return fexp(v - a) * b  # logsumexp: exp(x - lse) * g


@njit(inline="always")
def _add(acc, v, c, s):
    return acc + v


@njit(inline="always")
def _merge_add(a, b):
    return a + b


def _row_parts(tasks, R, size):
    """Parts the R rows of a cross-row reduction are split into: a reduction with
    few column strips (a bias gradient: outer 1, inner 64) still uses every thread."""
    if tasks >= MIN_TASKS or size <= SERIAL_WORK:
        return 1
    return max(1, min((MIN_TASKS + tasks - 1) // tasks, R // 64))


row_parts_cpu = njit(inline="always")(_row_parts)


# ---------------------------------------------------------------- accumulate

@njit(inline="always", fastmath={"reassoc"})
def _accumulate(f, merge, x, c, s, out, outer, R, inner, partial, init):
    """out[k] = f(...f(f(init, x[o, 0, i], c[k], s), x[o, 1, i], c[k], s)...).

    `partial` is scratch of init's dtype, accumulate_scratch_size() long;
    `merge` combines the partial results of rows split into parts.
    """
    if inner > 1:
        strips = (inner + STRIP - 1) // STRIP
        parts = row_parts_cpu(outer * strips, R, x.size)
        if x.size <= SERIAL_WORK:
            for t in range(outer * strips * parts):
                _accumulate_strip(f, x, c, s, out, partial, t, strips, parts, outer, R, inner, init)
        else:
            for t in prange(outer * strips * parts):
                _accumulate_strip(f, x, c, s, out, partial, t, strips, parts, outer, R, inner, init)
        if parts > 1:
            _merge_parts(merge, partial, out, parts, outer * inner)
        return
    chunks = max(1, (R + CHUNK - 1) // CHUNK)
    if x.size <= SERIAL_WORK:
        for t in range(outer * chunks):
            _accumulate_chunk(f, x, c, s, out, partial, t, chunks, R, init)
    else:
        for t in prange(outer * chunks):
            _accumulate_chunk(f, x, c, s, out, partial, t, chunks, R, init)
    if chunks > 1:
        for o in range(outer):
            acc = partial[o * chunks]
            for j in range(1, chunks):
                acc = merge(acc, partial[o * chunks + j])
            out[o] = acc


@njit(inline="always", fastmath={"reassoc"})
def _accumulate_row(f, row, cv, s, init):
    acc = init
    for i in range(row.size):
        acc = f(acc, row[i], cv, s)
    return acc


@njit(inline="always", fastmath={"reassoc"})
def _accumulate_chunk(f, x, c, s, out, partial, t, chunks, R, init):
    # Task t: chunk t % chunks of row o; a row of one chunk writes its result directly.
    o = t // chunks
    lo = o * R + (t % chunks) * CHUNK
    acc = _accumulate_row(f, x[lo:min(lo + CHUNK, o * R + R)], c[o], s, init)
    if chunks == 1:
        out[o] = acc
    else:
        partial[t] = acc


@njit(inline="always", fastmath={"reassoc"})
def _accumulate_strip(f, x, c, s, out, partial, t, strips, parts, outer, R, inner, init):
    # Task t: columns [i0, i0 + n) of block o over part p of the rows, accumulated
    # in wide scratch, one vector lane per column.
    p = t % parts
    o = t // parts // strips
    i0 = (t // parts % strips) * STRIP
    n = min(STRIP, inner - i0)
    k = o * inner + i0
    acc = partial[p * outer * inner + k:p * outer * inner + k + n]
    cs = c[k:k + n]
    for l in range(n):
        acc[l] = init
    for r in range(p * R // parts, (p + 1) * R // parts):
        lo = (o * R + r) * inner + i0
        row = x[lo:lo + n]
        for l in range(n):
            acc[l] = f(acc[l], row[l], cs[l], s)
    if parts == 1:
        res = out[k:k + n]
        for l in range(n):
            res[l] = acc[l]


@njit(inline="always", fastmath={"reassoc"})
def _merge_parts(merge, partial, out, parts, n_out):
    # Few outputs (that is why the rows were split): merge the parts serially.
    for p in range(1, parts):
        more = partial[p * n_out:p * n_out + n_out]
        for k in range(n_out):
            partial[k] = merge(partial[k], more[k])
    for k in range(n_out):
        out[k] = partial[k]


def accumulate_scratch_size(outer, R, inner):
    """Length of the wide scratch array the `_accumulate` kernels need."""
    if inner == 1:
        return max(1, outer * ((R + CHUNK - 1) // CHUNK))
    strips = (inner + STRIP - 1) // STRIP
    return max(1, _row_parts(outer * strips, R, outer * R * inner) * outer * inner)


# ---------------------------------------------------------------- fold (max, min)

@njit(inline="always")
def _fold(x, out, outer, R, inner, lanes, init, workers, largest):
    """out[k] = the max (largest) or min of x[o, :, i], NaN propagating; init is its identity.

    `lanes` is scratch of x's dtype, fold_scratch_size() long: LANES
    accumulators for each of `workers` threads (numba.get_num_threads(), which
    a cached kernel cannot call itself), then one result per chunk of a split row.
    """
    if inner > 1:
        strips = (inner + STRIP - 1) // STRIP
        if x.size <= SERIAL_WORK:
            for t in range(outer * strips):
                _fold_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, init, largest)
        else:
            for t in prange(outer * strips):
                _fold_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, init, largest)
        return
    chunks = (R + CHUNK - 1) // CHUNK
    tasks = outer * chunks
    # Tasks are dealt to workers in contiguous runs, so each worker owns one
    # set of lane accumulators.
    workers = 1 if x.size <= SERIAL_WORK else max(1, min(workers, tasks))
    results = lanes[workers * LANES:]
    if workers == 1:
        _fold_tasks(x, out, results, lanes[:LANES], 0, tasks, R, chunks, init, largest)
    else:
        for w in prange(workers):
            _fold_tasks(x, out, results, lanes[w * LANES:w * LANES + LANES],
                        w * tasks // workers, (w + 1) * tasks // workers, R, chunks, init, largest)
    if chunks > 1:
        for o in range(outer):
            acc = init
            for j in range(chunks):
                acc = pick_cpu(acc, results[o * chunks + j], largest)
            out[o] = acc


@njit(cache=True)
def _fold_tasks(x, out, results, lanes, t0, t1, R, chunks, init, largest):
    for t in range(t0, t1):
        o = t // chunks
        lo = o * R + (t % chunks) * CHUNK
        v = _fold_row(x[lo:min(lo + CHUNK, o * R + R)], lanes, init, largest)
        if chunks == 1:
            out[o] = v
        else:
            results[t] = v


@njit(cache=True)
def _fold_row(row, lanes, init, largest):
    n = row.size
    acc = init
    if n < 2 * LANES:
        for i in range(n):
            acc = pick_cpu(acc, row[i], largest)
        return acc
    for l in range(LANES):
        lanes[l] = init
    blocks = n // LANES
    for b in range(blocks):
        block = row[b * LANES:b * LANES + LANES]
        for l in range(LANES):
            lanes[l] = pick_cpu(lanes[l], block[l], largest)
    width = LANES // 2
    while width > 0:  # combine the lanes pairwise, each step a vector loop
        upper = lanes[width:2 * width]
        for l in range(width):
            lanes[l] = pick_cpu(lanes[l], upper[l], largest)
        width //= 2
    acc = lanes[0]
    tail = row[blocks * LANES:]
    for i in range(tail.size):
        acc = pick_cpu(acc, tail[i], largest)
    return acc


@njit(cache=True)
def _fold_strip(x, out, o, i0, R, inner, init, largest):
    n = min(STRIP, inner - i0)
    acc = out[o * inner + i0:o * inner + i0 + n]
    for l in range(n):
        acc[l] = init
    for r in range(R):
        lo = (o * R + r) * inner + i0
        row = x[lo:lo + n]
        for l in range(n):
            acc[l] = pick_cpu(acc[l], row[l], largest)


def fold_scratch_size(outer, R, inner, workers):
    """Length of the input-dtype scratch array the `_fold` kernels need."""
    if inner > 1:
        return 1
    chunks = (R + CHUNK - 1) // CHUNK
    return workers * LANES + (outer * chunks if chunks > 1 else 0)


# ---------------------------------------------------------------- arg (argmax, argmin)

@njit(inline="always")
def _arg(x, values, indices, outer, R, inner, part_values, part_indices, largest):
    """values[k], indices[k] = the extreme of x[o, :, i] and its first index (R >= 1)."""
    if inner > 1:
        strips = (inner + STRIP - 1) // STRIP
        if x.size <= SERIAL_WORK:
            for t in range(outer * strips):
                _arg_strip(x, values, indices, t // strips, (t % strips) * STRIP, R, inner, largest)
        else:
            for t in prange(outer * strips):
                _arg_strip(x, values, indices, t // strips, (t % strips) * STRIP, R, inner, largest)
        return
    chunks = (R + CHUNK - 1) // CHUNK
    if x.size <= SERIAL_WORK:
        for t in range(outer * chunks):
            _arg_chunk(x, part_values, part_indices, t, R, chunks, largest)
    else:
        for t in prange(outer * chunks):
            _arg_chunk(x, part_values, part_indices, t, R, chunks, largest)
    for o in range(outer):
        # Chunks merge in order, so ties (and NaNs) keep the earliest index.
        best = part_values[o * chunks]
        index = part_indices[o * chunks]
        for j in range(1, chunks):
            if beats_cpu(part_values[o * chunks + j], best, largest):
                best = part_values[o * chunks + j]
                index = part_indices[o * chunks + j]
        values[o] = best
        indices[o] = index


@njit(cache=True)
def _arg_chunk(x, part_values, part_indices, t, R, chunks, largest):
    o = t // chunks
    start = (t % chunks) * CHUNK
    row = x[o * R + start:o * R + min(start + CHUNK, R)]
    best = row[0]
    index = 0
    for r in range(1, row.size):
        if beats_cpu(row[r], best, largest):
            best = row[r]
            index = r
    part_values[t] = best
    part_indices[t] = start + index


@njit(cache=True)
def _arg_strip(x, values, indices, o, i0, R, inner, largest):
    n = min(STRIP, inner - i0)
    k = o * inner + i0
    best = values[k:k + n]
    index = indices[k:k + n]
    first = x[o * R * inner + i0:o * R * inner + i0 + n]
    for l in range(n):
        best[l] = first[l]
        index[l] = 0
    for r in range(1, R):
        lo = (o * R + r) * inner + i0
        row = x[lo:lo + n]
        for l in range(n):
            if beats_cpu(row[l], best[l], largest):
                best[l] = row[l]
                index[l] = r


def arg_scratch_size(outer, R, inner):
    """Length of the two scratch arrays (values, int64 indices) the arg kernels need."""
    return 1 if inner > 1 else outer * ((R + CHUNK - 1) // CHUNK)


# ---------------------------------------------------------------- spread (backward)

@njit(inline="always")
def _spread(x, a, b, gx, outer, R, inner, op):
    """gx[o, r, i] = _spread_value(op, x[o, r, i], a[k], b[k])."""
    if inner == 1:
        chunks = (R + CHUNK - 1) // CHUNK
        if x.size <= SERIAL_WORK:
            for t in range(outer * chunks):
                _spread_chunk(x, a, b, gx, t, R, chunks, op)
        else:
            for t in prange(outer * chunks):
                _spread_chunk(x, a, b, gx, t, R, chunks, op)
        return
    if x.size <= SERIAL_WORK:
        for t in range(outer * R):
            _spread_row(x, a, b, gx, t, R, inner, op)
    else:
        for t in prange(outer * R):
            _spread_row(x, a, b, gx, t, R, inner, op)


@njit(cache=True)
def _spread_chunk(x, a, b, gx, t, R, chunks, op):
    o = t // chunks
    lo = o * R + (t % chunks) * CHUNK
    hi = min(lo + CHUNK, o * R + R)
    xs = x[lo:hi]
    gs = gx[lo:hi]
    av = a[o]
    bv = b[o]
    for l in range(hi - lo):
        gs[l] = _spread_value(op, xs[l], av, bv)


@njit(cache=True)
def _spread_row(x, a, b, gx, t, R, inner, op):
    k = (t // R) * inner
    xs = x[t * inner:t * inner + inner]
    gs = gx[t * inner:t * inner + inner]
    av = a[k:k + inner]
    bv = b[k:k + inner]
    for l in range(inner):
        gs[l] = _spread_value(op, xs[l], av[l], bv[l])


# ---------------------------------------------------------------- CUDA plan
# A CUDA reduction reads a contiguous row (inner == 1, R >= ROW_BLOCK_MIN) with a
# block of threads, whose loads coalesce; otherwise each output gets a thread,
# and neighbouring threads read neighbouring columns. Few outputs over long rows
# would leave most of the GPU idle, so each output's rows are then split into
# `parts`: blocks (threads) write partial results into scratch, and a second
# launch merges each output's partials in a fixed order (deterministic, no atomics).

# The simulator's barriers are slow (its block manager polls the threads), so there
# only rows of 2 * BLOCK_THREADS elements or more take the block path: tests pick such shapes.
ROW_BLOCK_MIN = (2 if SIMULATOR else 1) * BLOCK_THREADS            # shorter rows: a thread each
PART_MIN_ELEMENTS = (2 if SIMULATOR else 32) * BLOCK_THREADS       # least work of a block's part of a row
PART_MIN_ROWS = 2 if SIMULATOR else 64                             # least rows of a thread's part of a column


def cuda_rows(R, inner):
    """Whether a block (rather than a thread) reduces each output."""
    return inner == 1 and R >= ROW_BLOCK_MIN


def cuda_plan(outer, R, inner):
    """(rows, parts): cuda_rows, and how many parts each output's R rows are split into."""
    if cuda_rows(R, inner):
        return True, _split(fill_blocks(), outer, R // PART_MIN_ELEMENTS)
    return False, _split(fill_blocks() * BLOCK_THREADS, outer * inner, R // PART_MIN_ROWS)


def _split(fill, tasks, most):
    # Parts per task that bring `tasks` up to the `fill` that keeps the GPU busy, at most `most`.
    if tasks == 0 or tasks >= fill:
        return 1
    return max(1, min((fill + tasks - 1) // tasks, most))


def cuda_partials_size(outer, R, inner):
    """Length of the partial results (the accumulator's dtype) a CUDA reduction needs."""
    _, parts = cuda_plan(outer, R, inner)
    return outer * inner * parts if parts > 1 else 1


# ---------------------------------------------------------------- loops of single kernels

@njit(cache=True)
def _prod_bwd_row(row, gv, grow, one):
    # prefix products, then times suffix products (exact with zeros: no division)
    p = one
    for r in range(row.size):
        grow[r] = p
        p *= row[r]
    p = one * gv
    for j in range(row.size):
        r = row.size - 1 - j
        grow[r] = grow[r] * p
        p *= row[r]


@njit(cache=True)
def _prod_bwd_strip(x, g, gx, o, i0, R, inner, partial, one):
    n = min(STRIP, inner - i0)
    k = o * inner + i0
    acc = partial[k:k + n]
    for l in range(n):
        acc[l] = one
    for r in range(R):
        lo = (o * R + r) * inner + i0
        row = x[lo:lo + n]
        grow = gx[lo:lo + n]
        for l in range(n):
            grow[l] = acc[l]
            acc[l] *= row[l]
    gs = g[k:k + n]
    for l in range(n):
        acc[l] = one * gs[l]
    for j in range(R):
        lo = (o * R + R - 1 - j) * inner + i0
        row = x[lo:lo + n]
        grow = gx[lo:lo + n]
        for l in range(n):
            grow[l] = grow[l] * acc[l]
            acc[l] *= row[l]


@njit(cache=True)
def _scatter_rows(indices, g, gx, t, R, inner):
    # Task t: row r of block o (inner > 1), or all of block o's row (inner == 1).
    if inner == 1:
        grow = gx[t * R:t * R + R]
        for r in range(R):
            grow[r] = 0
        grow[indices[t]] = g[t]
        return
    r = t % R
    k = (t // R) * inner
    ids = indices[k:k + inner]
    gs = g[k:k + inner]
    grow = gx[t * inner:t * inner + inner]
    for l in range(inner):
        grow[l] = gs[l] if ids[l] == r else 0


@njit(cache=True)
def _cumsum_row(row, orow, zero, reverse):
    acc = zero
    n = row.size
    for j in range(n):
        r = n - 1 - j if reverse else j
        acc += row[r]
        orow[r] = acc


@njit(cache=True)
def _cumsum_strip(x, out, o, i0, R, inner, partial, zero, reverse):
    n = min(STRIP, inner - i0)
    acc = partial[o * inner + i0:o * inner + i0 + n]
    for l in range(n):
        acc[l] = zero
    for j in range(R):
        lo = (o * R + (R - 1 - j if reverse else j)) * inner + i0
        row = x[lo:lo + n]
        orow = out[lo:lo + n]
        for l in range(n):
            acc[l] += row[l]
            orow[l] = acc[l]
