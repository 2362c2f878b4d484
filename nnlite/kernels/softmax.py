"""Softmax and log_softmax kernels, forward and backward.

They work over a canonical (outer, R, inner) layout, normalising along R.
CPU: when inner == 1 each task takes whole rows; otherwise it takes a strip
of up to LANES adjacent columns and walks the R rows of that strip, so loads
stay contiguous either way.

Numerically stable as ATen: subtract the row max, then log_softmax is
(x - max) - log(sum(exp(x - max))) and softmax exp(x - max) * (1 / sum). A
row holding NaN or +inf, or only -inf, is all NaN (as in torch, where x - max
is NaN somewhere and the sum carries it).

Every row pass vectorises without fast-math flags that could change NaN or inf:
- the max compares the floats' bit patterns as integers (ordered like the
  floats once negative ones are flipped), and the same pass counts NaN and +inf;
- with a finite max, x - max lies in [-inf, 0], where `fexp_nonpos` is exact;
- sums are separate functions with fastmath={"reassoc"}, pure reductions.
The kernels themselves allow `contract` (fused multiply-add) only: it rounds
once instead of twice and changes nothing about NaN or inf.
"""
import math

import numpy as np
from numba import float32, float64, njit, prange, types
from numba.extending import overload

from ..backend.cuda import compiled, cuda
from ..backend.launch import grid_1d, grid_blocks
from ._block import BLOCK_THREADS, block_reduce
from ._loops import SERIAL_WORK
from .activation import like
from .fastmath import fexp, fexp_nonpos

LANES = 256                # columns per strip task (inner > 1)
MAX_TASKS = 512            # tasks per launch; each owns 2 * LANES of scratch


