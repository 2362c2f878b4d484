"""matmul / mm / bmm / linear against PyTorch, with gradients, on CPU and CUDA."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
          ((5, 2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,))]


@pytest.mark.parametrize("sa, sb", SHAPES)
def test_matmul_matches_torch_with_gradients(torch, device, sa, sb):
    a, b = randn(*sa, seed=1).astype(np.float64), randn(*sb, seed=2).astype(np.float64)
    na = nnlite.tensor(a, device=device, requires_grad=True)
    nb = nnlite.tensor(b, device=device, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, ty = na @ nb, ta @ tb
    assert_close(y, ty, rtol=1e-10, atol=1e-10)
    g = randn(*ty.shape, seed=3).astype(np.float64)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(na.grad, ta.grad, rtol=1e-10, atol=1e-10)
    assert_close(nb.grad, tb.grad, rtol=1e-10, atol=1e-10)


def test_transposed_operands_need_no_copy(torch, device):
    a, b = randn(4, 3, seed=4), randn(5, 4, seed=5)
    got = nnlite.tensor(a, device=device).t() @ nnlite.tensor(b, device=device).t()
    assert_close(got, torch.tensor(a).t() @ torch.tensor(b).t(), rtol=1e-5, atol=1e-5)


def test_large_float32_gemm(torch):
    a, b = randn(130, 257, seed=6), randn(257, 70, seed=7)
    assert_close(nnlite.mm(nnlite.tensor(a), nnlite.tensor(b)), torch.mm(torch.tensor(a), torch.tensor(b)),
                 rtol=1e-4, atol=1e-4)


def test_linear_and_bilinear(torch, device):
    x, w, bias = randn(4, 3, 5, seed=8), randn(6, 5, seed=9), randn(6, seed=10)
    got = nnlite.nn.functional.linear(nnlite.tensor(x, device=device), nnlite.tensor(w, device=device),
                                      nnlite.tensor(bias, device=device))
    want = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(bias))
    assert_close(got, want, rtol=1e-5, atol=1e-5)
    x1, x2, wb = randn(3, 2, seed=11), randn(3, 4, seed=12), randn(5, 2, 4, seed=13)
    got = nnlite.nn.functional.bilinear(nnlite.tensor(x1), nnlite.tensor(x2), nnlite.tensor(wb))
    assert_close(got, torch.nn.functional.bilinear(torch.tensor(x1), torch.tensor(x2), torch.tensor(wb)),
                 rtol=1e-5, atol=1e-5)


def test_linear_gradcheck(device):
    x = nnlite.tensor(randn(3, 4, seed=14).astype(np.float64), device=device, requires_grad=True)
    w = nnlite.tensor(randn(2, 4, seed=15).astype(np.float64), device=device, requires_grad=True)
    b = nnlite.tensor(randn(2, seed=16).astype(np.float64), device=device, requires_grad=True)
    assert gradcheck(nnlite.nn.functional.linear, (x, w, b))


def test_integer_matmul_on_cpu(torch):
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    assert_close(nnlite.tensor(a) @ nnlite.tensor(b), torch.tensor(a) @ torch.tensor(b))


def test_empty_inner_dimension_gives_zeros():
    assert_close(nnlite.zeros(2, 0) @ nnlite.zeros(0, 3), np.zeros((2, 3)))


def test_errors():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        nnlite.ones(2, 3) @ nnlite.ones(4, 5)
    with pytest.raises(RuntimeError, match="same dtype"):
        nnlite.ones(2, 3) @ nnlite.ones(3, 2, dtype=nnlite.float64)
    with pytest.raises(RuntimeError, match="bmm: expected 3D"):
        nnlite.bmm(nnlite.ones(2, 3), nnlite.ones(3, 2))
    with pytest.raises(RuntimeError, match="at least 1D"):
        nnlite.matmul(nnlite.tensor(1.0), nnlite.ones(2))
    with pytest.raises(TypeError, match="must be Tensor"):
        nnlite.matmul(nnlite.ones(2), [1.0, 2.0])
