"""Activations and softmax: values and gradients vs PyTorch (special values included),
gradcheck, CUDA kernels vs the CPU ones, in-place semantics, errors."""
import warnings

import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

# The CUDA simulator evaluates kernels in Python, which warns on inf - inf and 0 * inf.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# (name, kwargs) as in torch.nn.functional
ACTIVATIONS = [
    ("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("silu", {}), ("elu", {}), ("elu", {"alpha": 0.7}), ("selu", {}),
    ("celu", {"alpha": 1.5}), ("hardtanh", {}), ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("relu6", {}), ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 5.0}), ("hardsigmoid", {}),
    ("hardswish", {}), ("mish", {}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in ACTIVATIONS]

# the kinks and thresholds of every op, plus inf and the far tails
SPECIAL = [-np.inf, -100.0, -20.0, -6.0, -3.0, -2.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 0.5, 1.0, 2.5, 3.0, 6.0,
           10.0, 20.0, 21.0, 100.0, np.inf]


def _inputs(n, dtype, seed=0):
    x = np.concatenate([np.array(SPECIAL), randn(n, dtype=np.float64, seed=seed) * 4]).astype(dtype)
    return x


def _both(name, kw, x, g, device, torch):
    a = nnlite.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = getattr(F, name)(a, **kw)
    ty = getattr(torch.nn.functional, name)(t, **kw)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return y, ty, a.grad, t.grad


