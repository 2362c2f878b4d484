"""Reduction kernels, forward and backward, over the (outer, R, inner) layout.

The loops live in kernels/_reduce_loops.py; each CPU kernel here hands them
its scalar function or op flag. CUDA kernels use one thread per output (per
element for the backward spreads) in grid-stride loops; kernels that differ
only in their scalar function share one CUDA kernel with an op code.

var and logsumexp take two passes: the functional layer first runs the sum
(var) or max (logsumexp) kernel, and the kernels here read its result.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._reduce_loops import (SERIAL_WORK, STRIP, _accumulate, _add, _arg, _cumsum_row, _cumsum_strip, _fold,
                            _merge_add, _prod_bwd_row, _prod_bwd_strip, _scatter_rows, _spread, beats_dev,
                            is_tie_cpu, is_tie_dev, logsumexp_finish_cpu, logsumexp_finish_dev, pick_dev)
from ._reduce_loops import (CENTER, SHARE, SOFTMAX, accumulate_scratch_size, arg_scratch_size,  # noqa: F401
                            fold_scratch_size)  # (op codes and scratch sizes, for the functional layer)
from .fastmath import fexp

sum_scratch_size = accumulate_scratch_size


# ---------------------------------------------------------------- sum, prod, count

@njit(parallel=True, cache=True, fastmath={"reassoc"})
def sum_cpu(x, out, outer, R, inner, partial, zero):
    """out[k] = sum_r x[o, r, i]; `zero` is the accumulator's zero (float64 or int64)."""
    _accumulate(_add, _merge_add, x, out, 0, out, outer, R, inner, partial, zero)


SUM, PROD, NONZERO = range(3)


@cuda.jit(cache=True)
def accumulate_cuda(x, out, outer, R, inner, partial, init, op):
    # One thread per output element; the rows it reads are strided by `inner`,
    # so neighbouring threads read neighbouring addresses (coalesced).
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        acc = init
        for r in range(R):
            v = x[base + r * inner]
            if op == SUM:
                acc += v
            elif op == PROD:
                acc *= v
            elif v != 0:
                acc += 1
        out[t] = acc


sum_ = KernelPair(sum_cpu, accumulate_cuda, SUM)


@njit(inline="always")
def _mul(acc, v, c, s):
    return acc * v


@njit(inline="always")
def _merge_mul(a, b):
    return a * b


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def prod_cpu(x, out, outer, R, inner, partial, one):
    _accumulate(_mul, _merge_mul, x, out, 0, out, outer, R, inner, partial, one)


prod = KernelPair(prod_cpu, accumulate_cuda, PROD)


@njit(inline="always")
def _add_nonzero(acc, v, c, s):
    return acc + (1 if v != 0 else 0)


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def count_nonzero_cpu(x, out, outer, R, inner, partial, zero):
    """out[k] = the number of nonzero x[o, :, i] (all, any, the 0-norm)."""
    _accumulate(_add_nonzero, _merge_add, x, out, 0, out, outer, R, inner, partial, zero)


count_nonzero = KernelPair(count_nonzero_cpu, accumulate_cuda, NONZERO)


