"""Checks of nnlite.backend.fast_launch against numba-cuda's real classes, with no GPU.

Run by tests/test_fast_launch.py in a process without Numba's simulator (which
replaces these classes): device arrays sit at fake addresses, so nothing touches
a driver. Prints one line per check, "<name> ok" or "<name> FAILED" followed by
the traceback.
"""
import ctypes
import threading
import traceback
import types

import numpy as np
from numba import cuda
from numba.cuda.cudadrv import devicearray
from numba.cuda.cudadrv.devicearray import DeviceNDArray
from numba.cuda.cudadrv.driver import MemoryPointer
from numba.cuda.dispatcher import _Kernel
from numba.cuda.typing.typeof import Purpose, typeof

from nnlite.backend import cuda as backend_cuda
from nnlite.backend import fast_launch
from nnlite.backend.fast_launch import _comparable as comparable   # (type, value) of each parameter

BASE = 0x7F0000000000
_memory = MemoryPointer(None, ctypes.c_void_p(BASE), 1 << 30)
# An empty DeviceNDArray makes its own null pointer in the current context; there is none here.
devicearray.devices.get_context = lambda devnum=None: None


def device_array(shape, dtype=np.float32, strides=None, offset=0):
    dtype = np.dtype(dtype)
    if strides is None:
        strides = np.empty(shape, dtype).strides
    data = _memory.view(offset) if offset else _memory
    return DeviceNDArray(tuple(shape), tuple(strides), dtype, gpu_data=data)


def numba_params(args):
    """What numba's own launch passes to cuda.core for these args."""
    stand_in = types.SimpleNamespace(extensions=[])
    params = []
    for a in args:
        _Kernel._prepare_args(stand_in, typeof(a, Purpose.argument), a, 0, [], params)
    return params


def argument_sets():
    f32 = device_array((5, 7))
    return {
        "contiguous arrays and every scalar kind": (
            f32, device_array((3, 2, 4), np.float64, offset=4096), device_array((9,), np.int64),
            7, -3, 2.5, True, False, np.bool_(True), np.float32(1.5), np.float64(-2.0),
            np.int32(-9), np.int64(1 << 40), np.uint8(200), np.uint32(7), np.int8(-1)),
        "F-ordered, strided and broadcast views": (
            device_array((4, 6), np.float32, strides=(4, 16)),
            device_array((4, 3), np.float32, strides=(56, 8)),
            device_array((4, 6), np.float32, strides=(0, 4)),
            device_array((2, 1, 3), np.float64, strides=(24, 0, 8))),
        "0-d and empty arrays": (
            device_array((), np.float32), device_array((0, 3), np.float32),
            device_array((4, 0), np.float64, offset=8)),
        "booleans and small ints in arrays": (
            device_array((3,), np.bool_), device_array((2, 2), np.uint8), device_array((6,), np.int32)),
    }


def check_params_are_numbas():
    for name, args in argument_sets().items():
        packed = fast_launch.pack(args, DeviceNDArray)
        assert packed is not None, name
        assert comparable(packed[1]) == comparable(numba_params(args)), name


def check_key_fixes_numbas_argument_types():
    """Equal key elements must mean equal numba types (and the fast path then reuses
    what numba compiled for them)."""
    numba_type_of = {}
    arrays = [device_array(shape, dtype, strides)
              for dtype in (np.float32, np.float64, np.int64, np.bool_)
              for shape, strides in (((5,), None), ((1, 4), None), ((4, 1), None), ((3, 4), None),
                                     ((3, 4), (4, 12)), ((3, 4), (32, 8)), ((3, 4), (0, 4)),
                                     ((1, 4), (0, 4)), ((0, 4), None), ((), None), ((2, 3, 4), None),
                                     ((2, 3, 4), (4, 8, 24)), ((2, 1, 4), (16, 0, 4)))]
    sets = list(argument_sets().values()) + [tuple(arrays)]
    for args in sets:
        key, _ = fast_launch.pack(args, DeviceNDArray)
        for k, a in zip(key, args):
            numba_type = typeof(a, Purpose.argument)
            assert numba_type_of.setdefault(k, numba_type) == numba_type, (k, numba_type_of[k], numba_type)
    for value in (0, 1, 1 << 31, 1 << 40, (1 << 63) - 1, -(1 << 63) + 1):
        assert typeof(value, Purpose.argument) == numba_type_of[int], value
    layouts = {k[2] for k in numba_type_of if isinstance(k, tuple)}
    assert layouts == {"C", "F", "A"}, layouts


