"""More activations, as torch.nn.functional: threshold, logsigmoid, hardshrink, softshrink,
tanhshrink, softsign (pointwise kernels of kernels/activation_extra.py, run by the
`Activation` Function of functional/activation.py), rrelu (random slopes from nnlite's
generator in training), prelu (a learnt slope per channel), and the compositions glu,
softmin and gumbel_softmax.
"""
import warnings

import numpy as np

from ..autograd.function import Function
from ..backend import dtype as _dt
from ..backend.lazy import kernels
from ..backend.random import default_generator
from ._arrays import contiguous_array, empty_for, is_contiguous_array
from .creation import rand, zeros_like
from .indexing import scatter
from ._util import check_same_device, check_tensor, flat, normalize_dim, wrap
from .activation import _apply, _softmax, check_floating_input, leaky_relu, records_graph, softmax, type_name
from .inplace import inplace as run_inplace

KX = kernels("activation_extra")

# The largest float32: torch's bound on softshrink's lambda (float64 tensors allow more, never needed here).
_FLOAT32_MAX = 3.4028234663852886e38


def _threshold(input, bound, value, inplace):
    return _apply("threshold", "threshold", input, inplace, (bound, value), integers_ok=True, family=KX)


def threshold(input, threshold, value, inplace=False):
    """value where input <= threshold, input elsewhere (NaN stays NaN; integer tensors stay integer)."""
    return _threshold(input, threshold, value, inplace)


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, inplace=True)


def logsigmoid(input):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): finite and accurate for large |x|."""
    return _apply("logsigmoid", "logsigmoid", input, False, family=KX)


def hardshrink(input, lambd=0.5):
    """0 where -lambd <= x <= lambd, x elsewhere."""
    return _apply("hardshrink", "hardshrink", input, False, (lambd,), family=KX)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    check_floating_input("softshrink", input)
    if not 0 <= lambd <= _FLOAT32_MAX:
        raise RuntimeError(f"softshrink: lambda must be in range [0, {_FLOAT32_MAX:g}] for input dtype "
                           f"{type_name(input.dtype)}, but found {lambd}")
    return _apply("softshrink", "softshrink", input, False, (lambd,), family=KX)


def _as_float(op, input):
    """torch's composite ops (tanhshrink, softsign) compute integer inputs in the default float dtype."""
    check_tensor(op, "input", input)
    if input.dtype.is_floating_point or input.dtype.name == "bool":
        return input
    return input.to(_dt.get_default_dtype())


def tanhshrink(input):
    """x - tanh(x)."""
    return _apply("tanhshrink", "tanhshrink", _as_float("tanhshrink", input), False, family=KX)


def softsign(input):
    """x / (1 + |x|)."""
    return _apply("softsign", "softsign", _as_float("softsign", input), False, family=KX)


# ------------------------------------------------------------------ rrelu

