"""Kernel launches that skip numba-cuda's per-call host work once a signature is known.

`kernel[grid, block](*args)` in numba-cuda types every argument (device arrays
through Python's typeof machinery), asks the driver for the current context to
find the loaded function, and marshals each argument through ArgHint wrappers
and a chain of isinstance checks. On an H200's host that came to about 80 us a
launch, against 7 us for a torch op, and most small-op rows of the CUDA bench
(and the digits example's step) were that host time.

nnlite launches a few hundred kernels with a few argument types each, over and
over. So a `Launch` lets numba do all of the above once per (kernel, argument
types): the first call of each signature is numba's own call, unchanged. It then keeps the loaded function, and later calls with the
same argument types pack the kernel parameters exactly as numba's
`_Kernel._prepare_args` does and call the same cuda.core `launch` that numba
calls. Packing is checked against numba's own marshalling of that first call
(and in tests/test_fast_launch.py), so a numba-cuda that lays parameters out
differently, or whose internals moved, keeps its own path.

Anything it has not seen exactly goes through numba every time: an argument
that is not a numba device array or a plain scalar, a debug, cooperative or
launch-configuration-sensitive kernel, a kernel with argument extensions or
pre-launch callbacks, a machine with more than one GPU (numba picks the current
context on every call), and the first launch of each thread (numba makes the
context current there). NNLITE_FAST_LAUNCH=0 turns the whole path off. Under
Numba's simulator it never runs: `compiled()` hands out numba's dispatcher.
"""
import ctypes
import os
import threading

import numpy as np

ENABLED = os.environ.get("NNLITE_FAST_LAUNCH", "1") not in ("", "0")

_INT64_LIMIT = 1 << 63
# How numba's _prepare_args passes a scalar of each Python type (numba types a Python
# int as int64, a float as float64; a bool, numpy's included, goes in as it is).
_SCALARS = {
    int: ctypes.c_int64, float: ctypes.c_double, bool: None, np.bool_: None,
    np.float64: ctypes.c_double, np.float32: ctypes.c_float,
    np.int64: ctypes.c_int64, np.int32: ctypes.c_int32, np.int16: ctypes.c_int16, np.int8: ctypes.c_int8,
    np.uint64: ctypes.c_uint64, np.uint32: ctypes.c_uint32, np.uint16: ctypes.c_uint16,
    np.uint8: ctypes.c_uint8,
}

_thread = threading.local()   # .ready: this thread has launched through numba (its context is current)
_numba = None                 # what the fast path borrows from numba-cuda, bound on first use


class _Numba:
    """The numba-cuda names the fast path uses, looked up once."""

    def __init__(self):
        from numba.cuda import dispatcher, gpus
        from numba.cuda.cudadrv.devicearray import DeviceNDArray
        from numba.cuda.typing.typeof import Purpose, typeof
        self.DeviceNDArray = DeviceNDArray
        self.launch = dispatcher.launch               # cuda.core's launch, as numba calls it
        self.LaunchConfig = dispatcher.LaunchConfig
        self.cooperative_keyword = "is_cooperative" if dispatcher.CUDA_CORE_GE_1_0 else "cooperative_launch"
        self.typeof = lambda value: typeof(value, Purpose.argument)
        try:
            self.one_gpu = len(gpus) == 1
        except Exception:  # no driver: numba's own launch raises its error
            self.one_gpu = False


def numba_parts():
    """The numba-cuda names the fast path needs, or None when this numba-cuda lacks
    them (then every launch is numba's own)."""
    global _numba
    if _numba is None:
        try:
            _numba = _Numba()
        except Exception:
            _numba = False
    return _numba or None


def _comparable(params):
    return [(type(p), p.value if isinstance(p, ctypes._SimpleCData) else p) for p in params]


def _layout(a):
    """The layout letter numba types a device array with (DeviceNDArray._numba_type_'s
    rule: a broadcast array is 'A'), without building the numba type (5 us a fresh array)."""
    if 0 in a.strides and a.size:
        return "A"
    flags = a.flags
    return "C" if flags["C_CONTIGUOUS"] else "F" if flags["F_CONTIGUOUS"] else "A"


