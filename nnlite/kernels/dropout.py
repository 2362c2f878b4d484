"""Dropout kernels: the mask is drawn from the counter-based generator of
`kernels/random.py`, never stored.

Feature f (element f, or a whole channel of `group` elements for dropout2d and
friends) is kept when the uniform draw u(seed, offset + f) >= p, so it is kept
with probability 1 - p, and the same seed gives the same mask on CPU and CUDA.
Output: y = x * keep_scale + keep_shift where kept, y = x * 0 + drop_shift
where dropped (x * 0, not 0, so NaN and inf propagate as in torch, whose mask
multiplies). Plain dropout has keep_scale = 1 / (1 - p) and no shifts; alpha
dropout shifts dropped values to the SELU saturation value.

The backward kernel draws the same mask again from (seed, offset): the
gradient is g * keep_scale where kept and 0 where dropped.
"""
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .random import bits_cpu, bits_dev, unit_cpu, unit_dev


@njit(inline="always")
def _kept(seed, offset, p, f):
    return unit_cpu(bits_cpu(seed, offset + f)) >= p


@njit(inline="always")
def _dropout_feature(x, y, seed, offset, p, group, keep_scale, keep_shift, drop_shift, f):
    keep = _kept(seed, offset, p, f)
    scale = keep_scale if keep else keep_scale * 0
    shift = keep_shift if keep else drop_shift
    xf = x[f * group:(f + 1) * group]
    yf = y[f * group:(f + 1) * group]
    for j in range(group):
        yf[j] = xf[j] * scale + shift


@njit(parallel=True, cache=True)
def dropout_cpu(x, y, seed, offset, p, group, keep_scale, keep_shift, drop_shift):
    """Feature f = elements [f * group, (f + 1) * group) of x, kept or dropped together."""
    zero = keep_scale * 0
    if group == 1:
        if x.size <= SERIAL_WORK:
            for i in range(x.size):
                keep = _kept(seed, offset, p, i)
                y[i] = x[i] * (keep_scale if keep else zero) + (keep_shift if keep else drop_shift)
        else:
            for i in prange(x.size):
                keep = _kept(seed, offset, p, i)
                y[i] = x[i] * (keep_scale if keep else zero) + (keep_shift if keep else drop_shift)
        return
    if x.size <= SERIAL_WORK:
        for f in range(x.size // group):
            _dropout_feature(x, y, seed, offset, p, group, keep_scale, keep_shift, drop_shift, f)
    else:
        for f in prange(x.size // group):
            _dropout_feature(x, y, seed, offset, p, group, keep_scale, keep_shift, drop_shift, f)


@cuda.jit(cache=True)
def dropout_cuda(x, y, seed, offset, p, group, keep_scale, keep_shift, drop_shift):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        if unit_dev(bits_dev(seed, offset + i // group)) >= p:
            y[i] = x[i] * keep_scale + keep_shift
        else:
            y[i] = x[i] * 0 + drop_shift


@njit(parallel=True, cache=True)
def dropout_bwd_cpu(g, gx, seed, offset, p, group, keep_scale):
    zero = keep_scale * 0
    if group == 1:
        if g.size <= SERIAL_WORK:
            for i in range(g.size):
                gx[i] = g[i] * (keep_scale if _kept(seed, offset, p, i) else zero)
        else:
            for i in prange(g.size):
                gx[i] = g[i] * (keep_scale if _kept(seed, offset, p, i) else zero)
        return
    if g.size <= SERIAL_WORK:
        for f in range(g.size // group):
            _dropout_feature(g, gx, seed, offset, p, group, keep_scale, zero, zero, f)
    else:
        for f in prange(g.size // group):
            _dropout_feature(g, gx, seed, offset, p, group, keep_scale, zero, zero, f)


@cuda.jit(cache=True)
def dropout_bwd_cuda(g, gx, seed, offset, p, group, keep_scale):
    for i in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        kept = unit_dev(bits_dev(seed, offset + i // group)) >= p
        gx[i] = g[i] * keep_scale if kept else g[i] * 0


dropout = KernelPair(dropout_cpu, dropout_cuda)
dropout_bwd = KernelPair(dropout_bwd_cpu, dropout_bwd_cuda)
