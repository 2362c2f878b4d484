"""kl_div kernels: the element-wise loss, its sum in one pass, and the gradients.

Per element, with log_target false (torch's xlogy form, so t = 0 gives 0 and t < 0 NaN)
    loss = xlogy(t, t) - t * x,           d/dx = -t,          d/dt = log t + 1 - x (NaN at t = 0, as torch)
and with log_target true
    loss = exp(t) * (t - x),              d/dx = -exp(t),     d/dt = exp(t) * (t - x + 1).

The reduced forward never materialises the element-wise loss: it writes partial sums
(accumulated in float64; see partial_count) and the functional layer adds them. The
backward writes the input gradient from the target alone (no log), and the target
gradient only when it is asked for.
All arrays are flat and of one size; `g` is the output gradient per element
(g_step 1) or one value for all (g_step 0), already divided by the reduction's count.
"""
import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .fastmath import _float32_bits_as_int, _int_bits_as_float32, fexp, like

CHUNK = 1 << 14          # CPU: elements per partial sum of the reduced forward (one contiguous run)
CUDA_PARTIALS = 1 << 15  # CUDA: partial sums, partial c adding elements c, c + P, ... (coalesced reads)


def partial_count(n, on_cuda):
    """The number of partial sums kl_div_sum writes for n elements."""
    return min(n, CUDA_PARTIALS) if on_cuda else (n + CHUNK - 1) // CHUNK


# ---------------------------------------------------------------- t * log(t), vectorisable
# Without SVML math.log is a scalar libm call: it took 9 of the 11 ms of the reduced
# forward on (1024, 4096) float32. Like fastmath.fexp, float32 gets an inlinable
# polynomial (Cephes logf, within 1-2 ulp) and float64 keeps math.log. Only xlogx uses
# it so far; a second user would move it to fastmath.py as `flog`.

_f = np.float32
_SMALLEST_NORMAL = _f(1.17549435e-38)


@njit(inline="always")
def _log_finite_positive32(x):
    """log(x) for 0 < x < inf (subnormals scaled up first)."""
    subnormal = x < _SMALLEST_NORMAL
    x = x * _f(8388608.0) if subnormal else x           # 2**23
    bits = _float32_bits_as_int(x)
    e = _f((bits >> np.int32(23)) - np.int32(126)) - (_f(23.0) if subnormal else _f(0.0))
    m = _int_bits_as_float32((bits & np.int32(0x807FFFFF)) | np.int32(0x3F000000))   # in [0.5, 1)
    low = m < _f(0.707106781186547524)
    e = e - _f(1.0) if low else e
    r = (m + m if low else m) - _f(1.0)
    z = r * r
    y = _f(7.0376836292e-2)
    y = y * r - _f(1.1514610310e-1)
    y = y * r + _f(1.1676998740e-1)
    y = y * r - _f(1.2420140846e-1)
    y = y * r + _f(1.4249322787e-1)
    y = y * r - _f(1.6668057665e-1)
    y = y * r + _f(2.0000714765e-1)
    y = y * r - _f(2.4999993993e-1)
    y = y * r + _f(3.3333331174e-1)
    y = y * r * z + e * _f(-2.12194440e-4) - _f(0.5) * z
    return r + y + e * _f(0.693359375)


def xlogx(t):
    """xlogy(t, t): 0 at t = 0, NaN below; compiled by the overload below."""
    return 0.0 if t == 0 else t * math.log(t)


@overload(xlogx)
def _xlogx_overload(t):
    if t != types.float32:
        return lambda t: t * 0 if t == 0 else t * math.log(t)

    def xlogx_float32(t):
        lg = _log_finite_positive32(t if t > _f(0.0) and t < _f(np.inf) else _f(1.0))
        special = t if t == _f(np.inf) else _f(np.nan)      # inf stays inf; negative and NaN give NaN
        return t * lg if t > _f(0.0) and t < _f(np.inf) else (_f(0.0) if t == _f(0.0) else special)
    return xlogx_float32


# ---------------------------------------------------------------- kl_div kernels

@njit(inline="always")
def _kl(x, t, log_target):
    if log_target:
        return fexp(t) * (t - x)
    return xlogx(t) - t * x


@njit(inline="always")
def _kl_grad_target(x, t, log_target):
    if log_target:
        return fexp(t) * (t - x + like(t, 1))
    # xlogy's two partials, log t and t / t: NaN at t = 0 (and t < 0), as torch
    return math.log(t) + t / t - x if t > 0 else t * like(t, math.nan)