def pack(args, device_array_type):
    """(key, params) for a launch with `args`: equal keys mean equal numba argument
    types (an array by dtype, ndim and layout, a scalar by its Python type), and
    params are numba's kernel parameters for them (for an array: meminfo, parent,
    size, itemsize, data pointer, shape, strides in bytes). None when an argument
    is of a kind this path does not pack."""
    key = []
    params = []
    for a in args:
        kind = type(a)
        if kind is device_array_type:
            key.append((a.dtype, a.ndim, _layout(a)))
            params += (0, 0, a.size, a.dtype.itemsize, a.device_ctypes_pointer.value)
            params += a.shape
            params += a.strides
            continue
        if kind not in _SCALARS or (kind is int and not -_INT64_LIMIT < a < _INT64_LIMIT):
            return None
        key.append(kind)
        convert = _SCALARS[kind]
        params.append(a if convert is None else convert(a))
    return tuple(key), params


class FastKernel:
    """Stands in for a numba CUDA dispatcher at nnlite's launch sites: `[grid, block]`
    gives a Launch, kept per configuration as numba's configured launches are."""
    __slots__ = ("dispatcher", "signatures", "_launches")

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.signatures = {}     # pack key -> cuda.core kernel, or None: always numba's call
        self._launches = {}

    def __getitem__(self, config):
        launch = self._launches.get(config)
        if launch is None:
            configured = self.dispatcher[config]
            launch = Launch(self, configured) if numba_parts() else configured
            self._launches[config] = launch
        return launch

    def __getattr__(self, name):   # anything else (overloads, inspect_*) is the dispatcher's
        return getattr(self.dispatcher, name)


class Launch:
    """One kernel at one launch configuration: numba's configured launch, plus the fast path."""
    __slots__ = ("kernel", "configured", "core_config")

    def __init__(self, kernel, configured):
        self.kernel = kernel
        self.configured = configured
        # cuda.core's configuration, as numba's launch builds it per call (the fast path
        # only takes kernels that are not cooperative)
        parts = numba_parts()
        self.core_config = parts.LaunchConfig(grid=configured.griddim, block=configured.blockdim,
                                              shmem_size=configured.sharedmem, **{parts.cooperative_keyword: False})

    def __call__(self, *args):
        parts = _numba
        try:
            packed = pack(args, parts.DeviceNDArray)
        except Exception:                # another numba-cuda's array internals: numba's path
            packed = None
        if packed is not None and getattr(_thread, "ready", False):
            function = self.kernel.signatures.get(packed[0])
            if function is not None:
                parts.launch(self.configured.stream, self.core_config, function, *packed[1])
                return
        self.configured(*args)           # numba's own call: types, compiles, launches
        _thread.ready = True
        if packed is not None and packed[0] not in self.kernel.signatures:
            try:
                function = self._loaded_function(args, packed[1])
            except Exception:            # another numba-cuda's internals: stay on its own path
                function = None
            self.kernel.signatures[packed[0]] = function

    def _loaded_function(self, args, params):
        """The cuda.core kernel numba just launched for these args, when later launches
        with the same argument types may skip numba; None when they may not. Numba's own
        marshalling of these args must give `params` exactly (a numba-cuda whose layout
        differs from the one this file packs never takes the fast path)."""
        parts = numba_parts()
        dispatcher = self.kernel.dispatcher
        configured = self.configured
        if not parts.one_gpu or dispatcher.specialized or dispatcher._launch_config_sensitive \
                or configured.pre_launch_callbacks:
            return None
        argtypes = tuple(parts.typeof(a) for a in args)
        compiled = dispatcher.overloads.get(argtypes)
        if compiled is None or tuple(compiled.argument_types) != argtypes or compiled.debug \
                or compiled.cooperative or compiled.extensions \
                or getattr(compiled, "launch_config_sensitive", False):
            return None
        numbas = []
        for ty, value in zip(argtypes, args):
            compiled._prepare_args(ty, value, configured.stream, [], numbas)
        if _comparable(numbas) != _comparable(params):
            return None
        return compiled._codelibrary.get_cufunc().kernel
