"""Pointwise unary ops: values vs PyTorch (incl. NaN/inf and the fast float32 exp), gradients,
CUDA vs CPU."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

SPECIAL = np.array([0.0, -0.0, 1e-8, -1e-8, 0.3, -0.7, 1.0, 3.5, -20.0, 20.0, 88.0, -88.0, 90.0, -110.0,
                    np.inf, -np.inf, np.nan], np.float32)

OPS = ["neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid",
       "sign", "floor", "ceil", "round", "trunc", "square", "reciprocal"]


@pytest.mark.parametrize("op", OPS)
def test_matches_torch_on_special_values(torch, device, op):
    x = np.concatenate([SPECIAL, randn(40, seed=1) * 4])
    got = getattr(nnlite, op)(nnlite.tensor(x, device=device))
    want = getattr(torch, op)(torch.tensor(x))
    assert_close(got, want, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("op, max_ulp", [("exp", 2.0), ("tanh", 2.0), ("sigmoid", 3.0)])
def test_vectorised_float32_paths_are_accurate(torch, op, max_ulp):
    """Large inputs take the parallel, polynomial (fexp/ftanh) path: within a few ulp of float64
    (float32 1 / (1 + exp(-x)) rounds three times: torch's own float32 sigmoid is 2.3 ulp off)."""
    x = (randn(1 << 17, seed=2) * 30).astype(np.float32)
    got = getattr(nnlite, op)(nnlite.tensor(x)).numpy().astype(np.float64)
    ref = getattr(torch, op)(torch.tensor(x, dtype=torch.float64)).numpy()
    finite = (np.abs(ref) < np.finfo(np.float32).max) & (np.abs(ref) > 1e-30)  # normal float32 results
    ulp = np.abs(got[finite] - ref[finite]) / np.spacing(np.abs(ref[finite]).astype(np.float32)).astype(np.float64)
    assert ulp.max() <= max_ulp


def test_round_is_half_to_even(torch, device):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001], np.float32)
    assert_close(nnlite.round(nnlite.tensor(x, device=device)), torch.round(torch.tensor(x)))
    assert_close(nnlite.round(nnlite.tensor([1.2345, 2.5551]), decimals=2), [1.23, 2.56], atol=1e-6)


def test_integer_inputs(torch):
    x = np.array([-3, 0, 4], np.int64)
    for op in ("exp", "sqrt", "sigmoid"):
        got = getattr(nnlite, op)(nnlite.tensor(x))
        assert got.dtype is nnlite.float32
        assert_close(got, getattr(torch, op)(torch.tensor(x)))
    for op in ("neg", "abs", "sign", "floor"):
        got = getattr(nnlite, op)(nnlite.tensor(x))
        assert got.dtype is nnlite.int64
        assert_close(got, getattr(torch, op)(torch.tensor(x)))


@pytest.mark.parametrize("op", ["neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos",
                                "tanh", "sigmoid", "square", "reciprocal"])
def test_gradcheck(device, op):
    x = nnlite.tensor(np.abs(randn(2, 3, seed=3)).astype(np.float64) + 0.2, device=device, requires_grad=True)
    assert gradcheck(getattr(nnlite, op), (x,))


def test_rounding_ops_have_zero_gradient():
    x = nnlite.tensor([0.3, 1.7], requires_grad=True)
    (nnlite.floor(x) + nnlite.ceil(x) + nnlite.round(x) + nnlite.sign(x)).sum().backward()
    assert_close(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (None, 0.0), (0.2, None), (1.0, -1.0)])
def test_clamp(torch, device, lo, hi):
    x = np.concatenate([randn(20, seed=4), [np.nan, np.inf, -np.inf]]).astype(np.float32)
    assert_close(nnlite.clamp(nnlite.tensor(x, device=device), lo, hi), torch.clamp(torch.tensor(x), lo, hi))


def test_clamp_gradient_matches_torch_at_the_bounds(torch):
    x = nnlite.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], requires_grad=True)
    x.clamp(-0.5, 0.5).sum().backward()
    t = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], requires_grad=True)
    t.clamp(-0.5, 0.5).sum().backward()
    assert_close(x.grad, t.grad)


def test_clamp_with_tensor_bounds(torch):
    x, lo = randn(3, 4, seed=5), randn(4, seed=6)
    assert_close(nnlite.clamp(nnlite.tensor(x), min=nnlite.tensor(lo)), torch.clamp(torch.tensor(x), min=torch.tensor(lo)))


def test_clamp_needs_a_bound():
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        nnlite.clamp(nnlite.ones(2))


def test_neg_of_bool_is_an_error():
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        -nnlite.tensor([True])


def test_inplace_variants(device):
    x = nnlite.tensor([-1.0, 4.0], device=device)
    x.abs_().sqrt_().neg_()
    assert_close(x, [-1.0, -2.0])
    x.clamp_(min=-1.5)
    assert_close(x, [-1.0, -1.5])


def test_float16_on_cpu_is_a_clear_error():
    with pytest.raises(TypeError, match="float16 tensors compute on CUDA only"):
        nnlite.exp(nnlite.ones(2, dtype=nnlite.float16))
