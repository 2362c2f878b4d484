"""The activations of functional/activation_extra.py and their Modules, vs PyTorch: values and
gradients in float32 and float64, gradcheck, the CUDA twins (tiny shapes), randomness from nnlite's
generator, errors, untouched inputs; and fastmath.ferf, the float32 erf behind gelu."""
import math

import numpy as np
import pytest

from tests.helpers import assert_close, randn

# The CUDA simulator evaluates kernels in Python, which warns on inf - inf and 0 * inf.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ------------------------------------------------------------------ ferf

def test_ferf_is_erf_to_float32_rounding():
    from numba import njit
    from nnlite.kernels.fastmath import ferf

    @njit
    def run(x, y):
        for i in range(x.size):
            y[i] = ferf(x[i])
    # dense over the range where erf is not yet +-1 in float32, the split at 0.9, tiny and huge values
    x = np.concatenate([np.linspace(-4.5, 4.5, 900001), np.linspace(-1e-3, 1e-3, 20001),
                        np.linspace(0.89, 0.91, 20001), [1e-30, -1e-38, 1e-45, 3.93, 10.0, 1e30, -1e30]])
    x = x.astype(np.float32)
    got = np.empty_like(x)
    run(x, got)
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    ulps = np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 2.0, f"max error {ulps.max():.2f} ulp at x = {x[ulps.argmax()]}"
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == 1 and out[1] == -1 and np.isnan(out[2])
    assert out[3] == 0 and np.signbit(out[4])


def test_ferf_keeps_float64_exact():
    from numba import njit
    from nnlite.kernels.fastmath import ferf

    @njit
    def one(v):
        return ferf(v)
    for v in (-3.0, -0.5, 1e-8, 0.7, 2.2):
        assert one(v) == math.erf(v)


def test_flog1p_is_log1p_to_float32_rounding():
    # the logarithm behind the CPU logsigmoid: any float32, tiny and huge arguments, the specials
    from numba import njit
    from nnlite.kernels.fastmath import flog1p

    @njit
    def run(x, y):
        for i in range(x.size):
            y[i] = flog1p(x[i])
    x = np.concatenate([np.linspace(-0.999999, 2, 400001), np.geomspace(1e-30, 1e30, 100001),
                        -np.geomspace(1e-30, 0.99999, 100001)]).astype(np.float32)
    got = np.empty_like(x)
    run(x, got)
    want = np.log1p(x.astype(np.float64))
    ulps = np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 1.0, f"max error {ulps.max():.2f} ulp at x = {x[ulps.argmax()]}"
    special = np.array([-1, -2, np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == -np.inf and np.isnan(out[1]) and out[2] == np.inf and np.isnan(out[3:5]).all()
    assert out[5] == 0 and np.signbit(out[6])


def test_fexpm1_is_expm1_to_float32_rounding():
    # the exp(x) - 1 behind the CPU elu, selu and celu
    from numba import njit
    from nnlite.kernels.fastmath import fexpm1

    @njit
    def run(x, y):
        for i in range(x.size):
            y[i] = fexpm1(x[i])
    x = np.concatenate([np.linspace(-20, 5, 400001), np.linspace(-0.6, 0.6, 100001), np.geomspace(1e-30, 80, 50001),
                        -np.geomspace(1e-30, 110, 50001)]).astype(np.float32)
    got = np.empty_like(x)
    run(x, got)
    want = np.expm1(x.astype(np.float64))
    ulps = np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 2.0, f"max error {ulps.max():.2f} ulp at x = {x[ulps.argmax()]}"
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 89.0], np.float32)
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == np.inf and out[1] == -1 and np.isnan(out[2]) and out[5] == np.inf
    assert out[3] == 0 and np.signbit(out[4])


# ------------------------------------------------------------------ pointwise ops vs torch

import warnings  # noqa: E402

import nnlite  # noqa: E402
import nnlite.nn.functional as F  # noqa: E402
from nnlite.autograd import gradcheck  # noqa: E402

