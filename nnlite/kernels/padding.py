"""Padding kernels: constant, reflect, replicate and circular, forward and backward.

Forward works on a canonical 4-D view (B, D, H, W) padded on its last three
dims by (lo_d, lo_h, lo_w) before (negative lo crops); each output element
reads one input element - or the constant - through a per-dim index map:

    t = o - lo;  inside: t;  reflect: -t or 2(n-1)-t;  replicate: clamp;  circular: t mod n.

Backward sums, for every input element, the gradients of the output elements
that read it. The index map is separable, so it runs one axis at a time on
canonical 3-D views (outer, axis, inner). On the CPU each thread owns whole
outer blocks: the inside is one block copy, then each padded row adds into the
row it read. On CUDA each thread gathers one input element: the outputs that
read input index i are a short arithmetic progression (one point for constant
and the inside, a run for replicate's edges, every n-th for circular) plus up
to two reflect mirrors - no atomics, and a deterministic sum.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK

CONSTANT, REFLECT, REPLICATE, CIRCULAR = 0, 1, 2, 3


def _source(o, lo, n, mode):
    """The input index output index o reads along one dim, or -1 for the constant."""
    t = o - lo
    if 0 <= t < n:
        return t
    if mode == REFLECT:
        return -t if t < 0 else 2 * (n - 1) - t
    if mode == REPLICATE:
        return 0 if t < 0 else n - 1
    if mode == CIRCULAR:
        return t % n
    return -1


def _preimage(i, lo, n, m, mode):
    """The output indices (of m) that read input index i (of n) along one dim:
    range(start, stop, step) plus two extra points (-1 when absent)."""
    start, stop, step = i + lo, i + lo + 1, 1
    extra1, extra2 = -1, -1
    if mode == REFLECT:
        if i >= 1 and 0 <= lo - i < m:
            extra1 = lo - i
        if i <= n - 2 and 0 <= lo + 2 * (n - 1) - i < m:
            extra2 = lo + 2 * (n - 1) - i
    elif mode == REPLICATE:
        if i == 0:
            start = 0
        if i == n - 1:
            stop = m
    elif mode == CIRCULAR:
        start, stop, step = (i + lo) % n, m, n
    return max(start, 0), min(stop, m), step, extra1, extra2


source_cpu = njit(inline="always")(_source)
source_dev = cuda.jit(device=True)(_source)
preimage_dev = cuda.jit(device=True)(_preimage)  # the CUDA backward gathers; the CPU one scatters per block


# ------------------------------------------------------------------ forward


@njit(inline="always")
def _pad_row(x, y, r, lo_d, lo_h, lo_w, mode, value):
    """Output row y[b, od, oh, :]: the inside is a contiguous slice copy, the edges go through the map."""
    n_d, n_h, n_w = x.shape[1], x.shape[2], x.shape[3]
    m_d, m_h, m_w = y.shape[1], y.shape[2], y.shape[3]
    oh = r % m_h
    od = (r // m_h) % m_d
    b = r // (m_h * m_d)
    out = y[b, od, oh]
    i_d = source_cpu(od, lo_d, n_d, mode)
    i_h = source_cpu(oh, lo_h, n_h, mode)
    if i_d < 0 or i_h < 0:
        for ow in range(m_w):
            out[ow] = value
        return
    src = x[b, i_d, i_h]
    first = min(max(lo_w, 0), m_w)            # outputs [first, last) are inside the input
    last = max(min(lo_w + n_w, m_w), first)
    for ow in range(first):
        i_w = source_cpu(ow, lo_w, n_w, mode)
        out[ow] = value if i_w < 0 else src[i_w]
    inside_out = out[first:last]
    inside_src = src[first - lo_w:last - lo_w]
    for k in range(last - first):
        inside_out[k] = inside_src[k]
    for ow in range(last, m_w):
        i_w = source_cpu(ow, lo_w, n_w, mode)
        out[ow] = value if i_w < 0 else src[i_w]


@njit(parallel=True, cache=True, error_model="numpy")
def pad_cpu(x, y, lo_d, lo_h, lo_w, mode, value):
    rows = y.shape[0] * y.shape[1] * y.shape[2]
    if y.size <= SERIAL_WORK:
        for r in range(rows):
            _pad_row(x, y, r, lo_d, lo_h, lo_w, mode, value)
    else:
        for r in prange(rows):
            _pad_row(x, y, r, lo_d, lo_h, lo_w, mode, value)


@cuda.jit(cache=True)
def pad_cuda(x, y, lo_d, lo_h, lo_w, mode, value):
    m_d, m_h, m_w = y.shape[1], y.shape[2], y.shape[3]
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        ow = t % m_w
        oh = (t // m_w) % m_h
        od = (t // (m_w * m_h)) % m_d
        b = t // (m_w * m_h * m_d)
        i_d = source_dev(od, lo_d, x.shape[1], mode)
        i_h = source_dev(oh, lo_h, x.shape[2], mode)
        i_w = source_dev(ow, lo_w, x.shape[3], mode)
        if i_d < 0 or i_h < 0 or i_w < 0:
            y[b, od, oh, ow] = value
        else:
            y[b, od, oh, ow] = x[b, i_d, i_h, i_w]


# ------------------------------------------------------------------ backward, one axis at a time


@njit(inline="always")
def _axis_bwd_block(g, gx, a, lo, mode):
    """gx[a] (n rows of `inner`) from g[a] (m rows): the outputs inside the input are one block
    copy; every padded output row then adds into the input row it read (a scatter within the
    block, which this thread owns)."""
    n, m, inner = gx.shape[1], g.shape[1], gx.shape[2]
    src = g[a].reshape(m * inner)
    dst = gx[a].reshape(n * inner)
    first = min(max(lo, 0), m)                # outputs [first, last) read input rows [i0, i1)
    last = max(min(lo + n, m), first)
    i0 = first - lo if last > first else 0
    i1 = i0 + (last - first)
    for k in range(i0 * inner):
        dst[k] = 0
    for k in range(i1 * inner, n * inner):
        dst[k] = 0
    inside_dst = dst[i0 * inner:i1 * inner]
    inside_src = src[first * inner:last * inner]
    for k in range(inside_dst.shape[0]):
        inside_dst[k] = inside_src[k]
    for o in range(first):
        _scatter_row(src, dst, o, lo, n, inner, mode)
    for o in range(last, m):
        _scatter_row(src, dst, o, lo, n, inner, mode)


@njit(inline="always")
def _scatter_row(src, dst, o, lo, n, inner, mode):
    """Add padded output row o into the input row it read (none for the constant)."""
    i = source_cpu(o, lo, n, mode)
    if i >= 0:
        row_dst = dst[i * inner:(i + 1) * inner]
        row_src = src[o * inner:(o + 1) * inner]
        for c in range(inner):
            row_dst[c] += row_src[c]


@njit(parallel=True, cache=True, error_model="numpy")
def pad_bwd_axis_cpu(g, gx, lo, mode):
    if g.size <= SERIAL_WORK:
        for a in range(gx.shape[0]):
            _axis_bwd_block(g, gx, a, lo, mode)
    else:
        for a in prange(gx.shape[0]):
            _axis_bwd_block(g, gx, a, lo, mode)


@cuda.jit(cache=True)
def pad_bwd_axis_cuda(g, gx, lo, mode):
    n, m, inner = gx.shape[1], g.shape[1], gx.shape[2]
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        c = t % inner
        i = (t // inner) % n
        a = t // (inner * n)
        start, stop, step, extra1, extra2 = preimage_dev(i, lo, n, m, mode)
        acc = 0.0
        for o in range(start, stop, step):
            acc += g[a, o, c]
        if extra1 >= 0:
            acc += g[a, extra1, c]
        if extra2 >= 0:
            acc += g[a, extra2, c]
        gx[a, i, c] = acc


pad = KernelPair(pad_cpu, pad_cuda)
pad_bwd_axis = KernelPair(pad_bwd_axis_cpu, pad_bwd_axis_cuda)
