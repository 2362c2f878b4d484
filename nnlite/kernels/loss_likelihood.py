"""kl_div kernels: the element-wise loss, its sum in one pass, and the gradients.

Per element, with log_target false (torch's xlogy form, so t = 0 gives 0 and t < 0 NaN)
    loss = xlogy(t, t) - t * x,           d/dx = -t,          d/dt = log t + 1 - x (NaN at t = 0, as torch)
and with log_target true
    loss = exp(t) * (t - x),              d/dx = -exp(t),     d/dt = exp(t) * (t - x + 1).

The reduced forward never materialises the element-wise loss: each chunk of CHUNK
elements writes one partial sum (accumulated in float64), and the functional layer
adds the few partials. The backward writes the input gradient from the target alone
(no log), and the target gradient only when it is asked for.
All arrays are flat and of one size; `g` is the output gradient per element
(g_step 1) or one value for all (g_step 0), already divided by the reduction's count.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .fastmath import fexp, like

CHUNK = 1 << 14          # elements per partial sum of the reduced forward


def chunk_count(n):
    return (n + CHUNK - 1) // CHUNK


@njit(inline="always")
def _kl(x, t, log_target):
    if log_target:
        return fexp(t) * (t - x)
    xlogy = like(t, 0) if t == 0 else t * math.log(t)
    return xlogy - t * x


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
    acc = 0.0
    for i in range(lo, hi):
        acc += _kl(x[i], t[i], log_target)
    return acc


@njit(parallel=True, cache=True, error_model="numpy")
def kl_div_sum_cpu(x, t, partial, log_target):
    """partial[c] = the sum of the losses of chunk c."""
    n = x.size
    for c in prange(partial.size):
        lo = c * CHUNK
        partial[c] = _kl_chunk_sum(x, t, lo, min(lo + CHUNK, n), log_target)


@cuda.jit(cache=True)
def kl_div_sum_cuda(x, t, partial, log_target):
    n = x.size
    for c in range(cuda.grid(1), partial.size, cuda.gridsize(1)):
        acc = 0.0
        for i in range(c * CHUNK, min(c * CHUNK + CHUNK, n)):
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
    if need_target:
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
