"""Block-wide reductions for CUDA kernels: every thread of a block gives a value
and every thread gets back the block's sum, product, max or min, or the block's
(value, index) winner of an arg-max/arg-min.

Kernels that reduce a row (softmax, the norms, the reductions) launch blocks of
BLOCK_THREADS threads and pass a shared array of BLOCK_THREADS elements of the
accumulator's dtype. A shared-memory tree halves the active threads until one
warp holds the partials; on a GPU that warp finishes with register shuffles
(no shared memory, no barriers between the last five steps). Numba's simulator
has no shuffles and runs a Python thread per GPU thread, so there the blocks are
small and the tree runs down to one thread: the same code, minus the tail.

Shuffles move 32- and 64-bit ints and floats only: keep the shared arrays (and
the values handed in) int32/int64/float32/float64.

Every thread of the block must call these functions (they hold barriers): call
them outside any branch that depends on the thread.
"""
from ..backend.cuda import SIMULATOR, cuda

BLOCK_THREADS = 8 if SIMULATOR else 256    # threads per block of a row reduction
WARP = 32
FULL_MASK = 0xFFFFFFFF
TREE_STOP = 1 if SIMULATOR else WARP       # the shared-memory tree stops at this many partials

ADD, MUL, MAX, MIN = range(4)              # how block_combine merges two values


@cuda.jit(device=True)
def combine_how(a, b, how):
    """a + b, a * b, or the larger (smaller) of a and b with NaN winning (it propagates,
    as in torch). a and b have one type."""
    if how == ADD:
        return a + b
    if how == MUL:
        return a * b
    better = b > a if how == MAX else b < a
    return b if (better or b != b) else a


@cuda.jit(device=True)
def combine(a, b, take_max):
    """a + b, or the larger of a and b with NaN winning."""
    return combine_how(a, b, MAX if take_max else ADD)


@cuda.jit(device=True)
def block_combine(buf, v, how):
    """v merged over the block's threads (how: ADD, MUL, MAX, MIN), returned to every thread."""
    t = cuda.threadIdx.x
    buf[t] = v
    cuda.syncthreads()
    h = BLOCK_THREADS // 2
    while h >= TREE_STOP:
        if t < h:
            buf[t] = combine_how(buf[t], buf[t + h], how)
        cuda.syncthreads()
        h //= 2
    if TREE_STOP > 1:                    # one warp holds the partials: finish in registers
        if t < WARP:                     # the whole of warp 0, so the full mask is right
            r = buf[t]
            off = WARP // 2
            while off > 0:
                r = combine_how(r, cuda.shfl_down_sync(FULL_MASK, r, off), how)
                off //= 2
            if t == 0:
                buf[0] = r
        cuda.syncthreads()
    r = buf[0]
    cuda.syncthreads()                   # buf is reused by the next reduction
    return r


@cuda.jit(device=True)
def block_reduce(buf, v, take_max):
    """Max or sum of v over the block's threads, returned to every thread."""
    return block_combine(buf, v, MAX if take_max else ADD)


@cuda.jit(device=True)
def arg_wins(v, i, best, best_i, largest):
    """(v, i) replaces (best, best_i) as the arg-max (arg-min): v is better, or v is
    NaN (NaN counts as the extreme, as in torch) and best is not, or the two tie and
    i comes first. A total order, so any merge order finds the first index of the extreme."""
    if v != v:
        return best == best or i < best_i
    better = v > best if largest else v < best
    return better or (v == best and i < best_i)


@cuda.jit(device=True)
def block_arg(vbuf, ibuf, v, i, largest):
    """The winning (value, index) of the block's threads' pairs, returned to every thread."""
    t = cuda.threadIdx.x
    vbuf[t] = v
    ibuf[t] = i
    cuda.syncthreads()
    h = BLOCK_THREADS // 2
    while h >= TREE_STOP:
        if t < h and arg_wins(vbuf[t + h], ibuf[t + h], vbuf[t], ibuf[t], largest):
            vbuf[t] = vbuf[t + h]
            ibuf[t] = ibuf[t + h]
        cuda.syncthreads()
        h //= 2
    if TREE_STOP > 1:                    # warp 0 finishes in registers, shuffling both halves of the pair
        if t < WARP:
            rv = vbuf[t]
            ri = ibuf[t]
            off = WARP // 2
            while off > 0:
                ov = cuda.shfl_down_sync(FULL_MASK, rv, off)
                oi = cuda.shfl_down_sync(FULL_MASK, ri, off)
                if arg_wins(ov, oi, rv, ri, largest):
                    rv = ov
                    ri = oi
                off //= 2
            if t == 0:
                vbuf[0] = rv
                ibuf[0] = ri
        cuda.syncthreads()
    rv = vbuf[0]
    ri = ibuf[0]
    cuda.syncthreads()
    return rv, ri
