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
