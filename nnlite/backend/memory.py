"""Allocation and copies, per device, through caching allocators.

A fresh 64 MB numpy array costs 20-30 ms of page faults here, more than the
kernel that fills it, and CUDA device allocation synchronises the GPU. So, like
PyTorch's CUDA caching allocator, freed blocks of large arrays go back to a
per-device pool keyed by rounded size, and the next allocation of that size
reuses them: a training step reuses the buffers of the previous one.

A block returns to the pool when the last array viewing it dies. On the CPU
the arrays view a `_HostBlock` (through numpy's `__array_interface__`, so the
block is their base); its `__del__` hands the raw buffer back. On CUDA the
device array's memory pointer carries a finalizer that does the same.
"""
import numpy as np

from .cuda import context, gpu, numba_cuda, simulator_enabled

SMALL_BYTES = 1 << 16        # below this, plain np.empty is as fast as any pool


def _round_size(nbytes):
    """Round up to 1/8 of the next power of two: reuse across near sizes, <12.5% waste."""
    if nbytes <= 4096:
        return 4096
    step = 1 << max(12, nbytes.bit_length() - 4)
    return (nbytes + step - 1) // step * step


class _Pool:
    """Free blocks by rounded size, with a cap on what is kept."""

    def __init__(self, limit_bytes):
        self.free = {}
        self.cached_bytes = 0
        self.limit_bytes = limit_bytes

    def take(self, size):
        blocks = self.free.get(size)
        if blocks:
            self.cached_bytes -= size
            return blocks.pop()
        return None

    def give(self, size, raw):
        if self.cached_bytes + size > self.limit_bytes:
            return  # let it go; the pool stays bounded
        self.free.setdefault(size, []).append(raw)
        self.cached_bytes += size

    def clear(self):
        self.free.clear()
        self.cached_bytes = 0


class _HostBlock:
    """Owner of one pooled host buffer; numpy arrays built on it keep it alive."""

    __slots__ = ("raw", "size", "pool", "__array_interface__")

    def __init__(self, raw, size, pool, nbytes):
        self.raw = raw
        self.size = size
        self.pool = pool
        self.__array_interface__ = {
            "shape": (nbytes,), "typestr": "|u1", "version": 3,
            "data": (raw.ctypes.data, False),
        }

    def __del__(self):
        self.pool.give(self.size, self.raw)


_host_pool = _Pool(limit_bytes=8 << 30)


def host_empty(shape, np_dtype):
    """An uninitialised C-contiguous numpy array, from the host pool when large."""
    nbytes = np_dtype.itemsize
    for s in shape:
        nbytes *= s
    if nbytes < SMALL_BYTES:
        return np.empty(shape, np_dtype)
    size = _round_size(nbytes)
    raw = _host_pool.take(size)
    if raw is None:
        try:
            raw = np.empty(size, np.uint8)
        except MemoryError:
            _host_pool.clear()
            raw = np.empty(size, np.uint8)
    block = _HostBlock(raw, size, _host_pool, nbytes)
    return np.asarray(block).view(np_dtype).reshape(shape)


# ---------------------------------------------------------------- CUDA side


class _DevicePools:
    """One pool per GPU; blocks come back through memory-pointer finalizers."""

    def __init__(self):
        self.pools = {}

    def empty(self, shape, np_dtype, index):
        nbytes = np_dtype.itemsize
        for s in shape:
            nbytes *= s
        if simulator_enabled() or nbytes == 0:
            return numba_cuda().device_array(shape, np_dtype)
        from numba.cuda.cudadrv.devicearray import DeviceNDArray

        pool = self.pools.get(index)
        if pool is None:
            pool = self.pools[index] = _Pool(limit_bytes=1 << 62)
        ctx = context(index)
        size = _round_size(nbytes)
        raw = pool.take(size)
        if raw is None:
            raw = _device_alloc(ctx, pool, size)
        strides = _c_strides(shape, np_dtype.itemsize)
        return DeviceNDArray(shape, strides, np_dtype, gpu_data=pooled_pointer(ctx, pool, size, raw))

    def clear(self):
        for pool in self.pools.values():
            pool.clear()


def _device_alloc(ctx, pool, size):
    try:
        return ctx.memalloc(size)
    except Exception:
        # out of memory, or no context current on this thread yet: make the
        # context current, give the cached blocks back, and try once more
        numba_cuda().current_context()
        pool.clear()
        return ctx.memalloc(size)


