"""DataParallel: one process, several GPUs; each forward splits the batch across them.

With no CUDA the wrapper runs the module as is; with one device the batch moves to it
and the module runs there; with several the module is replicated, each replica runs on
its share of the batch, and the outputs are gathered on output_device. Gradients reach
the module's own parameters (on device_ids[0]).
"""
from itertools import chain

from ...backend.cuda import gpu, is_available as cuda_available
from ...backend.device import device as as_device
from ...autograd.grad_mode import is_grad_enabled
from ..modules.module import Module
from .parallel_apply import parallel_apply
from .replicate import replicate
from .scatter_gather import gather, scatter_kwargs

__all__ = ["DataParallel", "data_parallel"]


def _cuda_index(spec, who):
    """The CUDA ordinal of a device id (int, "cuda:i" or nnlite.device); -1 stays -1 (the CPU)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        index = spec
    else:
        dev = as_device(spec)
        if dev.type != "cuda":
            raise ValueError(f"{who}: Expected a cuda device, but got: {dev}")
        index = dev.index
    if index != -1:
        gpu(index)  # a clear error now for an ordinal the machine lacks
    return index


def _all_devices():
    from ... import cuda
    return list(range(cuda.device_count()))


def _resolve_devices(device_ids, output_device, who):
    """CUDA ordinals of device_ids (every GPU when None) and of output_device (device_ids[0] when None)."""
    if device_ids is None:
        device_ids = _all_devices()
    if not device_ids:
        raise ValueError(f"{who}: device_ids must name at least one CUDA device, got []")
    if output_device is None:
        output_device = device_ids[0]
    return [_cuda_index(d, who) for d in device_ids], _cuda_index(output_device, who)


def _check_placement(module, src):
    for t in chain(module.parameters(), module.buffers()):
        if t.device != src:
            raise RuntimeError(f"module must have its parameters and buffers on device {src} "
                               f"(device_ids[0]) but found one of them on device: {t.device}")


def _scatter_or_empty(inputs, kwargs, device_ids, dim):
    inputs, kwargs = scatter_kwargs(inputs, kwargs, device_ids, dim)
    if not inputs and not kwargs:  # no arguments at all: still one call
        return ((),), ({},)
    return inputs, kwargs


class DataParallel(Module):
    """Split each batch along `dim` over device_ids, run replicas, gather on output_device."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not cuda_available():
            self.module = module
            self.device_ids = []
            return
        self.dim = dim
        self.module = module
        self.device_ids, self.output_device = _resolve_devices(device_ids, output_device, "DataParallel")
        self.src_device_obj = as_device("cuda", self.device_ids[0])
        if len(self.device_ids) == 1:
            self.module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        _check_placement(self.module, self.src_device_obj)
        inputs, module_kwargs = _scatter_or_empty(inputs, kwargs, self.device_ids, self.dim)
        if len(self.device_ids) == 1:
            return self.module(*inputs[0], **module_kwargs[0])
        replicas = self.replicate(self.module, self.device_ids[:len(inputs)])
        outputs = self.parallel_apply(replicas, inputs, module_kwargs)
        return self.gather(outputs, self.output_device)

    def replicate(self, module, device_ids):
        return replicate(module, device_ids, not is_grad_enabled())

    def scatter(self, inputs, kwargs, device_ids):
        return scatter_kwargs(inputs, kwargs, device_ids, dim=self.dim)

    def parallel_apply(self, replicas, inputs, kwargs):
        return parallel_apply(replicas, inputs, kwargs, self.device_ids[:len(replicas)])

    def gather(self, outputs, output_device):
        return gather(outputs, output_device, dim=self.dim)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """module(*inputs, **module_kwargs) evaluated in parallel over device_ids (DataParallel as a function)."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    if not cuda_available():
        raise RuntimeError("device type could not be determined")  # torch's words without a GPU
    device_ids, output_device = _resolve_devices(device_ids, output_device, "data_parallel")
    _check_placement(module, as_device("cuda", device_ids[0]))
    inputs, module_kwargs = _scatter_or_empty(inputs, module_kwargs, device_ids, dim)
    if len(device_ids) == 1:
        return module(*inputs[0], **module_kwargs[0])
    used = device_ids[:len(inputs)]
    outputs = parallel_apply(replicate(module, used), inputs, module_kwargs, used)
    return gather(outputs, output_device, dim)
