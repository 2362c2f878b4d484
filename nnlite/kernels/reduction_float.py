"""Reductions with a float64 accumulator of a function of each element, over the
(outer, R, inner) layout: norm, var, logsumexp, and the tie counts of amax/amin's
gradient (tie_share).

CPU kernels hand kernels/_reduce_loops.py their scalar function. On CUDA one
kernel, `accumulate_float_cuda`, serves all four with an op code, on the
launch plan of kernels/reduction.py (a block per contiguous row, a thread per
column, long rows split into parts merged by a second launch).

var and logsumexp take two passes: the functional layer first runs the sum
(var) or max (logsumexp) kernel, and the kernels here read its result.
"""
import math

from numba import float64, njit

from ..backend.cuda import cuda
from ._block import ADD, BLOCK_THREADS, block_combine
from ._reduce_loops import (_accumulate, _merge_add, is_tie_cpu, is_tie_dev, logsumexp_finish_cpu,
                            logsumexp_finish_dev)
from .fastmath import fexp
from .reduction import ReductionPair, _column_range, _launch, _row_range


# ---------------------------------------------------------------- norm

@njit(inline="always")
def _add_power(acc, v, c, p):
    # p is loop-invariant, so LLVM unswitches the branches and vectorises each.
    w = abs(v)
    return acc + (w * w if p == 2.0 else (w if p == 1.0 else w ** p))


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def norm_cpu(x, out, outer, R, inner, partial, zero, p):
    """out[k] = (sum_r |x[o, r, i]|**p) ** (1 / p) for a finite p != 0."""
    _accumulate(_add_power, _merge_add, x, out, p, out, outer, R, inner, partial, zero)
    if p != 1.0:
        for k in range(outer * inner):
            out[k] = math.sqrt(out[k]) if p == 2.0 else out[k] ** (1.0 / p)


# CUDA: norm, var, logsumexp and tie_share are sums of a float64 function of each
# element, finished per output; one kernel serves them.

NORM, VAR, LOGSUMEXP, TIES = range(4)  # accumulate_float_cuda's ops


@cuda.jit(device=True)
def _center(op, c, k, n):
    """What op's elements are measured from: var's mean (c holds row sums), or the row max."""
    return c[k] / n if op == VAR else c[k]


@cuda.jit(device=True)
def _float_term(op, v, center, s, merging):
    """Element v's float64 share of its output's sum (another part's sum when merging)."""
    if merging:
        return v
    if op == NORM:  # s is p
        w = abs(v)
        return w * w if s == 2.0 else (w if s == 1.0 else w ** s)
    if op == VAR:
        d = v - center
        return d * d
    if op == LOGSUMEXP:  # an infinite max is the answer by itself (and exp(inf - inf) is NaN)
        return 0.0 if math.isinf(center) else math.exp(v - center)
    return 1.0 if is_tie_dev(v, center) else 0.0


@cuda.jit(device=True)
def _divide(a, b):
    # a / b with IEEE results for b == 0 (the simulator would raise instead).
    return a / b if b != 0 else (a * math.inf if a != 0 else math.nan)


@cuda.jit(device=True)
def _finish(op, acc, k, c, g, out, aux, s, n):
    """Output k (and var's mean, aux[k]) from its sum acc."""
    if op == NORM:
        out[k] = acc if s == 1.0 else (math.sqrt(acc) if s == 2.0 else acc ** (1.0 / s))
    elif op == VAR:  # s is the divisor
        out[k] = _divide(acc, s)
        aux[k] = c[k] / n
    elif op == LOGSUMEXP:
        out[k] = logsumexp_finish_dev(c[k], acc)
    else:  # TIES: each tie's share of the gradient g
        out[k] = g[k] / acc


@cuda.jit(device=True)
def _finish_or_store(op, acc, k, slot, parts, c, g, out, aux, partial, s, n):
    if parts == 1:
        _finish(op, acc, k, c, g, out, aux, s, n)
    else:
        partial[slot] = acc


