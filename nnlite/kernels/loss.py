"""Loss kernels: negative log likelihood over class-index targets (class weights,
ignore_index, label smoothing), pointwise losses, and the input checks that
need to read data.

NLL reads log-probabilities laid out (N, C, inner) and targets (N, inner).
Sample k (= n * inner + i) gets
    loss_k = -(1 - s) * w[t_k] * logp[n, t_k, i] - (s / C) * sum_c w[c] * logp[n, c, i]
and weight w[t_k] (both 0 where t_k == ignore_index); with s = 0 it is
nll_loss, with s > 0 ATen's label-smoothed cross entropy, whose weighted mean
divides both terms by the same sum of target weights. The backward kernel
writes the whole input gradient: -(g_k / denom) * ((1 - s) * w[t] [c == t] + (s / C) * w[c]).

Pointwise losses share one signature: forward (x, t, pw, out, p), backward
(g, x, t, pw, gx, gt, p), all arrays of one size. `p` is beta, delta or, for
binary_cross_entropy_with_logits, 1 when `pw` holds the broadcast pos_weight;
ops without a pos_weight get any same-size array as `pw` and ignore it.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .activation import like
from .fastmath import fexp

BCE_MIN_LOG = -100.0       # ATen clamps log(x) and log(1 - x) here, so x = 0 or 1 stays finite
BCE_EPS = 1e-12            # and the gradient's denominator x * (1 - x) here


# ---------------------------------------------------------------- input checks

@njit(cache=True)
def first_bad_target_cpu(target, C, ignore_index, out):
    """out[0] = index of the first target outside [0, C) that is not ignore_index (else target.size)."""
    out[0] = target.size
    for k in range(target.size):
        t = target[k]
        if t != ignore_index and (t < 0 or t >= C):
            out[0] = k
            return


@cuda.jit(cache=True)
def first_bad_target_cuda(target, C, ignore_index, out):
    # out[0] must hold target.size on entry
    for k in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        t = target[k]
        if t != ignore_index and (t < 0 or t >= C):
            cuda.atomic.min(out, 0, k)


@njit(cache=True)
def outside_unit_cpu(x, out):
    """out[0] = 1 if some element of x is outside [0, 1] or NaN."""
    out[0] = 0
    for i in range(x.size):
        if not (0 <= x[i] <= 1):
            out[0] = 1
            return


@cuda.jit(cache=True)
def outside_unit_cuda(x, out):
    # out[0] must hold 0 on entry
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        if not (0 <= x[i] <= 1):
            out[0] = 1


first_bad_target = KernelPair(first_bad_target_cpu, first_bad_target_cuda)
outside_unit = KernelPair(outside_unit_cpu, outside_unit_cuda)


# ---------------------------------------------------------------- nll

@njit(cache=True, fastmath={"reassoc"})
def weighted_class_sum(weight, logp, base, inner, C):
    """sum_c weight[c] * logp[base + c * inner] in float64 (a pure reduction: reassociated,
    so that LLVM vectorises it when the classes are contiguous)."""
    s = 0.0
    if inner == 1:
        row = logp[base:base + C]
        for c in range(C):
            s += weight[c] * row[c]
        return s
    for c in range(C):
        s += weight[c] * logp[base + c * inner]
    return s


@njit(inline="always")
def _nll_sample(logp, target, weight, loss, weight_out, C, inner, ignore_index, smoothing, k):
    t = target[k]
    if t == ignore_index:
        loss[k] = 0
        weight_out[k] = 0
        return
    base = (k // inner) * C * inner + k % inner
    w = weight[t]
    value = -w * logp[base + t * inner]
    if smoothing != 0:
        s = weighted_class_sum(weight, logp, base, inner, C)
        value = (1 - smoothing) * value - smoothing / C * s
    loss[k] = value
    weight_out[k] = w


@njit(parallel=True, cache=True)
def nll_cpu(logp, target, weight, loss, weight_out, C, inner, ignore_index, smoothing):
    if logp.size <= SERIAL_WORK:
        for k in range(target.size):
            _nll_sample(logp, target, weight, loss, weight_out, C, inner, ignore_index, smoothing, k)
    else:
        for k in prange(target.size):
            _nll_sample(logp, target, weight, loss, weight_out, C, inner, ignore_index, smoothing, k)


@cuda.jit(cache=True)
def nll_cuda(logp, target, weight, loss, weight_out, C, inner, ignore_index, smoothing):
    for k in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        t = target[k]
        if t == ignore_index:
            loss[k] = 0
            weight_out[k] = 0
            continue
        base = (k // inner) * C * inner + k % inner
        value = -weight[t] * logp[base + t * inner]
        if smoothing != 0:
            s = 0.0
            for c in range(C):
                s += weight[c] * logp[base + c * inner]
            value = (1 - smoothing) * value - smoothing / C * s
        loss[k] = value
        weight_out[k] = weight[t]


@njit(inline="always")
def _nll_bwd_sample(target, weight, g, g_step, denom, gx, C, inner, ignore_index, smoothing, k):
    # gx is zero on entry: an ignored sample keeps zeros, others get their target's
    # entry and (with smoothing) a share on every class
    t = target[k]
    if t == ignore_index:
        return
    base = (k // inner) * C * inner + k % inner
    gk = g[k * g_step] / denom[0]
    if smoothing != 0:
        share = -gk * (smoothing / C)
        if inner == 1:
            row = gx[base:base + C]
            for c in range(C):
                row[c] = share * weight[c]
        else:
            for c in range(C):
                gx[base + c * inner] = share * weight[c]
    gx[base + t * inner] -= gk * (1 - smoothing) * weight[t]


@njit(parallel=True, cache=True)
def nll_bwd_cpu(target, weight, g, g_step, denom, gx, C, inner, ignore_index, smoothing):
    """g: the loss gradient per sample (g_step 1) or one value for all (g_step 0)."""
    if gx.size <= SERIAL_WORK:
        for i in range(gx.size):
            gx[i] = 0
        for k in range(target.size):
            _nll_bwd_sample(target, weight, g, g_step, denom, gx, C, inner, ignore_index, smoothing, k)
    else:
        for i in prange(gx.size):
            gx[i] = 0
        for k in prange(target.size):
            _nll_bwd_sample(target, weight, g, g_step, denom, gx, C, inner, ignore_index, smoothing, k)


@cuda.jit(cache=True)
def nll_bwd_cuda(target, weight, g, g_step, denom, gx, C, inner, ignore_index, smoothing):
    # A thread per element of gx: a thread per sample writing its whole row left 1024
    # threads for (1024, 1000) logits, each storing 4 KB apart (262 us on an H200, torch 5).
    for e in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        i = e % inner
        c = (e // inner) % C
        k = (e // (C * inner)) * inner + i
        t = target[k]
        gk = 0.0 if t == ignore_index else g[k * g_step] / denom[0]
        gx[e] = -gk * (smoothing / C) * weight[c] if smoothing != 0 else 0
        if c == t:  # an ignored sample (gk = 0) adds nothing here
            gx[e] -= gk * (1 - smoothing) * weight[t]


nll = KernelPair(nll_cpu, nll_cuda)
nll_bwd = KernelPair(nll_bwd_cpu, nll_bwd_cuda)


# ---------------------------------------------------------------- pointwise losses: scalar math (CPU)

@njit(inline="always")
def _sign(d):
    return like(d, 1) if d > 0 else (like(d, -1) if d < 0 else like(d, 0))


@njit(inline="always")
def _log_sigmoid(x):
    return (x if x < 0 else like(x, 0)) - math.log1p(fexp(-abs(x)))


@njit(inline="always")
def _mse(x, t, pw, p):
    d = x - t
    return d * d


@njit(inline="always")
def _mse_bwd(g, x, t, pw, p):
    gx = like(x, 2) * (x - t) * g
    return gx, -gx


@njit(inline="always")
def _l1(x, t, pw, p):
    return abs(x - t)


@njit(inline="always")
def _l1_bwd(g, x, t, pw, p):
    gx = _sign(x - t) * g
    return gx, -gx


@njit(inline="always")
def _smooth_l1(x, t, pw, beta):
    z = abs(x - t)
    return like(z, 0.5) * z * z / beta if z < beta else z - like(z, 0.5) * beta


@njit(inline="always")
def _smooth_l1_bwd(g, x, t, pw, beta):
    d = x - t
    gx = -g if d <= -beta else (g if d >= beta else d * g / beta)
    return gx, -gx


@njit(inline="always")
def _huber(x, t, pw, delta):
    z = abs(x - t)
    return like(z, 0.5) * z * z if z < delta else delta * (z - like(z, 0.5) * delta)


@njit(inline="always")
def _huber_bwd(g, x, t, pw, delta):
    d = x - t
    gx = -delta * g if d <= -delta else (delta * g if d >= delta else d * g)
    return gx, -gx


@njit(inline="always")
def _bce(x, t, pw, p):
    lo = like(x, BCE_MIN_LOG)
    log_x = math.log(x)
    log_1mx = math.log1p(-x)
    return (t - like(t, 1)) * (log_1mx if log_1mx > lo else lo) - t * (log_x if log_x > lo else lo)


@njit(inline="always")
def _bce_bwd(g, x, t, pw, p):
    d = (like(x, 1) - x) * x
    gx = g * (x - t) / (d if d > like(d, BCE_EPS) else like(d, BCE_EPS))
    return gx, -g * math.log(x / (like(x, 1) - x))


@njit(inline="always")
def _bce_logits(x, t, pw, has_pw):
    log_sig = _log_sigmoid(x)
    if has_pw:
        log_sig *= (pw - like(pw, 1)) * t + like(t, 1)
    return (like(t, 1) - t) * x - log_sig


@njit(inline="always")
def _bce_logits_bwd(g, x, t, pw, has_pw):
    sig = like(x, 1) / (like(x, 1) + fexp(-x))
    if has_pw:
        tpw = pw * t
        return ((tpw + like(t, 1) - t) * sig - tpw) * g, (_log_sigmoid(-x) - _log_sigmoid(x) * pw) * g
    return (sig - t) * g, -x * g


# ---------------------------------------------------------------- pointwise losses: kernels

(MSE, L1, SMOOTH_L1, HUBER, BCE, BCE_LOGITS) = range(6)


@njit(inline="always")
def _loss_map(f, x, t, pw, out, p):
    if out.size <= SERIAL_WORK:
        for i in range(out.size):
            out[i] = f(x[i], t[i], pw[i], p)
    else:
        for i in prange(out.size):
            out[i] = f(x[i], t[i], pw[i], p)


@njit(inline="always")
def _loss_bwd_map(f, g, x, t, pw, gx, gt, p):
    if gx.size <= SERIAL_WORK:
        for i in range(gx.size):
            gx[i], gt[i] = f(g[i], x[i], t[i], pw[i], p)
    else:
        for i in prange(gx.size):
            gx[i], gt[i] = f(g[i], x[i], t[i], pw[i], p)


@njit(parallel=True, cache=True)
def mse_cpu(x, t, pw, out, p):
    _loss_map(_mse, x, t, pw, out, p)


@njit(parallel=True, cache=True)
def l1_cpu(x, t, pw, out, p):
    _loss_map(_l1, x, t, pw, out, p)


@njit(parallel=True, cache=True, error_model="numpy")
def smooth_l1_cpu(x, t, pw, out, p):
    _loss_map(_smooth_l1, x, t, pw, out, p)


@njit(parallel=True, cache=True)
def huber_cpu(x, t, pw, out, p):
    _loss_map(_huber, x, t, pw, out, p)


@njit(parallel=True, cache=True, error_model="numpy")
def bce_cpu(x, t, pw, out, p):
    _loss_map(_bce, x, t, pw, out, p)


@njit(parallel=True, cache=True, error_model="numpy")
def bce_logits_cpu(x, t, pw, out, p):
    _loss_map(_bce_logits, x, t, pw, out, p)


@cuda.jit(device=True)
def _loss_dev(op, x, t, pw, p):
    d = x - t
    z = abs(d)
    if op == MSE:
        return d * d
    if op == L1:
        return z
    if op == SMOOTH_L1:
        return 0.5 * z * z / p if z < p else z - 0.5 * p
    if op == HUBER:
        return 0.5 * z * z if z < p else p * (z - 0.5 * p)
    if op == BCE:
        return (t - 1) * max(math.log1p(-x), BCE_MIN_LOG) - t * max(math.log(x), BCE_MIN_LOG)
    log_sig = min(x, 0.0) - math.log1p(math.exp(-abs(x)))
    if p:
        log_sig *= (pw - 1) * t + 1
    return (1 - t) * x - log_sig


@cuda.jit(cache=True)
def loss_cuda(x, t, pw, out, p, op):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = _loss_dev(op, x[i], t[i], pw[i], p)


mse = KernelPair(mse_cpu, loss_cuda, MSE)
l1 = KernelPair(l1_cpu, loss_cuda, L1)
smooth_l1 = KernelPair(smooth_l1_cpu, loss_cuda, SMOOTH_L1)
huber = KernelPair(huber_cpu, loss_cuda, HUBER)
bce = KernelPair(bce_cpu, loss_cuda, BCE)
bce_logits = KernelPair(bce_logits_cpu, loss_cuda, BCE_LOGITS)


@njit(parallel=True, cache=True)
def mse_bwd_cpu(g, x, t, pw, gx, gt, p):
    _loss_bwd_map(_mse_bwd, g, x, t, pw, gx, gt, p)


@njit(parallel=True, cache=True)
def l1_bwd_cpu(g, x, t, pw, gx, gt, p):
    _loss_bwd_map(_l1_bwd, g, x, t, pw, gx, gt, p)


@njit(parallel=True, cache=True, error_model="numpy")
def smooth_l1_bwd_cpu(g, x, t, pw, gx, gt, p):
    _loss_bwd_map(_smooth_l1_bwd, g, x, t, pw, gx, gt, p)


@njit(parallel=True, cache=True)
def huber_bwd_cpu(g, x, t, pw, gx, gt, p):
    _loss_bwd_map(_huber_bwd, g, x, t, pw, gx, gt, p)


@njit(parallel=True, cache=True, error_model="numpy")
def bce_bwd_cpu(g, x, t, pw, gx, gt, p):
    _loss_bwd_map(_bce_bwd, g, x, t, pw, gx, gt, p)


@njit(parallel=True, cache=True, error_model="numpy")
def bce_logits_bwd_cpu(g, x, t, pw, gx, gt, p):
    _loss_bwd_map(_bce_logits_bwd, g, x, t, pw, gx, gt, p)


@cuda.jit(device=True)
def _log_sigmoid_dev(x):
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


@cuda.jit(device=True)
def _loss_bwd_dev(op, g, x, t, pw, p):
    """(d loss / d x, d loss / d t) times g."""
    d = x - t
    if op == MSE:
        return 2 * d * g, -2 * d * g
    if op == L1:
        s = 1 if d > 0 else (-1 if d < 0 else 0)
        return s * g, -s * g
    if op == SMOOTH_L1:
        gx = -g if d <= -p else (g if d >= p else d * g / p)
        return gx, -gx
    if op == HUBER:
        gx = -p * g if d <= -p else (p * g if d >= p else d * g)
        return gx, -gx
    if op == BCE:
        return g * d / max((1 - x) * x, BCE_EPS), -g * math.log(x / (1 - x))
    sig = 1 / (1 + math.exp(-x))
    if p:
        tpw = pw * t
        return ((tpw + 1 - t) * sig - tpw) * g, (_log_sigmoid_dev(-x) - _log_sigmoid_dev(x) * pw) * g
    return (sig - t) * g, -x * g


@cuda.jit(cache=True)
def loss_bwd_cuda(g, x, t, pw, gx, gt, p, op):
    for i in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[i], gt[i] = _loss_bwd_dev(op, g[i], x[i], t[i], pw[i], p)


mse_bwd = KernelPair(mse_bwd_cpu, loss_bwd_cuda, MSE)
l1_bwd = KernelPair(l1_bwd_cpu, loss_bwd_cuda, L1)
smooth_l1_bwd = KernelPair(smooth_l1_bwd_cpu, loss_bwd_cuda, SMOOTH_L1)
huber_bwd = KernelPair(huber_bwd_cpu, loss_bwd_cuda, HUBER)
bce_bwd = KernelPair(bce_bwd_cpu, loss_bwd_cuda, BCE)
bce_logits_bwd = KernelPair(bce_logits_bwd_cpu, loss_bwd_cuda, BCE_LOGITS)