class RandomSlope(Function):
    """rrelu in training: x * r where x <= 0, r ~ U(lower, upper) drawn per element at
    (seed, offset + i); backward draws the same r again rather than keeping them."""

    @staticmethod
    def forward(ctx, x, draw):
        a = contiguous_array(x._array)
        y = empty_for(a, a.shape)
        if a.size:
            KX.rrelu(flat(a), flat(y), *draw)
        ctx.draw = draw
        ctx.save_for_backward(x)
        return wrap(y, x._device)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        a = contiguous_array(x._array)
        gx = empty_for(a, a.shape)
        if a.size:
            KX.rrelu_bwd(flat(contiguous_array(g._array)), flat(a), flat(gx), *ctx.draw)
        return wrap(gx, g._device), None


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomised leaky relu: in training a slope drawn from U(lower, upper) for each element
    (nnlite's generator, so nnlite.manual_seed reproduces it), otherwise the slope (lower + upper) / 2."""
    check_floating_input("rrelu", input)
    if lower > upper:
        raise RuntimeError(f"rrelu: Lower bound should be less than or equal to the upper bound, but got "
                           f"lower={lower} and upper={upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    seed, offset = default_generator(input._device).take(input.numel())
    draw = (np.uint64(seed), np.int64(offset), float(lower), float(upper))
    if not inplace:
        return RandomSlope.apply(input, draw)
    if not records_graph(input) and is_contiguous_array(input._array):
        if input._array.size:   # elementwise: writing over the input is safe
            KX.rrelu(flat(input._array), flat(input._array), *draw)
        input._version[0] += 1
        return input
    return run_inplace("rrelu_", input, lambda t: RandomSlope.apply(t, draw))


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


# ------------------------------------------------------------------ prelu

def _prelu_layout(x, weight):
    """(channels, inner): rows of `inner` contiguous elements, row r of channel r % channels.
    One shared weight reads every element as its own row, so backward stays parallel."""
    if weight.numel() == 1:
        return 1, 1
    inner = 1
    for n in x.shape[2:]:
        inner *= n
    return x.shape[1], inner


class PReLU(Function):
    @staticmethod
    def forward(ctx, x, weight):
        a, w = contiguous_array(x._array), contiguous_array(weight._array)
        y = empty_for(a, a.shape)
        channels, inner = _prelu_layout(x, weight)
        if a.size:
            KX.prelu(flat(a), flat(w), flat(y), channels, inner)
        ctx.layout = channels, inner
        ctx.save_for_backward(x, weight)
        return wrap(y, x._device)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        a, w = contiguous_array(x._array), contiguous_array(weight._array)
        channels, inner = ctx.layout
        if a.size == 0:
            return wrap(empty_for(a, a.shape), g._device), zeros_like(weight)
        gx = empty_for(a, a.shape)
        gw_rows = empty_for(a, (a.size // inner,))
        KX.prelu_bwd(flat(contiguous_array(g._array)), flat(a), flat(w), flat(gx), gw_rows, channels, inner)
        # per-(sample, channel) partial sums -> one sum per channel
        gw = wrap(gw_rows, g._device).reshape(-1, channels).sum(0).reshape(weight.shape)
        return wrap(gx, g._device), gw


def prelu(input, weight):
    """x where x > 0, weight[c] * x elsewhere; weight has 1 element or one per channel (dim 1)."""
    check_tensor("prelu", "input", input)
    check_tensor("prelu", "weight", weight)
    check_floating_input("prelu", input)
    check_same_device("prelu", input, weight)
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if weight.dtype != input.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {type_name(input.dtype)} and "
                           f"{type_name(weight.dtype)}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(f"prelu: Mismatch of parameter numbers and input channel size. Found parameter "
                           f"numbers = {weight.numel()} and channel size = {channels}.")
    return PReLU.apply(input, weight)


# ------------------------------------------------------------------ compositions

def glu(input, dim=-1):
    """a * sigmoid(b), where a and b are the two halves of input along dim."""
    check_floating_input("glu", input)
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    dim = normalize_dim("glu", dim, input.ndim)
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {dim} is size {size}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-input) along dim."""
    check_tensor("softmin", "input", input)
    return _softmax("softmin", -input, dim, _stacklevel, dtype, log=False)


def _gumbel_noise(logits):
    """-log(E), E ~ Exp(1) = -log(U): drawn in float64 (so E is 0 only when U is 1, never), then cast."""
    u = rand(logits.shape, dtype=_dt.float64, device=logits.device)
    return (-(-u.log()).log()).to(logits.dtype)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + Gumbel noise) / tau) along dim; hard=True returns the one-hot of its
    argmax with the soft sample's gradient (y_hard - y_soft.detach() + y_soft)."""
    check_floating_input("gumbel_softmax", logits)
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    y_soft = softmax((logits + _gumbel_noise(logits)) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = scatter(zeros_like(y_soft), dim, index, value=1.0)
    return y_hard - y_soft.detach() + y_soft


__all__ = ["glu", "gumbel_softmax", "hardshrink", "logsigmoid", "prelu", "rrelu", "rrelu_", "softmin",
           "softshrink", "softsign", "tanhshrink", "threshold", "threshold_"]

TENSOR_METHODS = []
