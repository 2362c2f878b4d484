"""nn.init: distributions (bounds, means, stds - statistically), gains and fans vs torch, layer defaults."""
import math

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from nnlite.nn import init

N_ROWS, N_COLS = 200, 300          # 60 000 samples: the mean is known to ~0.4% of the std


def _sample(fill, shape=(N_ROWS, N_COLS), device="cpu"):
    t = nn.Parameter(nnlite.empty(shape, device=device))
    out = fill(t)
    assert out is t and t.grad_fn is None and t.requires_grad  # filled in place, under no_grad
    return t.detach().cpu().numpy().astype(np.float64)


def _within(x, bound):
    """|x| <= bound up to float32 rounding of the bound, and the extremes close to it."""
    limit = float(np.float32(bound)) * (1 + 1e-7)
    assert np.abs(x).max() <= limit and np.abs(x).max() > 0.99 * bound


def _check_moments(x, mean, std, sigmas=5):
    """Mean within `sigmas` standard errors; std within 6 of its standard errors (~1/sqrt(2n))."""
    n = x.size
    assert abs(x.mean() - mean) < sigmas * std / math.sqrt(n), (x.mean(), mean)
    assert abs(x.std() - std) < max(0.02, 6 / math.sqrt(2 * n)) * std, (x.std(), std)


def _shape_for(device):
    """CUDA runs on the simulator here (a Python thread per GPU thread): fewer samples there."""
    return (N_ROWS, N_COLS) if device == "cpu" else (10, 60)


def test_uniform_and_normal(device):
    x = _sample(lambda t: init.uniform_(t, -2.0, 3.0), _shape_for(device), device=device)
    assert x.min() >= -2.0 and x.max() < 3.0
    _check_moments(x, 0.5, 5 / math.sqrt(12))
    x = _sample(lambda t: init.normal_(t, 1.5, 0.25), _shape_for(device), device=device)
    _check_moments(x, 1.5, 0.25)


def test_constant_ones_zeros_eye(torch):
    assert np.all(_sample(lambda t: init.constant_(t, 0.3), (3, 4)) == np.float32(0.3))
    assert np.all(_sample(init.ones_, (2, 2)) == 1) and np.all(_sample(init.zeros_, (2, 2)) == 0)
    np.testing.assert_array_equal(_sample(init.eye_, (3, 5)), torch.nn.init.eye_(torch.empty(3, 5)).numpy())
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(nnlite.empty(2, 2, 2))


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain):
    fan_in, fan_out = N_COLS, N_ROWS
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    x = _sample(lambda t: init.xavier_uniform_(t, gain=gain))
    bound = math.sqrt(3.0) * std
    _within(x, bound)
    _check_moments(x, 0.0, std)
    _check_moments(_sample(lambda t: init.xavier_normal_(t, gain=gain)), 0.0, std)


@pytest.mark.parametrize("mode, nonlinearity, a", [("fan_in", "leaky_relu", 0), ("fan_out", "relu", 0),
                                                   ("fan_in", "leaky_relu", math.sqrt(5)),
                                                   ("fan_out", "tanh", 0), ("fan_in", "linear", 0)])
def test_kaiming(mode, nonlinearity, a):
    shape = (N_ROWS, 30, 2, 5)  # conv-like: receptive field 10, fan_in 300, fan_out 2000
    fan = 300 if mode == "fan_in" else 2000
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    x = _sample(lambda t: init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity), shape)
    bound = math.sqrt(3.0) * std
    _within(x, bound)
    _check_moments(x, 0.0, std)
    x = _sample(lambda t: init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity), shape)
    _check_moments(x, 0.0, std)


def _truncated_normal_moments(mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    m = (pdf(alpha) - pdf(beta)) / z
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (0.5, 0.1, 0.3, 0.9)])
def test_trunc_normal(device, mean, std, a, b):
    """Most of the mass inside [a, b]: normal draws outside it are redrawn."""
    shape = (60, 100) if device == "cpu" else (10, 20)
    x = _sample(lambda t: init.trunc_normal_(t, mean, std, a, b), shape, device=device)
    assert x.min() >= a and x.max() <= b
    _check_moments(x, *_truncated_normal_moments(mean, std, a, b))


def test_trunc_normal_with_little_mass_inside():
    """Uniform draws on [a, b] accepted by density (a tail interval; the same ops on every device)."""
    x = _sample(lambda t: init.trunc_normal_(t, 0.0, 1.0, 1.0, 3.0), (60, 100))
    assert x.min() >= 1.0 and x.max() <= 3.0
    _check_moments(x, *_truncated_normal_moments(0.0, 1.0, 1.0, 3.0))


def test_trunc_normal_warns_far_from_interval():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(nnlite.empty(10), mean=3.5, std=1.0, a=-1.0, b=1.0)


def test_gains_and_fans_match_torch(torch):
    for name in ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    assert init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    for shape in [(4, 3), (8, 3, 5, 5), (2, 6, 7)]:
        ours = init._calculate_fan_in_and_fan_out(nnlite.empty(shape))
        assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_init_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope 1 not a valid number"):
        init.calculate_gain("leaky_relu", "1")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(nnlite.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(nnlite.empty(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(nnlite.empty(0, 3))
    with pytest.raises(TypeError, match="expected a Tensor"):
        init.uniform_(np.zeros(3))


def test_seeded_and_generator_draws_repeat():
    nnlite.manual_seed(7)
    first = _sample(init.normal_, (5,))
    nnlite.manual_seed(7)
    np.testing.assert_array_equal(_sample(init.normal_, (5,)), first)
    a = _sample(lambda t: init.uniform_(t, generator=nnlite.Generator().manual_seed(3)), (5,))
    b = _sample(lambda t: init.uniform_(t, generator=nnlite.Generator().manual_seed(3)), (5,))
    np.testing.assert_array_equal(a, b)


def test_layer_default_initialisation_distributions():
    lin = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)                       # kaiming_uniform_(a=sqrt(5)) on fan_in 50
    w = lin.weight.detach().numpy().astype(np.float64)
    _within(w, bound)
    _check_moments(w, 0.0, bound / math.sqrt(3))
    assert np.abs(lin.bias.detach().numpy()).max() <= np.float32(bound)
    conv = nn.Conv2d(16, 64, 3, bias=True)
    bound = 1 / math.sqrt(16 * 9)
    w = conv.weight.detach().numpy().astype(np.float64)
    _within(w, bound)
    _check_moments(w, 0.0, bound / math.sqrt(3))
    assert np.abs(conv.bias.detach().numpy()).max() <= np.float32(bound)
    bn = nn.BatchNorm2d(5)
    for name, value in [("weight", 1), ("bias", 0), ("running_mean", 0), ("running_var", 1)]:
        assert np.all(getattr(bn, name).detach().numpy() == value)
    assert bn.num_batches_tracked.dtype is nnlite.int64 and bn.num_batches_tracked.ndim == 0
    assert int(bn.num_batches_tracked) == 0
