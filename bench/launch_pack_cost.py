"""Host time to type and marshal one kernel launch's arguments: numba-cuda's own path
against nnlite's fast launch (nnlite/backend/fast_launch.py). Needs no GPU: the device
arrays sit at fake addresses and nothing is launched, so this times only the Python
work before the driver call. The rest of numba's per-call work (its context lookup in
get_cufunc, the dispatcher's C typing and launch-config checks) needs a GPU to time;
bench/cuda_profile.py measures whole launches there.

    NUMBA_ENABLE_CUDASIM=0 python bench/launch_pack_cost.py
"""
import ctypes
import os
import timeit
import types

import numpy as np

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
from numba.cuda.cudadrv.devicearray import DeviceNDArray  # noqa: E402
from numba.cuda.cudadrv.driver import MemoryPointer  # noqa: E402
from numba.cuda.dispatcher import _Kernel  # noqa: E402
from numba.cuda.typing.typeof import Purpose, typeof  # noqa: E402

from nnlite.backend.fast_launch import pack  # noqa: E402

MEMORY = MemoryPointer(None, ctypes.c_void_p(0x7F0000000000), 1 << 30)


def fresh_args():
    """A binary op's launch: two inputs, an output (each op makes a new one), walk sizes, an op code."""
    a = DeviceNDArray((1024, 64), (256, 4), np.dtype(np.float32), gpu_data=MEMORY)
    return (a, a, DeviceNDArray((1024, 64), (256, 4), np.dtype(np.float32), gpu_data=MEMORY), 65536, 0)


def numba_marshal(args, stand_in=types.SimpleNamespace(extensions=[])):
    params = []
    for a in args:
        _Kernel._prepare_args(stand_in, typeof(a, Purpose.argument), a, 0, [], params)
    return params


def main():
    number = 20000
    args = fresh_args()
    for name, work in (("numba: typeof + _prepare_args", lambda: numba_marshal(fresh_args())),
                       ("nnlite: pack", lambda: pack(fresh_args(), DeviceNDArray)),
                       ("making the 5 arguments alone", fresh_args)):
        us = timeit.timeit(work, number=number) / number * 1e6
        print(f"{name:34s} {us:6.1f} us per launch")
    assert [str(p) for p in numba_marshal(args)] == [str(p) for p in pack(args, DeviceNDArray)[1]]


if __name__ == "__main__":
    main()
