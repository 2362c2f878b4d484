"""1-D and 3-D pooling, lp_pool (1/2/3-D) and max_unpool (1/2/3-D): values, indices and gradients
vs PyTorch in float32 and float64, gradcheck in float64, CUDA kernels (simulator on tiny shapes),
empty batches, non-contiguous and unbatched inputs, and bad-argument errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

SHAPES = {1: (2, 3, 9), 3: (2, 2, 5, 6, 4)}

CASES = [  # (op, nd, kwargs); inputs are SHAPES[nd]
    ("max_pool1d", 1, dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool1d", 1, dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    ("max_pool1d", 1, dict(kernel_size=2)),
    ("max_pool3d", 3, dict(kernel_size=2)),
    ("max_pool3d", 3, dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=(1, 1, 0), dilation=(1, 2, 1),
                           ceil_mode=True)),
    ("avg_pool1d", 1, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool1d", 1, dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool3d", 3, dict(kernel_size=2)),
    ("avg_pool3d", 3, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=5)),
    ("avg_pool3d", 3, dict(kernel_size=(3, 2, 3), stride=(2, 3, 1), padding=(1, 1, 1), ceil_mode=True,
                           count_include_pad=False)),
    ("adaptive_avg_pool1d", 1, dict(output_size=4)),
    ("adaptive_avg_pool1d", 1, dict(output_size=12)),          # output larger than input
    ("adaptive_avg_pool3d", 3, dict(output_size=(2, None, 3))),
    ("adaptive_avg_pool3d", 3, dict(output_size=1)),           # the global path
    ("adaptive_max_pool1d", 1, dict(output_size=4)),
    ("adaptive_max_pool3d", 3, dict(output_size=(3, 7, 2))),
    ("lp_pool1d", 1, dict(norm_type=2, kernel_size=3, stride=2)),
    ("lp_pool1d", 1, dict(norm_type=1, kernel_size=2)),        # p = 1: the signed sum
    ("lp_pool3d", 3, dict(norm_type=2, kernel_size=2, stride=(1, 2, 1), ceil_mode=True)),
]


def _with_indices(op, kwargs):
    if op.startswith("max_pool") or op.startswith("adaptive_max"):
        return dict(kwargs, return_indices=True)
    return kwargs


def _compare(torch, ours_fn, torch_fn, x, device="cpu", rtol=1e-5, atol=1e-6):
    """Forward values (and indices, if any) and the input gradient for a random output gradient."""
    x_before = x.copy()
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
    assert_close(xt, x_before, rtol=0, atol=0)      # the input is never modified


@pytest.mark.parametrize("op, nd, kwargs", CASES)
def test_matches_torch(torch, op, nd, kwargs):
    x = randn(*SHAPES[nd], seed=1)
    if "max" in op:
        x.reshape(-1)[::7] = np.nan                      # NaN wins: value, index and gradient
    kwargs = _with_indices(op, kwargs)
    _compare(torch, lambda t: getattr(F, op)(t, **kwargs), lambda t: getattr(torch.nn.functional, op)(t, **kwargs),
             x)


@pytest.mark.parametrize("op, nd, kwargs", CASES[::3])
def test_float64_unbatched_and_non_contiguous(torch, op, nd, kwargs):
    kwargs = _with_indices(op, kwargs)
    x = randn(*SHAPES[nd][1:], dtype=np.float64, seed=2)
    ours, theirs = (lambda t: getattr(F, op)(t, **kwargs)), (lambda t: getattr(torch.nn.functional, op)(t, **kwargs))
    _compare(torch, ours, theirs, x, rtol=1e-12, atol=1e-12)
    # a transposed view: the op must read through its strides
    base = randn(*SHAPES[nd][::-1], dtype=np.float64, seed=3)
    perm = tuple(range(nd + 2))[::-1]
    bt, tb = nnlite.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    y, ty = ours(bt.permute(*perm)), theirs(tb.permute(*perm))
    y, ty = (y[0], ty[0]) if isinstance(ty, tuple) else (y, ty)
    assert_close(y, ty, rtol=1e-12, atol=1e-12)
    g = randn(*ty.shape, dtype=np.float64, seed=4)
    y.backward(nnlite.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(bt.grad, tb.grad, rtol=1e-12, atol=1e-12)

def test_lp_pool_matches_torch_with_fractional_norms(torch):
    x = np.abs(randn(2, 3, 7, 8, seed=4)) + 0.1        # positive: x ** 1.5 is real
    for kwargs in (dict(norm_type=3, kernel_size=(2, 3), ceil_mode=True), dict(norm_type=1.5, kernel_size=2,
                                                                              stride=1)):
        _compare(torch, lambda t: F.lp_pool2d(t, **kwargs), lambda t: torch.nn.functional.lp_pool2d(t, **kwargs), x)
    # negative window sums with an odd norm give NaN in torch too
    x = randn(1, 2, 4, 4, seed=5)
    assert_close(F.lp_pool2d(nnlite.tensor(x), 3, 2), torch.nn.functional.lp_pool2d(torch.tensor(x), 3, 2))


@pytest.mark.parametrize("nd, pool_kwargs, output_size", [
    (1, dict(kernel_size=3, stride=2, padding=1), None),
    (1, dict(kernel_size=2), (9,)),
    (2, dict(kernel_size=2), None),
    (2, dict(kernel_size=3, stride=2, padding=1), (1, 2, 9, 8)),   # N, C given too
    (3, dict(kernel_size=2), (5, 7, 4)),
])
def test_max_unpool_matches_torch(torch, nd, pool_kwargs, output_size):
    shape = {1: (2, 3, 9), 2: (1, 2, 9, 8), 3: (2, 2, 5, 7, 4)}[nd]
    tf = torch.nn.functional
    values, indices = getattr(tf, f"max_pool{nd}d")(torch.tensor(randn(*shape, seed=6)), return_indices=True,
                                                     **pool_kwargs)
    idx = nnlite.tensor(indices.numpy())
    op = f"max_unpool{nd}d"
    _compare(torch, lambda t: getattr(F, op)(t, idx, output_size=output_size, **pool_kwargs),
             lambda t: getattr(tf, op)(t, indices, output_size=output_size, **pool_kwargs), values.numpy())
    # unbatched
    _compare(torch, lambda t: getattr(F, op)(t, idx[0], output_size=output_size, **pool_kwargs),
             lambda t: getattr(tf, op)(t, indices[0], output_size=output_size, **pool_kwargs), values[0].numpy())


@pytest.mark.parametrize("op, args, x", [
    ("max_pool1d", dict(kernel_size=2, stride=1, padding=1), None),
    ("max_pool3d", dict(kernel_size=2, stride=1, padding=(1, 0, 1)), None),
    ("avg_pool1d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), None),
    ("avg_pool3d", dict(kernel_size=2, stride=1, padding=1, divisor_override=3), None),
    ("adaptive_avg_pool3d", dict(output_size=(2, 3, 2)), None),
    ("adaptive_max_pool1d", dict(output_size=3), None),
    ("adaptive_max_pool3d", dict(output_size=(1, 3, 2)), None),
    ("lp_pool2d", dict(norm_type=2, kernel_size=2, stride=1), "positive"),
    ("lp_pool3d", dict(norm_type=3, kernel_size=2, stride=1), "positive"),
])
def test_gradcheck(op, args, x):
    # distinct values so that no window has a tie (max is not differentiable there)
    v = np.random.default_rng(7).permutation(48).astype(np.float64) / 7 - 3
    if x == "positive":
        v += 4
    v = v.reshape((2, 3, 8) if "1d" in op else (1, 3, 4, 4) if "2d" in op else (1, 3, 2, 2, 4))
    assert gradcheck(lambda t: getattr(F, op)(t, **args), (nnlite.tensor(v, requires_grad=True),))


def test_max_unpool_gradcheck():
    x = nnlite.tensor(randn(1, 2, 3, 3, dtype=np.float64, seed=8), requires_grad=True)
    _, idx = F.max_pool2d(nnlite.tensor(randn(1, 2, 6, 7, seed=9)), 2, return_indices=True)
    assert gradcheck(lambda t: F.max_unpool2d(t, idx, 2, output_size=(6, 7)), (x,))


@pytest.mark.parametrize("op, kwargs, shape", [
    ("max_pool3d", dict(kernel_size=2, stride=1, padding=1, return_indices=True), (1, 2, 3, 4, 3)),
    ("avg_pool3d", dict(kernel_size=2, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 3, 4, 3)),
    ("adaptive_avg_pool3d", dict(output_size=(2, 3, 2)), (1, 2, 3, 4, 3)),
    ("adaptive_avg_pool1d", dict(output_size=1), (2, 3, 5)),
    ("adaptive_max_pool3d", dict(output_size=(2, 3, 2), return_indices=True), (1, 2, 3, 4, 3)),
    ("max_pool1d", dict(kernel_size=3, stride=2, padding=1, return_indices=True), (2, 2, 7)),
    ("lp_pool1d", dict(norm_type=2, kernel_size=2), (2, 2, 6)),
])
def test_device_matches_torch(torch, device, op, kwargs, shape):
    x = randn(*shape, seed=10)
    if "max" in op:
        x.reshape(-1)[::5] = np.nan
    _compare(torch, lambda t: getattr(F, op)(t, **kwargs), lambda t: getattr(torch.nn.functional, op)(t, **kwargs),
             x, device=device)


def test_max_unpool_device_matches_torch(torch, device):
    values, indices = torch.nn.functional.max_pool3d(torch.tensor(randn(1, 2, 4, 4, 3, seed=12)), 2, stride=1,
                                                     return_indices=True)
    idx = nnlite.tensor(indices.numpy(), device=device)
    _compare(torch, lambda t: F.max_unpool3d(t, idx, 2, 1), lambda t: torch.nn.functional.max_unpool3d(t, indices, 2, 1),
             values.numpy(), device=device)


def test_empty_batches():
    for op, shape, args in [("max_pool3d", (0, 2, 4, 4, 4), (2,)), ("avg_pool1d", (0, 3, 8), (2,)),
                            ("adaptive_avg_pool3d", (0, 2, 3, 3, 3), (2,)), ("adaptive_max_pool1d", (0, 3, 5), (2,)),
                            ("lp_pool3d", (0, 2, 4, 4, 4), (2, 2))]:
        x = nnlite.zeros(*shape, requires_grad=True)
        y = getattr(F, op)(x, *args)
        assert y.shape[0] == 0 and y.ndim == x.ndim
        y.backward(nnlite.ones(*y.shape))
        assert tuple(x.grad.shape) == shape
    x = nnlite.zeros(0, 2, 3, requires_grad=True)
    y = F.max_unpool1d(x, nnlite.zeros(0, 2, 3, dtype=nnlite.int64), 2)
    assert tuple(y.shape) == (0, 2, 6)


# ---------------------------------------------------------------- errors


X1, X3 = (2, 3, 8), (2, 3, 4, 4, 4)
IDX = nnlite.zeros(1, 2, 2, 2, dtype=nnlite.int64)


@pytest.mark.parametrize("shape, call, error, match", [
    (X1, lambda x: F.max_pool1d(x.reshape(48), 2), RuntimeError,
     r"max_pool1d: Expected 2D or 3D \(batch mode\) tensor with optional 0 dim batch size for input, but got:\[48\]"),
    (X1, lambda x: F.max_pool1d(x, 3, padding=2), RuntimeError, r"max_pool1d: pad should be at most half"),
    (X1, lambda x: F.max_pool1d(x, 9), RuntimeError,
     r"max_pool1d: Given input size: \(3x8\). Calculated output size: \(3x0\). Output size is too small"),
    (X1, lambda x: F.max_pool1d(x, (2, 2)), RuntimeError, r"kernel_size must either be a single int, or a tuple of one"),
    (X1, lambda x: F.avg_pool1d(x, 2, stride=0), RuntimeError, r"avg_pool1d: stride should not be zero"),
    (X1, lambda x: F.avg_pool1d(x.long(), 2), TypeError, r"\"avg_pool1d\" not implemented for 'int64'"),
    (X3, lambda x: F.max_pool3d(x[0, 0], 2), RuntimeError, r"max_pool3d: Expected 4D or 5D"),
    (X3, lambda x: F.max_pool3d(x, 0, stride=1), RuntimeError,
     r"kernel size should be greater than zero, but got kT: 0 kH: 0 kW: 0"),
    (X3, lambda x: F.max_pool3d(x, 2, dilation=0), RuntimeError, r"but got dilationT: 0 dilationH: 0 dilationW: 0"),
    (X3, lambda x: F.max_pool3d(x, (2, 2)), RuntimeError, r"max_pool3d: kernel_size must either be a single int, or "
                                                          r"a tuple of three ints"),
    (X3, lambda x: F.max_pool3d(nnlite.zeros(2, 0, 4, 4, 4), 2), RuntimeError, r"but got:\[2, 0, 4, 4, 4\]"),
    (X3, lambda x: F.avg_pool3d(x, 5), RuntimeError, r"avg_pool3d: Given input size: \(3x4x4x4\)"),
    (X3, lambda x: F.avg_pool3d(x, 2, divisor_override=0), RuntimeError, r"avg_pool3d: divisor must be not zero"),
    (X3, lambda x: F.avg_pool3d(x, 3, padding=2), RuntimeError, r"pad should be at most half of effective kernel"),
    (X1, lambda x: F.adaptive_avg_pool1d(x.reshape(48), 2), RuntimeError,
     r"adaptive_avg_pool1d\(\): Expected 2D or 3D tensor, but got: \[48\]"),
    (X1, lambda x: F.adaptive_max_pool1d(x, (2, 2)), RuntimeError, r"adaptive_max_pool1d: output_size must be 1"),
    (X3, lambda x: F.adaptive_avg_pool3d(x, (2, 2)), RuntimeError, r"adaptive_avg_pool3d: output_size must be 3"),
    (X3, lambda x: F.adaptive_max_pool3d(x, -1), RuntimeError, r"must be greater than or equal to 0"),
    (X3, lambda x: F.adaptive_max_pool3d(nnlite.zeros(2, 3, 0, 4, 4), 2), RuntimeError,
     r"input has sizes \[2, 3, 0, 4, 4\] with dimension 2 being empty"),
    (X1, lambda x: F.lp_pool1d(x, "2", 2), TypeError, r"lp_pool1d\(\): argument 'norm_type' must be a number"),
    (X1, lambda x: F.lp_pool1d(x.numpy(), 2, 2), TypeError, r"argument 'input' must be Tensor"),
    (X1, lambda x: F.lp_pool1d(x, 2, (2, 2)), RuntimeError, r"lp_pool1d: kernel_size must"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x, IDX.int(), 2), RuntimeError,
     r"max_unpool2d: elements in indices should be type int64 but got: int32"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x, IDX[..., :1], 2), RuntimeError,
     r"Expected shape of indices to be same as that of the input tensor \(\[1, 2, 2, 2\]\) but got indices tensor "
     r"with shape: \[1, 2, 2, 1\]"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x, IDX + 16, 2), RuntimeError,
     r"max_unpool2d: Found an invalid max index: 16 \(output volumes are of size 4x4\)"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x, IDX - 1, 2), RuntimeError, r"Found an invalid max index: -1"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x, IDX, 2, output_size=(9, 9)), ValueError,
     r"invalid output_size \"\(9, 9\)\" \(dim 0 must be between 2 and 6\)"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x, IDX, 2, output_size=(4, 4, 4)), ValueError,
     r"output_size should be a sequence containing 2 or 4 elements, but it has a length of '3'"),
    ((2, 2, 2), lambda x: F.max_unpool3d(x, IDX[0], 2), RuntimeError,
     r"max_unpool3d: Input to max_unpooling3d should be a 4d or 5d Tensor, but got a tensor with 3 dimensions"),
    ((1, 2, 2, 2), lambda x: F.max_unpool2d(x.long(), IDX, 2), TypeError, r"\"max_unpool2d\" not implemented"),
    ((1, 0, 2, 2), lambda x: F.max_unpool2d(x, nnlite.zeros(1, 0, 2, 2, dtype=nnlite.int64), 2), RuntimeError,
     r"non-zero size for non-batch dimensions, but got \[1, 0, 2, 2\] with dimension 1 being empty"),
])
def test_bad_arguments(shape, call, error, match):
    with pytest.raises(error, match=match):
        call(nnlite.tensor(randn(*shape)))
