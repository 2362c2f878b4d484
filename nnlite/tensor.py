"""nnlite.Tensor: an array (numpy on CPU, a Numba device array on CUDA) plus
autograd metadata. Every operator on it calls the functional op of the same
name (see `_tensor_methods.py`), so `x.relu()` and `F.relu(x)` are one code path.
"""
import weakref

import numpy as np

from .autograd import function as _function
from .autograd.function import AccumulateGrad
from .backend import dtype as _dt
from .backend.device import CPU, device as _as_device

_DTYPE_OF = _dt._FROM_NP


class Size(tuple):
    """A tensor's shape: a tuple with torch.Size's extras."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"nnlite.Size([{', '.join(str(s) for s in self)}])"

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))


class Tensor:
    __slots__ = ("_array", "_device", "_requires_grad", "grad", "grad_fn", "_output_nr",
                 "_version", "_base", "_hooks", "_post_acc_hooks", "_acc_ref", "_retains_grad",
                 "__weakref__")

    # Tensors compare elementwise, so hash by identity (as torch does).
    __hash__ = object.__hash__

    def __init__(self, data=None, *, dtype=None, device=None, requires_grad=False):
        from .functional.creation import _array_from_data
        arr, dev = _array_from_data([] if data is None else data, dtype, device, copy=True)
        self._init(arr, dev)
        self.requires_grad = requires_grad

    def _init(self, array, device):
        self._array = array
        self._device = device
        self._requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._version = [0]
        self._base = None
        self._hooks = None
        self._post_acc_hooks = None
        self._acc_ref = None
        self._retains_grad = False

    @classmethod
    def _wrap(cls, array, device=CPU):
        """A new tensor around an array (no copy); the fast internal constructor."""
        t = object.__new__(cls)
        t._init(array, device)
        return t

    def _view_of(self, array):
        """A tensor sharing this one's data and version counter (for view ops)."""
        t = Tensor._wrap(array, self._device)
        t._version = self._version
        t._base = self if self._base is None else self._base
        return t

    def _alias(self):
        """Same data and version counter, no autograd history (detach())."""
        t = Tensor._wrap(self._array, self._device)
        t._version = self._version
        t._base = self._base
        return t

    # ------------------------------------------------------------ attributes
    @property
    def shape(self):
        return Size(self._array.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[self._wrap_dim(dim)]

    @property
    def dtype(self):
        return _DTYPE_OF[self._array.dtype]

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    @property
    def ndim(self):
        return len(self._array.shape)

    def dim(self):
        return len(self._array.shape)

    ndimension = dim

    def numel(self):
        return int(self._array.size)

    nelement = numel

    def element_size(self):
        return self._array.dtype.itemsize

    @property
    def itemsize(self):
        return self._array.dtype.itemsize

    @property
    def nbytes(self):
        return int(self._array.size) * self._array.dtype.itemsize

    def stride(self, dim=None):
        st = tuple(s // self._array.dtype.itemsize for s in self._array.strides)
        return st if dim is None else st[self._wrap_dim(dim)]

    def is_contiguous(self, memory_format=None):
        return _is_c_contiguous(self._array)

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_complex(self):
        return False

    def _wrap_dim(self, dim):
        n = len(self._array.shape)
        if not -max(n, 1) <= dim < max(n, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-max(n, 1)}, {max(n, 1) - 1}], but got {dim})")
        return dim % max(n, 1)

    # ------------------------------------------------------------ autograd
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError("you can only change requires_grad flags of leaf variables. If you "
                                   "want to use a computed variable in a subgraph that doesn't require "
                                   "differentiation use var_no_grad = var.detach().")
            return
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def data(self):
        # as torch's .data: same memory, but no autograd history, no base and its own
        # version counter, so in-place writes through it are allowed even on a view of a
        # leaf that requires grad (lin.bias[a:b].data.zero_()) and autograd does not see them
        return Tensor._wrap(self._array, self._device)

    @data.setter
    def data(self, other):
        if not isinstance(other, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(other).__name__}")
        self._array = other._array
        self._device = other._device

    def _accumulator(self):
        acc = self._acc_ref() if self._acc_ref is not None else None
        if acc is None:
            acc = AccumulateGrad(self)
            self._acc_ref = weakref.ref(acc)
        return acc

    def detach(self):
        return self._alias()

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import backward as _backward
        _backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                  inputs=inputs)

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed; may return a new grad."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn._add_pre_hook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _function._RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs once this leaf's .grad holds every gradient of a backward pass."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        self._post_acc_hooks.append(hook)
        return _function._RemovableHandle(self._post_acc_hooks, hook)

    def _leaf_hooks(self):
        return self._hooks or ()

    def retain_grad(self):
        if self.grad_fn is None:
            return  # leaves keep their .grad already
        if self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                t.grad = grad.detach().clone() if t.grad is None else t.grad + grad
        self.grad_fn._add_pre_hook(self._output_nr, keep)

    @property
    def retains_grad(self):
        return self._retains_grad

    def _array_inplace_add(self, other):
        """self += other on the raw arrays (gradient accumulation; no graph, no version bump)."""
        from .functional.binary import add_into
        add_into(self, other)

    # ------------------------------------------------------------ conversion
    def item(self):
        if self._array.size != 1:
            raise RuntimeError(f"a Tensor with {self._array.size} elements cannot be converted to Scalar")
        return self._host_array().reshape(-1)[0].item()

    def tolist(self):
        return self._host_array().tolist()

    def numpy(self, *, force=False):
        if self._device.type != "cpu":
            if not force:
                raise TypeError(f"can't convert {self._device} device type tensor to numpy. Use "
                                "Tensor.cpu() to copy the tensor to host memory first.")
            return self._host_array()
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._array

    def _host_array(self):
        """The values as a numpy array (a copy for CUDA tensors)."""
        if self._device.type == "cpu":
            return self._array
        from .functional._arrays import contiguous_array
        return contiguous_array(self._array).copy_to_host()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy() if self._device.type == "cpu" else self._host_array()
        return a if dtype is None else a.astype(dtype, copy=False)

    @property
    def __cuda_array_interface__(self):
        if self._device.type != "cuda":
            raise AttributeError("Can't get __cuda_array_interface__ on non-CUDA tensor type: "
                                 f"{self._device}; use tensor.cuda() first.")
        if self._requires_grad:
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad. "
                               "If gradients aren't required, use var.detach() to get Variable that "
                               "doesn't require grad.")
        return self._array.__cuda_array_interface__

    def __dlpack__(self, stream=None, **kwargs):
        from .utils.dlpack import to_dlpack_capsule
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        return to_dlpack_capsule(self)

    def __dlpack_device__(self):
        from .utils.dlpack import dlpack_device
        return dlpack_device(self)

    def data_ptr(self):
        if self._device.type == "cpu":
            return self._array.__array_interface__["data"][0]
        return self._array.__cuda_array_interface__["data"][0]

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else _as_device(device if not isinstance(device, int)
                                                                 else f"cuda:{device}"))

    def float(self):
        return self.to(_dt.float32)

    def double(self):
        return self.to(_dt.float64)

    def half(self):
        return self.to(_dt.float16)

    def long(self):
        return self.to(_dt.int64)

    def int(self):
        return self.to(_dt.int32)

    def bool(self):
        return self.to(_dt.bool_)

    def byte(self):
        return self.to(_dt.uint8)

    def type_as(self, other):
        return self.to(other.dtype)

    # ------------------------------------------------------------ Python protocol
    def __len__(self):
        if not self._array.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def __iter__(self):
        if not self._array.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._array.shape[0]))

    def __bool__(self):
        if self._array.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __repr__(self):
        from .utils.printing import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._array.size == 1 and not self._array.shape:
            return format(self.item(), spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self._host_array(), str(self._device), self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = self.detach().clone()
        new._requires_grad = self._requires_grad
        new.__class__ = type(self)
        if self.grad is not None:
            new.grad = self.grad.detach().clone()
        memo[id(self)] = new
        return new


def _rebuild(array, device, requires_grad):
    from .functional.creation import tensor
    return tensor(array, device=device, requires_grad=requires_grad)


def _is_c_contiguous(a):
    if type(a) is np.ndarray:
        return a.flags.c_contiguous
    return a.is_c_contiguous()


_function._bind_tensor(Tensor)
