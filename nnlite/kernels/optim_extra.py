"""Fused updates of the less common optimizers (RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam,
ASGD, Rprop): one pass over a parameter updates it and its state buffers in place.

As in `optim.py`, the per-element math is written once as a scalar function
(compiled for the CPU and as a CUDA device function) and follows torch's
single-tensor code operation by operation, so results agree to rounding:
`addcmul(t, a, b, value=v)` is `t + v * a * b`, `addcdiv` is `t + v * a / b`,
`lerp_` is torch's two-sided lerp. Scalars that depend only on the step
(bias corrections, decayed learning rates) come from the optimizer, computed
in Python exactly as torch computes them.

Arrays are flat and contiguous: the gradient, then the parameter and state
buffers (updated in place), then scalars.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK


def rmsprop(p, g, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum, centered, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    square_avg = square_avg * alpha + (1 - alpha) * g * g
    if centered:
        w = 1 - alpha  # grad_avg.lerp_(g, w), torch's two-sided form
        grad_avg = grad_avg + w * (g - grad_avg) if abs(w) < 0.5 else g - (g - grad_avg) * (1 - w)
        avg = math.sqrt(square_avg + (-1.0) * grad_avg * grad_avg) + eps
    else:
        avg = math.sqrt(square_avg) + eps
    if momentum > 0:
        buf = buf * momentum + g / avg
        return p + (-lr) * buf, square_avg, grad_avg, buf
    return p + (-lr) * g / avg, square_avg, grad_avg, buf

def adagrad(p, g, state_sum, clr, weight_decay, eps, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    state_sum = state_sum + g * g
    return p + (-clr) * g / (math.sqrt(state_sum) + eps), state_sum

def adadelta(p, g, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    square_avg = square_avg * rho + (1 - rho) * g * g
    delta = math.sqrt(acc_delta + eps) / math.sqrt(square_avg + eps) * g
    acc_delta = acc_delta * rho + (1 - rho) * delta * delta
    return p + (-lr) * delta, square_avg, acc_delta

def adamax(p, g, exp_avg, exp_inf, clr, one_minus_beta1, beta2, eps, weight_decay, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    w = one_minus_beta1  # exp_avg.lerp_(g, w), torch's two-sided form
    exp_avg = exp_avg + w * (g - exp_avg) if abs(w) < 0.5 else g - (g - exp_avg) * (1 - w)
    scaled, floor = exp_inf * beta2, abs(g) + eps
    exp_inf = scaled if (scaled != scaled or scaled > floor) else floor  # torch.maximum: NaN wins
    return p + (-clr) * exp_avg / exp_inf, exp_avg, exp_inf

def nadam(p, g, exp_avg, exp_avg_sq, param_scale, l2, one_minus_beta1, beta2, bias_correction2, eps,
          grad_coef, avg_coef, maximize):
    """grad_coef = -lr (1 - mu) / (1 - mu_product), avg_coef = -lr mu_next / (1 - mu_product mu_next)."""
    if maximize:
        g = -g
    p = p * param_scale
    if l2 != 0:
        g = g + l2 * p
    w = one_minus_beta1  # exp_avg.lerp_(g, w), torch's two-sided form
    exp_avg = exp_avg + w * (g - exp_avg) if abs(w) < 0.5 else g - (g - exp_avg) * (1 - w)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
    denom = math.sqrt(exp_avg_sq / bias_correction2) + eps
    p = p + grad_coef * g / denom
    return p + avg_coef * exp_avg / denom, exp_avg, exp_avg_sq

def radam(p, g, exp_avg, exp_avg_sq, param_scale, l2, one_minus_beta1, beta2, lr, bias_correction1,
          bias_correction2_sqrt, rect, eps, rectified, maximize):
    """rectified: torch's rho_t > 5 branch (adaptive step times rect); else plain momentum SGD."""
    if maximize:
        g = -g
    p = p * param_scale
    if l2 != 0:
        g = g + l2 * p
    w = one_minus_beta1  # exp_avg.lerp_(g, w), torch's two-sided form
    exp_avg = exp_avg + w * (g - exp_avg) if abs(w) < 0.5 else g - (g - exp_avg) * (1 - w)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
    update = exp_avg / bias_correction1 * lr
    if rectified:
        update = update * (bias_correction2_sqrt / (math.sqrt(exp_avg_sq) + eps)) * rect
    return p + (-1.0) * update, exp_avg, exp_avg_sq

