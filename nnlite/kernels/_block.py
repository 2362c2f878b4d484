"""Block-wide reductions for CUDA kernels: every thread of a block gives a value
and every thread gets back the block's sum or max.

Kernels that reduce a row (softmax, the norms, the reductions) launch blocks of
BLOCK_THREADS threads and pass a shared array of BLOCK_THREADS elements of the
accumulator's dtype. A shared-memory tree halves the active threads until one
warp holds the partials; on a GPU that warp finishes with register shuffles
(no shared memory, no barriers between the last five steps). Numba's simulator
has no shuffles and runs a Python thread per GPU thread, so there the blocks are
small and the tree runs down to one thread: the same code, minus the tail.
"""
from ..backend.cuda import SIMULATOR, cuda

BLOCK_THREADS = 8 if SIMULATOR else 256    # threads per block of a row reduction
WARP = 32
FULL_MASK = 0xFFFFFFFF
TREE_STOP = 1 if SIMULATOR else WARP       # the shared-memory tree stops at this many partials


@cuda.jit(device=True)
def combine(a, b, take_max):
    """a + b, or the larger of a and b with NaN winning (it propagates, as in torch)."""
    if not take_max:
        return a + b
    return b if (b > a or b != b) else a


@cuda.jit(device=True)
def block_reduce(buf, v, take_max):
    """Max or sum of v over the block's threads, returned to every thread."""
    t = cuda.threadIdx.x
    buf[t] = v
    cuda.syncthreads()
    h = BLOCK_THREADS // 2
    while h >= TREE_STOP:
        if t < h:
            buf[t] = combine(buf[t], buf[t + h], take_max)
        cuda.syncthreads()
        h //= 2
    if TREE_STOP > 1:                    # one warp holds the partials: finish in registers
        if t < WARP:
            r = buf[t]
            off = WARP // 2
            while off > 0:
                r = combine(r, cuda.shfl_down_sync(FULL_MASK, r, off), take_max)
                off //= 2
            if t == 0:
                buf[0] = r
        cuda.syncthreads()
    r = buf[0]
    cuda.syncthreads()                   # buf is reused by the next reduction
    return r
