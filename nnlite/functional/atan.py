"""atan and atan2 with their gradients (complete-IoU's aspect-ratio term, rotated box angles,
torchvision's and detectron2's box code)."""
from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ._arrays import contiguous_array, empty_for
from ._util import check_same_device, check_tensor, flat, wrap
from .unary import _Unary, _float_input

K = kernels("atan")


class Atan(_Unary):
    family = K
    kernel = "atan_fwd"
    backward_kernel = "atan_bwd"


def atan(input):
    """Elementwise arctangent, as torch.atan (integer input computes in the default float dtype)."""
    return Atan.apply(_float_input("atan", input))


class Atan2(Function):
    """math.atan2 per element; the gradient is written out (d/dy = x / r^2, d/dx = -y / r^2),
    finite on the axes, and 0 at the origin, as torch's."""

    @staticmethod
    def forward(ctx, y, x):
        a, b = contiguous_array(y._array), contiguous_array(x._array)
        out = empty_for(a, a.shape)
        if a.size:
            K.atan2_fwd(flat(a), flat(b), flat(out))
        ctx.save_for_backward(y, x)
        return wrap(out, y._device)

    @staticmethod
    def backward(ctx, g):
        from .binary import eq, where
        y, x = ctx.saved_tensors
        r2 = x * x + y * y
        scale = where(eq(r2, 0), r2, g / r2)
        return scale * x, -scale * y


def atan2(input, other):
    """Elementwise atan2(input, other), as torch.atan2: the angle of the point (other, input),
    in [-pi, pi]."""
    from .shape import broadcast_tensors
    check_tensor("atan2", "input", input)
    check_tensor("atan2", "other", other)
    dtype = _dt.promote_types(input.dtype, other.dtype)
    if not dtype.is_floating_point:
        dtype = _dt.get_default_dtype()
    check_same_device("atan2", input, other)
    y, x = broadcast_tensors(input.to(dtype), other.to(dtype))
    return Atan2.apply(y, x)


arctan = atan
arctan2 = atan2

__all__ = ["arctan", "arctan2", "atan", "atan2"]
TENSOR_METHODS = __all__