def asgd(p, g, ax, eta, mu, lambd, weight_decay, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    p = p * (1 - lambd * eta)
    p = p + (-eta) * g
    if mu != 1:
        return p, ax + (p - ax) * mu
    return p, p


def rprop(p, g, prev, step_size, etaminus, etaplus, step_size_min, step_size_max, maximize):
    """torch's masked assignments: sign(g * prev) becomes etaplus / etaminus / 1 (NaN counts as 0,
    as torch.sign(NaN) is 0)."""
    if maximize:
        g = -g
    product = g * prev
    factor = etaplus if product > 0 else (etaminus if product < 0 else 1.0)
    step_size = step_size * factor
    if step_size == step_size:  # clamp_, letting NaN through
        step_size = min(max(step_size, step_size_min), step_size_max)
    if factor == etaminus:
        g = 0.0  # after a sign change the step is skipped and prev forgets the gradient
    direction = 1.0 if g > 0 else (-1.0 if g < 0 else 0.0)
    return p + (-1.0) * direction * step_size, g, step_size


# Written once, compiled for both targets (scalars in, scalars out).
rmsprop_el_cpu, rmsprop_el_dev = njit(inline="always")(rmsprop), cuda.jit(device=True)(rmsprop)
adagrad_el_cpu, adagrad_el_dev = njit(inline="always")(adagrad), cuda.jit(device=True)(adagrad)
adadelta_el_cpu, adadelta_el_dev = njit(inline="always")(adadelta), cuda.jit(device=True)(adadelta)
adamax_el_cpu, adamax_el_dev = njit(inline="always")(adamax), cuda.jit(device=True)(adamax)
nadam_el_cpu, nadam_el_dev = njit(inline="always")(nadam), cuda.jit(device=True)(nadam)
radam_el_cpu, radam_el_dev = njit(inline="always")(radam), cuda.jit(device=True)(radam)
asgd_el_cpu, asgd_el_dev = njit(inline="always")(asgd), cuda.jit(device=True)(asgd)
rprop_el_cpu, rprop_el_dev = njit(inline="always")(rprop), cuda.jit(device=True)(rprop)


# ------------------------------------------------------------------ the kernels
# RMSprop's variants each get a kernel, so that no state torch lacks is ever allocated.


@njit(parallel=True, cache=True, error_model="numpy")
def rmsprop_cpu(grad, param, square_avg, lr, alpha, eps, weight_decay, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], square_avg[i], _, _ = rmsprop_el_cpu(param[i], grad[i], square_avg[i], 0.0, 0.0, lr, alpha,
                    eps, weight_decay, 0.0, False, maximize)
    else:
        for i in prange(param.size):
            param[i], square_avg[i], _, _ = rmsprop_el_cpu(param[i], grad[i], square_avg[i], 0.0, 0.0, lr, alpha,
                    eps, weight_decay, 0.0, False, maximize)


@cuda.jit(cache=True)
def rmsprop_cuda(grad, param, square_avg, lr, alpha, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], square_avg[i], _, _ = rmsprop_el_dev(param[i], grad[i], square_avg[i], 0.0, 0.0, lr, alpha, eps,
                weight_decay, 0.0, False, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def rmsprop_centered_cpu(grad, param, square_avg, grad_avg, lr, alpha, eps, weight_decay, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], square_avg[i], grad_avg[i], _ = rmsprop_el_cpu(param[i], grad[i], square_avg[i],
                    grad_avg[i], 0.0, lr, alpha, eps, weight_decay, 0.0, True, maximize)
    else:
        for i in prange(param.size):
            param[i], square_avg[i], grad_avg[i], _ = rmsprop_el_cpu(param[i], grad[i], square_avg[i],
                    grad_avg[i], 0.0, lr, alpha, eps, weight_decay, 0.0, True, maximize)


@cuda.jit(cache=True)
def rmsprop_centered_cuda(grad, param, square_avg, grad_avg, lr, alpha, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], square_avg[i], grad_avg[i], _ = rmsprop_el_dev(param[i], grad[i], square_avg[i], grad_avg[i],
                0.0, lr, alpha, eps, weight_decay, 0.0, True, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def rmsprop_momentum_cpu(grad, param, square_avg, buf, lr, alpha, eps, weight_decay, momentum, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], square_avg[i], _, buf[i] = rmsprop_el_cpu(param[i], grad[i], square_avg[i], 0.0, buf[i], lr,
                    alpha, eps, weight_decay, momentum, False, maximize)
    else:
        for i in prange(param.size):
            param[i], square_avg[i], _, buf[i] = rmsprop_el_cpu(param[i], grad[i], square_avg[i], 0.0, buf[i], lr,
                    alpha, eps, weight_decay, momentum, False, maximize)


@cuda.jit(cache=True)
def rmsprop_momentum_cuda(grad, param, square_avg, buf, lr, alpha, eps, weight_decay, momentum, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], square_avg[i], _, buf[i] = rmsprop_el_dev(param[i], grad[i], square_avg[i], 0.0, buf[i], lr,
                alpha, eps, weight_decay, momentum, False, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def rmsprop_centered_momentum_cpu(grad, param, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum,
        maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], square_avg[i], grad_avg[i], buf[i] = rmsprop_el_cpu(param[i], grad[i], square_avg[i],
                    grad_avg[i], buf[i], lr, alpha, eps, weight_decay, momentum, True, maximize)
    else:
        for i in prange(param.size):
            param[i], square_avg[i], grad_avg[i], buf[i] = rmsprop_el_cpu(param[i], grad[i], square_avg[i],
                    grad_avg[i], buf[i], lr, alpha, eps, weight_decay, momentum, True, maximize)


@cuda.jit(cache=True)
def rmsprop_centered_momentum_cuda(grad, param, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum,
        maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], square_avg[i], grad_avg[i], buf[i] = rmsprop_el_dev(param[i], grad[i], square_avg[i],
                grad_avg[i], buf[i], lr, alpha, eps, weight_decay, momentum, True, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def adagrad_cpu(grad, param, state_sum, clr, weight_decay, eps, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], state_sum[i] = adagrad_el_cpu(param[i], grad[i], state_sum[i], clr, weight_decay, eps,
                    maximize)
    else:
        for i in prange(param.size):
            param[i], state_sum[i] = adagrad_el_cpu(param[i], grad[i], state_sum[i], clr, weight_decay, eps,
                    maximize)


@cuda.jit(cache=True)
def adagrad_cuda(grad, param, state_sum, clr, weight_decay, eps, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], state_sum[i] = adagrad_el_dev(param[i], grad[i], state_sum[i], clr, weight_decay, eps, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def adadelta_cpu(grad, param, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], square_avg[i], acc_delta[i] = adadelta_el_cpu(param[i], grad[i], square_avg[i],
                    acc_delta[i], lr, rho, eps, weight_decay, maximize)
    else:
        for i in prange(param.size):
            param[i], square_avg[i], acc_delta[i] = adadelta_el_cpu(param[i], grad[i], square_avg[i],
                    acc_delta[i], lr, rho, eps, weight_decay, maximize)


@cuda.jit(cache=True)
def adadelta_cuda(grad, param, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], square_avg[i], acc_delta[i] = adadelta_el_dev(param[i], grad[i], square_avg[i], acc_delta[i],
                lr, rho, eps, weight_decay, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def adamax_cpu(grad, param, exp_avg, exp_inf, clr, one_minus_beta1, beta2, eps, weight_decay, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], exp_avg[i], exp_inf[i] = adamax_el_cpu(param[i], grad[i], exp_avg[i], exp_inf[i], clr,
                    one_minus_beta1, beta2, eps, weight_decay, maximize)
    else:
        for i in prange(param.size):
            param[i], exp_avg[i], exp_inf[i] = adamax_el_cpu(param[i], grad[i], exp_avg[i], exp_inf[i], clr,
                    one_minus_beta1, beta2, eps, weight_decay, maximize)


@cuda.jit(cache=True)
def adamax_cuda(grad, param, exp_avg, exp_inf, clr, one_minus_beta1, beta2, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], exp_avg[i], exp_inf[i] = adamax_el_dev(param[i], grad[i], exp_avg[i], exp_inf[i], clr,
                one_minus_beta1, beta2, eps, weight_decay, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def nadam_cpu(grad, param, exp_avg, exp_avg_sq, param_scale, l2, one_minus_beta1, beta2, bias_correction2, eps,
        grad_coef, avg_coef, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], exp_avg[i], exp_avg_sq[i] = nadam_el_cpu(param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                    param_scale, l2, one_minus_beta1, beta2, bias_correction2, eps, grad_coef, avg_coef, maximize)
    else:
        for i in prange(param.size):
            param[i], exp_avg[i], exp_avg_sq[i] = nadam_el_cpu(param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                    param_scale, l2, one_minus_beta1, beta2, bias_correction2, eps, grad_coef, avg_coef, maximize)


@cuda.jit(cache=True)
def nadam_cuda(grad, param, exp_avg, exp_avg_sq, param_scale, l2, one_minus_beta1, beta2, bias_correction2, eps,
        grad_coef, avg_coef, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], exp_avg[i], exp_avg_sq[i] = nadam_el_dev(param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                param_scale, l2, one_minus_beta1, beta2, bias_correction2, eps, grad_coef, avg_coef, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def radam_cpu(grad, param, exp_avg, exp_avg_sq, param_scale, l2, one_minus_beta1, beta2, lr, bias_correction1,
        bias_correction2_sqrt, rect, eps, rectified, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], exp_avg[i], exp_avg_sq[i] = radam_el_cpu(param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                    param_scale, l2, one_minus_beta1, beta2, lr, bias_correction1, bias_correction2_sqrt, rect,
                    eps, rectified, maximize)
    else:
        for i in prange(param.size):
            param[i], exp_avg[i], exp_avg_sq[i] = radam_el_cpu(param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                    param_scale, l2, one_minus_beta1, beta2, lr, bias_correction1, bias_correction2_sqrt, rect,
                    eps, rectified, maximize)


@cuda.jit(cache=True)
def radam_cuda(grad, param, exp_avg, exp_avg_sq, param_scale, l2, one_minus_beta1, beta2, lr, bias_correction1,
        bias_correction2_sqrt, rect, eps, rectified, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], exp_avg[i], exp_avg_sq[i] = radam_el_dev(param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                param_scale, l2, one_minus_beta1, beta2, lr, bias_correction1, bias_correction2_sqrt, rect, eps,
                rectified, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def asgd_cpu(grad, param, ax, eta, mu, lambd, weight_decay, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], ax[i] = asgd_el_cpu(param[i], grad[i], ax[i], eta, mu, lambd, weight_decay, maximize)
    else:
        for i in prange(param.size):
            param[i], ax[i] = asgd_el_cpu(param[i], grad[i], ax[i], eta, mu, lambd, weight_decay, maximize)


@cuda.jit(cache=True)
def asgd_cuda(grad, param, ax, eta, mu, lambd, weight_decay, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], ax[i] = asgd_el_dev(param[i], grad[i], ax[i], eta, mu, lambd, weight_decay, maximize)


@njit(parallel=True, cache=True, error_model="numpy")
def rprop_cpu(grad, param, prev, step_size, etaminus, etaplus, step_size_min, step_size_max, maximize):
    if param.size <= SERIAL_WORK:
        for i in range(param.size):
            param[i], prev[i], step_size[i] = rprop_el_cpu(param[i], grad[i], prev[i], step_size[i], etaminus,
                    etaplus, step_size_min, step_size_max, maximize)
    else:
        for i in prange(param.size):
            param[i], prev[i], step_size[i] = rprop_el_cpu(param[i], grad[i], prev[i], step_size[i], etaminus,
                    etaplus, step_size_min, step_size_max, maximize)


@cuda.jit(cache=True)
def rprop_cuda(grad, param, prev, step_size, etaminus, etaplus, step_size_min, step_size_max, maximize):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        param[i], prev[i], step_size[i] = rprop_el_dev(param[i], grad[i], prev[i], step_size[i], etaminus,
                etaplus, step_size_min, step_size_max, maximize)


rmsprop = KernelPair(rmsprop_cpu, rmsprop_cuda)
rmsprop_centered = KernelPair(rmsprop_centered_cpu, rmsprop_centered_cuda)
rmsprop_momentum = KernelPair(rmsprop_momentum_cpu, rmsprop_momentum_cuda)
rmsprop_centered_momentum = KernelPair(rmsprop_centered_momentum_cpu, rmsprop_centered_momentum_cuda)
adagrad = KernelPair(adagrad_cpu, adagrad_cuda)
adadelta = KernelPair(adadelta_cpu, adadelta_cuda)
adamax = KernelPair(adamax_cpu, adamax_cuda)
nadam = KernelPair(nadam_cpu, nadam_cuda)
radam = KernelPair(radam_cpu, radam_cuda)
asgd = KernelPair(asgd_cpu, asgd_cuda)
rprop = KernelPair(rprop_cpu, rprop_cuda)
