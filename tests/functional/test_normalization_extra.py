"""instance_norm, local_response_norm (and CrossMapLRN2d), rms_norm, normalize and their Modules
(InstanceNorm1d/2d/3d, LocalResponseNorm, CrossMapLRN2d, RMSNorm, BatchNorm3d): values, gradients and
running stats vs PyTorch, gradcheck, CUDA kernels under the simulator, errors, inputs left alone."""
import warnings

import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # simulator arithmetic on NaN


def _tol(dtype):
    return (1e-5, 1e-5) if dtype == np.float32 else (1e-9, 1e-11)


def _compare(torch, fn, tfn, arrays, device, dtype, grad_seed=99):
    """fn (nnlite) and tfn (torch) on the same arrays: outputs and every input's gradient agree."""
    ours = [None if a is None else nnlite.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(*ours), tfn(*theirs)
    g = randn(*ty.shape, dtype=dtype, seed=grad_seed)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    rtol, atol = _tol(dtype)
    assert_close(y, ty, rtol=rtol, atol=atol)
    for t, tt in zip(ours, theirs):
        if t is not None:
            assert_close(t.grad, tt.grad, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ instance_norm

IN_CASES = [((2, 3, 5), True, True, np.float32), ((2, 3, 4, 5), False, False, np.float64),
            ((1, 2, 3, 2, 2), False, True, np.float32), ((3, 4, 7), True, False, np.float64)]


@pytest.mark.parametrize("shape, affine, stats, dtype", IN_CASES)
def test_instance_norm_matches_torch(torch, shape, affine, stats, dtype):
    _check_instance_norm(torch, "cpu", shape, affine, stats, dtype)


@pytest.mark.parametrize("case", [IN_CASES[0], IN_CASES[1]])
def test_instance_norm_on_each_device(torch, device, case):
    _check_instance_norm(torch, device, *case)


def _check_instance_norm(torch, device, shape, affine, stats, dtype):
    C = shape[1]
    x = (randn(*shape, seed=1) * 2 + 1).astype(dtype)
    w = (np.random.default_rng(2).random(C) + 0.5).astype(dtype) if affine else None
    b = randn(C, dtype=dtype, seed=3) if affine else None
    rm, rv = randn(C, dtype=dtype, seed=4), (np.random.default_rng(5).random(C) + 0.5).astype(dtype)
    ours = (nnlite.tensor(rm, device=device), nnlite.tensor(rv, device=device)) if stats else (None, None)
    theirs = (torch.tensor(rm), torch.tensor(rv)) if stats else (None, None)
    _compare(torch, lambda x, w, b: F.instance_norm(x, *ours, w, b, momentum=0.3, eps=1e-3),
             lambda x, w, b: torch.nn.functional.instance_norm(x, *theirs, w, b, momentum=0.3, eps=1e-3),
             [x, w, b], device, dtype)
    if stats:  # updated in place: momentum * (batch mean of per-instance stats) + (1 - momentum) * old
        for got, want in zip(ours, theirs):
            assert_close(got, want, *_tol(dtype))


def test_instance_norm_with_the_running_stats(torch):
    x, w, b = randn(2, 3, 6, dtype=np.float64), randn(3, dtype=np.float64, seed=1), randn(3, dtype=np.float64)
    rm, rv = randn(3, dtype=np.float64, seed=2), np.random.default_rng(3).random(3) + 0.5
    _compare(torch, lambda x, w, b: F.instance_norm(x, nnlite.tensor(rm), nnlite.tensor(rv), w, b, False),
             lambda x, w, b: torch.nn.functional.instance_norm(x, torch.tensor(rm), torch.tensor(rv), w, b, False),
             [x, w, b], "cpu", np.float64)


def test_instance_norm_large_non_contiguous_input(torch):
    # (8, 16, 40, 30) from a transpose: the parallel kernels and the contiguous copy
    x = np.ascontiguousarray(randn(8, 16, 30, 40)).transpose(0, 1, 3, 2)
    got = F.instance_norm(nnlite.tensor(np.ascontiguousarray(randn(8, 16, 30, 40))).transpose(2, 3))
    assert_close(got, torch.nn.functional.instance_norm(torch.tensor(x)), rtol=1e-5, atol=1e-5)


def test_instance_norm_gradcheck():
    x = nnlite.tensor(randn(2, 3, 5, dtype=np.float64), requires_grad=True)
    w = nnlite.tensor(randn(3, dtype=np.float64, seed=1), requires_grad=True)
    b = nnlite.tensor(randn(3, dtype=np.float64, seed=2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))


def test_instance_norm_empty_batch(torch):
    x = nnlite.zeros(0, 3, 4, requires_grad=True)
    y = F.instance_norm(x)
    y.sum().backward()
    assert y.shape == (0, 3, 4) and x.grad.shape == (0, 3, 4)


def test_instance_norm_errors():
    x = nnlite.tensor(randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"instance_norm.*more than 1 spatial element.*\[2, 3, 1\]"):
        F.instance_norm(nnlite.zeros(2, 3, 1))
    with pytest.raises(RuntimeError, match=r"instance_norm: weight should contain 3 elements not 4 \(one per "
                                           r"channel of the input of size \[2, 3, 4\]\)"):
        F.instance_norm(x, weight=nnlite.ones(4))
    with pytest.raises(RuntimeError, match="instance_norm: running_mean should contain 3 elements not 2"):
        F.instance_norm(x, nnlite.zeros(2), nnlite.ones(2))
    with pytest.raises(RuntimeError, match="instance_norm.*running_mean and running_var.*use_input_stats"):
        F.instance_norm(x, use_input_stats=False)
    with pytest.raises(RuntimeError, match="instance_norm: mixed dtype: bias is nnlite.float64 but input is "
                                           "nnlite.float32"):
        F.instance_norm(x, bias=nnlite.zeros(3, dtype=nnlite.float64))
    with pytest.raises(NotImplementedError, match="instance_norm"):
        F.instance_norm(nnlite.zeros(2, 3, 4, dtype=nnlite.int64))
    with pytest.raises(TypeError, match="instance_norm.*Tensor"):
        F.instance_norm(np.zeros((2, 3, 4)))


# ------------------------------------------------------------------ local_response_norm / CrossMapLRN2d

def _cross_map_reference(torch, x, size, alpha, beta, k):
    """torch.nn.CrossMapLRN2d's forward written with differentiable torch ops (its own backward is not
    the gradient of its forward, so gradients are checked against this)."""
    C, half, sq = x.shape[1], (size - 1) // 2, x * x
    sums = []
    for c in range(C):
        lo, hi = max(0, c - half), min(C - 1, c + half)
        s = sq[:, lo:hi + 1].sum(1)
        sums.append(s + sq[:, 0] if lo > 0 else s)  # torch's running sum never drops channel 0
    return x * (k + alpha / size * torch.stack(sums, 1)) ** -beta


LRN_CASES = [((2, 6, 5), 3, np.float32), ((2, 5, 3, 4), 2, np.float64), ((1, 7, 2, 3, 2), 5, np.float32),
             ((2, 4, 3, 3), 1, np.float64), ((3, 3, 40, 100), 4, np.float32)]


@pytest.mark.parametrize("shape, size, dtype", LRN_CASES)
def test_local_response_norm_matches_torch(torch, shape, size, dtype):
    x = randn(*shape, dtype=dtype, seed=7)
    _compare(torch, lambda x: F.local_response_norm(x, size, 0.3, 0.75, 1.5),
             lambda x: torch.nn.functional.local_response_norm(x, size, 0.3, 0.75, 1.5), [x], "cpu", dtype)


@pytest.mark.parametrize("shape, size, dtype", [((2, 9, 5, 4), 5, np.float64), ((2, 4, 3, 3), 2, np.float32),
                                                ((3, 2, 1, 2), 3, np.float64), ((4, 6, 50, 50), 3, np.float32)])
def test_cross_map_lrn2d_matches_torch(torch, shape, size, dtype):
    x = randn(*shape, dtype=dtype, seed=8)
    assert_close(nnlite.nn.CrossMapLRN2d(size, 0.4, 0.8, 2)(nnlite.tensor(x)),
                 torch.nn.CrossMapLRN2d(size, 0.4, 0.8, 2)(torch.tensor(x)), *_tol(dtype))
    _compare(torch, lambda x: nnlite.nn.CrossMapLRN2d(size, 0.4, 0.8, 2)(x),
             lambda x: _cross_map_reference(torch, x, size, 0.4, 0.8, 2), [x], "cpu", dtype)


@pytest.mark.parametrize("cross_map", [False, True])
def test_local_response_norm_on_each_device(torch, device, cross_map):
    x = randn(2, 5, 2, 3, dtype=np.float64, seed=9)
    if cross_map:
        _compare(torch, lambda x: nnlite.nn.CrossMapLRN2d(3, 0.5, 0.75, 1)(x),
                 lambda x: _cross_map_reference(torch, x, 3, 0.5, 0.75, 1), [x], device, np.float64)
    else:
        _compare(torch, lambda x: F.local_response_norm(x, 4, 0.5, 0.75, 1.0),
                 lambda x: torch.nn.functional.local_response_norm(x, 4, 0.5, 0.75, 1.0), [x], device, np.float64)


@pytest.mark.parametrize("size", [2, 3])
def test_local_response_norm_gradcheck(size):
    x = nnlite.tensor(randn(2, 5, 3, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda x: F.local_response_norm(x, size, 0.5, 0.75, 1.0), (x,))
    x4 = nnlite.tensor(randn(2, 5, 2, 2, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda x: nnlite.nn.CrossMapLRN2d(size, 0.5, 0.75, 1.0)(x), (x4,))


def test_local_response_norm_empty_and_non_contiguous(torch):
    e = nnlite.zeros(0, 3, 4)
    assert F.local_response_norm(e, 2) is e  # as torch: the input itself
    x = randn(2, 4, 6)
    got = F.local_response_norm(nnlite.tensor(x).transpose(0, 2), 3, 0.5)
    assert_close(got, torch.nn.functional.local_response_norm(torch.tensor(x).transpose(0, 2), 3, 0.5))


def test_local_response_norm_errors():
    with pytest.raises(ValueError, match=r"local_response_norm: expected 3D or higher.*\(got 2 dimensions\)"):
        F.local_response_norm(nnlite.zeros(2, 3), 2)
    with pytest.raises(RuntimeError, match="local_response_norm: size should be greater than zero, but got 0"):
        F.local_response_norm(nnlite.zeros(2, 3, 4), 0)
    with pytest.raises(TypeError, match="local_response_norm: size must be an int, got float"):
        F.local_response_norm(nnlite.zeros(2, 3, 4), 2.5)
    with pytest.raises(NotImplementedError, match="local_response_norm"):
        F.local_response_norm(nnlite.zeros(2, 3, 4, dtype=nnlite.int32), 2)
    with pytest.raises(ValueError, match=r"CrossMapLRN2d: expected 4D input \(got 3 dimensions\)"):
        nnlite.nn.CrossMapLRN2d(3)(nnlite.zeros(2, 3, 4))


# ------------------------------------------------------------------ rms_norm

RMS_CASES = [((4, 6), (6,), True, None, np.float32), ((2, 3, 4), (3, 4), False, 1e-3, np.float64),
             ((3, 5, 7), 7, True, 1e-5, np.float64), ((64, 700), (700,), True, None, np.float32)]


@pytest.mark.parametrize("shape, norm, affine, eps, dtype", RMS_CASES)
def test_rms_norm_matches_torch(torch, shape, norm, affine, eps, dtype):
    _check_rms_norm(torch, "cpu", shape, norm, affine, eps, dtype)


@pytest.mark.parametrize("case", RMS_CASES[:2])
def test_rms_norm_on_each_device(torch, device, case):
    _check_rms_norm(torch, device, *case)


def _check_rms_norm(torch, device, shape, norm, affine, eps, dtype):
    wshape = (norm,) if isinstance(norm, int) else norm
    x = randn(*shape, dtype=dtype, seed=11)
    w = (np.random.default_rng(12).random(wshape) + 0.5).astype(dtype) if affine else None
    _compare(torch, lambda x, w: F.rms_norm(x, norm, w, eps),
             lambda x, w: torch.nn.functional.rms_norm(x, wshape, w, eps), [x, w], device, dtype)


def test_rms_norm_gradcheck_weight_alone_and_empty(torch):
    x = nnlite.tensor(randn(3, 2, 4, dtype=np.float64), requires_grad=True)
    w = nnlite.tensor(randn(2, 4, dtype=np.float64, seed=1), requires_grad=True)
    assert gradcheck(lambda x, w: F.rms_norm(x, (2, 4), w), (x, w))
    w.grad = None
    F.rms_norm(x.detach(), (2, 4), w).sum().backward()
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    torch.nn.functional.rms_norm(torch.tensor(x.detach().numpy()), (2, 4), tw).sum().backward()
    assert_close(w.grad, tw.grad, rtol=1e-9, atol=1e-12)
    e, we = nnlite.zeros(0, 4, requires_grad=True), nnlite.ones(4, requires_grad=True)
    F.rms_norm(e, (4,), we).sum().backward()
    assert e.grad.shape == (0, 4) and float(we.grad.abs().sum()) == 0.0


def test_rms_norm_errors():
    with pytest.raises(RuntimeError, match=r"rms_norm: given normalized_shape=\[4\].*\[2, 3\]"):
        F.rms_norm(nnlite.zeros(2, 3), (4,))
    with pytest.raises(RuntimeError, match=r"rms_norm: expected weight.*shape \[4\].*normalized_shape = \[3\]"):
        F.rms_norm(nnlite.zeros(2, 3), (3,), nnlite.ones(4))
    with pytest.raises(RuntimeError, match="rms_norm: expected weight and bias of the input's dtype"):
        F.rms_norm(nnlite.zeros(2, 3), (3,), nnlite.ones(3, dtype=nnlite.float64))
    with pytest.raises(NotImplementedError, match="rms_norm"):
        F.rms_norm(nnlite.zeros(2, 3, dtype=nnlite.int64), (3,))


# ------------------------------------------------------------------ normalize

@pytest.mark.parametrize("p, dim, dtype", [(2.0, 1, np.float32), (1, -1, np.float64), (3, 0, np.float64),
                                           (float("inf"), 2, np.float32)])
def test_normalize_matches_torch(torch, p, dim, dtype):
    x = randn(3, 4, 5, dtype=dtype, seed=13)
    x[0, :, 0] = 0  # a zero vector: divided by eps, gradient finite
    _compare(torch, lambda x: F.normalize(x, p, dim), lambda x: torch.nn.functional.normalize(x, p, dim), [x],
             "cpu", dtype)


def test_normalize_on_each_device_out_and_gradcheck(torch, device):
    x = randn(2, 3, dtype=np.float64, seed=14)
    _compare(torch, F.normalize, torch.nn.functional.normalize, [x], device, np.float64)
    out = nnlite.zeros(2, 3, dtype=nnlite.float64, device=device)
    assert F.normalize(nnlite.tensor(x, device=device), out=out) is out
    assert_close(out, torch.nn.functional.normalize(torch.tensor(x)), rtol=1e-12)
    xt = nnlite.tensor(x, requires_grad=True)
    assert gradcheck(lambda x: F.normalize(x, 3, 0), (xt,))


def test_normalize_errors():
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.normalize(nnlite.zeros(2, 3), dim=2)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        F.normalize(nnlite.zeros(2, 3, dtype=nnlite.int64))
    with pytest.raises(RuntimeError, match=r"normalize: out must have the result's shape \[2, 3\]"):
        F.normalize(nnlite.zeros(2, 3), out=nnlite.zeros(3))


# ------------------------------------------------------------------ inputs left alone

def test_new_norms_leave_their_inputs_alone(device):
    x_np = randn(2, 4, 3)
    x, w = nnlite.tensor(x_np, device=device), nnlite.ones(3, device=device)
    F.rms_norm(x, (3,), w)
    F.local_response_norm(x, 3)
    F.normalize(x)
    rm, rv = nnlite.zeros(4, device=device), nnlite.ones(4, device=device)
    F.instance_norm(x, rm, rv, nnlite.ones(4, device=device))
    assert_close(x, x_np, rtol=0, atol=0)
    assert_close(w, np.ones(3), rtol=0, atol=0)
    assert float(rm.abs().sum()) > 0  # the running stats are the only arrays written


# ------------------------------------------------------------------ Modules

@pytest.mark.parametrize("cls, shape", [("InstanceNorm1d", (2, 3, 6)), ("InstanceNorm2d", (3, 4, 5)),
                                        ("InstanceNorm3d", (2, 3, 2, 3, 2))])
def test_instance_norm_modules_match_torch(torch, cls, shape):
    ours, theirs = getattr(nnlite.nn, cls)(3, affine=True, track_running_stats=True), \
        getattr(torch.nn, cls)(3, affine=True, track_running_stats=True)
    x = randn(*shape, seed=15)  # (3, 4, 5) for InstanceNorm2d is an unbatched (C, H, W) input
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=1e-5, atol=1e-5)
    assert_close(ours.running_var, theirs.running_var, rtol=1e-5, atol=1e-6)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


def test_instance_norm_module_checks():
    m = nnlite.nn.InstanceNorm1d(3)
    assert list(m.state_dict()) == []
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        m(nnlite.zeros(2, 3, 4, 5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert m(nnlite.tensor(randn(5, 4))).shape == (5, 4)  # unbatched, channels != num_features: a warning
    assert any("does not match num_features" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(3\), but got: 5"):
        nnlite.nn.InstanceNorm1d(3, affine=True)(nnlite.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"expected 4D or 5D input \(got 3D input\)"):
        nnlite.nn.InstanceNorm3d(3)(nnlite.zeros(2, 3, 4))


def test_rms_lrn_modules_match_torch(torch):
    x = randn(2, 5, 3, 4, seed=16)
    for ours, theirs in ((nnlite.nn.RMSNorm([3, 4], eps=1e-4), torch.nn.RMSNorm([3, 4], eps=1e-4)),
                         (nnlite.nn.RMSNorm(4, elementwise_affine=False),
                          torch.nn.RMSNorm(4, elementwise_affine=False)),
                         (nnlite.nn.LocalResponseNorm(3), torch.nn.LocalResponseNorm(3)),
                         (nnlite.nn.CrossMapLRN2d(3), torch.nn.CrossMapLRN2d(3))):
        assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=1e-5, atol=1e-6)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_batch_norm3d_matches_torch(torch):
    ours, theirs = nnlite.nn.BatchNorm3d(3), torch.nn.BatchNorm3d(3)
    x = randn(2, 3, 2, 3, 4, seed=17)
    _compare(torch, ours, theirs, [x], "cpu", np.float32)
    assert_close(ours.running_mean, theirs.running_mean, rtol=1e-5, atol=1e-6)
    assert_close(ours.running_var, theirs.running_var, rtol=1e-5, atol=1e-6)
    assert int(ours.num_batches_tracked) == 1 and repr(ours) == repr(theirs)
    ours.eval()
    theirs.eval()
    assert_close(ours(nnlite.tensor(x)), theirs(torch.tensor(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected 5D input \(got 4D input\)"):
        ours(nnlite.zeros(2, 3, 4, 4))


# ------------------------------------------------------------------ the row-norm backward kernels

@pytest.mark.parametrize("groups", [1, 4, 16])
def test_group_norm_weight_and_bias_gradients_alone(torch, groups):
    # the input needs no gradient: the backward kernel only takes the per-channel sums
    x, g = randn(3, 16, 9, 11, seed=40), randn(3, 16, 9, 11, seed=41)
    w, b = (nnlite.tensor(randn(16, seed=s), requires_grad=True) for s in (42, 43))
    tw, tb = (torch.tensor(randn(16, seed=s), requires_grad=True) for s in (42, 43))
    F.group_norm(nnlite.tensor(x), groups, w, b).backward(nnlite.tensor(g))
    torch.nn.functional.group_norm(torch.tensor(x), groups, tw, tb).backward(torch.tensor(g))
    assert_close(w.grad, tw.grad, rtol=1e-4, atol=1e-4)
    assert_close(b.grad, tb.grad, rtol=1e-4, atol=1e-4)


def test_instance_norm_large_gradients(torch):
    # the parallel path of the backward kernel (more work than its serial threshold)
    x = (randn(4, 24, 30, 30, seed=44) * 3 + 2).astype(np.float32)
    w, b = (np.random.default_rng(45).random(24) + 0.5).astype(np.float32), randn(24, seed=46)
    _compare(torch, lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
             lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b), [x, w, b], "cpu", np.float32)


@pytest.mark.parametrize("offset, spread", [(0.0, 1.0), (1e3, 1.0), (3.0, 1e-3), (1e3, 1e-2)])
def test_row_norms_keep_float32_accuracy_on_offset_data(torch, offset, spread):
    # float32 rows take one float64 pass for mean and variance unless cancellation
    # would cost accuracy (the last two cases take the centred second pass)
    x = (randn(6, 4, 300, seed=47) * spread + offset).astype(np.float32)
    for ours, theirs in ((lambda t: F.layer_norm(t, (300,)), lambda t: torch.nn.functional.layer_norm(t, (300,))),
                         (lambda t: F.group_norm(t, 2), lambda t: torch.nn.functional.group_norm(t, 2))):
        exact = theirs(torch.tensor(x.astype(np.float64))).numpy()
        torch_error = np.abs(theirs(torch.tensor(x)).numpy() - exact).max()
        assert np.abs(ours(nnlite.tensor(x)).numpy() - exact).max() <= 2 * torch_error + 1e-6
