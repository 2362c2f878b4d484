"""grid_sample (every mode, padding mode and align_corners, 4-D and 5-D) and affine_grid (2-D and
3-D) vs PyTorch: values and gradients to input, grid and theta in float32 and float64, gradcheck,
CUDA (simulator, tiny shapes), errors, empty batches, non-contiguous inputs."""
import itertools
import warnings

import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

CASES = ([(4, m, p, a) for m, p, a in itertools.product(("bilinear", "nearest", "bicubic"),
                                                         ("zeros", "border", "reflection"), (False, True))]
         + [(5, m, p, a) for m, p, a in itertools.product(("bilinear", "nearest"),
                                                          ("zeros", "border", "reflection"), (False, True))])


def _data(nd, dtype, seed, big=False):
    rng = np.random.default_rng(seed)
    if nd == 4:
        x = rng.standard_normal((2, 8, 40, 40) if big else (2, 3, 4, 5))
        grid = rng.uniform(-1.2, 1.2, (2, 48, 48, 2) if big else (2, 3, 4, 2))
    else:
        x = rng.standard_normal((2, 2, 3, 4, 5))
        grid = rng.uniform(-1.2, 1.2, (2, 2, 3, 4, 3))
    return x.astype(dtype), grid.astype(dtype)


def _compare(torch, x, grid, mode, padding, align, device="cpu"):
    tol = 1e-12 if x.dtype == np.float64 else 2e-5
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    gt = nnlite.tensor(grid, device=device, requires_grad=True)
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    y = F.grid_sample(xt, gt, mode, padding, align)
    ty = torch.nn.functional.grid_sample(tx, tg, mode, padding, align)
    assert y.dtype == xt.dtype and tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty, rtol=tol, atol=tol)
    go = randn(*ty.shape, seed=5, dtype=x.dtype)
    y.backward(nnlite.tensor(go, device=device))
    ty.backward(torch.tensor(go))
    assert_close(xt.grad, tx.grad, rtol=tol, atol=tol)
    scale = max(1.0, float(tg.grad.abs().max()))     # a sum over channels of products: cancellation
    assert_close(gt.grad, tg.grad, rtol=tol, atol=tol * 10 * scale)
    if mode == "nearest":
        assert not np.any(gt.grad.cpu().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(torch, dtype):
    # every (ndim, mode, padding, align_corners) in one test: the cases share two compiled kernels
    for i, (nd, mode, padding, align) in enumerate(CASES):
        x, grid = _data(nd, dtype, seed=i)
        _compare(torch, x, grid, mode, padding, align)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_parallel_path_matches_torch(torch, mode):
    x, grid = _data(4, np.float32, seed=1, big=True)
    _compare(torch, x, grid, mode, "reflection" if mode == "bicubic" else "zeros", False)


@pytest.mark.parametrize("nd, mode, padding, align", [CASES[i] for i in (0, 14, 17, 19, 29)])
def test_cuda_matches_torch(torch, cuda_device, nd, mode, padding, align):
    x, grid = _data(nd, np.float32, seed=3)
    _compare(torch, x[:1, :2], grid[:1], mode, padding, align, device=cuda_device)


@pytest.mark.parametrize("nd, mode, padding, align", [(4, "bilinear", "zeros", False),
                                                      (4, "bicubic", "reflection", False),
                                                      (4, "bicubic", "border", True),
                                                      (5, "bilinear", "reflection", True)])
def test_gradcheck(nd, mode, padding, align):
    x, grid = _data(nd, np.float64, seed=4)
    xt = nnlite.tensor(x[:1, :2], requires_grad=True)
    gt = nnlite.tensor(grid[:1] * 0.9, requires_grad=True)   # away from the reflection folds at +-1
    assert gradcheck(lambda a, b: F.grid_sample(a, b, mode, padding, align), (xt, gt))


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 4, 5), (1, 2, 1, 4)])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_grid_matches_torch(torch, size, align, dtype):
    k = len(size) - 2
    theta = randn(size[0], k, k + 1, seed=6, dtype=dtype)
    th = nnlite.tensor(theta, requires_grad=True)
    tt = torch.tensor(theta, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # the unit-size warning, as torch's
        g = F.affine_grid(th, size, align_corners=align)
        tg = torch.nn.functional.affine_grid(tt, size, align_corners=align)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert g.dtype == th.dtype
    assert_close(g, tg, rtol=tol, atol=tol)
    go = randn(*tg.shape, seed=7, dtype=dtype)
    g.backward(nnlite.tensor(go))
    tg.backward(torch.tensor(go))
    assert_close(th.grad, tt.grad, rtol=tol * 10, atol=tol * 10)


def test_affine_grid_gradcheck_and_spatial_transformer(torch):
    theta = nnlite.tensor(randn(2, 2, 3, seed=8, dtype=np.float64) * 0.5, requires_grad=True)
    assert gradcheck(lambda t: F.affine_grid(t, (2, 3, 4, 5), align_corners=False), (theta,))
    x = randn(2, 3, 6, 7, seed=9, dtype=np.float64)
    y = F.grid_sample(nnlite.tensor(x), F.affine_grid(theta, (2, 3, 4, 5), align_corners=False),
                      align_corners=False)
    tt = torch.tensor(theta.detach().numpy())
    ty = torch.nn.functional.grid_sample(torch.tensor(x), torch.nn.functional.affine_grid(
        tt, (2, 3, 4, 5), align_corners=False), align_corners=False)
    assert_close(y, ty, rtol=1e-12, atol=1e-12)


def test_identity_grid_copies(torch):
    x = randn(1, 2, 4, 5, seed=10)
    eye = nnlite.tensor(np.array([[[1, 0, 0], [0, 1, 0]]], np.float32))
    for align in (False, True):
        y = F.grid_sample(nnlite.tensor(x), F.affine_grid(eye, (1, 2, 4, 5), align_corners=align),
                          align_corners=align)
        assert_close(y, x, rtol=1e-6, atol=1e-6)


def test_default_align_corners_warns_and_is_false(torch):
    x, grid = _data(4, np.float64, seed=11)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        y = F.grid_sample(nnlite.tensor(x), nnlite.tensor(grid))
    assert_close(y, F.grid_sample(nnlite.tensor(x), nnlite.tensor(grid), align_corners=False), rtol=0, atol=0)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(nnlite.tensor(np.zeros((1, 2, 3))), (1, 1, 2, 2))


def test_non_contiguous_inputs_not_modified(device):
    rng = np.random.default_rng(12)
    xb = rng.standard_normal((1, 3, 5, 2))
    gb = rng.uniform(-1, 1, (1, 2, 4, 3))
    x = nnlite.tensor(xb, device=device, requires_grad=True)
    g = nnlite.tensor(gb, device=device, requires_grad=True)
    xv, gv = x.transpose(2, 3), g.transpose(1, 2)[..., :2]     # (1, 3, 2, 5), (1, 4, 2, 2): views
    y = F.grid_sample(xv, gv, align_corners=True)
    ref = F.grid_sample(nnlite.tensor(np.ascontiguousarray(xb.transpose(0, 1, 3, 2)), device=device),
                        nnlite.tensor(np.ascontiguousarray(gb.transpose(0, 2, 1, 3)[..., :2]), device=device),
                        align_corners=True)
    assert_close(y, ref, rtol=0, atol=0)
    y.sum().backward()
    assert np.array_equal(x.detach().cpu().numpy(), xb) and np.array_equal(g.detach().cpu().numpy(), gb)
    assert tuple(x.grad.shape) == xb.shape and not np.any(g.grad.cpu().numpy()[..., 2])


def test_empty_batch_and_no_channels():
    x = nnlite.zeros(0, 3, 4, 5, requires_grad=True)
    g = nnlite.zeros(0, 2, 2, 2, requires_grad=True)
    y = F.grid_sample(x, g, align_corners=False)
    assert tuple(y.shape) == (0, 3, 2, 2)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 4, 5) and tuple(g.grad.shape) == (0, 2, 2, 2)
    x = nnlite.zeros(1, 0, 4, 5, requires_grad=True)
    g = nnlite.ones(1, 2, 2, 2, requires_grad=True)
    y = F.grid_sample(x, g, align_corners=False)
    y.sum().backward()
    assert tuple(y.shape) == (1, 0, 2, 2) and not np.any(g.grad.numpy())


