"""nnlite.nn.init: parameter initialisation, as torch.nn.init.

Every function fills the tensor in place under no_grad, drawing from the
tensor's own device generator (or the `generator` given), and returns it.
"""
import math
import warnings

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
           "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_", "sparse_"]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (torch's table)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _check(op, tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{op}(): expected a Tensor, got {type(tensor).__name__}")


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    _check("uniform_", tensor)
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2)."""
    _check("normal_", tensor)
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def constant_(tensor, val):
    _check("constant_", tensor)
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """The identity matrix (2-D tensors only)."""
    _check("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    from ..functional.creation import eye
    with no_grad():
        return tensor.copy_(eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b], by rejection sampling as torch does.

    When [a, b] holds a fair share of the normal's mass, normal draws outside
    it are redrawn; otherwise uniform draws on [a, b] are accepted with the
    normal density's ratio to its peak, so the loop ends quickly either way.
    """
    _check("trunc_normal_", tensor)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    with no_grad():
        if tensor.numel() == 0:
            return tensor
        mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
        result = _reject_outside_normal(tensor, mean, std, a, b, generator) if mass > 0.3 \
            else _accept_uniform_by_density(tensor, mean, std, a, b, generator)
        if result is not tensor:
            tensor.copy_(result)
        return tensor


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _reject_outside_normal(tensor, mean, std, a, b, generator):
    from ..functional.binary import where
    from ..functional.creation import empty_like
    result = tensor.normal_(mean, std, generator=generator)
    while True:
        outside = (result < a) | (result > b)
        if not _any(outside):
            return result
        result = where(outside, empty_like(result).normal_(mean, std, generator=generator), result)


def _accept_uniform_by_density(tensor, mean, std, a, b, generator):
    from ..functional.binary import where
    from ..functional.creation import empty_like
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2

    def rejected(candidates):
        log_ratio = ((candidates - mean) / std) ** 2 * -0.5 - log_peak
        return empty_like(candidates).uniform_(generator=generator).log() > log_ratio

    result = tensor.uniform_(a, b, generator=generator)
    pending = rejected(result)
    while _any(pending):
        candidates = empty_like(result).uniform_(a, b, generator=generator)
        result = where(pending, candidates, result)
        pending = pending & rejected(candidates)
    return result


def _any(mask):
    return bool(mask.sum().item())


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (dims 2+)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = 1
    for s in tensor.shape[2:]:
        receptive_field *= s
    return tensor.size(1) * receptive_field, tensor.size(0) * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    _check("kaiming_uniform_", tensor)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    _check("kaiming_normal_", tensor)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


# ------------------------------------------------------------ structured initialisations
# These draw on the tensor's device (the same generator stream as normal_), then do the small
# linear algebra on the host: they run once per layer at construction, not per step.

def _fill_from_host(tensor, array):
    from ..functional.creation import tensor as new_tensor
    with no_grad():
        return tensor.copy_(new_tensor(array.reshape(tuple(tensor.shape)), dtype=tensor.dtype,
                                       device=tensor.device))


def _host(t):
    return t.detach().cpu().numpy().astype(np.float64)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw, as in Saxe et al.;
    dims after the first are flattened, and the result is scaled by gain."""
    _check("orthogonal_", tensor)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    from ..functional.creation import empty
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    draw = _host(empty(rows, cols, dtype=tensor.dtype, device=tensor.device).normal_(0, 1, generator=generator))
    wide = rows < cols
    q, r = np.linalg.qr(draw.T if wide else draw)
    q = q * np.sign(np.diag(r))    # the sign fix makes q uniformly distributed (Mezzadri)
    return _fill_from_host(tensor, (q.T if wide else q) * gain)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """N(0, std^2) values with ceil(sparsity * rows) entries of every column set to zero."""
    _check("sparse_", tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    from ..functional.creation import rand
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    with no_grad():
        tensor.normal_(0, std, generator=generator)
        # a random permutation of the rows of each column: argsort of uniform keys
        order = np.argsort(_host(rand(rows, cols, dtype=tensor.dtype, generator=generator)), axis=0)
        keep = np.ones((rows, cols))
        np.put_along_axis(keep, order[:num_zeros], 0.0, axis=0)
        return _fill_from_host(tensor, _host(tensor) * keep)


def dirac_(tensor, groups=1):
    """Conv weights that pass as many input channels through unchanged as there are outputs
    (per group): a one at the kernel centre of each (out, in) channel pair on the diagonal."""
    _check("dirac_", tensor)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    centre = tuple(s // 2 for s in sizes[2:])
    weights = np.zeros(sizes)
    for g in range(groups):
        for d in range(min(out_per_group, sizes[1])):
            weights[(g * out_per_group + d, d) + centre] = 1
    return _fill_from_host(tensor, weights)


def _deprecated(method):
    new_name = method.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
                      FutureWarning, stacklevel=2)
        return method(*args, **kwargs)
    deprecated_init.__name__ = old_name
    deprecated_init.__doc__ = f"Deprecated alias of {new_name} (warns, as torch's does)."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
