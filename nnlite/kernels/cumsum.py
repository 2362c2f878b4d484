"""cumsum kernels over the (outer, R, inner) layout of the reductions (kernels/_reduce_loops.py).

A scan, not a reduction: every position gets the running sum, in a wide accumulator
(float64 or int64, `zero`); `reverse` scans from the end (cumsum's backward).
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._reduce_loops import SERIAL_WORK, STRIP, _cumsum_row, _cumsum_strip


@njit(parallel=True, cache=True)
def cumsum_cpu(x, out, outer, R, inner, partial, zero, reverse):
    """out[o, r, i] = sum of x[o, :r + 1, i] (of x[o, r:, i] when reverse), in a wide accumulator."""
    if inner == 1:
        if x.size <= SERIAL_WORK:
            for o in range(outer):
                _cumsum_row(x[o * R:o * R + R], out[o * R:o * R + R], zero, reverse)
        else:
            for o in prange(outer):
                _cumsum_row(x[o * R:o * R + R], out[o * R:o * R + R], zero, reverse)
        return
    strips = (inner + STRIP - 1) // STRIP
    if x.size <= SERIAL_WORK:
        for t in range(outer * strips):
            _cumsum_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, partial, zero, reverse)
    else:
        for t in prange(outer * strips):
            _cumsum_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, partial, zero, reverse)


@cuda.jit(cache=True)
def cumsum_cuda(x, out, outer, R, inner, partial, zero, reverse):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        acc = zero
        for j in range(R):
            e = base + (R - 1 - j if reverse else j) * inner
            acc += x[e]
            out[e] = acc


cumsum = KernelPair(cumsum_cpu, cumsum_cuda)