# (name, kwargs) as in torch.nn.functional; rrelu outside training is a leaky relu
POINTWISE = [
    ("threshold", {"threshold": 0.5, "value": -2.0}), ("threshold", {"threshold": -1.0, "value": 3.0}),
    ("logsigmoid", {}), ("hardshrink", {}), ("hardshrink", {"lambd": 1.5}), ("softshrink", {}),
    ("softshrink", {"lambd": 2.0}), ("tanhshrink", {}), ("softsign", {}), ("rrelu", {}),
    ("rrelu", {"lower": 0.2, "upper": 0.4}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in POINTWISE]

# kinks and thresholds of every op, the far tails, inf and NaN
SPECIAL = [-np.inf, -1e4, -100.0, -20.0, -2.0, -1.5, -1.0, -0.5, -1e-3, -0.0, 0.0, 1e-3, 0.5, 1.0, 1.5, 2.0,
           20.0, 100.0, 1e4, np.inf, np.nan]


def _inputs(n, dtype, seed=0):
    return np.concatenate([np.array(SPECIAL), randn(n, dtype=np.float64, seed=seed) * 4]).astype(dtype)


def _both(torch, name, kw, x, g, device):
    a = nnlite.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = getattr(F, name)(a, **kw)
    ty = getattr(torch.nn.functional, name)(t, **kw)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return y, ty, a.grad, t.grad


@pytest.mark.parametrize("name, kw", POINTWISE, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_matches_torch(torch, device, name, kw, dtype):
    # 70000 on the CPU: past the serial cut-off, so the prange loops run too
    x = _inputs(19 if device == "cuda" else 70000, dtype)
    g = randn(x.size, dtype=dtype, seed=1)
    y, ty, gx, tgx = _both(torch, name, kw, x, g, device)
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert y.dtype.name == np.dtype(dtype).name
    assert_close(y, ty, **tol)            # inf and NaN included
    finite = np.isfinite(x)               # torch's composite softsign gives NaN gradients at +-inf
    assert_close(gx.cpu().numpy()[finite], tgx.numpy()[finite], **tol)


@pytest.mark.parametrize("name, kw", POINTWISE, ids=IDS)
def test_pointwise_gradcheck(device, name, kw):
    x = np.array([-4.1, -2.2, -0.7, -0.3, 0.4, 1.3, 2.9, 4.2, 23.0])   # away from the kinks
    a = nnlite.tensor(x, device=device, requires_grad=True)
    assert gradcheck(lambda t: getattr(F, name)(t, **kw), (a,))


def test_logsigmoid_is_exact_far_out(device):
    x = np.array([-1e30, -1e4, -100.0, -30.0, 30.0, 100.0, 1e4, 1e30], np.float32)
    a = nnlite.tensor(x, device=device, requires_grad=True)
    y = F.logsigmoid(a)
    y.sum().backward()
    want = -np.logaddexp(0.0, -x.astype(np.float64))
    assert_close(y, want.astype(np.float32), rtol=1e-6, atol=1e-30)
    assert_close(a.grad, 1 / (1 + np.exp(x.astype(np.float64))), rtol=1e-6, atol=1e-30)


def test_threshold_keeps_integers_and_rejects_bool(torch, device):
    x = np.array([-3, 0, 1, 2, 5], np.int64)
    y = F.threshold(nnlite.tensor(x, device=device), 1, 7)
    assert y.dtype is nnlite.int64
    assert_close(y, torch.nn.functional.threshold(torch.tensor(x), 1, 7))
    with pytest.raises(NotImplementedError, match="\"threshold\" not implemented for 'Bool'"):
        F.threshold(nnlite.tensor([True, False]), 0.5, 1.0)


def test_composite_ops_compute_integers_in_float(torch):
    x = np.array([-2, 0, 3], np.int64)
    for name in ("softsign", "tanhshrink"):
        y = getattr(F, name)(nnlite.tensor(x))
        assert y.dtype is nnlite.float32
        assert_close(y, getattr(torch.nn.functional, name)(torch.tensor(x)))


@pytest.mark.parametrize("name", ["logsigmoid", "hardshrink", "softshrink", "rrelu", "prelu", "glu",
                                  "gumbel_softmax"])
def test_integer_inputs_are_rejected_naming_the_op(name):
    x = nnlite.tensor([1, 2])
    args = (nnlite.tensor([1]),) if name == "prelu" else ()
    with pytest.raises(NotImplementedError, match=f'"{name}" not implemented for \'Long\''):
        getattr(F, name)(x, *args)


def test_argument_errors():
    x = nnlite.ones(3)
    with pytest.raises(RuntimeError, match=r"softshrink: lambda must be in range \[0, 3.40282e\+38\] for input "
                                           r"dtype Float, but found -0.5"):
        F.softshrink(x, -0.5)
    with pytest.raises(RuntimeError, match="rrelu: Lower bound should be less than or equal to the upper bound"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(TypeError, match=r"logsigmoid\(\): argument 'input' must be Tensor, not list"):
        F.logsigmoid([1.0])
    with pytest.raises(TypeError, match=r"softmin\(\): argument 'input' must be Tensor"):
        F.softmin(np.ones(3), 0)


def test_inplace_variants(torch, device):
    x = randn(12, seed=2) * 3
    a = nnlite.tensor(x, device=device)
    assert F.threshold_(a, 0.5, -1.0) is a
    assert_close(a, torch.nn.functional.threshold(torch.tensor(x), 0.5, -1.0))
    b = nnlite.tensor(x, device=device)
    assert F.rrelu_(b) is b            # eval: the mean slope
    assert_close(b, torch.nn.functional.rrelu(torch.tensor(x)))
    # in a graph: the gradient flows through the overwritten values, as torch's does
    leaf, tleaf = nnlite.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    h, th = leaf * 2, tleaf * 2
    assert F.threshold(h, 0.5, -1.0, inplace=True) is h
    torch.nn.functional.threshold(th, 0.5, -1.0, inplace=True)
    (h * h).sum().backward()
    (th * th).sum().backward()
    assert_close(leaf.grad, tleaf.grad)


def test_inputs_are_not_modified(device):
    x_np = randn(2, 4, 3, seed=3)
    x = nnlite.tensor(x_np, device=device)
    w = nnlite.tensor(np.full(4, 0.2, np.float32), device=device)
    for name, kw in POINTWISE:
        getattr(F, name)(x, **kw)
    F.rrelu(x, training=True)
    F.prelu(x, w)
    F.glu(x, 1)
    F.softmin(x, 2)
    F.gumbel_softmax(x, hard=True)
    assert_close(x, x_np)
    assert_close(w, np.full(4, 0.2, np.float32))


def test_non_contiguous_input(torch, device):
    x = randn(4, 6, seed=4)
    for name, kw in POINTWISE[:9]:
        got = getattr(F, name)(nnlite.tensor(x, device=device).t(), **kw)
        assert_close(got, getattr(torch.nn.functional, name)(torch.tensor(x).t(), **kw), rtol=2e-6)


def test_empty_inputs(device):
    x = nnlite.zeros(0, 3, device=device, requires_grad=True)
    for name, kw in POINTWISE:
        y = getattr(F, name)(x, **kw)
        assert y.shape == (0, 3)
    F.rrelu(x, training=True).sum().backward()
    assert x.grad.shape == (0, 3)


# ------------------------------------------------------------------ rrelu in training

def _rrelu_train(x, device, seed=7, **kw):
    nnlite.manual_seed(seed)
    a = nnlite.tensor(x, device=device, requires_grad=True)
    y = F.rrelu(a, training=True, **kw)
    y.sum().backward()
    return y.detach().cpu().numpy(), a.grad.cpu().numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rrelu_training_draws_a_slope_per_element(device, dtype):
    x = _inputs(40 if device == "cuda" else 50000, dtype)
    lower, upper = 0.1, 0.3
    y, gx = _rrelu_train(x, device, lower=lower, upper=upper)
    pos, neg = x > 0, (x < 0) & np.isfinite(x)
    assert_close(y[pos], x[pos], rtol=0, atol=0)
    slopes = y[neg] / x[neg]
    assert (slopes >= lower - 1e-7).all() and (slopes <= upper + 1e-7).all()
    assert len(np.unique(slopes)) > 0.9 * slopes.size
    # backward redraws the same slopes: the gradient of sum(y) is the slope itself
    assert_close(gx[neg], slopes, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert_close(gx[pos], np.ones(pos.sum()), rtol=0, atol=0)
    if device == "cpu":  # U(lower, upper): mean and spread of 25000 draws
        assert abs(slopes.mean() - 0.2) < 0.003
        assert abs(slopes.std() - 0.2 / np.sqrt(12)) < 0.003


def test_rrelu_training_is_reproducible_and_the_same_on_cuda(cuda_device):
    x = randn(30, seed=5)
    y1, g1 = _rrelu_train(x, "cpu")
    y2, g2 = _rrelu_train(x, "cpu")
    y3, g3 = _rrelu_train(x, cuda_device)
    assert_close(y1, y2, rtol=0, atol=0)
    assert_close(y1, y3)
    assert_close(g1, g3)
    y4, _ = _rrelu_train(x, "cpu", seed=8)
    assert not np.allclose(y1, y4)


def test_rrelu_training_gradcheck(device):
    a = nnlite.tensor(np.array([-3.0, -1.2, -0.4, 0.3, 2.0]), device=device, requires_grad=True)

    def same_draw(t):
        nnlite.manual_seed(11)
        return F.rrelu(t, 0.05, 0.5, training=True)
    assert gradcheck(same_draw, (a,))


def test_rrelu_training_inplace(device):
    x = randn(20, seed=6)
    nnlite.manual_seed(3)
    want = F.rrelu(nnlite.tensor(x, device=device), training=True).cpu().numpy()
    nnlite.manual_seed(3)
    a = nnlite.tensor(x, device=device)
    assert F.rrelu_(a, training=True) is a
    assert_close(a, want, rtol=0, atol=0)
    # in a graph
    nnlite.manual_seed(3)
    leaf = nnlite.tensor(x, device=device, requires_grad=True)
    h = leaf * 1
    F.rrelu(h, training=True, inplace=True).sum().backward()
    assert_close(h, want)
    assert_close(leaf.grad, np.where(x > 0, 1.0, want / x))


# ------------------------------------------------------------------ prelu

PRELU_CASES = [((4, 3, 5), 3), ((4, 3), 3), ((2, 3, 2, 2), 1), ((5,), 1), ((), 1), ((0, 3, 2), 3),
               ((2, 3, 0), 3), ((2, 4, 2, 3, 2), 4)]


@pytest.mark.parametrize("shape, n", PRELU_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prelu_matches_torch(torch, device, shape, n, dtype):
    x = randn(*shape, dtype=dtype, seed=9) * 3
    w = (np.arange(n) * 0.1 + 0.15).astype(dtype)
    g = randn(*shape, dtype=dtype, seed=10)
    a, wa = nnlite.tensor(x, device=device, requires_grad=True), nnlite.tensor(w, device=device, requires_grad=True)
    t, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y, ty = F.prelu(a, wa), torch.nn.functional.prelu(t, wt)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_close(y, ty, **tol)
    assert_close(a.grad, t.grad, **tol)
    assert_close(wa.grad, wt.grad, **tol)


def test_prelu_large_input_parallel_paths(torch):
    for shape, n in (((8, 16, 40, 40), 16), ((200000,), 1)):
        x, g = randn(*shape, seed=12), randn(*shape, seed=13)
        w = np.linspace(0.05, 0.5, n).astype(np.float32)
        a, wa = nnlite.tensor(x, requires_grad=True), nnlite.tensor(w, requires_grad=True)
        t, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        F.prelu(a, wa).backward(nnlite.tensor(g))
        torch.nn.functional.prelu(t, wt).backward(torch.tensor(g))
        assert_close(a.grad, t.grad)
        assert_close(wa.grad, wt.grad, rtol=1e-4, atol=1e-3)   # torch sums in float32


def test_prelu_gradcheck_and_non_contiguous(torch, device):
    x = randn(4, 3, 2, dtype=np.float64, seed=14)
    x[np.abs(x) < 0.05] = 0.3   # no finite-difference step across the kink
    a = nnlite.tensor(x, device=device, requires_grad=True)
    w = nnlite.tensor(np.array([0.1, 0.2, 0.3]), device=device, requires_grad=True)
    assert gradcheck(F.prelu, (a, w))
    xt = randn(3, 4, seed=15)
    got = F.prelu(nnlite.tensor(xt, device=device).t(), nnlite.tensor(np.full(3, 0.2, np.float32), device=device))
    assert_close(got, torch.nn.functional.prelu(torch.tensor(xt).t(), torch.full((3,), 0.2)))


def test_prelu_errors():
    x = nnlite.ones(2, 3)
    with pytest.raises(RuntimeError, match="prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"):
        F.prelu(x, nnlite.ones(1, 3))
    with pytest.raises(RuntimeError, match="prelu: Type promoting not supported. Got Float and Double"):
        F.prelu(x, nnlite.ones(3, dtype=nnlite.float64))
    with pytest.raises(RuntimeError, match="Found parameter numbers = 2 and channel size = 3"):
        F.prelu(x, nnlite.ones(2))
    with pytest.raises(RuntimeError, match="Found parameter numbers = 3 and channel size = 1"):
        F.prelu(nnlite.ones(3), nnlite.ones(3))
    with pytest.raises(TypeError, match=r"prelu\(\): argument 'weight' must be Tensor"):
        F.prelu(x, 0.25)


# ------------------------------------------------------------------ glu, softmin, softmax(dtype=)

@pytest.mark.parametrize("shape, dim", [((4, 6), -1), ((4, 6), 0), ((2, 4, 3), 1), ((0, 4), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glu_matches_torch(torch, device, shape, dim, dtype):
    x, g = randn(*shape, dtype=dtype, seed=16), None
    a, t = nnlite.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.glu(a, dim), torch.nn.functional.glu(t, dim)
    g = randn(*ty.shape, dtype=dtype, seed=17)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(y, ty)
    assert_close(a.grad, t.grad)


def test_glu_gradcheck_and_errors(device):
    a = nnlite.tensor(randn(3, 4, dtype=np.float64, seed=18), device=device, requires_grad=True)
    assert gradcheck(lambda t: F.glu(t, 1), (a,))
    with pytest.raises(RuntimeError, match="glu: Halving dimension must be even, but dimension 0 is size 3"):
        F.glu(nnlite.ones(3))
    with pytest.raises(RuntimeError, match="glu does not support scalars"):
        F.glu(nnlite.ones(()))
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.glu(nnlite.ones(4, 2), 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmin_matches_torch(torch, device, dtype):
    x, g = randn(3, 5, dtype=dtype, seed=19) * 3, randn(3, 5, dtype=dtype, seed=20)
    for dim in (0, 1):
        a, t = nnlite.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
        F.softmin(a, dim).backward(nnlite.tensor(g, device=device))
        ty = torch.nn.functional.softmin(t, dim)
        ty.backward(torch.tensor(g))
        assert_close(F.softmin(a, dim), ty)
        assert_close(a.grad, t.grad)


def test_softmin_dtype_gradcheck_and_implicit_dim(torch):
    x = np.array([[1, 2, 3]], np.int64)
    y = F.softmin(nnlite.tensor(x), 1, dtype=nnlite.float64)
    assert y.dtype is nnlite.float64
    assert_close(y, torch.nn.functional.softmin(torch.tensor(x), 1, dtype=torch.float64))
    a = nnlite.tensor(randn(2, 3, dtype=np.float64, seed=21), requires_grad=True)
    assert gradcheck(lambda t: F.softmin(t, 1), (a,))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        F.softmin(nnlite.ones(2, 3))


def test_softmax_dtype_argument(torch, device):
    x = randn(3, 4, seed=22)
    a, t = nnlite.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.softmax(a, 1, dtype=nnlite.float64), torch.nn.functional.softmax(t, 1, dtype=torch.float64)
    assert y.dtype is nnlite.float64
    assert_close(y, ty, rtol=1e-12, atol=1e-12)
    g = randn(3, 4, dtype=np.float64, seed=23)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert a.grad.dtype is nnlite.float32
    assert_close(a.grad, t.grad)


# ------------------------------------------------------------------ gumbel_softmax

def _gumbel_reference(torch, x, seed, tau, dim, device):
    """torch's formula on the noise nnlite draws: -log(-log(U)), U float64 from nnlite's generator."""
    nnlite.manual_seed(seed)
    u = nnlite.rand(*x.shape, dtype=nnlite.float64, device=device).cpu().numpy()
    t = torch.tensor(x, requires_grad=True)
    noise = torch.tensor((-np.log(-np.log(u))).astype(x.dtype))
    return t, torch.softmax((t + noise) / tau, dim)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_softmax_follows_torchs_formula(torch, device, hard, dtype):
    x, g = randn(4, 5, dtype=dtype, seed=24), randn(4, 5, dtype=dtype, seed=25)
    for tau, dim in ((1.0, -1), (0.5, 0)):
        nnlite.manual_seed(31)
        a = nnlite.tensor(x, device=device, requires_grad=True)
        y = F.gumbel_softmax(a, tau=tau, hard=hard, dim=dim)
        y.backward(nnlite.tensor(g, device=device))
        t, y_soft = _gumbel_reference(torch, x, 31, tau, dim, device)
        if hard:
            index = y_soft.max(dim, keepdim=True)[1]
            y_hard = torch.zeros_like(y_soft).scatter_(dim, index, 1.0)
            want = y_hard - y_soft.detach() + y_soft
            assert set(np.unique(y.detach().cpu().numpy())) <= {0.0, 1.0}
        else:
            want = y_soft
        want.backward(torch.tensor(g))
        assert_close(y, want)
        assert_close(a.grad, t.grad)


def test_gumbel_softmax_samples_the_softmax_distribution():
    logits = np.log(np.array([0.1, 0.2, 0.7], np.float32))
    x = nnlite.tensor(np.tile(logits, (20000, 1)))
    nnlite.manual_seed(0)
    y = F.gumbel_softmax(x, hard=True).numpy()
    assert_close(y.sum(1), np.ones(20000), rtol=0, atol=0)
    freq = y.mean(0)
    assert np.abs(freq - [0.1, 0.2, 0.7]).max() < 0.015, freq
    nnlite.manual_seed(0)
    assert_close(F.gumbel_softmax(x, hard=True), y, rtol=0, atol=0)     # reproducible


def test_gumbel_softmax_eps_is_deprecated():
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect"):
        F.gumbel_softmax(nnlite.ones(2, 3), eps=0.1)


# ------------------------------------------------------------------ Modules

def test_module_reprs_match_torch(torch):
    nn, tnn = nnlite.nn, torch.nn
    for name, args in [("Threshold", (0.1, 20)), ("Threshold", (0.1, 20.0, True)), ("PReLU", ()), ("PReLU", (3,)),
                       ("RReLU", ()), ("RReLU", (0.1, 0.3, True)), ("GLU", ()), ("GLU", (1,)), ("LogSigmoid", ()),
                       ("Hardshrink", ()), ("Hardshrink", (0.3,)), ("Tanhshrink", ()), ("Softsign", ()),
                       ("Softshrink", (1.0,)), ("Softmin", (1,)), ("Softmin", ()), ("Softmax2d", ())]:
        assert repr(getattr(nn, name)(*args)) == repr(getattr(tnn, name)(*args))


def test_modules_compute_their_functional_ops(torch, device):
    x = randn(2, 3, 4, 2, seed=26) * 2
    a, t = nnlite.tensor(x, device=device), torch.tensor(x)
    nn, tnn = nnlite.nn, torch.nn
    for name, args in [("Threshold", (0.1, 20.0)), ("RReLU", (0.1, 0.3)), ("GLU", ()), ("LogSigmoid", ()),
                       ("Hardshrink", ()), ("Tanhshrink", ()), ("Softsign", ()), ("Softshrink", (0.7,)),
                       ("Softmin", (2,)), ("Softmax2d", ())]:
        m, tm = getattr(nn, name)(*args).eval(), getattr(tnn, name)(*args).eval()
        assert_close(m(a), tm(t), rtol=2e-6, atol=2e-6)
    assert_close(nn.Softmax2d()(a[0]), tnn.Softmax2d()(t[0]))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(a[0, 0])


def test_prelu_module_has_torchs_parameter(torch):
    m = nnlite.nn.PReLU(3, init=0.1, dtype=nnlite.float64)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m.weight.shape == (3,) and m.weight.dtype is nnlite.float64
    assert_close(m.weight, np.full(3, 0.1))
    x = randn(2, 3, 4, dtype=np.float64, seed=27)
    a = nnlite.tensor(x)
    m(a).sum().backward()
    tm = torch.nn.PReLU(3, init=0.1).double()
    tm(torch.tensor(x)).sum().backward()
    assert_close(m.weight.grad, tm.weight.grad)


def test_rrelu_module_is_random_only_in_training():
    m = nnlite.nn.RReLU(0.1, 0.3)
    x = nnlite.tensor(-np.ones(1000, np.float32))
    slopes = -m(x).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    assert_close(-m.eval()(x).numpy(), np.full(1000, 0.2))
