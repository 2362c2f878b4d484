"""CUDA launch sizing: the one place that decides grids and blocks.

Every CUDA kernel in nnlite is a grid-stride loop, so any grid size is
correct; the grid is capped so that huge tensors do not launch millions of
blocks. Under Numba's simulator each GPU thread is a Python thread, so the
helper launches a single small block and lets the threads stride: the same
kernels then test in seconds without a GPU.
"""
from .cuda import simulator_enabled

THREADS_PER_BLOCK = 256
MAX_BLOCKS = 4096          # enough to fill any current GPU several times over
SIM_THREADS = 32           # simulator: one warp-sized block, Python threads stride
GPU_SMS = 132              # an H100/H200; a GPU with more SMs is only filled less evenly
BLOCKS_PER_SM = 8          # 8 blocks of 256 threads: the 2048 threads an SM holds at once
SIM_FILL_BLOCKS = 4        # simulator: few, so that tiny shapes take the split-row paths


def grid_1d(work):
    """(blocks, threads) for a grid-stride loop over `work` items."""
    if simulator_enabled():
        return 1, max(1, min(SIM_THREADS, work))
    threads = THREADS_PER_BLOCK
    blocks = min(MAX_BLOCKS, max(1, (work + threads - 1) // threads))
    return blocks, threads


def grid_blocks(n_blocks, threads):
    """(blocks, threads) for kernels that need whole blocks (shared-memory tiles).

    The kernels loop over their block index with a stride of the grid size, so
    the simulator may run them with fewer blocks.
    """
    if simulator_enabled():
        return max(1, min(2, n_blocks)), threads
    return max(1, min(n_blocks, 65535)), threads


def fill_blocks():
    """Blocks of THREADS_PER_BLOCK threads that keep every SM of the GPU busy.

    Reductions with fewer rows than this split each row across blocks; under
    the simulator it is tiny, so that small test shapes take those paths too.
    """
    return SIM_FILL_BLOCKS if simulator_enabled() else GPU_SMS * BLOCKS_PER_SM
