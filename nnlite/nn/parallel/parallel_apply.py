"""parallel_apply: run each replica on its share of the inputs.

torch starts one thread per replica. nnlite runs them in turn: Numba's threading layers
and the CUDA simulator are not safe to enter from several Python threads at once, and on
GPUs kernel launches return at once, so replicas on different devices still overlap.
"""
import traceback

from ...backend.memory import cuda_device
from ...tensor import Tensor
from .scatter_gather import to_device

__all__ = ["get_a_var", "parallel_apply"]


def get_a_var(obj):
    """The first tensor found in obj (depth first through lists, tuples and dicts), else None."""
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.items())
    if isinstance(obj, (list, tuple)):
        for found in map(get_a_var, obj):
            if found is not None:
                return found
    return None


def _check_lengths(modules, inputs, kwargs_tup, devices):
    if len(modules) != len(inputs):
        raise AssertionError(f"The number of modules {len(modules)} is not equal to the number of "
                             f"inputs {len(inputs)}")
    for name, seq in (("kwargs_tup", kwargs_tup), ("devices", devices)):
        if seq is not None and len(modules) != len(seq):
            raise AssertionError(f"The number of modules {len(modules)} is not equal to the number of "
                                 f"{name} {len(seq)}")


def parallel_apply(modules, inputs, kwargs_tup=None, devices=None):
    """[modules[i](*inputs[i], **kwargs_tup[i]) for each i], each run with its device current."""
    _check_lengths(modules, inputs, kwargs_tup, devices)
    kwargs_tup = kwargs_tup if kwargs_tup is not None else [{}] * len(modules)
    devices = devices if devices is not None else [None] * len(modules)
    return [_run_replica(i, *work) for i, work in enumerate(zip(modules, inputs, kwargs_tup, devices))]


def _run_replica(i, module, inputs, kwargs, dev):
    if dev is None:
        found = get_a_var(inputs)
        if found is None:
            raise RuntimeError(f"Caught an error in replica {i}, no device was provided and no tensor "
                               "input was found; device cannot be resolved")
        dev = found.device
    dev = to_device(dev)
    if not isinstance(inputs, (list, tuple)):
        inputs = (inputs,)
    try:
        with cuda_device(dev.index if dev.type == "cuda" else 0):
            return module(*inputs, **kwargs)
    except Exception as error:
        raise _in_replica(error, i, dev) from error


def _in_replica(error, i, dev):
    """The error again, its message naming the replica (torch's form), with the original traceback."""
    message = (f"Caught {type(error).__name__} in replica {i} on device {dev}.\nOriginal "
               + "".join(traceback.format_exception(error)))
    try:
        return type(error)(message)
    except Exception:  # an exception type that wants other constructor arguments
        return RuntimeError(message)
