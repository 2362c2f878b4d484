"""nnlite.cuda: is_available, synchronize, device_count, empty_cache, manual_seed."""
from .backend.cuda import context as _context, is_available as _is_available, numba_cuda
from .backend.cuda import simulator_enabled as _simulator_enabled


def is_available():
    """True when a CUDA GPU (or Numba's CUDA simulator) can run nnlite's kernels."""
    return _is_available()


def synchronize(device=None):
    """Wait for every kernel queued on the GPU (`device`: an index, "cuda:i" or a device)."""
    if not is_available():
        return
    if _simulator_enabled():
        numba_cuda().synchronize()
    else:
        _context(_device_index(device)).synchronize()


def _device_index(device):
    if device is None:  # the current device; asked only where there is a choice
        gpus = numba_cuda().gpus
        current = gpus.current if len(gpus) > 1 else None
        return current.id if current is not None else 0
    if isinstance(device, int):
        return device
    index = getattr(device, "index", None)
    if index is None and isinstance(device, str):
        index = int(device.split(":")[1]) if ":" in device else 0
    return index or 0


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
