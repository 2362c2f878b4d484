"""Elementwise arctangent with its gradient (complete-IoU's aspect-ratio term, rotated
box angles): the core has no atan yet, so the box ops carry this small one."""
from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..functional._arrays import contiguous_array, empty_for
from ..functional._util import check_tensor, flat, wrap

K = kernels("atan")


class Atan(Function):
    @staticmethod
    def forward(ctx, x):
        a = contiguous_array(x._array)
        out = empty_for(a, a.shape)
        if a.size:
            K.atan_fwd(flat(a), flat(out))
        ctx.save_for_backward(x)
        return wrap(out, x._device)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        a = contiguous_array(x._array)
        out = empty_for(a, a.shape)
        if a.size:
            K.atan_bwd(flat(contiguous_array(g._array)), flat(a), flat(out))
        return wrap(out, g._device)


def atan(input):
    """Elementwise arctangent, as torch.atan (integer input computes in the default float dtype)."""
    check_tensor("atan", "input", input)
    x = input if input.dtype.is_floating_point else input.to(_dt.get_default_dtype())
    return Atan.apply(x)
