"""batch_norm, layer_norm, group_norm: values, gradients and running stats vs PyTorch,
gradcheck, CUDA kernels vs the CPU ones, errors, inputs left alone."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # simulator arithmetic on NaN


def _tensors(arrays, device, requires_grad):
    import torch
    ours = [None if a is None else nnlite.tensor(a, device=device, requires_grad=requires_grad) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=requires_grad) for a in arrays]
    return ours, theirs


def _run(fn, tfn, arrays, g, device):
    """Forward and backward of fn (nnlite) and tfn (torch) on the same arrays; returns both sides."""
    import torch
    (ours, theirs) = _tensors(arrays, device, True)
    y, ty = fn(*ours), tfn(*theirs)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return (y, [t.grad if t is not None else None for t in ours]), (ty, [t.grad if t is not None else None
                                                                        for t in theirs])


def _assert_same(ours, theirs, rtol, atol):
    (y, grads), (ty, tgrads) = ours, theirs
    assert_close(y, ty.detach(), rtol=rtol, atol=atol)
    for g, tg in zip(grads, tgrads):
        if tg is not None:
            assert_close(g, tg, rtol=rtol, atol=atol)


def _tol(dtype):
    return (1e-4, 1e-5) if dtype == np.float32 else (1e-9, 1e-11)


# ------------------------------------------------------------------ batch_norm

BN_SHAPES = [(4, 3), (5, 3, 7), (4, 3, 5, 6), (2, 3, 2, 2, 3)]
BN_SHAPES_LARGE = [(64, 600), (8, 64, 20, 20), (2, 16, 1200)]


# The full grids run on the CPU; each device runs a few cases (the CUDA simulator
# runs a Python thread per GPU thread, and the CPU kernels already match torch).
BN_DEVICE_CASES = [((4, 3), True, True, np.float32), ((5, 3, 7), False, True, np.float64),
                   ((2, 3, 2, 2, 3), True, False, np.float64), ((4, 3, 5, 6), False, False, np.float32)]
# CUDA splits a channel into parts of a block each (several under the simulator for these
# two): a part's range then starts and ends inside an image, or crosses one per step (S = 1)
BN_SPLIT_CASES = [((150, 2), True, True, np.float64), ((3, 2, 7, 11), True, True, np.float32),
                  ((3, 2, 7, 11), False, True, np.float64)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_matches_torch(torch, shape, training, affine, dtype):
    _check_batch_norm(torch, "cpu", shape, training, affine, dtype)


@pytest.mark.parametrize("case", BN_DEVICE_CASES)
def test_batch_norm_on_each_device(torch, device, case):
    _check_batch_norm(torch, device, *case)


@pytest.mark.parametrize("case", BN_SPLIT_CASES)
def test_batch_norm_channels_split_across_cuda_blocks(torch, cuda_device, case):
    from nnlite.backend.cuda import SIMULATOR
    from nnlite.kernels._channels import channel_parts
    shape = case[0]
    if SIMULATOR:
        assert channel_parts(shape[1], shape[0] * int(np.prod(shape[2:]))) > 1, "the case does not split"
    _check_batch_norm(torch, cuda_device, *case)


def _check_batch_norm(torch, device, shape, training, affine, dtype):
    C = shape[1]
    x = (randn(*shape, seed=1) * 2 + 1).astype(dtype)
    w = (np.random.default_rng(2).random(C) + 0.5).astype(dtype) if affine else None
    b = randn(C, dtype=dtype, seed=3) if affine else None
    rm, rv = randn(C, dtype=dtype, seed=4), (np.random.default_rng(5).random(C) + 0.5).astype(dtype)
    stats = nnlite.tensor(rm, device=device), nnlite.tensor(rv, device=device)
    tstats = torch.tensor(rm), torch.tensor(rv)
    ours, theirs = _run(lambda x, w, b: F.batch_norm(x, *stats, w, b, training, 0.3, 1e-3),
                        lambda x, w, b: torch.nn.functional.batch_norm(x, *tstats, w, b, training, 0.3, 1e-3),
                        [x, w, b], randn(*shape, dtype=dtype, seed=6), device)
    _assert_same(ours, theirs, *_tol(dtype))
    assert_close(stats[0], tstats[0], *_tol(dtype))
    assert_close(stats[1], tstats[1], *_tol(dtype))


@pytest.mark.parametrize("shape", BN_SHAPES_LARGE)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_large_inputs(torch, shape, training):
    C = shape[1]
    x = randn(*shape, seed=7) * 3 - 1
    w, b = np.random.default_rng(8).random(C).astype(np.float32) + 0.5, randn(C, seed=9)
    stats, tstats = (nnlite.zeros(C), nnlite.ones(C)), (torch.zeros(C), torch.ones(C))
    ours, theirs = _run(lambda x, w, b: F.batch_norm(x, *stats, w, b, training),
                        lambda x, w, b: torch.nn.functional.batch_norm(x, *tstats, w, b, training),
                        [x, w, b], randn(*shape, seed=10), "cpu")
    _assert_same(ours, theirs, 1e-4, 2e-4)  # the weight gradient sums 10^4 terms
    assert_close(stats[1], tstats[1], 1e-5, 1e-6)


def test_batch_norm_running_stats_use_the_unbiased_variance():
    x = np.array([[1.0], [2.0], [4.0]], np.float32)
    rm, rv = nnlite.zeros(1), nnlite.ones(1)
    F.batch_norm(nnlite.tensor(x), rm, rv, training=True, momentum=0.5)
    assert_close(rm, [0.5 * x.mean()])
    assert_close(rv, [0.5 + 0.5 * x.var(ddof=1)])
    version = rm._version[0]
    F.batch_norm(nnlite.tensor(x), rm, rv, training=True)
    assert rm._version[0] == version + 1


def test_batch_norm_training_without_running_stats(torch, device):
    x = randn(6, 4, 3, seed=11)
    got = F.batch_norm(nnlite.tensor(x, device=device), None, None, training=True)
    assert_close(got, torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True), 1e-5, 1e-5)


def test_batch_norm_strided_inputs_and_stats(torch):
    x = randn(3, 8, 5, seed=12)
    stats = nnlite.zeros(4, 2)[:, 0], nnlite.ones(4, 2)[:, 1]   # non-contiguous running stats
    tstats = torch.zeros(4, 2)[:, 0], torch.ones(4, 2)[:, 1]
    xt = nnlite.tensor(x)[:, ::2]
    got = F.batch_norm(xt, *stats, training=True)
    want = torch.nn.functional.batch_norm(torch.tensor(x)[:, ::2], *tstats, training=True)
    assert_close(got, want, 1e-5, 1e-5)
    assert_close(stats[0], tstats[0], 1e-5, 1e-6)
    assert_close(stats[1], tstats[1], 1e-5, 1e-6)


# gradcheck runs on the CPU: on the simulator each finite-difference probe is a slow block reduction
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training):
    x = nnlite.tensor(randn(3, 2, 3, dtype=np.float64, seed=13), requires_grad=True)
    w = nnlite.tensor([0.7, 1.3], dtype=nnlite.float64, requires_grad=True)
    b = nnlite.tensor([0.1, -0.2], dtype=nnlite.float64, requires_grad=True)
    rm = nnlite.tensor([0.3, -0.1], dtype=nnlite.float64)
    rv = nnlite.tensor([1.5, 0.6], dtype=nnlite.float64)
    # the running stats are updated on every call; clones keep each call identical
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm.clone(), rv.clone(), w, b, training), (x, w, b))


def test_batch_norm_leaves_its_inputs_alone(device):
    x_np, w_np, b_np = randn(4, 3, 2, seed=14), randn(3, seed=15), randn(3, seed=16)
    x, w, b = (nnlite.tensor(a, device=device) for a in (x_np, w_np, b_np))
    rm, rv = nnlite.zeros(3, device=device), nnlite.ones(3, device=device)
    F.batch_norm(x, rm, rv, w, b, training=False)
    for t, a in ((x, x_np), (w, w_np), (b, b_np), (rm, np.zeros(3)), (rv, np.ones(3))):
        assert_close(t, a)


def test_batch_norm_errors():
    x = nnlite.ones(4, 3)
    rm, rv = nnlite.zeros(3), nnlite.ones(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(nnlite.ones(1, 3), rm, rv, training=True)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        F.batch_norm(x, nnlite.zeros(4), rv, training=True)
    with pytest.raises(RuntimeError, match="weight should contain 3 elements not 2"):
        F.batch_norm(x, rm, rv, weight=nnlite.ones(2))
    with pytest.raises(RuntimeError, match="mixed dtype"):
        F.batch_norm(x.double(), rm, rv, training=True)
    with pytest.raises(NotImplementedError, match='"batch_norm" not implemented for \'Long\''):
        F.batch_norm(nnlite.ones(4, 3, dtype=nnlite.int64), rm, rv)
    with pytest.raises(RuntimeError, match="at least 2 dims"):
        F.batch_norm(nnlite.ones(4), nnlite.zeros(4), nnlite.ones(4))
    with pytest.raises(ValueError, match="batch_norm eps must be positive during training"):
        F.batch_norm(x, rm, rv, training=True, eps=0.0)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.batch_norm(np.ones((4, 3)), rm, rv)


# ------------------------------------------------------------------ layer_norm

LN_CASES = [((4, 6), (6,)), ((3, 4, 5), (4, 5)), ((2, 3, 30), 30), ((5,), (5,)), ((2, 3, 4), (2, 3, 4))]


@pytest.mark.parametrize("shape, norm", LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_matches_torch(torch, shape, norm, affine, dtype):
    _check_layer_norm(torch, "cpu", shape, norm, affine, dtype)


@pytest.mark.parametrize("case", [((3, 4, 5), (4, 5), "both", np.float32), ((4, 6), 6, "none", np.float64)])
def test_layer_norm_on_each_device(torch, device, case):
    _check_layer_norm(torch, device, *case)


def _check_layer_norm(torch, device, shape, norm, affine, dtype):
    wshape = (norm,) if isinstance(norm, int) else norm
    x = (randn(*shape, seed=17) * 2 + 1).astype(dtype)
    w = (np.random.default_rng(18).random(wshape) + 0.5).astype(dtype) if affine != "none" else None
    b = randn(*wshape, dtype=dtype, seed=19) if affine == "both" else None
    ours, theirs = _run(lambda x, w, b: F.layer_norm(x, norm, w, b, 1e-4),
                        lambda x, w, b: torch.nn.functional.layer_norm(x, wshape, w, b, 1e-4),
                        [x, w, b], randn(*shape, dtype=dtype, seed=20), device)
    _assert_same(ours, theirs, *_tol(dtype))


@pytest.mark.parametrize("shape", [(600, 70), (40, 1000)])
def test_layer_norm_large_inputs(torch, shape):
    D = shape[1]
    x = randn(*shape, seed=21) * 3
    w, b = np.random.default_rng(22).random(D).astype(np.float32) + 0.5, randn(D, seed=23)
    ours, theirs = _run(lambda x, w, b: F.layer_norm(x, (D,), w, b),
                        lambda x, w, b: torch.nn.functional.layer_norm(x, (D,), w, b),
                        [x, w, b], randn(*shape, seed=24), "cpu")
    _assert_same(ours, theirs, 1e-4, 1e-4)


def test_layer_norm_weight_gradients_alone_and_empty_inputs(torch, device):
    x = randn(5, 6, seed=41)
    w = nnlite.tensor(np.ones(6, np.float32), device=device, requires_grad=True)
    tw = torch.ones(6, requires_grad=True)
    g = randn(5, 6, seed=42)
    F.layer_norm(nnlite.tensor(x, device=device), (6,), w).backward(nnlite.tensor(g, device=device))
    torch.nn.functional.layer_norm(torch.tensor(x), (6,), tw).backward(torch.tensor(g))
    assert_close(w.grad, tw.grad, rtol=1e-5, atol=1e-5)
    e = nnlite.zeros(0, 6, device=device, requires_grad=True)
    F.layer_norm(e, (6,), w).sum().backward()
    assert tuple(e.grad.shape) == (0, 6)


def test_layer_norm_gradcheck():
    x = nnlite.tensor(randn(3, 4, dtype=np.float64, seed=25), requires_grad=True)
    w = nnlite.tensor(randn(4, dtype=np.float64, seed=26), requires_grad=True)
    b = nnlite.tensor(randn(4, dtype=np.float64, seed=27), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b), (x, w, b))


def test_layer_norm_errors():
    x = nnlite.ones(3, 5)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                                           r"but got input of size\[3, 5\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, but got "
                                           r"weight of shape \[4\] and normalized_shape = \[5\]"):
        F.layer_norm(x, (5,), weight=nnlite.ones(4))
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        F.layer_norm(nnlite.ones(3, 5, dtype=nnlite.int64), (5,))


# ------------------------------------------------------------------ group_norm

GN_CASES = [((4, 6), 3), ((3, 4, 5), 2), ((2, 6, 4, 4), 3), ((2, 4, 3), 4), ((2, 4, 3), 1)]


@pytest.mark.parametrize("shape, groups", GN_CASES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_matches_torch(torch, shape, groups, affine, dtype):
    _check_group_norm(torch, "cpu", shape, groups, affine, dtype)


@pytest.mark.parametrize("case", [((2, 6, 2, 2), 3, True, np.float32), ((2, 4, 3), 4, False, np.float64)])
def test_group_norm_on_each_device(torch, device, case):
    _check_group_norm(torch, device, *case)


def _check_group_norm(torch, device, shape, groups, affine, dtype):
    C = shape[1]
    x = (randn(*shape, seed=28) * 2 + 1).astype(dtype)
    w = (np.random.default_rng(29).random(C) + 0.5).astype(dtype) if affine else None
    b = randn(C, dtype=dtype, seed=30) if affine else None
    ours, theirs = _run(lambda x, w, b: F.group_norm(x, groups, w, b, 1e-3),
                        lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b, 1e-3),
                        [x, w, b], randn(*shape, dtype=dtype, seed=31), device)
    rtol, atol = _tol(dtype)
    _assert_same(ours, theirs, rtol * 10, atol * 10)  # torch's float32 group_norm backward is less precise


def test_group_norm_large_input(torch):
    x = randn(4, 32, 20, 20, seed=32)
    w, b = np.random.default_rng(33).random(32).astype(np.float32) + 0.5, randn(32, seed=34)
    ours, theirs = _run(lambda x, w, b: F.group_norm(x, 8, w, b), lambda x, w, b: torch.nn.functional.group_norm(
        x, 8, w, b), [x, w, b], randn(4, 32, 20, 20, seed=35), "cpu")
    _assert_same(ours, theirs, 1e-4, 1e-4)


def test_group_norm_gradcheck():
    x = nnlite.tensor(randn(2, 4, 3, dtype=np.float64, seed=36), requires_grad=True)
    w = nnlite.tensor(randn(4, dtype=np.float64, seed=37), requires_grad=True)
    b = nnlite.tensor(randn(4, dtype=np.float64, seed=38), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))


def test_group_norm_errors():
    with pytest.raises(RuntimeError, match=r"Expected number of channels in input to be divisible by num_groups, "
                                           r"but got input of shape \[2, 6, 3\] and num_groups=4"):
        F.group_norm(nnlite.ones(2, 6, 3), 4)
    with pytest.raises(RuntimeError, match=r"Expected weight to be a vector of size equal to the number of channels "
                                           r"in input, but got weight of shape \[5\] and input of shape \[2, 6, 3\]"):
        F.group_norm(nnlite.ones(2, 6, 3), 3, weight=nnlite.ones(5))
    with pytest.raises(RuntimeError, match="Expected at least 2 dimensions for input tensor but received 1"):
        F.group_norm(nnlite.ones(6), 3)


def test_norms_leave_their_inputs_alone(device):
    x_np = randn(2, 4, 3, seed=39)
    x = nnlite.tensor(x_np, device=device)
    w = nnlite.ones(4, device=device)
    F.group_norm(x, 2, w)
    F.layer_norm(x, (3,))
    assert_close(x, x_np)
    assert_close(w, np.ones(4))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_an_empty_batch_leaves_the_running_stats(torch, training):
    """torch: an empty output, running stats untouched, zero (not None) weight and bias grads."""
    x = nnlite.zeros(0, 3, 4, 4, requires_grad=True)
    bn = nnlite.nn.BatchNorm2d(3).train(training)
    mean, var = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    out = bn(x)
    assert tuple(out.shape) == (0, 3, 4, 4)
    out.sum().backward()
    np.testing.assert_array_equal(bn.running_mean.numpy(), mean)
    np.testing.assert_array_equal(bn.running_var.numpy(), var)
    tbn = torch.nn.BatchNorm2d(3).train(training)
    tbn(torch.zeros(0, 3, 4, 4, requires_grad=True)).sum().backward()
    assert_close(bn.weight.grad, tbn.weight.grad)
    assert_close(bn.bias.grad, tbn.bias.grad)


@pytest.mark.parametrize("special", [np.nan, np.inf])
def test_batch_norm_training_with_nan_or_inf_like_torch(torch, device, special):
    """A NaN or inf in a channel makes that channel's statistics NaN (as torch), on both devices."""
    x = randn(150, 2, seed=13)
    x[7, 1] = special
    got = F.batch_norm(nnlite.tensor(x, device=device), None, None, training=True)
    want = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    assert_close(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
