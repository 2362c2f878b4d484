"""Strided copy: the kernel behind contiguous(), casts, cat, expand and setitem.

`copy_cpu(src, dst)` copies one 6-D strided view into another of the same
shape, casting on the way. Both may have any strides: 0 (a broadcast source),
negative (flip) or gaps (slices). The functional layer collapses dimensions
that are contiguous in both arrays and pads the rest to six, so the inner loop
usually runs over a long contiguous row.
"""
import numpy as np
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ..backend.layout import collapse_dims

SERIAL_WORK = 1 << 15
RANK = 6
BLOCK = 1 << 14           # elements per parallel task along the innermost dim


@njit(inline="always")
def _copy_block(src, dst, blocks, t):
    # task t copies elements [lo, hi) of one innermost row: long rows are split
    # so that a single row (a fully collapsed copy) still uses every thread
    n1, n2, n3, n4, n5 = dst.shape[1], dst.shape[2], dst.shape[3], dst.shape[4], dst.shape[5]
    a, b, c, d, e = _unravel5(t // blocks, n1, n2, n3, n4)
    lo = (t % blocks) * BLOCK
    s = src[a, b, c, d, e]
    r = dst[a, b, c, d, e]
    for i in range(lo, min(lo + BLOCK, n5)):
        r[i] = s[i]


@njit(parallel=True, cache=True)
def copy_cpu(src, dst):
    n0, n1, n2, n3, n4, n5 = dst.shape
    blocks = (n5 + BLOCK - 1) // BLOCK
    tasks = n0 * n1 * n2 * n3 * n4 * blocks
    if dst.size <= SERIAL_WORK:
        for t in range(tasks):
            _copy_block(src, dst, blocks, t)
    else:
        for t in prange(tasks):
            _copy_block(src, dst, blocks, t)


@njit(inline="always")
def _unravel5(r, n1, n2, n3, n4):
    e = r % n4
    r //= n4
    d = r % n3
    r //= n3
    c = r % n2
    r //= n2
    return r // n1, r % n1, c, d, e


@cuda.jit(cache=True)
def copy_cuda(src, dst):
    n5 = dst.shape[5]
    n4 = dst.shape[4]
    n3 = dst.shape[3]
    n2 = dst.shape[2]
    n1 = dst.shape[1]
    for t in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        f = t % n5
        r = t // n5
        e = r % n4
        r //= n4
        d = r % n3
        r //= n3
        c = r % n2
        r //= n2
        dst[r // n1, r % n1, c, d, e, f] = src[r // n1, r % n1, c, d, e, f]


copy = KernelPair(copy_cpu, copy_cuda)


def materialise(a):
    """A C-contiguous copy of a (possibly strided) device array."""
    from ..backend.memory import device_empty
    out = device_empty(a.shape, a.dtype)
    strided_copy(a, out)
    return out


def strided_copy(src, dst):
    """dst[...] = src for arrays (numpy or device) of broadcast-compatible shapes."""
    from ..backend.memory import device_view, host_view
    view = host_view if type(dst) is np.ndarray else device_view
    shape = tuple(dst.shape)
    if dst.size == 0:
        return
    if type(dst) is np.ndarray and (dst.size <= SERIAL_WORK or np.float16 in (src.dtype, dst.dtype) or
                                    _same_contiguous(src, dst)):
        # numpy does small copies (building strided views for the kernel costs
        # ~8 us), plain contiguous ones (memcpy) and float16 (Numba's CPU
        # target has none); the kernel does the strided and broadcast rest.
        np.copyto(dst, src, casting="unsafe")
        return
    src_strides = _broadcast_strides(src, shape)
    collapsed, (ss, ds) = collapse_dims(shape, src_strides, list(dst.strides))
    if len(collapsed) > RANK:  # rare: peel the leading dim in Python
        broadcast_lead = len(src.shape) < len(shape) or src.shape[0] == 1
        for i in range(shape[0]):
            strided_copy(src if len(src.shape) < len(shape) else src[0] if broadcast_lead else src[i], dst[i])
        return
    pad = RANK - len(collapsed)
    shape6 = (1,) * pad + tuple(collapsed)
    copy(view(src, shape6, (0,) * pad + tuple(ss)), view(dst, shape6, (0,) * pad + tuple(ds)))


def _same_contiguous(src, dst):
    return (src.dtype == dst.dtype and src.shape == dst.shape and src.flags.c_contiguous
            and dst.flags.c_contiguous)


def _broadcast_strides(src, shape):
    """Byte strides of `src` broadcast to `shape` (0 along broadcast dims)."""
    lead = len(shape) - len(src.shape)
    strides = [0] * lead
    for n_src, st, n in zip(src.shape, src.strides, shape[lead:]):
        strides.append(st if n_src == n else 0)
    return strides
