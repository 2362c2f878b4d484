"""Reduction kernels over a canonical (outer, R, inner) layout.

The functional layer moves the reduced dimensions into one contiguous block,
so every reduction reads `x` as `outer` blocks of `R` rows of `inner`
contiguous elements and writes `outer * inner` results. Float32 sums
accumulate in float64 (as accurate as PyTorch's cascade sum), integer sums in int64, and the row loops
carry `fastmath={"reassoc"}` so LLVM may reorder the additions into vector
lanes; no other fast-math flag is set, so NaN and inf propagate.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair

SERIAL_WORK = 1 << 15
CHUNK = 1 << 14            # elements per partial sum when one row is split
STRIP = 1024               # columns per task when summing across rows


@njit(inline="always", fastmath={"reassoc"})
def _row_sum(x, lo, hi, zero):
    acc = zero
    for i in range(lo, hi):
        acc += x[i]
    return acc


@njit(inline="always", fastmath={"reassoc"})
def _add_row_into(acc, x, lo, n):
    for i in range(n):
        acc[i] += x[lo + i]


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def sum_cpu(x, out, outer, R, inner, partial, zero):
    """out[o, i] = sum_r x[o, r, i].

    `zero` is the accumulator's zero (float64 for floats, int64 for integers)
    and `partial` scratch of that dtype, sum_scratch_size() long.
    """
    if inner == 1:
        chunks = (R + CHUNK - 1) // CHUNK
        if x.size <= SERIAL_WORK:
            for o in range(outer):
                out[o] = _row_sum(x, o * R, o * R + R, zero)
            return
        # Rows are split into chunks so that one long row still uses every thread.
        for t in prange(outer * chunks):
            o = t // chunks
            lo = o * R + (t % chunks) * CHUNK
            partial[t] = _row_sum(x, lo, min(lo + CHUNK, o * R + R), zero)
        for o in range(outer):
            out[o] = _row_sum(partial, o * chunks, o * chunks + chunks, zero)
        return
    # Tasks are (block, column strip) pairs, so a single block (outer == 1,
    # e.g. a bias gradient summed over the batch) still uses every thread.
    strips = (inner + STRIP - 1) // STRIP
    if x.size <= SERIAL_WORK:
        for t in range(outer * strips):
            _sum_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, partial)
    else:
        for t in prange(outer * strips):
            _sum_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, partial)


@njit(inline="always", fastmath={"reassoc"})
def _sum_strip(x, out, o, i0, R, inner, partial):
    # Accumulate columns [i0, i0 + n) of block o's R rows in float64 scratch,
    # vectorised along the contiguous columns.
    n = min(STRIP, inner - i0)
    acc = partial[o * inner + i0:o * inner + i0 + n]
    acc[:] = 0
    for r in range(R):
        _add_row_into(acc, x, (o * R + r) * inner + i0, n)
    for i in range(n):
        out[o * inner + i0 + i] = acc[i]


@cuda.jit(cache=True)
def sum_cuda(x, out, outer, R, inner, partial, zero):
    # One thread per output element; the rows it sums are strided by `inner`,
    # so neighbouring threads read neighbouring addresses (coalesced).
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        o = t // inner
        i = t % inner
        acc = zero
        base = o * R * inner + i
        for r in range(R):
            acc += x[base + r * inner]
        out[t] = acc


sum_ = KernelPair(sum_cpu, sum_cuda)


def sum_scratch_size(outer, R, inner):
    """Length of the float64 scratch array sum_cpu needs."""
    if inner == 1:
        return max(1, outer * ((R + CHUNK - 1) // CHUNK))
    return max(1, outer * inner)