@pytest.mark.parametrize("x, grid, kwargs, error, match", [
    ((1, 2, 3, 4), (1, 2, 2, 2), dict(mode="linear"), ValueError, "expected mode to be 'bilinear'"),
    ((1, 2, 3, 4), (1, 2, 2, 2), dict(padding_mode="wrap"), ValueError, "expected padding_mode"),
    ((1, 2, 3, 4), (1, 2, 2, 3), {}, RuntimeError, "expected grid to have size 2 in last dimension"),
    ((1, 2, 3, 4), (2, 2, 2, 2), {}, RuntimeError, "expected grid and input to have same batch size"),
    ((1, 2, 3, 4), (1, 2, 2, 2, 3), {}, RuntimeError, "same number of dimensions"),
    ((2, 3, 4), (2, 3, 2), {}, RuntimeError, "expected 4D or 5D input"),
    ((1, 2, 0, 4), (1, 2, 2, 2), {}, RuntimeError, "non-empty spatial dimensions"),
    ((1, 2, 2, 3, 4), (1, 2, 2, 2, 3), dict(mode="bicubic"), RuntimeError, "bicubic interpolation only supports 4D"),
])
def test_bad_arguments(torch, x, grid, kwargs, error, match):
    a, b = np.ones(x), np.zeros(grid)
    with pytest.raises(error, match=match):
        F.grid_sample(nnlite.tensor(a), nnlite.tensor(b), align_corners=False, **kwargs)
    with pytest.raises(error):
        torch.nn.functional.grid_sample(torch.tensor(a), torch.tensor(b), align_corners=False, **kwargs)


