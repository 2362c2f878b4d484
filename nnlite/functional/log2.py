"""log2 (torch.log2 and Tensor.log2), differentiable, on its own kernel pair (kernels/log2.py)."""
from ..backend.lazy import kernels
from .unary import _Unary, _float_input


class Log2(_Unary):
    family = kernels("log2")
    kernel = "log2_fwd"
    backward_kernel = "log2_bwd"


def log2(input):
    """Elementwise base-2 logarithm, as torch.log2 (integer inputs compute in the default float dtype)."""
    return Log2.apply(_float_input("log2", input))


__all__ = ["log2"]

TENSOR_METHODS = ["log2"]
