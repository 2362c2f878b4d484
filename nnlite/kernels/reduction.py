"""Reduction kernels, forward and backward, over the (outer, R, inner) layout:
sum, prod, count_nonzero, amax/amin, argmax/argmin and their gradients. The
float64-accumulated ones (norm, var, logsumexp, tie counts) are in
kernels/reduction_float.py, on the CUDA launch plan defined here.

The loops live in kernels/_reduce_loops.py; each CPU kernel here hands them
its scalar function or op flag.

On CUDA the forward reductions here share two loops, each with an op code:
`accumulate_dev` (sum, prod, count_nonzero, amax, amin, in an exact
accumulator: float64, or int64 for integers; a kernel per op calls it) and
`arg_cuda` (argmax/argmin, max/min with indices).
A block of BLOCK_THREADS threads reduces each contiguous row (inner == 1),
reading it with coalesced strided loads and merging in _block.py's tree;
otherwise a thread reduces each output, neighbouring threads reading
neighbouring columns. When the outputs are too few to fill the GPU
(`x.sum()`: one output) each output's rows are split into parts: blocks
(threads) write partial results into the `partial` scratch and a second launch
of the same kernel merges them in a fixed order, so results are deterministic
without atomics. `cuda_plan` (_reduce_loops.py) decides.
The backward spreads use one thread per output (per element) in
grid-stride loops.
"""
import math

from numba import int64, njit, prange

from ..backend.cuda import compiled, cuda
from ..backend.kernel_pair import KernelPair
from ..backend.launch import grid_blocks
from ._block import ADD, BLOCK_THREADS, MAX, MIN, MUL, arg_wins, block_arg, block_combine, combine_how
from ._reduce_loops import (SERIAL_WORK, STRIP, _accumulate, _add, _arg, _fold,
                            _merge_add, _prod_bwd_row, _prod_bwd_strip, _scatter_rows, _spread, cuda_plan, cuda_rows,
                            is_tie_dev)
# (op codes and scratch sizes, for the functional layer)
from ._reduce_loops import (CENTER, SHARE, SOFTMAX, accumulate_scratch_size, arg_scratch_size,  # noqa: F401
                            cuda_partials_size, fold_scratch_size)

sum_scratch_size = accumulate_scratch_size


# ---------------------------------------------------------------- CUDA: launching the forward reductions

class ReductionPair(KernelPair):
    """A KernelPair whose CUDA side is a launch function (cuda_plan's grid, then
    the merge of split rows) rather than one grid-stride kernel launch."""
    __slots__ = ("cuda_launch",)

    def __init__(self, cpu, cuda_kernel, cuda_launch, *cuda_args):
        super().__init__(cpu, cuda_kernel, *cuda_args)
        self.cuda_launch = cuda_launch

    def launch(self, work, *args):
        return self.cuda_launch(*args, *self.cuda_args)


def _launch(kernel, x, partial, arrays, outer, R, inner, scalars):
    """Run a forward reduction kernel, called as kernel(source, *arrays, outer, R,
    inner, parts, rows, *scalars, merging), over the layout as cuda_plan says.

    When rows are split into parts, the first launch leaves each output's partial
    results in `partial` (n_out rows of `parts`) and a second launch of the same
    kernel reduces those rows (merging=True) and finishes the outputs.
    """
    rows, parts = cuda_plan(outer, R, inner)
    launch = compiled(kernel)
    launch[_grid(rows, outer, inner, parts)](x, *arrays, outer, R, inner, parts, rows, *scalars, False)
    if parts > 1:
        n_out = outer * inner
        rows = cuda_rows(parts, 1)
        launch[_grid(rows, n_out, 1, 1)](partial, *arrays, n_out, parts, 1, 1, rows, *scalars, True)


