"""Lazy modules (as torch.nn): layers whose input size is read off the first input.

A lazy layer holds UninitializedParameter / UninitializedBuffer placeholders.
A forward pre-hook calls `initialize_parameters(*args)` on the first call,
which materialises them with the inferred shape and runs the eager class's
`reset_parameters`; then the module turns into that eager class
(`cls_to_become`: LazyLinear becomes Linear) and the hook is removed. Loading
a state dict into a lazy module materialises the placeholders with the
checkpoint's shapes first.
"""
import inspect
import itertools

from ...autograd.grad_mode import no_grad
from ...backend import dtype as _dt
from ...functional.creation import empty, tensor
from ...tensor import Tensor
from ..parameter import Parameter
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear

__all__ = ["LazyModuleMixin", "UninitializedParameter", "UninitializedBuffer", "LazyLinear", "LazyConv1d",
           "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
           "LazyInstanceNorm3d", "is_lazy"]


def _materialize(placeholder, shape, device, dtype):
    """Give the placeholder uninitialised memory of `shape` and its final class, in place
    (the object stays the same, so references held elsewhere see the real tensor)."""
    device = placeholder.device if device is None else device
    dtype = placeholder.dtype if dtype is None else dtype
    placeholder.data = empty(tuple(shape), device=device, dtype=dtype)
    placeholder.__class__ = placeholder.cls_to_become


_SHAPE_ERROR = ("Can't access the shape of an uninitialized parameter or buffer. This error usually happens "
                "in `load_state_dict` when trying to load an uninitialized parameter into an initialized one. "
                "Call `forward` to initialize the parameters before accessing their attributes.")


def _no_shape(self):
    raise RuntimeError(_SHAPE_ERROR)


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet; `materialize(shape)` turns it into a Parameter."""

    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        return super().__new__(cls, empty(0, device=device, dtype=dtype), requires_grad)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass  # everything happens in __new__

    def materialize(self, shape, device=None, dtype=None):
        _materialize(self, shape, device, dtype)

    shape = property(_no_shape)   # as torch's: using a placeholder is an error, not an empty tensor

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_uninitialized, (UninitializedParameter, self._requires_grad, str(self.device),
                                         self.dtype.name))


class UninitializedBuffer(Tensor):
    """A buffer whose shape is not known yet; `materialize(shape)` turns it into a Tensor."""

    __slots__ = ()
    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None):
        storage = empty(0, device=device, dtype=dtype)
        placeholder = cls._wrap(storage._array, storage._device)
        placeholder.requires_grad = requires_grad
        return placeholder

    def __init__(self, requires_grad=False, device=None, dtype=None):
        pass

    def materialize(self, shape, device=None, dtype=None):
        _materialize(self, shape, device, dtype)

    shape = property(_no_shape)

    def __repr__(self):
        return "<UninitializedBuffer>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_uninitialized, (UninitializedBuffer, self._requires_grad, str(self.device),
                                         self.dtype.name))


def _rebuild_uninitialized(cls, requires_grad, device, dtype_name):
    return cls(requires_grad, device=device, dtype=_dt.as_dtype(dtype_name))


def is_lazy(value):
    return isinstance(value, (UninitializedParameter, UninitializedBuffer))


class LazyModuleMixin:
    """Put first in the bases of a module with Uninitialized* placeholders and an
    `initialize_parameters(*inputs)` that materialises them; set `cls_to_become`."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._load_hook = self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        # placeholders are saved as themselves, so a lazy checkpoint loads into a lazy module
        for registry in (self._parameters, {k: v for k, v in self._buffers.items()
                                            if k not in self._non_persistent_buffers_set}):
            for name, value in registry.items():
                if value is not None:
                    destination[prefix + name] = value if (is_lazy(value) or keep_vars) else value.detach()

    def _apply(self, fn, recurse=True):
        # .to()/.double() give a placeholder buffer's (empty) storage the new device or dtype but
        # return a plain Tensor: keep the buffer a placeholder (parameters keep their object anyway)
        lazy_buffers = [k for k, v in self._buffers.items() if is_lazy(v)]
        super()._apply(fn, recurse)
        for key in lazy_buffers:
            if not is_lazy(self._buffers[key]):
                self._buffers[key].__class__ = UninitializedBuffer
        return self

    def _lazy_load_hook(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                        error_msgs):
        for name, value in itertools.chain(self._parameters.items(), self._buffers.items()):
            key = prefix + name
            if key in state_dict and is_lazy(value) and not is_lazy(state_dict[key]):
                with no_grad():
                    value.materialize(tuple(state_dict[key].shape))

    def initialize_parameters(self, *args, **kwargs):
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def has_uninitialized_params(self):
        return any(is_lazy(v) for v in itertools.chain(self._parameters.values(), self._buffers.values()))

    def _infer_parameters(self, module, args, kwargs=None):
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        module._initialize_hook.remove()
        module._load_hook.remove()
        delattr(module, "_initialize_hook")
        delattr(module, "_load_hook")
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def _replicate_for_data_parallel(self):
        raise RuntimeError("Modules with uninitialized parameters can't be used with `DataParallel`. "
                           "Run a dummy forward pass to correctly initialize the modules")