def check_what_is_not_packed():
    a = device_array((3,))
    for odd in (np.ones(3), (1, 2), None, 1 << 63, -(1 << 63), 1 << 70, np.float16(1.0), 1j, "s"):
        assert fast_launch.pack((a, odd), DeviceNDArray) is None, repr(odd)


class FakeConfigured:
    def __init__(self, dispatcher, config):
        grid, block = config[0], config[1]
        self.griddim, self.blockdim, self.sharedmem, self.stream = (grid, 1, 1), (block, 1, 1), 0, "stream0"
        self.pre_launch_callbacks = []
        self.dispatcher = dispatcher

    def __call__(self, *args):
        self.dispatcher.calls += 1


class FakeCompiled:
    _prepare_args = _Kernel._prepare_args     # numba's own marshalling (it reads .extensions)

    def __init__(self, argtypes):
        self.argument_types = list(argtypes)
        self.debug = self.cooperative = False
        self.extensions = []
        function = types.SimpleNamespace(kernel="loaded-kernel")
        self._codelibrary = types.SimpleNamespace(get_cufunc=lambda: function)


class FakeDispatcher:
    specialized = False
    _launch_config_sensitive = False

    def __init__(self):
        self.calls = 0              # numba's own launches, at any configuration
        self.overloads = {}
        self.callbacks = []

    def __getitem__(self, config):
        configured = FakeConfigured(self, config)
        configured.pre_launch_callbacks = self.callbacks
        return configured


class Recorder:
    """Stands in for the numba parts (cuda.core's launch recorded; the rest real)."""

    def __init__(self, one_gpu=True):
        real = fast_launch._Numba.__new__(fast_launch._Numba)
        real.DeviceNDArray = DeviceNDArray
        real.LaunchConfig = lambda **kw: ("config", tuple(sorted(kw.items())))
        real.cooperative_keyword = "is_cooperative"
        real.typeof = lambda value: typeof(value, Purpose.argument)
        real.one_gpu = one_gpu
        real.launch = self.launch
        self.parts = real
        self.launches = []

    def launch(self, stream, config, kernel, *params):
        self.launches.append((stream, config, kernel, comparable(params)))


def harness(one_gpu=True, compiled_for=None, kernel_out=None):
    """A FastKernel on a fake dispatcher whose overload for `compiled_for`'s types exists,
    launched at grid 4, block 256."""
    recorder = Recorder(one_gpu)
    fast_launch._numba = recorder.parts
    fast_launch._thread = threading.local()
    dispatcher = FakeDispatcher()
    args = compiled_for or (device_array((8,)), device_array((8,)), 8, 0.5)
    argtypes = tuple(typeof(a, Purpose.argument) for a in args)
    dispatcher.overloads[argtypes] = FakeCompiled(argtypes)
    kernel = fast_launch.FastKernel(dispatcher)
    if kernel_out is not None:
        kernel_out.append(kernel)
    return kernel[4, 256], dispatcher, recorder, args


def check_a_signature_known_at_one_configuration_is_fast_at_another():
    kernels = []
    launch, dispatcher, recorder, args = harness(kernel_out=kernels)
    launch(*args)
    other = kernels[0][16, 128]
    other(*args)
    assert dispatcher.calls == 1 and len(recorder.launches) == 1
    config = recorder.launches[0][1]
    assert config == ("config", (("block", (128, 1, 1)), ("grid", (16, 1, 1)),
                                 ("is_cooperative", False), ("shmem_size", 0))), config


