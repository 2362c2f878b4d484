"""2-D pooling: values, indices and gradients vs PyTorch (NaN, ceil_mode and divisor rules
included), gradcheck in float64, CUDA kernels (simulator on tiny shapes), errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),      # last window starts in the padding
    dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1),                     # overlapping windows share maxima
]
AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),      # windows clipped at the padded edge
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, divisor_override=5),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(1, 3), stride=(1, 1)),
]
ADAPTIVE_SIZES = [1, 3, (2, 5), (None, 3), (7, 8), (10, 11)]


def _compare(torch, ours_fn, torch_fn, x, device="cpu", rtol=1e-6, atol=1e-6):
    """Forward values (and indices, if any) and the input gradient for a random output gradient."""
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = ours_fn(xt), torch_fn(tx)
    if isinstance(ty, tuple):
        assert y[1].dtype is nnlite.int64
        assert np.array_equal(y[1].cpu().numpy(), ty[1].numpy())
        y, ty = y[0], ty[0]
    assert_close(y, ty, rtol=rtol, atol=atol)
    g = randn(*ty.shape, seed=11, dtype=x.dtype)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(xt.grad, tx.grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("kwargs", MAX_CASES)
def test_max_pool2d_matches_torch(torch, kwargs):
    x = randn(2, 3, 7, 8, seed=1)
    _compare(torch, lambda t: F.max_pool2d(t, return_indices=True, **kwargs),
             lambda t: torch.nn.functional.max_pool2d(t, return_indices=True, **kwargs), x)


@pytest.mark.parametrize("kwargs", MAX_CASES)
def test_max_pool2d_nan_wins_like_torch(torch, kwargs):
    x = randn(2, 3, 7, 8, seed=2)
    x.reshape(-1)[::7] = np.nan
    x[0, 0] = -np.inf          # an all -inf plane: the index is the window's first element
    _compare(torch, lambda t: F.max_pool2d(t, return_indices=True, **kwargs),
             lambda t: torch.nn.functional.max_pool2d(t, return_indices=True, **kwargs), x)


@pytest.mark.parametrize("kwargs", AVG_CASES)
def test_avg_pool2d_matches_torch(torch, kwargs):
    _compare(torch, lambda t: F.avg_pool2d(t, **kwargs), lambda t: torch.nn.functional.avg_pool2d(t, **kwargs),
             randn(2, 3, 7, 8, seed=3))


@pytest.mark.parametrize("size", ADAPTIVE_SIZES)
def test_adaptive_pools_match_torch(torch, size):
    x = randn(2, 3, 7, 8, seed=4)
    _compare(torch, lambda t: F.adaptive_avg_pool2d(t, size),
             lambda t: torch.nn.functional.adaptive_avg_pool2d(t, size), x)
    x.reshape(-1)[::5] = np.nan
    _compare(torch, lambda t: F.adaptive_max_pool2d(t, size, return_indices=True),
             lambda t: torch.nn.functional.adaptive_max_pool2d(t, size, return_indices=True), x)


@pytest.mark.parametrize("op, kwargs", [
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("adaptive_avg_pool2d", dict(output_size=(3, 4))),
    ("adaptive_max_pool2d", dict(output_size=(3, 4), return_indices=True)),
])
def test_device_matches_torch(torch, device, op, kwargs):
    x = randn(2, 2, 5, 7, seed=5)
    if "max" in op:
        x.reshape(-1)[::6] = np.nan
    _compare(torch, lambda t: getattr(F, op)(t, **kwargs), lambda t: getattr(torch.nn.functional, op)(t, **kwargs),
             x, device=device)


@pytest.mark.parametrize("op, kwargs", [
    ("max_pool2d", dict(kernel_size=2, stride=1, padding=1)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool2d", dict(kernel_size=2, divisor_override=3)),
    ("adaptive_avg_pool2d", dict(output_size=(2, 3))),
    ("adaptive_max_pool2d", dict(output_size=(3, 2))),
])
def test_gradcheck(op, kwargs):
    # distinct values so that no window has a tie (max is not differentiable there)
    x = np.random.default_rng(6).permutation(40).reshape(2, 4, 5).astype(np.float64) / 7
    assert gradcheck(lambda t: getattr(F, op)(t, **kwargs), (nnlite.tensor(x, requires_grad=True),))


def test_unbatched_and_float64(torch):
    x = randn(3, 7, 8, dtype=np.float64, seed=7)
    _compare(torch, lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
             lambda t: torch.nn.functional.max_pool2d(t, 3, 2, 1, return_indices=True), x, rtol=1e-12, atol=1e-12)
    _compare(torch, lambda t: F.avg_pool2d(t, 2), lambda t: torch.nn.functional.avg_pool2d(t, 2), x,
             rtol=1e-12, atol=1e-12)
    _compare(torch, lambda t: F.adaptive_avg_pool2d(t, 3), lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 3),
             x, rtol=1e-12, atol=1e-12)


def test_large_inputs_take_the_parallel_path(torch):
    x = randn(4, 16, 40, 41, seed=8)
    for ours, theirs in [
        (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: torch.nn.functional.max_pool2d(t, 3, 2, 1)),
        (lambda t: F.avg_pool2d(t, 3, 2, 1), lambda t: torch.nn.functional.avg_pool2d(t, 3, 2, 1)),
        (lambda t: F.adaptive_avg_pool2d(t, 5), lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 5)),
        (lambda t: F.adaptive_max_pool2d(t, 5), lambda t: torch.nn.functional.adaptive_max_pool2d(t, 5)),
    ]:
        _compare(torch, ours, theirs, x, rtol=1e-5, atol=1e-6)


def test_empty_batch_and_empty_adaptive_output():
    x = nnlite.zeros(0, 3, 6, 6, requires_grad=True)
    y = F.max_pool2d(x, 2)
    assert tuple(y.shape) == (0, 3, 3, 3)
    y.backward(nnlite.ones(0, 3, 3, 3))
    assert tuple(x.grad.shape) == (0, 3, 6, 6)
    assert tuple(F.adaptive_avg_pool2d(nnlite.ones(2, 3, 5, 5), (0, 2)).shape) == (2, 3, 0, 2)
    assert tuple(F.adaptive_avg_pool2d(nnlite.ones(2, 0, 5, 5), 2).shape) == (2, 0, 2, 2)


def test_inputs_are_not_modified(device):
    x_np = randn(1, 2, 5, 6, seed=9)
    x = nnlite.tensor(x_np, device=device, requires_grad=True)
    for y in (F.max_pool2d(x, 2, 1), F.avg_pool2d(x, 3, 2, 1), F.adaptive_avg_pool2d(x, 2),
              F.adaptive_max_pool2d(x, 3)):
        g_np = randn(*y.shape, seed=10)
        g = nnlite.tensor(g_np, device=device)
        y.backward(g)
        assert_close(g, g_np)
    assert_close(x, x_np)


def test_indices_are_not_differentiable():
    x = nnlite.tensor(randn(1, 1, 4, 4), requires_grad=True)
    values, indices = F.max_pool2d(x, 2, return_indices=True)
    assert values.requires_grad and not indices.requires_grad


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.max_pool2d(x, 3, padding=2), RuntimeError,
     r"pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"),
    (lambda x: F.max_pool2d(x, 3, padding=2, dilation=2), RuntimeError,
     r"pad should be smaller than or equal to half of kernel size, but got padW = 2, padH = 2, kW = 3, kH = 3"),
    (lambda x: F.avg_pool2d(x, 3, padding=2), RuntimeError, r"pad should be at most half of effective kernel"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), RuntimeError, r"pad must be non-negative, but got pad: -1"),
    (lambda x: F.max_pool2d(x, 9), RuntimeError,
     r"Given input size: \(3x8x8\). Calculated output size: \(3x0x0\). Output size is too small"),
    (lambda x: F.avg_pool2d(x, 9), RuntimeError, r"Output size is too small"),
    (lambda x: F.max_pool2d(x, 0), RuntimeError, r"stride should not be zero"),
    (lambda x: F.max_pool2d(x, 0, stride=1), RuntimeError, r"kernel size should be greater than zero, but got kH: 0"),
    (lambda x: F.max_pool2d(x, 2, stride=-1), RuntimeError, r"stride should be greater than zero, but got dH: -1"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), RuntimeError, r"dilation should be greater than zero"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), RuntimeError,
     r"max_pool2d: kernel_size must either be a single int, or a tuple of two ints"),
    (lambda x: F.avg_pool2d(x, 2, stride=(1, 2, 3)), RuntimeError,
     r"avg_pool2d: stride must either be omitted, a single int, or a tuple of two ints"),
    (lambda x: F.max_pool2d(x, 2.5), TypeError, r"argument 'kernel_size' must be tuple of ints, not float"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), RuntimeError, r"divisor must be not zero"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=2.5), TypeError, r"'divisor_override' must be int"),
    (lambda x: F.max_pool2d(x.reshape(16, 24), 2), RuntimeError,
     r"Expected 3D or 4D \(batch mode\) tensor with optional 0 dim batch size for input, but got:\[16, 24\]"),
    (lambda x: F.max_pool2d(x.reshape(1, 2, 3, 8, 8), 2), RuntimeError, r"Expected 3D or 4D"),
    (lambda x: F.max_pool2d(nnlite.zeros(2, 0, 8, 8), 2), RuntimeError, r"but got:\[2, 0, 8, 8\]"),
    (lambda x: F.avg_pool2d(x.reshape(16, 24), 2), IndexError, r"expected a 3D or 4D input"),
    (lambda x: F.max_pool2d(x.long(), 2), TypeError, r"\"max_pool2d\" not implemented for 'int64'"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), RuntimeError, r"adaptive_avg_pool2d: output_size must be 2"),
    (lambda x: F.adaptive_max_pool2d(x, -1), RuntimeError,
     r"elements of output_size must be greater than or equal to 0"),
    (lambda x: F.adaptive_avg_pool2d(x.reshape(16, 24), 2), RuntimeError,
     r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got: \[16, 24\]"),
    (lambda x: F.adaptive_avg_pool2d(nnlite.zeros(2, 3, 0, 5), 2), RuntimeError,
     r"Expected input to have non-zero size for non-batch dimensions, but input has sizes \[2, 3, 0, 5\] with "
     r"dimension 2 being empty"),
    (lambda x: F.adaptive_avg_pool2d(x, 2.0), TypeError, r"output_size must be an int or a tuple"),
    (lambda x: F.adaptive_max_pool2d(x.long(), 2), TypeError, r"not implemented for 'int64'"),
    (lambda x: F.max_pool2d(x.numpy(), 2), TypeError, r"argument 'input' must be Tensor"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(nnlite.tensor(randn(2, 3, 8, 8)))
