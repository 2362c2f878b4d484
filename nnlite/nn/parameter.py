"""nn.Parameter: a Tensor that a Module registers as one of its parameters."""
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and that Modules register when assigned.

    Like torch.nn.Parameter it shares memory (and the version counter) with the
    tensor it is built from, and ops on it return plain Tensors.
    """

    __slots__ = ()  # the same layout as Tensor, so Tensor.__deepcopy__ can set __class__

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..functional.creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        param = cls._wrap(data._array, data._device)
        param._version = data._version
        param.requires_grad = requires_grad
        return param

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__; Tensor.__init__ would copy the data

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._host_array(), str(self._device), self._requires_grad))


def _rebuild_parameter(array, device, requires_grad):
    from ..functional.creation import tensor
    return Parameter(tensor(array, device=device), requires_grad)