def check_first_call_is_numbas_then_fast():
    launch, dispatcher, recorder, args = harness()
    launch(*args)
    assert dispatcher.calls == 1 and not recorder.launches
    other = (device_array((8,), offset=64), device_array((8,), offset=128), 8, 0.25)
    launch(*other)
    launch(*other)
    assert dispatcher.calls == 1, "a known signature went through numba again"
    assert len(recorder.launches) == 2
    stream, config, kernel, params = recorder.launches[0]
    assert stream == "stream0" and kernel == "loaded-kernel"
    assert config == ("config", (("block", (256, 1, 1)), ("grid", (4, 1, 1)),
                                 ("is_cooperative", False), ("shmem_size", 0)))
    assert params == comparable(numba_params(other))


def check_new_argument_types_go_through_numba_first():
    launch, dispatcher, recorder, args = harness()
    launch(*args)
    launch(device_array((8,), np.float64), device_array((8,)), 8, 0.5)   # not compiled for these
    launch(device_array((8,), np.float64), device_array((8,)), 8, 0.5)
    launch(*args[:2], True, 0.5)                                          # bool where an int was
    assert dispatcher.calls == 4 and not recorder.launches


def check_a_new_thread_launches_through_numba_first():
    launch, dispatcher, recorder, args = harness()
    launch(*args)

    def in_thread():
        launch(*args)
        launch(*args)
    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert dispatcher.calls == 2 and len(recorder.launches) == 1


def check_unpackable_arguments_always_go_through_numba():
    host = (np.ones(8, np.float32), device_array((8,)), 8, 0.5)
    launch, dispatcher, recorder, _ = harness(compiled_for=host)
    for _ in range(3):
        launch(*host)
    assert dispatcher.calls == 3 and not recorder.launches


def check_kernels_numba_must_launch_itself():
    cases = {
        "several GPUs": dict(one_gpu=False),
        "debug": dict(attr=("debug", True)),
        "cooperative": dict(attr=("cooperative", True)),
        "extensions": dict(attr=("extensions", [object()])),
        "launch-config sensitive": dict(attr=("launch_config_sensitive", True)),
        "pre-launch callbacks": dict(callbacks=True),
        "launch-config sensitive dispatcher": dict(sensitive_dispatcher=True),
    }
    for name, case in cases.items():
        launch, dispatcher, recorder, args = harness(one_gpu=case.get("one_gpu", True))
        if "attr" in case:
            for compiled in dispatcher.overloads.values():
                setattr(compiled, *case["attr"])
        if case.get("callbacks"):
            dispatcher.callbacks.append(lambda kernel, config: None)
        if case.get("sensitive_dispatcher"):
            dispatcher._launch_config_sensitive = True
        for _ in range(3):
            launch(*args)
        assert dispatcher.calls == 3 and not recorder.launches, name


def check_a_numba_that_marshals_differently_never_takes_the_fast_path():
    launch, dispatcher, recorder, args = harness()

    def other_layout(self, ty, val, stream, retr, params):
        _Kernel._prepare_args(self, ty, val, stream, retr, params)
        params.append(0)                      # say, a field this file does not know of
    for compiled in dispatcher.overloads.values():
        compiled._prepare_args = types.MethodType(other_layout, compiled)
    for _ in range(3):
        launch(*args)
    assert dispatcher.calls == 3 and not recorder.launches


def check_numba_internals_that_raise_leave_numbas_path():
    launch, dispatcher, recorder, args = harness()
    dispatcher.overloads = None               # (.get raises: numba-cuda's internals moved)
    for _ in range(3):
        launch(*args)
    assert dispatcher.calls == 3 and not recorder.launches


def check_compiled_gives_fast_kernels_on_a_gpu_build():
    @cuda.jit
    def add_one(x):
        i = cuda.grid(1)
        if i < x.size:
            x[i] += 1
    kernel = backend_cuda.compiled(add_one)
    assert isinstance(kernel, fast_launch.FastKernel) and kernel.dispatcher is add_one
    assert backend_cuda.compiled(add_one) is kernel, "one FastKernel per dispatcher"
    assert kernel.py_func is add_one.py_func, "other attributes are the dispatcher's"


CHECKS = {name: f for name, f in sorted(globals().items()) if name.startswith("check_")}

if __name__ == "__main__":
    for name, check in CHECKS.items():
        try:
            check()
            print(name, "ok", flush=True)
        except Exception:
            print(name, "FAILED", flush=True)
            print(traceback.format_exc(), flush=True)