def _grid(rows, outer, inner, parts):
    """A block per part of a row, or a thread per part of a column."""
    tasks = outer * inner * parts
    return grid_blocks(tasks if rows else (tasks + BLOCK_THREADS - 1) // BLOCK_THREADS, BLOCK_THREADS)


@cuda.jit(device=True)
def _row_range(task, parts, R):
    """Elements [lo, hi) of a block's task: part task % parts of row task // parts."""
    o = task // parts
    p = task % parts
    return o * R + p * R // parts, o * R + (p + 1) * R // parts


@cuda.jit(device=True)
def _column_range(t, n_out, parts, R, inner):
    """(output k, its first element, rows [r0, r1)) of a thread's task t. Neighbouring
    tasks are neighbouring outputs, so a warp's loads coalesce."""
    k = t % n_out
    p = t // n_out
    return k, (k // inner) * R * inner + k % inner, p * R // parts, (p + 1) * R // parts


@cuda.jit(device=True)
def _as(cast, v):
    # v in cast's dtype: Numba cannot convert to a dtype taken from an argument,
    # but storing into a one-element local array of that dtype does.
    cast[0] = v
    return cast[0]


# ---------------------------------------------------------------- sum, prod, count

@njit(parallel=True, cache=True, fastmath={"reassoc"})
def sum_cpu(x, out, outer, R, inner, partial, zero):
    """out[k] = sum_r x[o, r, i]; `zero` is the accumulator's zero (float64 or int64)."""
    _accumulate(_add, _merge_add, x, out, 0, out, outer, R, inner, partial, zero)


SUM, PROD, NONZERO, AMAX, AMIN = range(5)  # accumulate_dev's ops


@cuda.jit(device=True)
def _how(op):
    """How two accumulators of op merge (_block's ADD, MUL, MAX, MIN)."""
    if op == PROD:
        return MUL
    if op == AMAX:
        return MAX
    if op == AMIN:
        return MIN
    return ADD


@cuda.jit(device=True)
def _take(acc, v, cast, op, merging):
    """acc with one more element v, or with another part's result when merging."""
    if op == NONZERO and not merging:
        return acc + (1 if v != 0 else 0)  # test v itself: in an int64 accumulator 0.5 would be 0
    return combine_how(acc, _as(cast, v), _how(op))


@cuda.jit(device=True)
def _store(out, partial, k, slot, parts, acc):
    """Output k, or its partial result in `slot` when its rows are split into parts."""
    if parts == 1:
        out[k] = acc
    else:
        partial[slot] = acc


@cuda.jit(device=True, forceinline=True)
def accumulate_dev(x, out, partial, outer, R, inner, parts, rows, init, op, merging):
    # Accumulates in partial's dtype (init's): float64, or int64 for integers,
    # which warps can shuffle and which hold every input exactly.
    buf = cuda.shared.array(BLOCK_THREADS, partial.dtype)
    cast = cuda.local.array(1, partial.dtype)
    if rows:  # a block per part of a row; `rows` and the task loop are uniform over the block
        for task in range(cuda.blockIdx.x, outer * parts, cuda.gridDim.x):
            lo, hi = _row_range(task, parts, R)
            acc = init
            e = lo + cuda.threadIdx.x
            while e + 3 * BLOCK_THREADS < hi:  # four loads in flight per thread (kernels/_loops.py)
                v0, v1, v2, v3 = x[e], x[e + BLOCK_THREADS], x[e + 2 * BLOCK_THREADS], x[e + 3 * BLOCK_THREADS]
                acc = _take(acc, v0, cast, op, merging)
                acc = _take(acc, v1, cast, op, merging)
                acc = _take(acc, v2, cast, op, merging)
                acc = _take(acc, v3, cast, op, merging)
                e += 4 * BLOCK_THREADS
            while e < hi:
                acc = _take(acc, x[e], cast, op, merging)
                e += BLOCK_THREADS
            acc = block_combine(buf, acc, _how(op))
            if cuda.threadIdx.x == 0:
                _store(out, partial, task // parts, task, parts, acc)
    else:
        n_out = outer * inner
        for t in range(cuda.grid(1), n_out * parts, cuda.gridsize(1)):
            k, base, r0, r1 = _column_range(t, n_out, parts, R, inner)
            acc = init
            r = r0
            while r + 3 < r1:  # four loads in flight per thread
                e = base + r * inner
                v0, v1, v2, v3 = x[e], x[e + inner], x[e + 2 * inner], x[e + 3 * inner]
                acc = _take(acc, v0, cast, op, merging)
                acc = _take(acc, v1, cast, op, merging)
                acc = _take(acc, v2, cast, op, merging)
                acc = _take(acc, v3, cast, op, merging)
                r += 4
            while r < r1:
                acc = _take(acc, x[base + r * inner], cast, op, merging)
                r += 1
            _store(out, partial, k, k * parts + t // n_out, parts, acc)


# A kernel per op, each accumulate_dev with its op as a constant: NVVM inlines it
# (forceinline) and folds the op's branches away. With the op a run-time argument
# every element went through _take's and combine_how's op dispatch: the float32
# sum's four-element row loop was 154 PTX instructions, now 37 (cuda.compile_ptx
# for sm_90, before and after).

@cuda.jit(cache=True)
def sum_cuda(x, out, partial, outer, R, inner, parts, rows, init, merging):
    accumulate_dev(x, out, partial, outer, R, inner, parts, rows, init, SUM, merging)


@cuda.jit(cache=True)
def prod_cuda(x, out, partial, outer, R, inner, parts, rows, init, merging):
    accumulate_dev(x, out, partial, outer, R, inner, parts, rows, init, PROD, merging)


@cuda.jit(cache=True)
def count_nonzero_cuda(x, out, partial, outer, R, inner, parts, rows, init, merging):
    accumulate_dev(x, out, partial, outer, R, inner, parts, rows, init, NONZERO, merging)


@cuda.jit(cache=True)
def amax_cuda(x, out, partial, outer, R, inner, parts, rows, init, merging):
    accumulate_dev(x, out, partial, outer, R, inner, parts, rows, init, AMAX, merging)


@cuda.jit(cache=True)
def amin_cuda(x, out, partial, outer, R, inner, parts, rows, init, merging):
    accumulate_dev(x, out, partial, outer, R, inner, parts, rows, init, AMIN, merging)


ACCUMULATE_CUDA = (sum_cuda, prod_cuda, count_nonzero_cuda, amax_cuda, amin_cuda)   # by op code


def _accumulate_launch(x, out, outer, R, inner, partial, init, op):
    _launch(ACCUMULATE_CUDA[op], x, partial, (out, partial), outer, R, inner, (partial.dtype.type(init),))


sum_ = ReductionPair(sum_cpu, sum_cuda, _accumulate_launch, SUM)


@njit(inline="always")
def _mul(acc, v, c, s):
    return acc * v


@njit(inline="always")
def _merge_mul(a, b):
    return a * b


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def prod_cpu(x, out, outer, R, inner, partial, one):
    _accumulate(_mul, _merge_mul, x, out, 0, out, outer, R, inner, partial, one)


prod = ReductionPair(prod_cpu, prod_cuda, _accumulate_launch, PROD)


@njit(inline="always")
def _add_nonzero(acc, v, c, s):
    return acc + (1 if v != 0 else 0)


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def count_nonzero_cpu(x, out, outer, R, inner, partial, zero):
    """out[k] = the number of nonzero x[o, :, i] (all, any, the 0-norm)."""
    _accumulate(_add_nonzero, _merge_add, x, out, 0, out, outer, R, inner, partial, zero)


count_nonzero = ReductionPair(count_nonzero_cpu, count_nonzero_cuda, _accumulate_launch, NONZERO)


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


# ---------------------------------------------------------------- max, min

@njit(parallel=True, cache=True)
def extreme_cpu(x, out, outer, R, inner, lanes, init, workers, largest):
    """out[k] = max_r (largest) or min_r x[o, r, i], NaN propagating; init is the
    dtype's lowest (highest) value."""
    _fold(x, out, outer, R, inner, lanes, init, workers, largest)


def _extreme_launch(x, out, outer, R, inner, partial, init, workers, largest):
    """amax/amin on CUDA: amax_cuda/amin_cuda in partial's dtype (float64 or int64, see
    _block.py: warps shuffle no narrower types); init is converted to it."""
    _accumulate_launch(x, out, outer, R, inner, partial, init, AMAX if largest else AMIN)


extreme = ReductionPair(extreme_cpu, amax_cuda, _extreme_launch)


@njit(parallel=True, cache=True)
def arg_cpu(x, values, indices, outer, R, inner, part_values, part_indices, largest):
    """values[k], indices[k] = the max (largest) or min of x[o, :, i] and its first index."""
    _arg(x, values, indices, outer, R, inner, part_values, part_indices, largest)


@cuda.jit(device=True)
def _position(positions, e, r, merging):
    """The row index of element e: r, or the index a part found when merging parts."""
    return positions[e] if merging else r


@cuda.jit(device=True)
def _store_arg(values, indices, part_values, part_indices, k, slot, parts, best, index):
    if parts == 1:
        values[k] = best
        indices[k] = index
    else:
        part_values[slot] = best
        part_indices[slot] = index


@cuda.jit(cache=True)
def arg_cuda(x, positions, values, indices, part_values, part_indices, outer, R, inner, parts, rows, largest,
             merging):
    # Values compare in part_values' dtype (float64 or int64, which warps shuffle);
    # arg_wins keeps the first index of the extreme whatever the merge order.
    vbuf = cuda.shared.array(BLOCK_THREADS, part_values.dtype)
    ibuf = cuda.shared.array(BLOCK_THREADS, int64)
    cast = cuda.local.array(1, part_values.dtype)
    if rows:  # a block per part of a row; `rows` and the task loop are uniform over the block
        for task in range(cuda.blockIdx.x, outer * parts, cuda.gridDim.x):
            lo, hi = _row_range(task, parts, R)
            start = (task // parts) * R
            # Every thread starts from the part's first element, a real candidate,
            # so threads that get no element of a short row change nothing.
            best = _as(cast, x[lo])
            index = _position(positions, lo, lo - start, merging)
            for e in range(lo + cuda.threadIdx.x, hi, BLOCK_THREADS):
                v = _as(cast, x[e])
                i = _position(positions, e, e - start, merging)
                if arg_wins(v, i, best, index, largest):
                    best = v
                    index = i
            best, index = block_arg(vbuf, ibuf, best, index, largest)
            if cuda.threadIdx.x == 0:
                _store_arg(values, indices, part_values, part_indices, task // parts, task, parts, best, index)
    else:
        n_out = outer * inner
        for t in range(cuda.grid(1), n_out * parts, cuda.gridsize(1)):
            k, base, r0, r1 = _column_range(t, n_out, parts, R, inner)
            best = _as(cast, x[base + r0 * inner])
            index = _position(positions, base + r0 * inner, r0, merging)
            for r in range(r0 + 1, r1):
                v = _as(cast, x[base + r * inner])
                i = _position(positions, base + r * inner, r, merging)
                if arg_wins(v, i, best, index, largest):
                    best = v
                    index = i
            _store_arg(values, indices, part_values, part_indices, k, k * parts + t // n_out, parts, best, index)


def _arg_launch(x, values, indices, outer, R, inner, part_values, part_indices, largest):
    """part_values: float64 or int64 on CUDA; merging reads the parts' values and indices."""
    _launch(arg_cuda, x, part_values, (part_indices, values, indices, part_values, part_indices),
            outer, R, inner, (largest,))


arg = ReductionPair(arg_cpu, arg_cuda, _arg_launch)


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