# ------------------------------------------------------------ Linear
class LazyLinear(LazyModuleMixin, Linear):
    """Linear whose in_features is the last dim of the first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False, device=device, dtype=dtype)   # no tensors that are replaced next
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            with no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()


# ------------------------------------------------------------ convolutions
class _LazyConvMixin(LazyModuleMixin):
    """in_channels from dim 1 of a batched input or dim 0 of an unbatched one."""

    _spatial_dims = 0

    def _lazy_init(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _in_channels_of(self, input):
        unbatched = self._spatial_dims + 1
        if input.dim() not in (unbatched, unbatched + 1):
            raise RuntimeError(f"Expected {unbatched}D (unbatched) or {unbatched + 1}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {input.shape}")
        return input.shape[1] if input.dim() == unbatched + 1 else input.shape[0]

    def initialize_parameters(self, input, *args, **kwargs):
        if not self.has_uninitialized_params():
            return
        self.in_channels = self._in_channels_of(input)
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        # a transposed conv's weight is (in, out/groups, *k), a conv's (out, in/groups, *k)
        shape = (self.in_channels, self.out_channels // self.groups) if self.transposed \
            else (self.out_channels, self.in_channels // self.groups)
        with no_grad():
            self.weight.materialize((*shape, *self.kernel_size))
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()


def _lazy_conv(name, eager, dims):
    """LazyConv{dims}d: the eager conv's arguments without in_channels."""

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        eager.__init__(self, 0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode,
                       device=device, dtype=dtype)
        self._lazy_init(out_channels, bias, device, dtype)
    return _lazy_class(name, eager, dims, __init__)


def _lazy_conv_transpose(name, eager, dims):
    """LazyConvTranspose{dims}d: the eager transposed conv's arguments without in_channels."""

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        eager.__init__(self, 0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation,
                       padding_mode, device=device, dtype=dtype)
        self._lazy_init(out_channels, bias, device, dtype)
    return _lazy_class(name, eager, dims, __init__)


def _lazy_class(name, eager, dims, init):
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        # LazyModuleMixin.__init__'s hooks (the eager __init__ was called directly, past the mixin)
        self._load_hook = self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)
    __init__.__signature__ = inspect.signature(init)
    doc = f"{eager.__name__} whose in_channels is read off the first input."
    return type(name, (_LazyConvMixin, eager), {"__init__": __init__, "cls_to_become": eager,
                                                 "_spatial_dims": dims, "__doc__": doc,
                                                 "__module__": __name__})


LazyConv1d = _lazy_conv("LazyConv1d", Conv1d, 1)
LazyConv2d = _lazy_conv("LazyConv2d", Conv2d, 2)
LazyConv3d = _lazy_conv("LazyConv3d", Conv3d, 3)
LazyConvTranspose1d = _lazy_conv_transpose("LazyConvTranspose1d", ConvTranspose1d, 1)
LazyConvTranspose2d = _lazy_conv_transpose("LazyConvTranspose2d", ConvTranspose2d, 2)
LazyConvTranspose3d = _lazy_conv_transpose("LazyConvTranspose3d", ConvTranspose3d, 3)


# ------------------------------------------------------------ normalisation
class _LazyNormMixin(LazyModuleMixin):
    """num_features from dim 1 of the first input (as torch reads it, batched or not)."""

    def _lazy_init(self, affine, track_running_stats, bias, device, dtype):
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = tensor(0, dtype=_dt.int64, device=device)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if not self.has_uninitialized_params():
            return
        self.num_features = input.shape[1]
        shape = (self.num_features,)
        with no_grad():
            for value in (self.weight, self.bias, self.running_mean, self.running_var):
                if is_lazy(value):
                    value.materialize(shape)
            self.reset_parameters()


def _lazy_norm(name, eager):
    """Lazy{eager}: eager's arguments without num_features; affine and track_running_stats default
    to True for every lazy norm (LazyInstanceNorm too, unlike InstanceNorm)."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None,
                 *, bias=True):
        # the eager __init__ with no affine tensors nor running stats: placeholders follow
        _BatchNorm.__init__(self, 0, eps, momentum, False, False, device, dtype, bias=False)
        self._lazy_init(affine, track_running_stats, bias, device, dtype)
        self._load_hook = self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)
    doc = f"{eager.__name__} whose num_features is read off the first input."
    return type(name, (_LazyNormMixin, eager), {"__init__": __init__, "cls_to_become": eager, "__doc__": doc,
                                                 "__module__": __name__})


LazyBatchNorm1d = _lazy_norm("LazyBatchNorm1d", BatchNorm1d)
LazyBatchNorm2d = _lazy_norm("LazyBatchNorm2d", BatchNorm2d)
LazyBatchNorm3d = _lazy_norm("LazyBatchNorm3d", BatchNorm3d)
LazyInstanceNorm1d = _lazy_norm("LazyInstanceNorm1d", InstanceNorm1d)
LazyInstanceNorm2d = _lazy_norm("LazyInstanceNorm2d", InstanceNorm2d)
LazyInstanceNorm3d = _lazy_norm("LazyInstanceNorm3d", InstanceNorm3d)