@njit(parallel=True, cache=True, error_model="numpy")
def kl_div_fwd_cpu(x, t, out, log_target):
    if out.size <= SERIAL_WORK:
        for i in range(out.size):
            out[i] = _kl(x[i], t[i], log_target)
    else:
        for i in prange(out.size):
            out[i] = _kl(x[i], t[i], log_target)


@cuda.jit(cache=True)
def kl_div_fwd_cuda(x, t, out, log_target):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ti = t[i]
        if log_target:
            out[i] = math.exp(ti) * (ti - x[i])
        else:
            out[i] = _xlogx_dev(ti) - ti * x[i]


@cuda.jit(device=True)
def _xlogx_dev(t):
    # branches, not log(0): the simulator runs math.log in Python, which raises there
    if t > 0:
        return t * math.log(t)
    return 0 if t == 0 else math.nan


@njit(inline="always")
def _kl_chunk_sum(x, t, lo, hi, log_target):
    # slices, so that every index is provably in bounds and the loop vectorises
    xs, ts = x[lo:hi], t[lo:hi]
    acc = 0.0
    for i in range(xs.size):
        acc += _kl(xs[i], ts[i], log_target)
    return acc


# reassoc lets LLVM split the running sum into vector lanes: without it the sum is one
# serial chain and the loop ran 10x slower. It assumes nothing about NaN or inf.
@njit(parallel=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def kl_div_sum_cpu(x, t, partial, log_target):
    """partial[c] = the sum of the losses of chunk c (elements c * CHUNK to (c + 1) * CHUNK)."""
    n = x.size
    if partial.size == 1:  # tiny: no parallel launch
        partial[0] = _kl_chunk_sum(x, t, 0, n, log_target)
        return
    for c in prange(partial.size):
        lo = c * CHUNK
        partial[c] = _kl_chunk_sum(x, t, lo, min(lo + CHUNK, n), log_target)


@cuda.jit(cache=True)
def kl_div_sum_cuda(x, t, partial, log_target):
    # partial c adds elements c, c + P, c + 2P, ...: neighbouring threads read neighbouring elements
    for c in range(cuda.grid(1), partial.size, cuda.gridsize(1)):
        acc = 0.0
        for i in range(c, x.size, partial.size):
            ti = t[i]
            if log_target:
                acc += math.exp(ti) * (ti - x[i])
            else:
                acc += _xlogx_dev(ti) - ti * x[i]
        partial[c] = acc


@njit(inline="always")
def _kl_grad_input(t, g, log_target):
    return -(fexp(t) if log_target else t) * g


@njit(parallel=True, cache=True, error_model="numpy")
def kl_div_bwd_cpu(x, t, g, g_step, gx, gt, need_target, log_target):
    """gx = d loss / dx * g; gt likewise for the target when need_target (else gt is not touched)."""
    n = gx.size
    if n <= SERIAL_WORK:
        for i in range(n):
            gx[i] = _kl_grad_input(t[i], g[i * g_step], log_target)
    else:
        for i in prange(n):
            gx[i] = _kl_grad_input(t[i], g[i * g_step], log_target)
    if need_target and n <= SERIAL_WORK:
        for i in range(n):
            gt[i] = _kl_grad_target(x[i], t[i], log_target) * g[i * g_step]
    elif need_target:
        for i in prange(n):
            gt[i] = _kl_grad_target(x[i], t[i], log_target) * g[i * g_step]


@cuda.jit(cache=True)
def kl_div_bwd_cuda(x, t, g, g_step, gx, gt, need_target, log_target):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        ti = t[i]
        gi = g[i * g_step]
        e = math.exp(ti) if log_target else ti
        gx[i] = -e * gi
        if need_target:
            if log_target:
                gt[i] = e * (ti - x[i] + 1) * gi
            else:
                gt[i] = (math.log(ti) + ti / ti - x[i]) * gi if ti > 0 else math.nan


kl_div_fwd = KernelPair(kl_div_fwd_cpu, kl_div_fwd_cuda)
kl_div_sum = KernelPair(kl_div_sum_cpu, kl_div_sum_cuda)
kl_div_bwd = KernelPair(kl_div_bwd_cpu, kl_div_bwd_cuda)
