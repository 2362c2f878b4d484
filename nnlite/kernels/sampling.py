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

grid_sample (aten/src/ATen/native/GridSampler.h) adds: unnormalising a grid
coordinate in [-1, 1], border clipping and reflection, each returning the
derivative of the source coordinate w.r.t. the grid value (for the grid's
gradient), and the derivatives of the cubic weights.
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


def _cubic_coefficients_grad(t):
    """d/dt of the four cubic weights (torch's get_cubic_coefficients_grad, A = -0.75)."""
    a = like(t, CUBIC_A)
    x = -like(t, 1) - t
    c0 = (-like(t, 3) * a * x - like(t, 10) * a) * x - like(t, 8) * a
    x = -t
    c1 = (-like(t, 3) * (a + like(t, 2)) * x - like(t, 2) * (a + like(t, 3))) * x
    x = like(t, 1) - t
    c2 = (like(t, 3) * (a + like(t, 2)) * x - like(t, 2) * (a + like(t, 3))) * x
    x = like(t, 2) - t
    c3 = (like(t, 3) * a * x - like(t, 10) * a) * x + like(t, 8) * a
    return c0, c1, c2, c3


def _grid_unnormalize(coord, size, align_corners):
    """(source coordinate, its derivative) of grid value coord in [-1, 1] over `size` pixels."""
    if align_corners:
        g = like(coord, size - 1) / like(coord, 2)
        return (coord + like(coord, 1)) / like(coord, 2) * like(coord, size - 1), g
    return ((coord + like(coord, 1)) * like(coord, size) - like(coord, 1)) / like(coord, 2), \
        like(coord, size) / like(coord, 2)


def _clip_coordinate(x, size):
    """(x clamped to [0, size-1], its derivative): border padding."""
    if x <= like(x, 0):
        return like(x, 0), like(x, 0)
    hi = like(x, size - 1)
    if x >= hi:
        return hi, like(x, 0)
    return x, like(x, 1)


def _reflect_coordinate(x, twice_low, twice_high):
    """(x reflected into [low, high], its derivative +-1): reflection padding."""
    if twice_low == twice_high:
        return like(x, 0), like(x, 0)
    lo = like(x, twice_low) / like(x, 2)
    span = like(x, twice_high - twice_low) / like(x, 2)
    x = x - lo
    sign = like(x, 1)
    if x < like(x, 0):
        sign = -sign
        x = -x
    extra = x % span                       # x >= 0 here: Python % is fmod
    flips = int(math.floor(x / span))
    if flips % 2 == 0:
        return extra + lo, sign
    return span - extra + lo, -sign


def _to_int_range(x):
    """torch's safe_downgrade_to_int_range: NaN, inf and huge coordinates become -100 (outside)."""
    if not (x > like(x, -2147483647.0) and x < like(x, 2147483647.0)):
        return like(x, -100)
    return x


def _padded(x, size, padding, align_corners):
    """(source coordinate after border/reflection padding, its derivative); padding 0/1/2 is
    zeros/border/reflection."""
    if padding == 1:
        x, g = _clip_coordinate_cpu(x, size)
    elif padding == 2:
        if align_corners:
            x, g = _reflect_coordinate_cpu(x, 0, 2 * (size - 1))
        else:
            x, g = _reflect_coordinate_cpu(x, -1, 2 * size - 1)
        x, g2 = _clip_coordinate_cpu(x, size)
        g = g * g2
    else:
        g = like(x, 1)
    return _to_int_range_cpu(x), g


def _padded_d(x, size, padding, align_corners):
    if padding == 1:
        x, g = _clip_coordinate_dev(x, size)
    elif padding == 2:
        if align_corners:
            x, g = _reflect_coordinate_dev(x, 0, 2 * (size - 1))
        else:
            x, g = _reflect_coordinate_dev(x, -1, 2 * size - 1)
        x, g2 = _clip_coordinate_dev(x, size)
        g = g * g2
    else:
        g = like(x, 1)
    return _to_int_range_dev(x), g


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
# grid_sample's helpers are plain njit (LLVM inlines them): IR-level inlining of the padding
# branches into every tap made its kernels take minutes to compile.
cubic_coefficients_grad_cpu = njit(_cubic_coefficients_grad)
cubic_coefficients_grad_dev = cuda.jit(device=True)(_cubic_coefficients_grad)
grid_unnormalize_cpu = njit(_grid_unnormalize)
grid_unnormalize_dev = cuda.jit(device=True)(_grid_unnormalize)
_clip_coordinate_cpu = njit(_clip_coordinate)
_clip_coordinate_dev = cuda.jit(device=True)(_clip_coordinate)
_reflect_coordinate_cpu = njit(_reflect_coordinate)
_reflect_coordinate_dev = cuda.jit(device=True)(_reflect_coordinate)
_to_int_range_cpu = njit(_to_int_range)
_to_int_range_dev = cuda.jit(device=True)(_to_int_range)
padded_coordinate_cpu = njit(_padded)
padded_coordinate_dev = cuda.jit(device=True)(_padded_d)
aa_linear_filter_cpu = njit(inline="always")(_aa_linear_filter)
aa_linear_filter_dev = cuda.jit(device=True)(_aa_linear_filter)
aa_cubic_filter_cpu = njit(inline="always")(_aa_cubic_filter)
aa_cubic_filter_dev = cuda.jit(device=True)(_aa_cubic_filter)
