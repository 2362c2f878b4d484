"""Gradient clipping (torch.nn.utils.clip_grad): clip_grad_norm_, clip_grad_value_,
get_total_norm, clip_grads_with_norm_.

The norms come from the existing reduction kernels (one norm per gradient, then
the norm of those norms), and the scaling is one in-place multiply per gradient,
so nothing here loops over elements in Python.
"""
import math

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _tensor_list(tensors):
    """A single tensor or an iterable of them, as a list (None entries dropped)."""
    if isinstance(tensors, Tensor):
        return [tensors]
    return [t for t in tensors if t is not None]


def _grads_of(parameters):
    return [p.grad for p in _tensor_list(parameters) if p.grad is not None]


def _check_norm_type(op, norm_type):
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)):
        raise TypeError(f"{op}: norm_type must be a number (2.0, 'inf' as float('inf'), ...), "
                        f"got {type(norm_type).__name__}")
    return float(norm_type)


def _norm_of(t, norm_type):
    """||t||_p as a 0-d tensor. The 2-norm is sqrt(t . t): the dot product is the matmul
    primitive (BLAS on the CPU), 20x faster here than the general p-norm reduction."""
    from ...functional.reduction import norm
    if norm_type == 2.0 and t.numel() and t.dtype.is_floating_point:
        from ...functional.linear import dot
        flat = t.reshape(-1)
        return dot(flat, flat).sqrt()
    return norm(t, norm_type)


@no_grad()
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of all tensors together, as if concatenated into one vector (a 0-d tensor).

    foreach is accepted for torch compatibility; nnlite has one code path.
    """
    from ...functional.reduction import norm
    from ...functional.shape import stack
    from ...functional.creation import tensor
    norm_type = _check_norm_type("get_total_norm", norm_type)
    tensors = _tensor_list(tensors)
    if not tensors:
        return tensor(0.0)
    first = tensors[0].device
    norms = [_norm_of(t, norm_type).to(first) for t in tensors]
    total = norm(stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
            "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
            "norm anyway, set `error_if_nonfinite=False`")
    return total


@no_grad()
def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), in place.

    As in torch the coefficient is always multiplied in (no branch on its value),
    so a NaN or inf total norm propagates into the gradients.
    """
    grads = _grads_of(parameters)
    if not grads:
        return
    if not isinstance(total_norm, Tensor):
        raise TypeError(f"clip_grads_with_norm_: total_norm must be a Tensor, got "
                        f"{type(total_norm).__name__}")
    coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        _scale_in_place(g, coef.to(device=g.device, dtype=g.dtype))


def _scale_in_place(g, coef):
    """g *= coef. A plain contiguous gradient is scaled by the binary mul kernel writing into g
    itself (one pass over memory, no temporary); anything else takes the general mul_."""
    from ...functional.binary import K, binary_arrays
    from ...functional._arrays import contiguous_array
    if g.grad_fn is not None or g.requires_grad or not g.is_contiguous():
        g.mul_(coef)
        return
    binary_arrays(K.mul, g._array, contiguous_array(coef._array), g.dtype, g.device, out=g._array)
    g._version[0] += 1   # an in-place write, as mul_ would count it


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients' joint norm to max_norm in place; returns the total norm before clipping."""
    parameters = _tensor_list(parameters)
    grads = _grads_of(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient into [-clip_value, clip_value], in place."""
    if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float)):
        raise TypeError(f"clip_grad_value_: clip_value must be a number, got {type(clip_value).__name__}")
    clip_value = float(clip_value)
    for g in _grads_of(parameters):
        g.clamp_(min=-clip_value, max=clip_value)
