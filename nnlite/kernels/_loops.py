"""Loop skeletons shared by the pointwise kernels.

A pointwise CPU kernel is a two-line function that hands its scalar function
to one of these skeletons, e.g.::

    @njit(parallel=True, cache=True)
    def add_cpu(a, b, out, walk):
        binary_loop(_add, a, b, out, walk)

The skeletons are `inline="always"`, so each kernel is compiled (and cached)
with its scalar function folded into the loop, and the loop is tuned once
here for every op: a serial path for tiny work (a `prange` launch costs
3-4 us, a serial loop 0.3 us), and rows sliced into contiguous views so that
indices are provably non-negative and LLVM vectorises them.

Broadcasting: the functional layer collapses the output to a canonical 4-D
shape and gives each operand element strides over it (0 where broadcast), so
one kernel serves same-shape, scalar and bias-style operands alike. Binary
kernels receive these as one int64 `walk` array: [shape(4), a's strides(4),
b's strides(4)] (see backend/layout.broadcast_walk).
"""
from numba import njit, prange

from ..backend.cuda import cuda

SERIAL_WORK = 1 << 15      # below this many elements a kernel runs serially
ROW = 8192                 # elements per parallel task along the last dim


@njit(inline="always")
def unary_loop(f, x, y):
    n = y.size
    if n <= SERIAL_WORK:
        for i in range(n):
            y[i] = f(x[i])
    else:
        for i in prange(n):
            y[i] = f(x[i])


@njit(inline="always")
def pair_loop(f, a, b, out):
    """out[i] = f(a[i], b[i]) over same-size contiguous arrays (backward kernels)."""
    n = out.size
    if n <= SERIAL_WORK:
        for i in range(n):
            out[i] = f(a[i], b[i])
    else:
        for i in prange(n):
            out[i] = f(a[i], b[i])


@njit(inline="always")
def binary_loop(f, a, b, out, walk):
    """out = f(a, b) over a broadcast walk (see the module docstring)."""
    shape = (walk[0], walk[1], walk[2], walk[3])
    sa = (walk[4], walk[5], walk[6], walk[7])
    sb = (walk[8], walk[9], walk[10], walk[11])
    n3 = shape[3]
    rows = (n3 + ROW - 1) // ROW
    tasks = shape[0] * shape[1] * shape[2] * rows
    if out.size <= SERIAL_WORK:
        for t in range(tasks):
            _binary_task(f, a, b, out, shape, sa, sb, rows, t)
    else:
        for t in prange(tasks):
            _binary_task(f, a, b, out, shape, sa, sb, rows, t)


@njit(inline="always")
def _binary_task(f, a, b, out, shape, sa, sb, rows, t):
    lo = (t % rows) * ROW
    r = t // rows
    k = r % shape[2]
    r //= shape[2]
    j = r % shape[1]
    i = r // shape[1]
    n = min(ROW, shape[3] - lo)
    oa = i * sa[0] + j * sa[1] + k * sa[2] + lo * sa[3]
    ob = i * sb[0] + j * sb[1] + k * sb[2] + lo * sb[3]
    oo = ((i * shape[1] + j) * shape[2] + k) * shape[3] + lo
    _binary_row(f, a, b, out[oo:oo + n], oa, ob, n, sa[3], sb[3])


@njit(inline="always")
def _binary_row(f, a, b, o, oa, ob, n, sa, sb):
    # One branch per stride pattern so that each loop body is vectorisable.
    if sa == 1 and sb == 1:
        x = a[oa:oa + n]
        y = b[ob:ob + n]
        for l in range(n):
            o[l] = f(x[l], y[l])
    elif sa == 1 and sb == 0:
        x = a[oa:oa + n]
        bv = b[ob]
        for l in range(n):
            o[l] = f(x[l], bv)
    elif sa == 0 and sb == 1:
        av = a[oa]
        y = b[ob:ob + n]
        for l in range(n):
            o[l] = f(av, y[l])
    else:
        for l in range(n):
            o[l] = f(a[oa + l * sa], b[ob + l * sb])


@cuda.jit(device=True)
def bcast_offsets(i, shape, sa, sb):
    """Element offsets into a and b of flat output index i (canonical 4-D)."""
    l = i % shape[3]
    r = i // shape[3]
    k = r % shape[2]
    r //= shape[2]
    j = r % shape[1]
    h = r // shape[1]
    return (h * sa[0] + j * sa[1] + k * sa[2] + l * sa[3],
            h * sb[0] + j * sb[1] + k * sb[2] + l * sb[3])


# CUDA pointwise kernels take four elements per pass of their grid-stride loop and
# load all four before computing and storing any: a memory-bound kernel needs
# several loads in flight per thread to cover the GPU's memory latency (one load
# each gets about a third of an H200's bandwidth: relu on 64M floats took 0.30 ms
# against torch's 0.14). The four indices are a stride apart, so each load still
# coalesces across the warp; in-place ops stay correct, as every element is read
# before its own store by the same thread.

# CUDA: the index arithmetic above costs four 64-bit divisions per element, more
# than the memory traffic of an add (64M floats: 1.2 ms against torch's 0.2 ms on
# an H200). Most operands are either dense over the output or a single value, so
# the kernels classify each operand once and skip the divisions then.
DENSE, SCALAR, STRIDED = range(3)


@cuda.jit(device=True)
def operand_kind(shape, s):
    """DENSE if the strides walk the canonical shape contiguously, SCALAR if they
    never move, else STRIDED (dims of size 1 do not count)."""
    dense = True
    scalar = True
    expect = 1
    for d in range(3, -1, -1):
        if shape[d] != 1:
            dense = dense and s[d] == expect
            scalar = scalar and s[d] == 0
            expect *= shape[d]
    return DENSE if dense else (SCALAR if scalar else STRIDED)


@cuda.jit(device=True)
def walk_offsets(i, shape, sa, sb, ka, kb):
    """bcast_offsets, without the divisions when neither operand is STRIDED."""
    if ka != STRIDED and kb != STRIDED:
        return (i if ka == DENSE else 0), (i if kb == DENSE else 0)
    return bcast_offsets(i, shape, sa, sb)

