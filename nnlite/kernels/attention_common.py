"""Scalar helpers of the attention kernels, compiled for both targets.

Dropout keeps attention weight (bh, i, j) when the uniform draw of counter
offset + (bh * L + i) * S + j is >= p: forward and backward, CPU and CUDA
draw the same mask from the same (seed, offset).
"""
from numba import njit

from ..backend.cuda import cuda
from .random import bits_cpu, bits_dev, unit_cpu, unit_dev


@njit(inline="always")
def keep_factor_cpu(seed, counter, p_drop, keep_scale):
    """keep_scale where dropout keeps attention weight `counter`, else 0."""
    return keep_scale if unit_cpu(bits_cpu(seed, counter)) >= p_drop else keep_scale * 0


@cuda.jit(device=True)
def keep_factor_dev(seed, counter, p_drop, keep_scale):
    return keep_scale if unit_dev(bits_dev(seed, counter)) >= p_drop else keep_scale * 0