@pytest.mark.parametrize("name, kw", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_matches_torch(torch, device, name, kw, dtype):
    x = _inputs(19 if device == "cuda" else 3000, dtype)
    g = randn(x.size, dtype=dtype, seed=1)
    y, ty, gx, tgx = _both(name, kw, x, g, device, torch)
    finite = np.isfinite(x)  # torch's float32 gelu(inf) is NaN, its erf approximation's quirk
    tol = dict(rtol=1e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    if name == "gelu" and dtype == np.float32:
        tol = dict(rtol=2e-4, atol=5e-6)  # torch approximates erf and rounds tanh tails to -1
    assert_close(y.detach().cpu().numpy()[finite], ty.detach().numpy()[finite], **tol)
    assert_close(gx.cpu().numpy()[finite], tgx.numpy()[finite], **tol)
    assert y.dtype.name == np.dtype(dtype).name


@pytest.mark.parametrize("name, kw", ACTIVATIONS, ids=IDS)
def test_nan_propagates_like_torch(torch, device, name, kw):
    x = np.array([np.nan, 1.0, -1.0], np.float32)
    y, ty, gx, tgx = _both(name, kw, x, np.ones(3, np.float32), device, torch)
    assert np.isnan(y.detach().cpu().numpy()[0])
    assert_close(gx, tgx)


@pytest.mark.parametrize("name, kw", ACTIVATIONS, ids=IDS)
def test_large_inputs_take_the_parallel_path(torch, name, kw):
    x = randn(70000, seed=3) * 4
    y, ty, gx, tgx = _both(name, kw, x, randn(70000, seed=4), "cpu", torch)
    tol = dict(rtol=2e-4, atol=5e-6) if name == "gelu" else dict(rtol=1e-5, atol=2e-6)
    assert_close(y, ty, **tol)
    assert_close(gx, tgx, **tol)


@pytest.mark.parametrize("name, kw", ACTIVATIONS, ids=IDS)
def test_gradcheck(device, name, kw):
    # away from the kinks, where finite differences are meaningless
    x = np.array([-4.1, -2.2, -0.7, -0.3, 0.4, 1.3, 2.9, 4.2, 23.0])
    a = nnlite.tensor(x, device=device, requires_grad=True)
    assert gradcheck(lambda t: getattr(F, name)(t, **kw), (a,))


def test_relu_keeps_its_output_not_its_input():
    x = nnlite.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = F.relu(x * 1)
    saved, = y.grad_fn.saved_tensors
    assert_close(saved, y)


@pytest.mark.parametrize("name", ["relu", "hardtanh", "relu6"])
def test_integer_inputs_stay_integer(torch, device, name):
    x = np.array([-7, -1, 0, 1, 3, 9], np.int64)
    y = getattr(F, name)(nnlite.tensor(x, device=device))
    assert y.dtype is nnlite.int64
    assert_close(y, getattr(torch.nn.functional, name)(torch.tensor(x)))


@pytest.mark.parametrize("name", ["leaky_relu", "gelu", "silu", "elu", "softplus", "hardswish", "mish",
                                  "softmax", "log_softmax"])
def test_integer_inputs_are_rejected(name):
    args = (0,) if "softmax" in name else ()
    with pytest.raises(NotImplementedError, match=f'"{name}" not implemented for \'Long\''):
        getattr(F, name)(nnlite.tensor([1, 2]), *args)


@pytest.mark.parametrize("name, kw", [(n, k) for n, k in ACTIVATIONS if n not in ("gelu", "softplus")])
def test_inplace_in_a_graph_gives_torchs_gradients(torch, device, name, kw):
    x = randn(12, seed=5) * 3
    a = nnlite.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    h, th = a * 2, t * 2
    out = getattr(F, name)(h, inplace=True, **kw)
    tout = getattr(torch.nn.functional, name)(th, inplace=True, **kw)
    assert out is h
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    assert_close(h, th.detach())
    assert_close(a.grad, t.grad, rtol=1e-5, atol=1e-6)


def test_inplace_without_graph_writes_into_the_input(device):
    x = nnlite.tensor([-1.0, 2.0, -3.0], device=device)
    version = x._version[0]
    assert F.relu_(x) is x
    assert x.relu_() is x
    assert_close(x, np.array([0.0, 2.0, 0.0]))
    assert x._version[0] == version + 2


def test_inplace_on_a_non_contiguous_view(device):
    x = nnlite.tensor(np.arange(-6.0, 6.0).reshape(3, 4), device=device)
    col = x[:, 1]
    F.leaky_relu_(col, 0.5)
    want = np.arange(-6.0, 6.0).reshape(3, 4)
    want[:, 1] = np.where(want[:, 1] > 0, want[:, 1], want[:, 1] * 0.5)
    assert_close(x, want)


def test_inplace_on_a_leaf_that_requires_grad_is_an_error():
    x = nnlite.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(x, inplace=True)


def test_inputs_are_not_modified(device):
    x_np = randn(3, 5, seed=6)
    x = nnlite.tensor(x_np, device=device)
    for name, kw in ACTIVATIONS:
        getattr(F, name)(x, **kw)
    F.softmax(x, 1)
    F.log_softmax(x, 0)
    assert_close(x, x_np)


def test_argument_errors():
    x = nnlite.ones(3)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        F.celu(x, 0.0)
    with pytest.raises(TypeError, match="relu\\(\\): argument 'input' must be Tensor"):
        F.relu(np.ones(3))


# ------------------------------------------------------------------ softmax

# few rows along the last dim: the CUDA simulator runs a block of threads per row
SOFTMAX_CASES = [((7,), 0), ((3, 7), 1), ((3, 7), 0), ((2, 1, 2, 9), -1), ((2, 3, 4, 5), 1),
                 ((2, 3, 4, 5), 2), ((), 0), ((3, 0), 1), ((0, 3), 1),
                 ((2, 45), 1)]  # (rows of 45: past the CUDA row loops' four-loads passes)
SOFTMAX_LARGE = [((5, 1000), 1), ((4, 257), -1), ((2, 40, 300), 1), ((3, 30, 600), 1), ((600, 70), 0), ((2, 40000), 1),
                 ((3000, 20), 1)]


def _softmax_pair(torch, fn, x, dim, g, device, **kw):
    a = nnlite.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = getattr(F, fn)(a, dim, **kw)
    ty = getattr(torch.nn.functional, fn)(t, dim, **kw)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return y, ty, a.grad, t.grad


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", SOFTMAX_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_matches_torch(torch, device, fn, shape, dim, dtype):
    x = randn(*shape, dtype=dtype, seed=7) * 5
    g = randn(*shape, dtype=dtype, seed=8)
    y, ty, gx, tgx = _softmax_pair(torch, fn, x, dim, g, device)
    assert_close(y, ty, rtol=1e-5, atol=1e-6)
    assert_close(gx, tgx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("cache_bytes", [0, 40 * 1024], ids=["rows-from-global", "rows-in-shared"])
def test_softmax_cuda_rows_with_and_without_the_shared_row_cache(torch, cuda_device, monkeypatch, fn, cache_bytes):
    """CUDA row kernels keep a row in shared memory when it fits and read it again from
    global memory when it does not; both ways against torch (45 crosses the four-load passes)."""
    from nnlite.kernels import softmax as KS
    monkeypatch.setattr(KS, "ROW_CACHE_BYTES", cache_bytes)
    assert (KS.row_cache_bytes(45, 4, 2) > 0) == (cache_bytes > 0)
    for dtype in (np.float32, np.float64):
        x = randn(3, 45, dtype=dtype, seed=11) * 5
        g = randn(3, 45, dtype=dtype, seed=12)
        y, ty, gx, tgx = _softmax_pair(torch, fn, x, 1, g, cuda_device)
        assert_close(y, ty, rtol=1e-5, atol=1e-6)
        assert_close(gx, tgx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", SOFTMAX_LARGE)
def test_softmax_long_rows_and_wide_columns(torch, fn, shape, dim):
    # rows longer than the kernel's accumulator lanes, with tails; column strips wider than them
    x = randn(*shape, seed=9) * 5
    g = randn(*shape, seed=10)
    y, ty, gx, tgx = _softmax_pair(torch, fn, x, dim, g, "cpu")
    assert_close(y, ty, rtol=1e-5, atol=2e-6)
    # the gradient subtracts a float32 sum over the row: both libraries are 1e-4 off float64 at 40000
    assert_close(gx, tgx, rtol=1e-5, atol=2e-4 if shape[dim] > 10000 else 2e-6)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("n", [2, 300])
def test_softmax_special_values_like_torch(torch, device, fn, n):
    if device == "cuda" and n > 2:
        n = 40
    rows = [[np.inf, 1.0], [-np.inf, -np.inf], [-np.inf, 1.0], [np.nan, 1.0], [1e4, -1e4], [88.0, 89.0]]
    x = np.stack([np.resize(np.array(r, np.float32), n) for r in rows])
    for dim, data in ((1, x), (0, np.ascontiguousarray(x.T))):
        got = getattr(F, fn)(nnlite.tensor(data, device=device), dim)
        want = getattr(torch.nn.functional, fn)(torch.tensor(data), dim)
        assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_gradcheck(fn):
    # CPU only: the CUDA gradients are checked against torch above, and a
    # simulated block reduction per finite-difference probe is slow
    for shape, dim in (((3, 5), 1), ((2, 3, 4), 1)):
        a = nnlite.tensor(randn(*shape, dtype=np.float64, seed=11), requires_grad=True)
        assert gradcheck(lambda t: getattr(F, fn)(t, dim), (a,))


def test_softmax_dtype_argument_casts_first(torch):
    x = np.array([[1, 2, 3]], np.int64)
    y = F.softmax(nnlite.tensor(x), 1, dtype=nnlite.float64)
    assert y.dtype is nnlite.float64
    assert_close(y, torch.softmax(torch.tensor(x), 1, dtype=torch.float64))
    a = nnlite.tensor(randn(2, 3, seed=12), requires_grad=True)
    F.log_softmax(a, 1, dtype=nnlite.float64).sum().backward()
    assert a.grad.dtype is nnlite.float32


@pytest.mark.parametrize("ndim, implied", [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_implicit_dim_warns_and_follows_torch(torch, ndim, implied):
    x = randn(*(2,) * ndim, seed=13)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        got = F.softmax(nnlite.tensor(x))
    assert_close(got, torch.softmax(torch.tensor(x), implied))


def test_softmax_tensor_methods(torch):
    x = randn(3, 4, seed=14)
    assert_close(nnlite.tensor(x).softmax(1), torch.tensor(x).softmax(1))
    assert_close(nnlite.tensor(x).log_softmax(dim=0), torch.tensor(x).log_softmax(dim=0))
    assert_close(nnlite.tensor(x).relu(), torch.tensor(x).relu())


def test_softmax_non_contiguous_input(torch, device):
    x = randn(4, 6, seed=15)
    got = F.log_softmax(nnlite.tensor(x, device=device).t(), 1)
    assert_close(got, torch.log_softmax(torch.tensor(x).t(), 1), rtol=1e-5, atol=1e-6)


def test_softmax_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], "
                                             r"but got 2\)"):
            F.softmax(nnlite.ones(2, 3), 2)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.log_softmax([1.0, 2.0], 0)


def test_softmax_accepts_torch_softmax_positional_dtype(torch):
    x = randn(2, 3, seed=16)
    got = nnlite.softmax(nnlite.tensor(x), 1, nnlite.float64)
    assert got.dtype is nnlite.float64
    assert_close(got, torch.softmax(torch.tensor(x), 1, torch.float64))


def test_float16_on_the_cpu_is_rejected_before_any_kernel():
    x = nnlite.tensor(np.ones((2, 3), np.float16))
    target = nnlite.tensor([0, 1])
    for call in (lambda: F.relu(x), lambda: F.gelu(x), lambda: F.softmax(x, 1), lambda: F.layer_norm(x, (3,)),
                 lambda: F.dropout(x, 0.5), lambda: F.mse_loss(x, x), lambda: F.cross_entropy(x, target)):
        with pytest.raises(TypeError, match="float16 tensors compute on CUDA only"):
            call()


def test_fexp_nonpos_is_exp_to_float32_rounding():
    # the exponential behind the CPU softmax: arguments in [-inf, 0], results flushed to 0 below 2**-126
    from numba import njit
    from nnlite.kernels.fastmath import fexp_nonpos

    @njit
    def run(x, y):
        for i in range(x.size):
            y[i] = fexp_nonpos(x[i])
    x = np.concatenate([np.linspace(-100, 0, 200001), [-np.inf, -0.0, -87.33654]]).astype(np.float32)
    y = np.empty_like(x)
    run(x, y)
    want = np.exp(x.astype(np.float64))
    normal = x >= np.float32(-87.33654)
    np.testing.assert_allclose(y[normal], want[normal], rtol=1.5 * 2.0 ** -23, atol=0)
    assert (y[~normal] == 0).all()
