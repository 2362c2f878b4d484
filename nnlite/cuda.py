"""nnlite.cuda: is_available, synchronize, device_count, empty_cache, manual_seed."""
from .backend.cuda import is_available as _is_available, numba_cuda


def is_available():
    """True when a CUDA GPU (or Numba's CUDA simulator) can run nnlite's kernels."""
    return _is_available()


def synchronize(device=None):
    if is_available():
        numba_cuda().synchronize()


def device_count():
    if not is_available():
        return 0
    return len(numba_cuda().gpus)


def current_device():
    return numba_cuda().get_current_device().id if is_available() else 0


def empty_cache():
    from .backend.memory import _device_pools
    _device_pools.clear()


def manual_seed(seed):
    from .backend.random import default_generator
    for i in range(max(device_count(), 1)):
        default_generator(f"cuda:{i}").manual_seed(seed)


manual_seed_all = manual_seed
