"""More activation kernels, forward and backward: threshold, logsigmoid, hardshrink,
softshrink, tanhshrink, softsign (pointwise, the signature of kernels/activation.py),
rrelu in training (a random slope per element) and prelu (a learnt slope per channel).

Pointwise forward kernels take `(x, y, a, b, c)` and backward `(g, s, gx, a, b, c)`
with `s` the saved input, so functional/activation.py's `Activation` runs them. The
formulas and comparisons are ATen's (so NaN takes the same branch as in torch).

rrelu draws its slope for element i from the counter-based generator of
kernels/random.py at (seed, offset + i): backward draws the same slopes again
instead of keeping a noise tensor. prelu's backward writes one partial sum of the
weight gradient per (sample, channel) row; the functional layer adds the rows.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .activation import _map, _map_grad
from .fastmath import fexp, flog1p, ftanh, like
from .random import bits_cpu, bits_dev, unit_cpu, unit_dev


# ---------------------------------------------------------------- scalar math (CPU)

@njit(inline="always")
def _threshold(v, threshold, value, c):
    return value if v <= threshold else v


@njit(inline="always")
def _threshold_bwd(g, v, threshold, value, c):
    return like(g, 0) if v <= threshold else g


@njit(inline="always")
def _logsigmoid(v, a, b, c):
    # min(v, 0) - log1p(exp(-|v|)): exp never overflows, so large |v| stay finite and exact
    low = v if v < 0 else like(v, 0)
    return low - flog1p(fexp(-abs(v)))


@njit(inline="always")
def _logsigmoid_bwd(g, v, a, b, c):
    z = fexp(-abs(v))                   # 1 - sigmoid(v), written so that neither side overflows
    return g * (like(v, 1) - z / (like(v, 1) + z)) if v < 0 else g * (z / (like(v, 1) + z))


@njit(inline="always")
def _in_band(v, lambd):
    return v >= -lambd and v <= lambd   # False for NaN, which therefore passes


@njit(inline="always")
def _hardshrink(v, lambd, b, c):
    return like(v, 0) if _in_band(v, lambd) else v


@njit(inline="always")
def _shrink_bwd(g, v, lambd, b, c):     # hardshrink and softshrink
    return like(g, 0) if _in_band(v, lambd) else g


@njit(inline="always")
def _softshrink(v, lambd, b, c):
    if v > lambd:
        return v - lambd
    return v + lambd if v < -lambd else v * like(v, 0)   # v * 0 keeps NaN


@njit(inline="always")
def _tanhshrink(v, a, b, c):
    return v - ftanh(v)


@njit(inline="always")
def _tanhshrink_bwd(g, v, a, b, c):
    t = ftanh(v)
    return g * t * t


@njit(inline="always")
def _softsign(v, a, b, c):
    return v / (like(v, 1) + abs(v))


@njit(inline="always")
def _softsign_bwd(g, v, a, b, c):
    d = like(v, 1) + abs(v)
    return g / (d * d)


# ---------------------------------------------------------------- pointwise kernels

THRESHOLD, LOGSIGMOID, HARDSHRINK, SOFTSHRINK, TANHSHRINK, SOFTSIGN = range(6)


@njit(parallel=True, cache=True)
def threshold_cpu(x, y, a, b, c):
    _map(_threshold, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def logsigmoid_cpu(x, y, a, b, c):
    _map(_logsigmoid, x, y, a, b, c)


@njit(parallel=True, cache=True)
def hardshrink_cpu(x, y, a, b, c):
    _map(_hardshrink, x, y, a, b, c)


@njit(parallel=True, cache=True)
def softshrink_cpu(x, y, a, b, c):
    _map(_softshrink, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def tanhshrink_cpu(x, y, a, b, c):
    _map(_tanhshrink, x, y, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def softsign_cpu(x, y, a, b, c):
    _map(_softsign, x, y, a, b, c)


@cuda.jit(device=True)
def _extra_dev(op, y, i, v, a, b, c):
    # Each branch stores for itself so that an integer threshold stays integer.
    if op == THRESHOLD:
        y[i] = b if v <= a else v
    elif op == LOGSIGMOID:
        y[i] = (v if v < 0 else 0) - math.log1p(math.exp(-abs(v)))
    elif op == HARDSHRINK:
        y[i] = 0 if v >= -a and v <= a else v
    elif op == SOFTSHRINK:
        y[i] = v - a if v > a else (v + a if v < -a else v * 0)
    elif op == TANHSHRINK:
        y[i] = v - math.tanh(v)
    else:
        y[i] = v / (1 + abs(v))


@cuda.jit(cache=True)
def activation_extra_cuda(x, y, a, b, c, op):
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        _extra_dev(op, y, i, x[i], a, b, c)


threshold = KernelPair(threshold_cpu, activation_extra_cuda, THRESHOLD)
logsigmoid = KernelPair(logsigmoid_cpu, activation_extra_cuda, LOGSIGMOID)
hardshrink = KernelPair(hardshrink_cpu, activation_extra_cuda, HARDSHRINK)
softshrink = KernelPair(softshrink_cpu, activation_extra_cuda, SOFTSHRINK)
tanhshrink = KernelPair(tanhshrink_cpu, activation_extra_cuda, TANHSHRINK)
softsign = KernelPair(softsign_cpu, activation_extra_cuda, SOFTSIGN)


@njit(parallel=True, cache=True)
def threshold_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_threshold_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def logsigmoid_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_logsigmoid_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True)
def shrink_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_shrink_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def tanhshrink_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_tanhshrink_bwd, g, s, gx, a, b, c)


@njit(parallel=True, cache=True, error_model="numpy")
def softsign_bwd_cpu(g, s, gx, a, b, c):
    _map_grad(_softsign_bwd, g, s, gx, a, b, c)


@cuda.jit(device=True)
def _extra_bwd_dev(op, g, v, a, b, c):
    if op == THRESHOLD:
        return 0 if v <= a else g
    if op == LOGSIGMOID:
        z = math.exp(-abs(v))
        return g * (1 - z / (1 + z)) if v < 0 else g * (z / (1 + z))
    if op == HARDSHRINK or op == SOFTSHRINK:
        return 0 if v >= -a and v <= a else g
    if op == TANHSHRINK:
        t = math.tanh(v)
        return g * t * t
    d = 1 + abs(v)
    return g / (d * d)


@cuda.jit(cache=True)
def activation_extra_bwd_cuda(g, s, gx, a, b, c, op):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i] = _extra_bwd_dev(op, g[i], s[i], a, b, c)


threshold_bwd = KernelPair(threshold_bwd_cpu, activation_extra_bwd_cuda, THRESHOLD)
logsigmoid_bwd = KernelPair(logsigmoid_bwd_cpu, activation_extra_bwd_cuda, LOGSIGMOID)
hardshrink_bwd = KernelPair(shrink_bwd_cpu, activation_extra_bwd_cuda, HARDSHRINK)
softshrink_bwd = KernelPair(shrink_bwd_cpu, activation_extra_bwd_cuda, SOFTSHRINK)
tanhshrink_bwd = KernelPair(tanhshrink_bwd_cpu, activation_extra_bwd_cuda, TANHSHRINK)
softsign_bwd = KernelPair(softsign_bwd_cpu, activation_extra_bwd_cuda, SOFTSIGN)


# ---------------------------------------------------------------- rrelu (training): random slopes

@njit(inline="always")
def _slope_cpu(seed, offset, i, lower, upper):
    return lower + (upper - lower) * unit_cpu(bits_cpu(seed, offset + i))


@cuda.jit(device=True)
def _slope_dev(seed, offset, i, lower, upper):
    return lower + (upper - lower) * unit_dev(bits_dev(seed, offset + i))


@njit(parallel=True, cache=True)
def rrelu_cpu(x, y, seed, offset, lower, upper):
    for i in prange(x.size):
        v = x[i]
        y[i] = v * like(v, _slope_cpu(seed, offset, i, lower, upper)) if v <= 0 else v


@cuda.jit(cache=True)
def rrelu_cuda(x, y, seed, offset, lower, upper):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        v = x[i]
        y[i] = v * _slope_dev(seed, offset, i, lower, upper) if v <= 0 else v


rrelu = KernelPair(rrelu_cpu, rrelu_cuda)


@njit(parallel=True, cache=True)
def rrelu_bwd_cpu(g, x, gx, seed, offset, lower, upper):
    for i in prange(x.size):
        gi = g[i]
        gx[i] = gi * like(gi, _slope_cpu(seed, offset, i, lower, upper)) if x[i] <= 0 else gi


@cuda.jit(cache=True)
def rrelu_bwd_cuda(g, x, gx, seed, offset, lower, upper):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        gx[i] = g[i] * _slope_dev(seed, offset, i, lower, upper) if x[i] <= 0 else g[i]


rrelu_bwd = KernelPair(rrelu_bwd_cpu, rrelu_bwd_cuda)


# ---------------------------------------------------------------- prelu: a slope per channel
# x is read as rows of `inner` contiguous elements; row r belongs to channel r % channels.

@njit(inline="always")
def _prelu_row(x, w, y, r, channels, inner):
    slope = w[r % channels]
    for k in range(r * inner, (r + 1) * inner):
        v = x[k]
        y[k] = v if v > 0 else slope * v


@njit(parallel=True, cache=True)
def prelu_cpu(x, w, y, channels, inner):
    rows = x.size // inner
    if x.size <= SERIAL_WORK:
        for r in range(rows):
            _prelu_row(x, w, y, r, channels, inner)
    else:
        for r in prange(rows):
            _prelu_row(x, w, y, r, channels, inner)


@cuda.jit(cache=True)
def prelu_cuda(x, w, y, channels, inner):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        v = x[i]
        y[i] = v if v > 0 else w[(i // inner) % channels] * v


prelu = KernelPair(prelu_cpu, prelu_cuda)


@njit(inline="always")
def _prelu_bwd_row(g, x, w, gx, gw_rows, r, channels, inner):
    slope = w[r % channels]
    acc = 0.0                           # float64: a row can be long
    for k in range(r * inner, (r + 1) * inner):
        v, gk = x[k], g[k]
        if v > 0:
            gx[k] = gk
        else:
            gx[k] = slope * gk
            acc += v * gk
    gw_rows[r] = acc


@njit(parallel=True, cache=True)
def prelu_bwd_cpu(g, x, w, gx, gw_rows, channels, inner):
    """gx, and gw_rows[r] = sum over row r of g * x where x <= 0 (the weight's gradient, per row)."""
    if x.size <= SERIAL_WORK:
        for r in range(gw_rows.size):
            _prelu_bwd_row(g, x, w, gx, gw_rows, r, channels, inner)
    else:
        for r in prange(gw_rows.size):
            _prelu_bwd_row(g, x, w, gx, gw_rows, r, channels, inner)


@cuda.jit(cache=True)
def prelu_bwd_cuda(g, x, w, gx, gw_rows, channels, inner):
    for r in range(cuda.grid(1), gw_rows.size, cuda.gridsize(1)):
        slope = w[r % channels]
        acc = 0.0
        for k in range(r * inner, (r + 1) * inner):
            v, gk = x[k], g[k]
            if v > 0:
                gx[k] = gk
            else:
                gx[k] = slope * gk
                acc += v * gk
        gw_rows[r] = acc


prelu_bwd = KernelPair(prelu_bwd_cpu, prelu_bwd_cuda)
