"""log2 (torch.log2 and Tensor.log2), differentiable, on its own kernel pair (kernels/log2.py)."""
from ..autograd.function import Function
from ..backend.lazy import kernels
from ._arrays import contiguous_array, empty_for
from ._util import flat, wrap
from .unary import _float_input, unary_array

K = kernels("log2")


class Log2(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return wrap(unary_array(K.log2_fwd, x._array), x._device)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        xa = contiguous_array(x._array)
        gx = empty_for(xa, xa.shape)
        if xa.size:
            K.log2_bwd(flat(contiguous_array(g._array)), flat(xa), flat(gx))
        return wrap(gx, g._device)


def log2(input):
    """Elementwise base-2 logarithm, as torch.log2 (integer inputs compute in the default float dtype)."""
    return Log2.apply(_float_input("log2", input))


__all__ = ["log2"]

TENSOR_METHODS = ["log2"]
