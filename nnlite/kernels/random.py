"""Counter-based random numbers, identical on CPU and CUDA.

Element i of a random op draws from hash(seed, offset + i): no generator state
lives in the kernel, every thread is independent, and a CPU kernel and its
CUDA twin produce the same numbers for the same seed. The hash is
SplitMix64's finaliser (passes BigCrush as a counter-based generator). The
generator object in `nnlite.backend.random` hands each op a fresh offset.
"""
import math

import numpy as np
from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_PI = 6.283185307179586


def _bits(seed, counter):
    """64 random bits for (seed, counter); all arithmetic in uint64. As in SplitMix64
    the state steps before it is mixed, so (0, 0) does not hash the all-zero word."""
    z = np.uint64(seed) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _unit(bits):
    """A float64 uniform in [0, 1) from the top 53 of 64 random bits."""
    return np.float64(bits >> _S11) * (1.0 / 9007199254740992.0)


def _box_muller(bits1, bits2):
    """A standard normal from two draws (u1 in (0, 1] so the log is finite)."""
    u1 = 1.0 - np.float64(bits1 >> _S11) * (1.0 / 9007199254740992.0)
    u2 = np.float64(bits2 >> _S11) * (1.0 / 9007199254740992.0)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


# Written once, compiled for both targets (each calls only math and numpy scalars).
bits_cpu = njit(inline="always")(_bits)
bits_dev = cuda.jit(device=True)(_bits)
unit_cpu = njit(inline="always")(_unit)
unit_dev = cuda.jit(device=True)(_unit)
box_muller_cpu = njit(inline="always")(_box_muller)
box_muller_dev = cuda.jit(device=True)(_box_muller)


# Rounding a float64 draw to float32 can land on `high` itself (p ~ 2**-25);
# such draws are folded back to `low` so that samples stay in [low, high).

@njit(parallel=True, cache=True)
def uniform_fill_cpu(out, seed, offset, low, high):
    for i in prange(out.size):
        out[i] = low + (high - low) * unit_cpu(bits_cpu(seed, offset + i))
        if out[i] >= high:
            out[i] = low


@cuda.jit(cache=True)
def uniform_fill_cuda(out, seed, offset, low, high):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = low + (high - low) * unit_dev(bits_dev(seed, offset + i))
        if out[i] >= high:
            out[i] = low


@njit(parallel=True, cache=True)
def normal_fill_cpu(out, seed, offset, mean, std):
    for i in prange(out.size):
        c = offset + 2 * i  # two counters per sample: the op reserved 2 * out.size
        out[i] = mean + std * box_muller_cpu(bits_cpu(seed, c), bits_cpu(seed, c + 1))


@cuda.jit(cache=True)
def normal_fill_cuda(out, seed, offset, mean, std):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = offset + 2 * i
        out[i] = mean + std * box_muller_dev(bits_dev(seed, c), bits_dev(seed, c + 1))


@njit(parallel=True, cache=True)
def randint_fill_cpu(out, seed, offset, low, span):
    for i in prange(out.size):
        out[i] = low + np.int64(bits_cpu(seed, offset + i) % np.uint64(span))


@cuda.jit(cache=True)
def randint_fill_cuda(out, seed, offset, low, span):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = low + np.int64(bits_dev(seed, offset + i) % np.uint64(span))


uniform_fill = KernelPair(uniform_fill_cpu, uniform_fill_cuda)
normal_fill = KernelPair(normal_fill_cpu, normal_fill_cuda)
randint_fill = KernelPair(randint_fill_cpu, randint_fill_cuda)
