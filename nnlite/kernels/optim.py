"""Fused optimizer updates: one pass over a parameter updates it and its state in place.

Each step reads the gradient once and writes the parameter and its state
buffers once, where torch's single-tensor path runs 4-8 separate ops. The
per-element math is written once as scalar functions (compiled for the CPU
and as CUDA device functions) and follows torch's formulas operation by
operation, so that results agree to rounding: `param.add_(grad, alpha=-lr)`
is `p + (-lr) * g`, `exp_avg.lerp_(grad, w)` is torch's two-sided lerp, and
so on. Scalars that depend only on the step (bias corrections, step size)
are computed in Python by the optimizer, exactly as torch computes them.

Arrays are flat and contiguous: the gradient (input), then the parameter and
state buffers (updated in place), then scalars.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK


def _sgd(p, g, buf, lr, weight_decay, momentum, dampening, nesterov, maximize, first):
    """(new p, new momentum buffer) for one element; momentum == 0 is plain SGD (buf unused).

    torch's order: negate for `maximize`, add the L2 term wd * p, then the
    momentum buffer (which starts at the gradient itself on the first step),
    then p + (-lr) * direction.
    """
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        if first:
            buf = g
        else:
            buf = buf * momentum + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p + (-lr) * g, buf


def _adam(p, g, m, v, v_max, param_scale, weight_decay, one_minus_beta1, beta2, one_minus_beta2,
          step_size, bias_correction2_sqrt, eps, maximize, amsgrad):
    """(new p, exp_avg, exp_avg_sq, max_exp_avg_sq) for one element.

    AdamW's decoupled decay p * (1 - lr * wd) arrives as param_scale (1.0 for
    Adam, whose weight_decay is the L2 term added to the gradient). exp_avg
    moves by torch.lerp, which is exact at either end of the weight.
    """
    p = p * param_scale
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if abs(one_minus_beta1) < 0.5:
        m = m + one_minus_beta1 * (g - m)
    else:
        m = g - (g - m) * (1 - one_minus_beta1)
    v = v * beta2 + one_minus_beta2 * g * g
    second = v
    if amsgrad:
        if not (v_max != v_max or v_max > v):  # torch.maximum: NaN wins
            v_max = v
        second = v_max
    denom = math.sqrt(second) / bias_correction2_sqrt + eps
    return p + (-step_size) * m / denom, m, v, v_max


# Written once, compiled for both targets (scalars in, scalars out).
sgd_element_cpu = njit(inline="always")(_sgd)
sgd_element_dev = cuda.jit(device=True)(_sgd)
adam_element_cpu = njit(inline="always")(_adam)
adam_element_dev = cuda.jit(device=True)(_adam)


# ------------------------------------------------------------------ SGD


@njit(parallel=True, cache=True)
def sgd_cpu(grad, param, lr, weight_decay, maximize):
    n = param.size
    if n <= SERIAL_WORK:
        for i in range(n):
            param[i] = sgd_element_cpu(param[i], grad[i], 0.0, lr, weight_decay, 0.0, 0.0, False, maximize,
                                   False)[0]
    else:
        for i in prange(n):
            param[i] = sgd_element_cpu(param[i], grad[i], 0.0, lr, weight_decay, 0.0, 0.0, False, maximize,
                                   False)[0]


@cuda.jit(cache=True)
def sgd_cuda(grad, param, lr, weight_decay, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i] = sgd_element_dev(param[i], grad[i], 0.0, lr, weight_decay, 0.0, 0.0, False, maximize,
                                   False)[0]


@njit(parallel=True, cache=True)
def sgd_momentum_cpu(grad, param, buf, lr, weight_decay, momentum, dampening, nesterov, maximize, first):
    n = param.size
    if n <= SERIAL_WORK:
        for i in range(n):
            param[i], buf[i] = sgd_element_cpu(param[i], grad[i], buf[i], lr, weight_decay, momentum, dampening,
                                           nesterov, maximize, first)
    else:
        for i in prange(n):
            param[i], buf[i] = sgd_element_cpu(param[i], grad[i], buf[i], lr, weight_decay, momentum, dampening,
                                           nesterov, maximize, first)


@cuda.jit(cache=True)
def sgd_momentum_cuda(grad, param, buf, lr, weight_decay, momentum, dampening, nesterov, maximize, first):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], buf[i] = sgd_element_dev(param[i], grad[i], buf[i], lr, weight_decay, momentum, dampening,
                                           nesterov, maximize, first)


# ------------------------------------------------------------------ Adam / AdamW
# Scalars: param_scale, weight_decay, 1 - beta1, beta2, 1 - beta2, step_size
# (lr / bias_correction1), sqrt(bias_correction2), eps, maximize.


@njit(parallel=True, cache=True, error_model="numpy")
def adam_cpu(grad, param, exp_avg, exp_avg_sq, param_scale, weight_decay, one_minus_beta1, beta2,
             one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize):
    n = param.size
    if n <= SERIAL_WORK:
        for i in range(n):
            param[i], exp_avg[i], exp_avg_sq[i], _ = adam_element_cpu(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i], 0.0, param_scale, weight_decay, one_minus_beta1,
                beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize, False)
    else:
        for i in prange(n):
            param[i], exp_avg[i], exp_avg_sq[i], _ = adam_element_cpu(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i], 0.0, param_scale, weight_decay, one_minus_beta1,
                beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize, False)


@cuda.jit(cache=True)
def adam_cuda(grad, param, exp_avg, exp_avg_sq, param_scale, weight_decay, one_minus_beta1, beta2,
              one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], exp_avg[i], exp_avg_sq[i], _ = adam_element_dev(
            param[i], grad[i], exp_avg[i], exp_avg_sq[i], 0.0, param_scale, weight_decay, one_minus_beta1,
            beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize, False)


@njit(parallel=True, cache=True, error_model="numpy")
def adam_amsgrad_cpu(grad, param, exp_avg, exp_avg_sq, max_exp_avg_sq, param_scale, weight_decay,
                     one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize):
    n = param.size
    if n <= SERIAL_WORK:
        for i in range(n):
            param[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i] = adam_element_cpu(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i], param_scale, weight_decay,
                one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize, True)
    else:
        for i in prange(n):
            param[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i] = adam_element_cpu(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i], param_scale, weight_decay,
                one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize, True)


@cuda.jit(cache=True)
def adam_amsgrad_cuda(grad, param, exp_avg, exp_avg_sq, max_exp_avg_sq, param_scale, weight_decay,
                      one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i] = adam_element_dev(
            param[i], grad[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i], param_scale, weight_decay,
            one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, maximize, True)


sgd = KernelPair(sgd_cpu, sgd_cuda)
sgd_momentum = KernelPair(sgd_momentum_cpu, sgd_momentum_cuda)
adam = KernelPair(adam_cpu, adam_cuda)
adam_amsgrad = KernelPair(adam_amsgrad_cpu, adam_amsgrad_cuda)
