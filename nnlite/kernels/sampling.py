"""Sampling weights shared by the resampling ops (interpolate now; grid_sample, roi_align later).

Scalar math only, written once and compiled for both targets: `*_cpu` is
`njit(inline="always")`, `*_dev` is `cuda.jit(device=True)`. Constants go
through `like(v, c)`, so float32 coordinates stay float32 (as PyTorch's opmath
for float does) and weights match torch's bit for bit where it matters.

PyTorch's conventions (aten/src/ATen/native/UpSample.h):

- source coordinate of output index d: `scale * d` with align_corners, else
  `scale * (d + 0.5) - 0.5`, clamped at 0 for the linear family only;
- linear: index floor(src) (at most size-1), lambda = src - index in [0, 1],
  neighbour index+1 unless at the last pixel;
- cubic convolution with A = -0.75 (interpolate) or a = -0.5 (antialias, as PIL);
- antialias "triangle" filter for bilinear.
"""
import math

from numba import njit

from ..backend.cuda import cuda
from .fastmath import like

CUBIC_A = -0.75      # torch's bicubic interpolate / grid_sample
AA_CUBIC_A = -0.5    # torch's antialiased bicubic (PIL's value)


def _source_index(scale, dst, align_corners, cubic):
    """Continuous source coordinate of output index `dst` (in scale's float type)."""
    if align_corners:
        return scale * like(scale, dst)
    src = scale * (like(scale, dst) + like(scale, 0.5)) - like(scale, 0.5)
    if not cubic and src < 0:
        return like(scale, 0)
    return src


def _index_lambda(src, size):
    """(floor(src) capped at size-1, src - that index clamped to [0, 1]), as torch's guard."""
    i = min(int(math.floor(src)), size - 1)
    lam = min(max(src - like(src, i), like(src, 0)), like(src, 1))
    return i, lam


def _cubic1(x, a):
    """Cubic convolution kernel for |x| <= 1."""
    return ((a + like(x, 2)) * x - (a + like(x, 3))) * x * x + like(x, 1)


def _cubic2(x, a):
    """Cubic convolution kernel for 1 < |x| < 2."""
    return ((a * x - like(x, 5) * a) * x + like(x, 8) * a) * x - like(x, 4) * a


def _cubic_coefficients(t):
    """Weights of the taps at offsets -1, 0, 1, 2 for fractional position t (A = -0.75)."""
    a = like(t, CUBIC_A)
    s = like(t, 1) - t
    return (_cubic2_cpu(t + like(t, 1), a), _cubic1_cpu(t, a), _cubic1_cpu(s, a),
            _cubic2_cpu(s + like(t, 1), a))


def _cubic_coefficients_d(t):
    a = like(t, CUBIC_A)
    s = like(t, 1) - t
    return (_cubic2_dev(t + like(t, 1), a), _cubic1_dev(t, a), _cubic1_dev(s, a),
            _cubic2_dev(s + like(t, 1), a))


def _aa_linear_filter(x):
    """PIL's triangle filter (antialiased bilinear)."""
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


def _aa_cubic_filter(x):
    """PIL's bicubic filter, a = -0.5 (antialiased bicubic)."""
    x = abs(x)
    a = AA_CUBIC_A
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


# Written once, compiled for both targets.
source_index_cpu = njit(inline="always")(_source_index)
source_index_dev = cuda.jit(device=True)(_source_index)
index_lambda_cpu = njit(inline="always")(_index_lambda)
index_lambda_dev = cuda.jit(device=True)(_index_lambda)
_cubic1_cpu = njit(inline="always")(_cubic1)
_cubic1_dev = cuda.jit(device=True)(_cubic1)
_cubic2_cpu = njit(inline="always")(_cubic2)
_cubic2_dev = cuda.jit(device=True)(_cubic2)
cubic_coefficients_cpu = njit(inline="always")(_cubic_coefficients)
cubic_coefficients_dev = cuda.jit(device=True)(_cubic_coefficients_d)
aa_linear_filter_cpu = njit(inline="always")(_aa_linear_filter)
aa_linear_filter_dev = cuda.jit(device=True)(_aa_linear_filter)
aa_cubic_filter_cpu = njit(inline="always")(_aa_cubic_filter)
aa_cubic_filter_dev = cuda.jit(device=True)(_aa_cubic_filter)