def test_bad_dtypes_and_affine_arguments(torch):
    with pytest.raises(RuntimeError, match="same dtype, but input has float32 and grid has float64"):
        F.grid_sample(nnlite.ones(1, 1, 2, 2), nnlite.zeros(1, 1, 1, 2, dtype=nnlite.float64), align_corners=False)
    with pytest.raises(RuntimeError, match="not implemented for 'int64'"):
        F.grid_sample(nnlite.ones(1, 1, 2, 2, dtype=nnlite.int64), nnlite.zeros(1, 1, 1, 2, dtype=nnlite.int64),
                      align_corners=False)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.grid_sample(np.ones((1, 1, 2, 2)), nnlite.zeros(1, 1, 1, 2), align_corners=False)
    for theta, size, error, match in [
        (np.zeros((1, 2, 3), np.int64), (1, 1, 2, 2), ValueError, "floating point type"),
        (np.zeros((1, 3, 4)), (1, 1, 2, 2), ValueError, "2D affine matrices of shape Nx2x3"),
        (np.zeros((1, 2, 3)), (1, 1, 2, 2, 2), ValueError, "3D affine matrices of shape Nx3x4"),
        (np.zeros((1, 2, 3)), (1, 2, 2), NotImplementedError, "only supports 4D and 5D sizes"),
        (np.zeros((1, 2, 3)), (1, 1, 0, 2), ValueError, "non-zero, positive output size"),
    ]:
        with pytest.raises(error, match=match):
            F.affine_grid(nnlite.tensor(theta), size, align_corners=False)
        with pytest.raises(error):
            torch.nn.functional.affine_grid(torch.tensor(theta), size, align_corners=False)