def softmax_scratch_size(outer, R, inner):
    """Length of the scratch array (input dtype) of the CPU softmax kernels.

    Its size sets the number of tasks: each owns 2 * LANES elements.
    """
    items = outer if inner == 1 else outer * ((inner + LANES - 1) // LANES)
    return max(1, min(items, MAX_TASKS)) * 2 * LANES


# ---------------------------------------------------------------- row reductions

def float_keys(a):
    """(a viewed as same-width signed ints, the mask that orders negative floats,
    the keys of +inf and -inf); compiled by the overload below."""


@overload(float_keys)
def _float_keys_overload(a):
    if a.dtype == types.float32:
        int_t, mask, pos_inf_bits, neg_inf_bits = np.int32, np.int32(0x7FFFFFFF), 0x7F800000, -0x800000
    else:
        int_t, mask, pos_inf_bits, neg_inf_bits = np.int64, np.int64(0x7FFFFFFFFFFFFFFF), 0x7FF0000000000000, \
            -0x10000000000000
    pos_inf_key = int_t(pos_inf_bits)
    neg_inf_key = int_t(neg_inf_bits) ^ mask
    return lambda a: (a.view(int_t), mask, pos_inf_key, neg_inf_key)


@njit(inline="always")
def _row_max(r, acc):
    """(max of the row, whether the row is usable: no NaN, no +inf, not all -inf).

    Sign-magnitude floats order like integers once negative ones have their
    magnitude bits flipped (k = bits ^ mask): an integer max that LLVM
    vectorises. NaN keys lie above +inf's key or, for negative NaN, below -inf's.
    """
    bits, mask, pos_inf, neg_inf = float_keys(r)
    hi = bits[0] ^ mask if bits[0] < 0 else bits[0]
    lo = hi
    for i in range(bits.size):
        k = bits[i] ^ mask if bits[i] < 0 else bits[i]
        hi = k if k > hi else hi
        lo = k if k < lo else lo
    acc_bits = float_keys(acc)[0]        # back to a float through scratch
    acc_bits[0] = hi ^ mask if hi < 0 else hi
    return acc[0], hi < pos_inf and lo >= neg_inf and hi != neg_inf


@njit(cache=True, fastmath={"reassoc"})
def row_sum(a):
    """sum(a); reassociated so that LLVM splits it into vector lanes."""
    s = like(a[0], 0)
    for i in range(a.size):
        s += a[i]
    return s


@njit(cache=True, fastmath={"reassoc"})
def row_dot(a, b):
    """sum(a * b), reassociated like row_sum."""
    s = like(a[0], 0)
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@njit(inline="always")
def _fill_nan(out):
    nan = out[0] * 0 + np.nan
    for i in range(out.size):
        out[i] = nan


@njit(inline="always")
def _exp_shifted(xr, m, yr):
    for i in range(xr.size):
        yr[i] = fexp_nonpos(xr[i] - m)


@njit(inline="always")
def _log_softmax_row(xr, yr, acc):
    m, usable = _row_max(xr, acc)
    if not usable:
        _fill_nan(yr)
        return
    _exp_shifted(xr, m, yr)              # yr as scratch for the exponentials
    ls = like(m, math.log(row_sum(yr)))
    for i in range(xr.size):
        yr[i] = (xr[i] - m) - ls


@njit(inline="always")
def _softmax_row(xr, yr, acc):
    m, usable = _row_max(xr, acc)
    if not usable:
        _fill_nan(yr)
        return
    _exp_shifted(xr, m, yr)
    inv = like(m, 1) / row_sum(yr)
    for i in range(yr.size):
        yr[i] *= inv


@njit(inline="always")
def _column_max(x, base, R, inner, n, mx):
    """mx[j] = max over the R rows of column j of the strip at `base`."""
    for j in range(n):
        mx[j] = x[base + j]
    for r in range(1, R):
        row = x[base + r * inner:base + r * inner + n]
        for j in range(n):
            mx[j] = row[j] if row[j] > mx[j] else mx[j]


@njit(inline="always")
def _log_softmax_strip(x, y, base, R, inner, n, mx, sm):
    _column_max(x, base, R, inner, n, mx)
    for j in range(n):
        sm[j] = 0
    for r in range(R):
        row = x[base + r * inner:base + r * inner + n]
        for j in range(n):
            sm[j] += fexp(row[j] - mx[j])
    for j in range(n):
        sm[j] = math.log(sm[j])
    for r in range(R):
        row = x[base + r * inner:base + r * inner + n]
        out = y[base + r * inner:base + r * inner + n]
        for j in range(n):
            out[j] = (row[j] - mx[j]) - sm[j]


@njit(inline="always")
def _softmax_strip(x, y, base, R, inner, n, mx, sm):
    _column_max(x, base, R, inner, n, mx)
    for j in range(n):
        sm[j] = 0
    for r in range(R):
        row = x[base + r * inner:base + r * inner + n]
        out = y[base + r * inner:base + r * inner + n]
        for j in range(n):
            out[j] = fexp(row[j] - mx[j])
            sm[j] += out[j]
    for j in range(n):
        sm[j] = 1 / sm[j]
    for r in range(R):
        out = y[base + r * inner:base + r * inner + n]
        for j in range(n):
            out[j] *= sm[j]


@njit(inline="always")
def _task(row_fn, strip_fn, x, y, outer, R, inner, scratch, t, tasks):
    # task t of `tasks` takes items t, t + tasks, ... (rows, or column strips)
    acc = scratch[t * 2 * LANES:(t + 1) * 2 * LANES]
    if inner == 1:
        for o in range(t, outer, tasks):
            row_fn(x[o * R:(o + 1) * R], y[o * R:(o + 1) * R], acc)
        return
    strips = (inner + LANES - 1) // LANES
    for item in range(t, outer * strips, tasks):
        o = item // strips
        i0 = (item % strips) * LANES
        strip_fn(x, y, o * R * inner + i0, R, inner, min(LANES, inner - i0), acc[:LANES], acc[LANES:])


# softmax and log_softmax are separate kernels: a runtime flag choosing between
# them inside the row loop cost 15% (LLVM optimises the loops less well).

@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def log_softmax_cpu(x, y, outer, R, inner, scratch):
    tasks = scratch.size // (2 * LANES)
    if x.size <= SERIAL_WORK:
        for t in range(tasks):
            _task(_log_softmax_row, _log_softmax_strip, x, y, outer, R, inner, scratch, t, tasks)
    else:
        for t in prange(tasks):
            _task(_log_softmax_row, _log_softmax_strip, x, y, outer, R, inner, scratch, t, tasks)


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def softmax_cpu(x, y, outer, R, inner, scratch):
    tasks = scratch.size // (2 * LANES)
    if x.size <= SERIAL_WORK:
        for t in range(tasks):
            _task(_softmax_row, _softmax_strip, x, y, outer, R, inner, scratch, t, tasks)
    else:
        for t in prange(tasks):
            _task(_softmax_row, _softmax_strip, x, y, outer, R, inner, scratch, t, tasks)


@njit(inline="always")
def _log_softmax_bwd_row(gr, yr, gxr, acc):
    s = row_sum(gr)                      # gx = g - exp(y) * sum(g)
    for i in range(gr.size):
        gxr[i] = gr[i] - fexp(yr[i]) * s


@njit(inline="always")
def _softmax_bwd_row(gr, yr, gxr, acc):
    d = row_dot(gr, yr)                  # gx = y * (g - sum(g * y))
    for i in range(gr.size):
        gxr[i] = yr[i] * (gr[i] - d)


@njit(inline="always")
def _log_softmax_bwd_strip(g, y, gx, base, R, inner, n, sm):
    for j in range(n):
        sm[j] = 0
    for r in range(R):
        gr = g[base + r * inner:base + r * inner + n]
        for j in range(n):
            sm[j] += gr[j]
    for r in range(R):
        gr = g[base + r * inner:base + r * inner + n]
        yr = y[base + r * inner:base + r * inner + n]
        out = gx[base + r * inner:base + r * inner + n]
        for j in range(n):
            out[j] = gr[j] - fexp(yr[j]) * sm[j]


@njit(inline="always")
def _softmax_bwd_strip(g, y, gx, base, R, inner, n, sm):
    for j in range(n):
        sm[j] = 0
    for r in range(R):
        gr = g[base + r * inner:base + r * inner + n]
        yr = y[base + r * inner:base + r * inner + n]
        for j in range(n):
            sm[j] += gr[j] * yr[j]
    for r in range(R):
        gr = g[base + r * inner:base + r * inner + n]
        yr = y[base + r * inner:base + r * inner + n]
        out = gx[base + r * inner:base + r * inner + n]
        for j in range(n):
            out[j] = yr[j] * (gr[j] - sm[j])


@njit(inline="always")
def _bwd_task(row_fn, strip_fn, g, y, gx, outer, R, inner, scratch, t, tasks):
    acc = scratch[t * 2 * LANES:(t + 1) * 2 * LANES]
    if inner == 1:
        for o in range(t, outer, tasks):
            lo = o * R
            row_fn(g[lo:lo + R], y[lo:lo + R], gx[lo:lo + R], acc)
        return
    strips = (inner + LANES - 1) // LANES
    for item in range(t, outer * strips, tasks):
        o = item // strips
        i0 = (item % strips) * LANES
        strip_fn(g, y, gx, o * R * inner + i0, R, inner, min(LANES, inner - i0), acc)


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def log_softmax_bwd_cpu(g, y, gx, outer, R, inner, scratch):
    """Gradient of log_softmax from its output y."""
    tasks = scratch.size // (2 * LANES)
    if g.size <= SERIAL_WORK:
        for t in range(tasks):
            _bwd_task(_log_softmax_bwd_row, _log_softmax_bwd_strip, g, y, gx, outer, R, inner, scratch, t, tasks)
    else:
        for t in prange(tasks):
            _bwd_task(_log_softmax_bwd_row, _log_softmax_bwd_strip, g, y, gx, outer, R, inner, scratch, t, tasks)


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def softmax_bwd_cpu(g, y, gx, outer, R, inner, scratch):
    """Gradient of softmax from its output y."""
    tasks = scratch.size // (2 * LANES)
    if g.size <= SERIAL_WORK:
        for t in range(tasks):
            _bwd_task(_softmax_bwd_row, _softmax_bwd_strip, g, y, gx, outer, R, inner, scratch, t, tasks)
    else:
        for t in prange(tasks):
            _bwd_task(_softmax_bwd_row, _softmax_bwd_strip, g, y, gx, outer, R, inner, scratch, t, tasks)


# CUDA: a block per row when rows are contiguous (inner == 1), reducing in
# shared memory; a thread per column otherwise (neighbouring threads read
# neighbouring columns, so loads coalesce). Shared arrays need a fixed dtype,
# hence one small kernel per accumulator dtype around shared device code.
#
# A row kernel makes two or three passes over its row (max, sum, output). When
# the row fits in ROW_CACHE_BYTES of dynamic shared memory, the first pass keeps
# each value it reads there and the later passes read that copy instead of global
# memory, as ATen's shared-memory softmax does. Thread t only ever touches the
# elements t, t + BLOCK_THREADS, ... of the row, so the copy needs no barriers.

ROW_CACHE_BYTES = 40 * 1024   # under the 48 KB a block may take without opting in


def row_cache_bytes(R, itemsize, copies):
    """Dynamic shared memory for `copies` cached rows of R elements (0: too long, read global)."""
    need = R * itemsize * copies
    return need if need <= ROW_CACHE_BYTES else 0


@cuda.jit(device=True)
def _larger(a, b):
    return b if b > a else a


@cuda.jit(device=True)
def _softmax_row_dev(x, y, base, R, buf, row, cached, log):
    t = cuda.threadIdx.x
    m = x[base]
    r = t
    while r + 3 * BLOCK_THREADS < R:  # the reading passes keep four loads in flight (kernels/_loops.py)
        i = base + r
        v0, v1, v2, v3 = x[i], x[i + BLOCK_THREADS], x[i + 2 * BLOCK_THREADS], x[i + 3 * BLOCK_THREADS]
        if cached:
            row[r], row[r + BLOCK_THREADS], row[r + 2 * BLOCK_THREADS], row[r + 3 * BLOCK_THREADS] = v0, v1, v2, v3
        m = _larger(_larger(m, v0), _larger(v1, _larger(v2, v3)))
        r += 4 * BLOCK_THREADS
    while r < R:
        v = x[base + r]
        if cached:
            row[r] = v
        m = _larger(m, v)
        r += BLOCK_THREADS
    m = block_reduce(buf, m, True)
    s = 0.0
    r = t
    while r + 3 * BLOCK_THREADS < R:
        if cached:
            v0, v1, v2, v3 = row[r], row[r + BLOCK_THREADS], row[r + 2 * BLOCK_THREADS], row[r + 3 * BLOCK_THREADS]
        else:
            i = base + r
            v0, v1, v2, v3 = x[i], x[i + BLOCK_THREADS], x[i + 2 * BLOCK_THREADS], x[i + 3 * BLOCK_THREADS]
        s += (math.exp(v0 - m) + math.exp(v1 - m)) + (math.exp(v2 - m) + math.exp(v3 - m))
        r += 4 * BLOCK_THREADS
    while r < R:
        s += math.exp((row[r] if cached else x[base + r]) - m)
        r += BLOCK_THREADS
    s = block_reduce(buf, s, False)
    if log:
        ls = math.log(s)
        for r in range(t, R, BLOCK_THREADS):
            y[base + r] = ((row[r] if cached else x[base + r]) - m) - ls
    else:
        for r in range(t, R, BLOCK_THREADS):
            y[base + r] = math.exp((row[r] if cached else x[base + r]) - m) / s


@cuda.jit(device=True)
def _softmax_bwd_row_dev(g, y, gx, base, R, buf, rows, cached, log):
    """rows (when cached): g's row at [0, R), y's at [R, 2R)."""
    t = cuda.threadIdx.x
    d = 0.0
    for r in range(t, R, BLOCK_THREADS):
        gv = g[base + r]
        yv = y[base + r]
        if cached:
            rows[r] = gv
            rows[R + r] = yv
        d += gv if log else gv * yv
    d = block_reduce(buf, d, False)
    for r in range(t, R, BLOCK_THREADS):
        if cached:
            gv = rows[r]
            yv = rows[R + r]
        else:
            gv = g[base + r]
            yv = y[base + r]
        gx[base + r] = gv - math.exp(yv) * d if log else yv * (gv - d)


@cuda.jit(cache=True)
def softmax_rows_f32_cuda(x, y, outer, R, log):
    buf = cuda.shared.array(BLOCK_THREADS, float32)
    row = cuda.shared.array(0, float32)
    cached = row.size >= R
    for o in range(cuda.blockIdx.x, outer, cuda.gridDim.x):
        _softmax_row_dev(x, y, o * R, R, buf, row, cached, log)


@cuda.jit(cache=True)
def softmax_rows_f64_cuda(x, y, outer, R, log):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    row = cuda.shared.array(0, float64)
    cached = row.size >= R
    for o in range(cuda.blockIdx.x, outer, cuda.gridDim.x):
        _softmax_row_dev(x, y, o * R, R, buf, row, cached, log)


@cuda.jit(cache=True)
def softmax_cols_cuda(x, y, outer, R, inner, log):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        m = x[base]
        for r in range(1, R):
            if x[base + r * inner] > m:
                m = x[base + r * inner]
        s = 0.0
        for r in range(R):
            s += math.exp(x[base + r * inner] - m)
        ls = math.log(s)
        for r in range(R):
            i = base + r * inner
            y[i] = (x[i] - m) - ls if log else math.exp(x[i] - m) / s


@cuda.jit(cache=True)
def softmax_bwd_rows_f32_cuda(g, y, gx, outer, R, log):
    buf = cuda.shared.array(BLOCK_THREADS, float32)
    rows = cuda.shared.array(0, float32)
    cached = rows.size >= 2 * R
    for o in range(cuda.blockIdx.x, outer, cuda.gridDim.x):
        _softmax_bwd_row_dev(g, y, gx, o * R, R, buf, rows, cached, log)


@cuda.jit(cache=True)
def softmax_bwd_rows_f64_cuda(g, y, gx, outer, R, log):
    buf = cuda.shared.array(BLOCK_THREADS, float64)
    rows = cuda.shared.array(0, float64)
    cached = rows.size >= 2 * R
    for o in range(cuda.blockIdx.x, outer, cuda.gridDim.x):
        _softmax_bwd_row_dev(g, y, gx, o * R, R, buf, rows, cached, log)


@cuda.jit(cache=True)
def softmax_bwd_cols_cuda(g, y, gx, outer, R, inner, log):
    for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        base = (t // inner) * R * inner + t % inner
        d = 0.0
        for r in range(R):
            i = base + r * inner
            d += g[i] if log else g[i] * y[i]
        for r in range(R):
            i = base + r * inner
            gx[i] = g[i] - math.exp(y[i]) * d if log else y[i] * (g[i] - d)


def softmax(x, y, outer, R, inner, scratch, log):
    """y = (log_)softmax(x) along R of the (outer, R, inner) layout, on x's device."""
    if type(x) is np.ndarray:
        (log_softmax_cpu if log else softmax_cpu)(x, y, outer, R, inner, scratch)
    elif inner == 1:
        kernel = softmax_rows_f64_cuda if x.dtype == np.float64 else softmax_rows_f32_cuda
        cache = row_cache_bytes(R, x.dtype.itemsize, 1)
        compiled(kernel)[(*grid_blocks(outer, BLOCK_THREADS), 0, cache)](x, y, outer, R, log)
    else:
        compiled(softmax_cols_cuda)[grid_1d(outer * inner)](x, y, outer, R, inner, log)


def softmax_bwd(g, y, gx, outer, R, inner, scratch, log):
    """gx from the output gradient g and the saved output y."""
    if type(g) is np.ndarray:
        (log_softmax_bwd_cpu if log else softmax_bwd_cpu)(g, y, gx, outer, R, inner, scratch)
    elif inner == 1:
        kernel = softmax_bwd_rows_f64_cuda if y.dtype == np.float64 else softmax_bwd_rows_f32_cuda
        cache = row_cache_bytes(R, y.dtype.itemsize, 2)
        compiled(kernel)[(*grid_blocks(outer, BLOCK_THREADS), 0, cache)](g, y, gx, outer, R, log)
    else:
        compiled(softmax_bwd_cols_cuda)[grid_1d(outer * inner)](g, y, gx, outer, R, inner, log)
