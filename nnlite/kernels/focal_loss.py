"""sigmoid_focal_loss, elementwise, forward and backward in one pass each (torchvision
composes it of ~12 tensor ops). Arrays are flat, contiguous, of one size and dtype;
alpha < 0 means no alpha weighting; gamma >= 0.

With p = sigmoid(x), ce = max(x, 0) - x t + log1p(exp(-|x|)), m = 1 - p_t = p + t - 2 p t
and a_t = alpha t + (1 - alpha)(1 - t):   loss = a_t ce m^gamma.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from .fastmath import fexp, flog1p, like


def _terms(x, t, alpha):
    """(p, ce, m, a_t) of one element, in float64 for accuracy."""
    e = math.exp(-abs(x))
    p = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
    ce = max(x, 0.0) - x * t + math.log1p(e)
    m = p + t - 2.0 * p * t
    a_t = alpha * t + (1.0 - alpha) * (1.0 - t) if alpha >= 0 else 1.0
    return p, ce, m, a_t


def _pow_and_slope(m, gamma):
    """m^gamma and its derivative gamma m^(gamma-1); 0 for gamma = 0, as torch's pow."""
    if gamma == 0.0:
        return 1.0, 0.0
    if gamma == 2.0:   # the default: a multiply instead of a pow call
        return m * m, 2.0 * m
    return m ** gamma, gamma * m ** (gamma - 1.0)


@njit(inline="always")
def _terms_cpu(x, t, alpha):
    """_terms in x's own dtype on the CPU: float32 math with fastmath's vectorisable exp and
    log1p (float64 keeps math.exp/log1p)."""
    one, zero = like(x, 1), like(x, 0)
    e = fexp(-abs(x))
    p = one / (one + e) if x >= zero else e / (one + e)
    ce = max(x, zero) - x * t + flog1p(e)
    m = p + t - like(x, 2) * p * t
    a = like(x, alpha)
    a_t = a * t + (one - a) * (one - t) if alpha >= 0 else one
    return p, ce, m, a_t


@njit(inline="always")
def _pow_cpu(m, gamma):
    if gamma == 0.0:
        return like(m, 1), like(m, 0)
    if gamma == 2.0:
        return m * m, like(m, 2) * m
    g = like(m, gamma)
    return m ** g, g * m ** (g - like(m, 1))


_terms_dev = cuda.jit(device=True)(_terms)
_pow_dev = cuda.jit(device=True)(_pow_and_slope)


@njit(inline="always")
def _focal_cpu(x, t, alpha, gamma):
    p, ce, m, a_t = _terms_cpu(x, t, alpha)
    mg, _ = _pow_cpu(m, gamma)
    return a_t * ce * mg


@cuda.jit(device=True)
def _focal_dev(x, t, alpha, gamma):
    p, ce, m, a_t = _terms_dev(x, t, alpha)
    mg, _ = _pow_dev(m, gamma)
    return a_t * ce * mg


# the gradient formula is written twice (CPU, device) because it returns a tuple of two
@njit(inline="always")
def _grads_cpu(g, x, t, alpha, gamma):
    p, ce, m, a_t = _terms_cpu(x, t, alpha)
    mg, slope = _pow_cpu(m, gamma)
    one, two = like(x, 1), like(x, 2)
    dx = a_t * ((p - t) * mg + ce * slope * p * (one - p) * (one - two * t))
    dt = a_t * (-x * mg + ce * slope * (one - two * p))
    if alpha >= 0:
        dt += (two * like(x, alpha) - one) * ce * mg
    return g * dx, g * dt


@cuda.jit(device=True)
def _grads_dev(g, x, t, alpha, gamma):
    p, ce, m, a_t = _terms_dev(x, t, alpha)
    mg, slope = _pow_dev(m, gamma)
    dx = a_t * ((p - t) * mg + ce * slope * p * (1.0 - p) * (1.0 - 2.0 * t))
    dt = a_t * (-x * mg + ce * slope * (1.0 - 2.0 * p))
    if alpha >= 0:
        dt += (2.0 * alpha - 1.0) * ce * mg
    return g * dx, g * dt


@njit(parallel=True, cache=True, error_model="numpy")
def focal_fwd_cpu(x, t, out, alpha, gamma):
    for i in prange(out.size):
        out[i] = _focal_cpu(x[i], t[i], alpha, gamma)


@cuda.jit(cache=True)
def focal_fwd_cuda(x, t, out, alpha, gamma):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = _focal_dev(float(x[i]), float(t[i]), alpha, gamma)


@njit(parallel=True, cache=True, error_model="numpy")
def focal_bwd_cpu(g, x, t, gx, gt, alpha, gamma):
    for i in prange(gx.size):
        gx[i], gt[i] = _grads_cpu(g[i], x[i], t[i], alpha, gamma)


@cuda.jit(cache=True)
def focal_bwd_cuda(g, x, t, gx, gt, alpha, gamma):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i], gt[i] = _grads_dev(float(g[i]), float(x[i]), float(t[i]), alpha, gamma)


focal_fwd = KernelPair(focal_fwd_cpu, focal_fwd_cuda)
focal_bwd = KernelPair(focal_bwd_cpu, focal_bwd_cuda)


# The inputs' gradient alone: targets are labels that need no gradient in the usual case,
# and skipping their gradient saves one full-size output array.
@njit(parallel=True, cache=True, error_model="numpy")
def focal_bwd_input_cpu(g, x, t, gx, alpha, gamma):
    for i in prange(gx.size):
        gx[i], _ = _grads_cpu(g[i], x[i], t[i], alpha, gamma)


@cuda.jit(cache=True)
def focal_bwd_input_cuda(g, x, t, gx, alpha, gamma):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i], _ = _grads_dev(float(g[i]), float(x[i]), float(t[i]), alpha, gamma)


focal_bwd_input = KernelPair(focal_bwd_input_cpu, focal_bwd_input_cuda)
