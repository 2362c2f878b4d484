"""DLPack: zero-copy exchange with PyTorch, CuPy, JAX, numpy.

CPU tensors use numpy's own DLPack support. CUDA tensors have no library to
lean on (Numba's device arrays do not speak DLPack), so this module builds
and reads the `DLManagedTensor` struct of the DLPack ABI (v0.x, the
"dltensor" capsule every framework accepts) with ctypes. The same code runs
for CPU memory too, which is how it is tested on machines without a GPU.
"""
import ctypes

import numpy as np

K_DL_CPU = 1
K_DL_CUDA = 2
_CAPSULE_NAME = b"dltensor"
_USED_NAME = b"used_dltensor"


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


_Deleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", _Deleter)]

# DLPack type codes: 0 int, 1 uint, 2 float, 6 bool
_CODE_OF_KIND = {"i": 0, "u": 1, "f": 2, "b": 6}
_KIND_OF_CODE = {0: "i", 1: "u", 2: "f", 6: "b"}



def _capi(name, restype, *argtypes):
    """A private prototype of a CPython C-API function (ctypes.pythonapi's are shared)."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_capsule_new = _capi("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
_capsule_is_valid = _capi("PyCapsule_IsValid", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_capsule_get_pointer = _capi("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
_capsule_set_name = _capi("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
# The destructor receives a capsule that is being freed: it must not make a
# new Python reference to it, so these take the raw pointer.
_raw_is_valid = _capi("PyCapsule_IsValid", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_raw_get_pointer = _capi("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)

# ------------------------------------------------------------------ export

# Exported structs and the Python objects they point into, kept alive until the
# consumer calls the deleter (or the capsule dies unconsumed).
_live = {}


@_Deleter
def _delete_managed(managed_ptr):
    _live.pop(ctypes.addressof(managed_ptr.contents), None)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule_ptr):
    if _raw_is_valid(capsule_ptr, _CAPSULE_NAME):  # never consumed: free it ourselves
        _live.pop(_raw_get_pointer(capsule_ptr, _CAPSULE_NAME), None)


def export_capsule(data_ptr, shape, strides, np_dtype, device_type, device_id, owner):
    """A "dltensor" capsule over memory owned by `owner` (kept alive until deleted)."""
    ndim = len(shape)
    managed = DLManagedTensor()
    shape_arr = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_arr = (ctypes.c_int64 * max(ndim, 1))(*strides)
    t = managed.dl_tensor
    t.data = data_ptr
    t.device = DLDevice(device_type, device_id)
    t.ndim = ndim
    dt = np.dtype(np_dtype)
    t.dtype = DLDataType(_CODE_OF_KIND[dt.kind], dt.itemsize * 8, 1)
    t.shape = ctypes.cast(shape_arr, ctypes.POINTER(ctypes.c_int64))
    t.strides = ctypes.cast(strides_arr, ctypes.POINTER(ctypes.c_int64))
    t.byte_offset = 0
    managed.deleter = _delete_managed
    address = ctypes.addressof(managed)
    _live[address] = (managed, shape_arr, strides_arr, owner)
    return _capsule_new(address, _CAPSULE_NAME, ctypes.cast(_capsule_destructor, ctypes.c_void_p))


def to_dlpack_capsule(tensor):
    a = tensor._array
    if tensor._device.type == "cpu":
        return a.__dlpack__()
    cai = a.__cuda_array_interface__
    item = a.dtype.itemsize
    strides = [s // item for s in a.strides]
    return export_capsule(cai["data"][0], tuple(a.shape), strides, a.dtype, K_DL_CUDA,
                          tensor._device.index, a)


def dlpack_device(tensor):
    if tensor._device.type == "cpu":
        return (K_DL_CPU, 0)
    return (K_DL_CUDA, tensor._device.index)


# ------------------------------------------------------------------ import

class _ImportedMemory:
    """Owns a consumed capsule: calls the producer's deleter when the last view dies."""

    def __init__(self, managed_address, interface, cuda):
        self._address = managed_address
        if cuda:
            self.__cuda_array_interface__ = interface
        else:
            self.__array_interface__ = interface

    def __del__(self):
        managed = DLManagedTensor.from_address(self._address)
        if managed.deleter:
            managed.deleter(ctypes.pointer(managed))


def read_capsule(capsule):
    """(device_type, device_id, interface dict, owner) for a "dltensor" capsule; consumes it."""
    if not _capsule_is_valid(capsule, _CAPSULE_NAME):
        raise RuntimeError("from_dlpack: expected an unconsumed 'dltensor' capsule")
    address = _capsule_get_pointer(capsule, _CAPSULE_NAME)
    managed = DLManagedTensor.from_address(address)
    t = managed.dl_tensor
    dt = t.dtype
    if dt.lanes != 1 or dt.code not in _KIND_OF_CODE:
        raise TypeError(f"from_dlpack: unsupported DLPack dtype (code {dt.code}, bits {dt.bits}, "
                        f"lanes {dt.lanes})")
    np_dtype = np.dtype(np.bool_) if dt.code == 6 else np.dtype(f"{_KIND_OF_CODE[dt.code]}{dt.bits // 8}")
    shape = tuple(t.shape[i] for i in range(t.ndim))
    item = np_dtype.itemsize
    if t.strides:
        strides = tuple(t.strides[i] * item for i in range(t.ndim))
    else:
        strides, acc = [], item
        for s in reversed(shape):
            strides.append(acc)
            acc *= s
        strides = tuple(reversed(strides))
    interface = {"shape": shape, "strides": strides, "typestr": np_dtype.str,
                 "data": ((t.data or 0) + t.byte_offset, False), "version": 3}
    device_type, device_id = t.device.device_type, t.device.device_id
    _capsule_set_name(capsule, _USED_NAME)  # we own it now
    owner = _ImportedMemory(address, interface, cuda=device_type == K_DL_CUDA)
    return device_type, device_id, owner


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any DLPack producer (or a raw "dltensor" capsule)."""
    from ..functional.creation import from_numpy
    from ..tensor import Tensor
    from ..backend.device import device as as_device
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    if hasattr(ext_tensor, "__dlpack_device__"):
        dev_type, dev_id = ext_tensor.__dlpack_device__()
        if dev_type == K_DL_CPU:
            return from_numpy(np.from_dlpack(ext_tensor))
        capsule = ext_tensor.__dlpack__(stream=None) if dev_type == K_DL_CUDA else ext_tensor.__dlpack__()
    else:
        capsule = ext_tensor
    dev_type, dev_id, owner = read_capsule(capsule)
    if dev_type == K_DL_CPU:
        return from_numpy(np.asarray(owner))
    if dev_type != K_DL_CUDA:
        raise RuntimeError(f"from_dlpack: unsupported device type {dev_type} (nnlite takes CPU and CUDA)")
    from ..backend.cuda import numba_cuda
    array = numba_cuda().from_cuda_array_interface(owner.__cuda_array_interface__, owner=owner)
    return Tensor._wrap(array, as_device(f"cuda:{dev_id}"))


def to_dlpack(tensor):
    """A "dltensor" capsule sharing the tensor's memory (as torch.utils.dlpack.to_dlpack)."""
    return tensor.__dlpack__()