@cuda.jit(cache=True)
def accumulate_float_cuda(x, c, g, out, aux, partial, outer, R, inner, parts, rows, op, s, n, merging):
    # c: per-output centre (row sums for var, the row max otherwise), g: the
    # gradient (tie_share), aux: var's mean; s: p or the divisor, n: the row length.
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    if rows:  # a block per part of a row; `rows` and the task loop are uniform over the block
        for task in range(cuda.blockIdx.x, outer * parts, cuda.gridDim.x):
            lo, hi = _row_range(task, parts, R)
            center = _center(op, c, task // parts, n)
            acc = 0.0
            for e in range(lo + cuda.threadIdx.x, hi, BLOCK_THREADS):
                acc += _float_term(op, x[e], center, s, merging)
            acc = block_combine(buf, acc, ADD)
            if cuda.threadIdx.x == 0:
                _finish_or_store(op, acc, task // parts, task, parts, c, g, out, aux, partial, s, n)
    else:
        n_out = outer * inner
        for t in range(cuda.grid(1), n_out * parts, cuda.gridsize(1)):
            k, base, r0, r1 = _column_range(t, n_out, parts, R, inner)
            center = _center(op, c, k, n)
            acc = 0.0
            for r in range(r0, r1):
                acc += _float_term(op, x[base + r * inner], center, s, merging)
            _finish_or_store(op, acc, k, k * parts + t // n_out, parts, c, g, out, aux, partial, s, n)


def _float_launch(x, c, g, out, aux, partial, outer, R, inner, op, s):
    """Unused arrays are passed as `out`, which has an element per output to read."""
    _launch(accumulate_float_cuda, x, partial, (c, g, out, aux, partial), outer, R, inner, (op, float(s), R))


def _norm_launch(x, out, outer, R, inner, partial, zero, p):
    _float_launch(x, out, out, out, out, partial, outer, R, inner, NORM, p)


norm = ReductionPair(norm_cpu, accumulate_float_cuda, _norm_launch)



# ---------------------------------------------------------------- tie counts (amax/amin's gradient)

@njit(inline="always")
def _add_tie(acc, v, m, s):
    return acc + (1.0 if is_tie_cpu(v, m) else 0.0)


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def tie_share_cpu(x, m, g, share, outer, R, inner, partial):
    """share[k] = g[k] / (the number of x[o, :, i] tied with the extreme m[k])."""
    _accumulate(_add_tie, _merge_add, x, m, 0, share, outer, R, inner, partial, 0.0)
    for k in range(outer * inner):
        share[k] = g[k] / share[k]


def _tie_share_launch(x, m, g, share, outer, R, inner, partial):
    _float_launch(x, m, g, share, share, partial, outer, R, inner, TIES, 0.0)


tie_share = ReductionPair(tie_share_cpu, accumulate_float_cuda, _tie_share_launch)


# ---------------------------------------------------------------- var, logsumexp

@njit(inline="always")
def _add_squared_deviation(acc, v, m, s):
    d = v - m
    return acc + d * d


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def var_cpu(x, mean64, var, mean, outer, R, inner, partial, divisor):
    """var[k] = sum_r (x - mean)**2 / divisor and mean[k] = mean, in float64.

    `mean64` holds the row sums (the sum kernel's float64 result) and is turned
    into the means in place. Two passes over x (the sum, then squared
    deviations from the mean) do not suffer the cancellation of
    sum(x**2) - sum(x)**2.
    """
    for k in range(outer * inner):
        mean64[k] /= R
        mean[k] = mean64[k]
    _accumulate(_add_squared_deviation, _merge_add, x, mean64, 0, var, outer, R, inner, partial, 0.0)
    for k in range(outer * inner):
        var[k] = var[k] / divisor


def _var_launch(x, mean64, var, mean, outer, R, inner, partial, divisor):
    """mean64 (the row sums) stays as it is on CUDA; the kernel divides as it reads."""
    _float_launch(x, mean64, var, var, mean, partial, outer, R, inner, VAR, divisor)


var = ReductionPair(var_cpu, accumulate_float_cuda, _var_launch)


@njit(inline="always")
def _add_exp_shifted(acc, v, m, s):
    return acc + fexp(v - m)


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def logsumexp_cpu(x, m, out, outer, R, inner, partial):
    """out[k] = m + log(sum_r exp(x - m)) for the row max m (the max kernel's result).

    Rows whose max is infinite give that infinity (all -inf gives -inf, as
    torch). `partial` is float64, outer * inner + accumulate_scratch_size() long.
    """
    n_out = outer * inner
    sums = partial[:n_out]
    _accumulate(_add_exp_shifted, _merge_add, x, m, 0, sums, outer, R, inner, partial[n_out:], 0.0)
    for k in range(n_out):
        out[k] = logsumexp_finish_cpu(m[k], sums[k])


def _logsumexp_launch(x, m, out, outer, R, inner, partial):
    """partial: float64, cuda_partials_size() long on CUDA."""
    _float_launch(x, m, out, out, out, partial, outer, R, inner, LOGSUMEXP, 0.0)


logsumexp = ReductionPair(logsumexp_cpu, accumulate_float_cuda, _logsumexp_launch)