# A pooled block goes back to its pool when the last array *or view* on it dies. numba's
# views (gpu_data.view(offset), used by slicing and strided views) do not hold their
# parent pointer: they count references on its owner (MemoryPointer.refct) through a
# weak proxy, as numba's own AutoFreePointer expects. A plain MemoryPointer with a
# finalizer went back to the pool when the base array died, while a view still read
# the block: the next allocation of that size then overwrote the view's data (seen on
# an H200 as wrong attention gradients). So a pooled block is a reference-counted
# pointer, kept alive here until its count reaches zero, and arrays hold its `own()`.
_live_blocks = {}
_pooled_type = []


def _pooled_pointer_type():
    """MemoryPointer that, like numba's AutoFreePointer, frees when its count reaches zero
    (defined on first use: numba.cuda is imported only when CUDA is used)."""
    if not _pooled_type:
        from numba.cuda.cudadrv.driver import MemoryPointer

        class PooledPointer(MemoryPointer):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.refct -= 1  # the references are the OwnedPointers of arrays and views

        _pooled_type.append(PooledPointer)
    return _pooled_type[0]


def pooled_pointer(ctx, pool, size, raw):
    """The gpu_data (an OwnedPointer) of a new array on pool block `raw` of `size` bytes."""
    returner = _Returner(pool, size, raw)
    ptr = _pooled_pointer_type()(ctx, raw.device_pointer, size, finalizer=returner)
    returner.key = id(ptr)
    _live_blocks[returner.key] = ptr
    return ptr.own()


class _Returner:
    __slots__ = ("pool", "size", "raw", "key")

    def __init__(self, pool, size, raw):
        self.pool, self.size, self.raw, self.key = pool, size, raw, None

    def __call__(self):
        _live_blocks.pop(self.key, None)
        self.pool.give(self.size, self.raw)


_device_pools = _DevicePools()


def _c_strides(shape, itemsize):
    strides = []
    acc = itemsize
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(strides))


def device_empty(shape, np_dtype, index=0):
    with cuda_device(index):
        return _device_pools.empty(tuple(shape), np_dtype, index)


def device_index_of(a):
    """The GPU a device array lives on (0 under the simulator, which has one)."""
    try:
        return a.gpu_data.context.device.id if hasattr(a, "gpu_data") else 0
    except Exception:  # the simulator's arrays have no context
        return 0


def empty_cache():
    """Release the cached blocks of every device back to the system."""
    _host_pool.clear()
    _device_pools.clear()


class _NullContext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL = _NullContext()


def cuda_device(index):
    """Context manager making GPU `index` current (a no-op for GPU 0 on one-GPU hosts)."""
    if not index:
        return _NULL
    return gpu(index)


# ------------------------------------------------------------------ copies


def is_cuda_array(a):
    return type(a) is not np.ndarray and hasattr(a, "__cuda_array_interface__") or _is_fake(a)


def _is_fake(a):
    return type(a).__name__ == "FakeCUDAArray"


def to_host(a):
    """A numpy copy of a device array (a no-op for numpy arrays)."""
    if type(a) is np.ndarray:
        return a
    if not _is_contiguous_device(a):
        from ..kernels.copy import materialise  # strided gather on the device first
        a = materialise(a)
    return a.copy_to_host()


def to_device(a, index=0):
    """A device copy of a numpy array."""
    if not a.flags.c_contiguous:
        a = a.copy(order="C")
    out = device_empty(a.shape, a.dtype, index)
    if a.size:
        out.copy_to_device(a)
    return out


def _is_contiguous_device(a):
    return a.is_c_contiguous()


def device_view(a, shape, strides, offset_bytes=0):
    """A strided view of a device array, starting `offset_bytes` after it (no copy)."""
    if _is_fake(a):  # the simulator's device arrays wrap numpy arrays
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        return FakeCUDAArray(host_view(a._ary, shape, strides, offset_bytes))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    if 0 in tuple(shape):
        offset_bytes = 0  # an empty view reads nothing; numba refuses offsets into an empty buffer
    data = a.gpu_data.view(offset_bytes) if offset_bytes else a.gpu_data
    return DeviceNDArray(tuple(shape), tuple(strides), a.dtype, gpu_data=data)


def host_view(a, shape, strides, offset_bytes=0):
    """numpy's as_strided, starting `offset_bytes` after `a`'s first element."""
    as_strided = np.lib.stride_tricks.as_strided
    if offset_bytes:
        n = offset_bytes // a.itemsize
        a = as_strided(a, shape=(n + 1,), strides=(a.itemsize,))[n:]
    return as_strided(a, shape=tuple(shape), strides=tuple(strides), writeable=True)