@njit(parallel=True, cache=True)
def prod_bwd_cpu(x, g, gx, outer, R, inner, partial, one):
    """gx[o, r, i] = g[k] * (product of the other x[o, :, i]): prefix times suffix
    products, exact with zeros in the row (no division)."""
    if inner == 1:
        if x.size <= SERIAL_WORK:
            for o in range(outer):
                _prod_bwd_row(x[o * R:o * R + R], g[o], gx[o * R:o * R + R], one)
        else:
            for o in prange(outer):
                _prod_bwd_row(x[o * R:o * R + R], g[o], gx[o * R:o * R + R], one)
        return
    strips = (inner + STRIP - 1) // STRIP
    if x.size <= SERIAL_WORK:
        for t in range(outer * strips):
            _prod_bwd_strip(x, g, gx, t // strips, (t % strips) * STRIP, R, inner, partial, one)
    else:
        for t in prange(outer * strips):
            _prod_bwd_strip(x, g, gx, t // strips, (t % strips) * STRIP, R, inner, partial, one)


@cuda.jit(cache=True)
def prod_bwd_cuda(x, g, gx, outer, R, inner, partial, one):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        p = one
        for r in range(R):
            gx[base + r * inner] = p
            p *= x[base + r * inner]
        p = one * g[t]
        for j in range(R):
            e = base + (R - 1 - j) * inner
            gx[e] = gx[e] * p
            p *= x[e]


prod_bwd = KernelPair(prod_bwd_cpu, prod_bwd_cuda)


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


@cuda.jit(cache=True)
def norm_cuda(x, out, outer, R, inner, partial, zero, p):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        acc = zero
        for r in range(R):
            w = abs(x[base + r * inner])
            acc += w * w if p == 2.0 else (w if p == 1.0 else w ** p)
        out[t] = acc if p == 1.0 else (math.sqrt(acc) if p == 2.0 else acc ** (1.0 / p))


norm = KernelPair(norm_cpu, norm_cuda)


# ---------------------------------------------------------------- max, min

@njit(parallel=True, cache=True)
def extreme_cpu(x, out, outer, R, inner, lanes, init, workers, largest):
    """out[k] = max_r (largest) or min_r x[o, r, i], NaN propagating; init is the
    dtype's lowest (highest) value."""
    _fold(x, out, outer, R, inner, lanes, init, workers, largest)


@cuda.jit(cache=True)
def extreme_cuda(x, out, outer, R, inner, lanes, init, workers, largest):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        acc = init
        for r in range(R):
            acc = pick_dev(acc, x[base + r * inner], largest)
        out[t] = acc


extreme = KernelPair(extreme_cpu, extreme_cuda)


@njit(parallel=True, cache=True)
def arg_cpu(x, values, indices, outer, R, inner, part_values, part_indices, largest):
    """values[k], indices[k] = the max (largest) or min of x[o, :, i] and its first index."""
    _arg(x, values, indices, outer, R, inner, part_values, part_indices, largest)


@cuda.jit(cache=True)
def arg_cuda(x, values, indices, outer, R, inner, part_values, part_indices, largest):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        best = x[base]
        index = 0
        for r in range(1, R):
            v = x[base + r * inner]
            if beats_dev(v, best, largest):
                best = v
                index = r
        values[t] = best
        indices[t] = index


arg = KernelPair(arg_cpu, arg_cuda)


@njit(inline="always")
def _add_tie(acc, v, m, s):
    return acc + (1.0 if is_tie_cpu(v, m) else 0.0)


@njit(parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def tie_share_cpu(x, m, g, share, outer, R, inner, partial):
    """share[k] = g[k] / (the number of x[o, :, i] tied with the extreme m[k])."""
    _accumulate(_add_tie, _merge_add, x, m, 0, share, outer, R, inner, partial, 0.0)
    for k in range(outer * inner):
        share[k] = g[k] / share[k]


@cuda.jit(cache=True)
def tie_share_cuda(x, m, g, share, outer, R, inner, partial):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        ties = 0
        for r in range(R):
            if is_tie_dev(x[base + r * inner], m[t]):
                ties += 1
        share[t] = g[t] / ties


tie_share = KernelPair(tie_share_cpu, tie_share_cuda)


@njit(parallel=True, cache=True)
def index_bwd_cpu(indices, g, gx, outer, R, inner):
    """gx[o, r, i] = g[k] where r is the selected index indices[k], else 0."""
    tasks = outer if inner == 1 else outer * R
    if gx.size <= SERIAL_WORK:
        for t in range(tasks):
            _scatter_rows(indices, g, gx, t, R, inner)
    else:
        for t in prange(tasks):
            _scatter_rows(indices, g, gx, t, R, inner)


@cuda.jit(cache=True)
def index_bwd_cuda(indices, g, gx, outer, R, inner):
    for e in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        k = (e // (R * inner)) * inner + e % inner
        gx[e] = g[k] if indices[k] == (e // inner) % R else 0


index_bwd = KernelPair(index_bwd_cpu, index_bwd_cuda)


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


@cuda.jit(device=True)
def _divide(a, b):
    # a / b with IEEE results for b == 0 (the simulator would raise instead).
    return a / b if b != 0 else (a * math.inf if a != 0 else math.nan)


@cuda.jit(cache=True)
def var_cuda(x, mean64, var, mean, outer, R, inner, partial, divisor):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        m = mean64[t] / R
        q = 0.0
        for r in range(R):
            d = x[base + r * inner] - m
            q += d * d
        var[t] = _divide(q, divisor)
        mean[t] = m


var = KernelPair(var_cpu, var_cuda)


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


@cuda.jit(cache=True)
def logsumexp_cuda(x, m, out, outer, R, inner, partial):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        s = 0.0
        if not math.isinf(m[t]):
            for r in range(R):
                s += math.exp(x[base + r * inner] - m[t])
        out[t] = logsumexp_finish_dev(m[t], s)


logsumexp = KernelPair(logsumexp_cpu, logsumexp_cuda)


# ---------------------------------------------------------------- backward spreads

@njit(parallel=True, cache=True)
def spread_cpu(x, a, b, gx, outer, R, inner, op):
    """gx[o, r, i] from x[o, r, i] and the per-output a[k], b[k]: SHARE (amax/amin:
    ties of the extreme a share b), CENTER ((x - a) * b, var) or SOFTMAX
    (exp(x - a) * b, logsumexp)."""
    _spread(x, a, b, gx, outer, R, inner, op)


@cuda.jit(cache=True)
def spread_cuda(x, a, b, gx, outer, R, inner, op):
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        k = (e // (R * inner)) * inner + e % inner
        v = x[e]
        if op == SHARE:
            gx[e] = b[k] if is_tie_dev(v, a[k]) else b[k] - b[k]
        elif op == CENTER:
            gx[e] = (v - a[k]) * b[k]
        else:
            gx[e] = math.exp(v - a[k]) * b[k]


spread = KernelPair(spread_cpu, spread_cuda)


# ---------------------------------------------------------------- cumsum

@njit(parallel=True, cache=True)
def cumsum_cpu(x, out, outer, R, inner, partial, zero, reverse):
    """out[o, r, i] = sum of x[o, :r + 1, i] (of x[o, r:, i] when reverse), in a wide accumulator."""
    if inner == 1:
        if x.size <= SERIAL_WORK:
            for o in range(outer):
                _cumsum_row(x[o * R:o * R + R], out[o * R:o * R + R], zero, reverse)
        else:
            for o in prange(outer):
                _cumsum_row(x[o * R:o * R + R], out[o * R:o * R + R], zero, reverse)
        return
    strips = (inner + STRIP - 1) // STRIP
    if x.size <= SERIAL_WORK:
        for t in range(outer * strips):
            _cumsum_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, partial, zero, reverse)
    else:
        for t in prange(outer * strips):
            _cumsum_strip(x, out, t // strips, (t % strips) * STRIP, R, inner, partial, zero, reverse)


@cuda.jit(cache=True)
def cumsum_cuda(x, out, outer, R, inner, partial, zero, reverse):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        acc = zero
        for j in range(R):
            e = base + (R - 1 - j if reverse else j) * inner
            acc += x[e]
            out[e] = acc


cumsum = KernelPair(cumsum_cpu, cumsum_cuda)
