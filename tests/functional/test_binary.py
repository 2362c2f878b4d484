"""Pointwise binary ops: values and promotion vs PyTorch, gradients, CUDA vs CPU, errors."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), ()), ((), (2, 3)), ((1, 3, 1, 2, 1, 2), (2, 1, 4, 1, 2, 1))]
OPS = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "remainder", "floor_divide"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
def test_matches_torch(torch, device, op, shapes):
    a = randn(*shapes[0], seed=1)
    b = randn(*shapes[1], seed=2)
    if op == "pow":
        a = np.abs(a) + 0.5
    if op in ("remainder", "floor_divide"):
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    got = getattr(nnlite, op)(nnlite.tensor(a, device=device), nnlite.tensor(b, device=device))
    want = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"])
def test_comparisons(torch, device, op):
    a = np.array([[0.0, 1.0, np.nan], [2.0, -1.0, 3.0]], np.float32)
    b = np.array([1.0, 1.0, np.nan], np.float32)
    got = getattr(nnlite, op)(nnlite.tensor(a, device=device), nnlite.tensor(b, device=device))
    want = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    assert got.dtype is nnlite.bool
    assert_close(got, want)


@pytest.mark.parametrize("op, operator", [("bitwise_and", "__and__"), ("bitwise_or", "__or__"),
                                          ("bitwise_xor", "__xor__")])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.bool_])
def test_bitwise_ops(torch, device, op, operator, dtype):
    """Integer and bool operands, broadcast, a Python int on one side; floats are refused."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (3, 4)).astype(dtype)
    b = rng.integers(0, 200, (4,)).astype(dtype)
    got = getattr(nnlite, op)(nnlite.tensor(a, device=device), nnlite.tensor(b, device=device))
    want = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    assert_close(got, want)
    if dtype != np.bool_:  # the operator, with a Python int
        assert_close(getattr(nnlite.tensor(a, device=device), operator)(6), getattr(torch.tensor(a), operator)(6))
    with pytest.raises(RuntimeError, match=f"{op}: only integer and bool tensors.*float32"):
        getattr(nnlite, op)(nnlite.tensor(a, device=device), nnlite.ones(4, device=device))


@pytest.mark.parametrize("lhs, rhs", [
    (np.array([1, 2], np.int64), 2.5), (np.array([1, 2], np.int32), np.array([1.5], np.float64)),
    (np.array([True, False]), 3), (np.array([1, 2], np.uint8), 300), (np.array([1.0, 2.0], np.float32), 2),
])
def test_type_promotion_matches_torch(torch, lhs, rhs):
    got = nnlite.tensor(lhs) + (nnlite.tensor(rhs) if isinstance(rhs, np.ndarray) else rhs)
    want = torch.tensor(lhs) + (torch.tensor(rhs) if isinstance(rhs, np.ndarray) else rhs)
    assert got.dtype.name == str(want.dtype).replace("torch.", "")
    assert_close(got, want)


def test_zero_dim_tensors_do_not_win_promotion(torch):
    got = nnlite.ones(3, dtype=nnlite.float32) * nnlite.tensor(2.0, dtype=nnlite.float64)
    assert got.dtype is nnlite.float32
    got = nnlite.ones(3, dtype=nnlite.int64) * nnlite.tensor(2.5, dtype=nnlite.float64)
    assert got.dtype is nnlite.float64


def test_scalars_on_both_sides(device):
    x = nnlite.tensor([1.0, 2.0, 4.0], device=device)
    assert_close(2 - x, np.array([1.0, 0.0, -2.0]))
    assert_close(1 / x, np.array([1.0, 0.5, 0.25]))
    assert_close(2 ** x, np.array([2.0, 4.0, 16.0]))
    assert_close(x ** 2, np.array([1.0, 4.0, 16.0]))
    assert_close(7 // x, np.array([7.0, 3.0, 1.0]))


def test_nan_propagates_through_maximum(device):
    a = nnlite.tensor([np.nan, 1.0], device=device)
    b = nnlite.tensor([0.0, np.nan], device=device)
    assert np.isnan(nnlite.maximum(a, b).cpu().numpy()).all()
    assert np.isnan(nnlite.minimum(a, b).cpu().numpy()).all()


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum", "pow"])
def test_gradcheck_with_broadcasting(device, op):
    a = nnlite.tensor(np.abs(randn(2, 3, seed=3)).astype(np.float64) + 0.5, device=device, requires_grad=True)
    b = nnlite.tensor(randn(3, seed=4).astype(np.float64), device=device, requires_grad=True)
    assert gradcheck(getattr(nnlite, op), (a, b))


def test_maximum_ties_split_the_gradient(torch):
    a = nnlite.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = nnlite.tensor([1.0, 1.0, 5.0], requires_grad=True)
    nnlite.maximum(a, b).sum().backward()
    ta = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tb = torch.tensor([1.0, 1.0, 5.0], requires_grad=True)
    torch.maximum(ta, tb).sum().backward()
    assert_close(a.grad, ta.grad)
    assert_close(b.grad, tb.grad)


def test_where_gradients(device):
    c = nnlite.tensor([True, False, True], device=device)
    a = nnlite.tensor([1.0, 2.0, 3.0], dtype=nnlite.float64, device=device, requires_grad=True)
    b = nnlite.tensor([4.0], dtype=nnlite.float64, device=device, requires_grad=True)
    assert gradcheck(lambda x, y: nnlite.where(c, x, y), (a, b))


def test_inputs_are_not_modified(device):
    a_np, b_np = randn(3, 4, seed=5), randn(4, seed=6)
    a, b = nnlite.tensor(a_np, device=device), nnlite.tensor(b_np, device=device)
    for op in OPS:
        getattr(nnlite, op)(a, b)
    assert_close(a, a_np)
    assert_close(b, b_np)


def test_shape_mismatch_names_both_sizes():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of tensor b \(4\)"):
        nnlite.ones(3) + nnlite.ones(4)


def test_device_mismatch_names_both_devices():
    if not nnlite.cuda.is_available():
        pytest.skip("needs CUDA or the simulator")
    with pytest.raises(RuntimeError, match="cpu and cuda:0|cuda:0 and cpu"):
        nnlite.ones(3) + nnlite.ones(3, device="cuda")


def test_zero_dim_cpu_tensor_mixes_with_cuda():
    if not nnlite.cuda.is_available():
        pytest.skip("needs CUDA or the simulator")
    y = nnlite.ones(3, device="cuda") * nnlite.tensor(2.0)
    assert y.device == "cuda:0"
    assert_close(y, np.full(3, 2.0))


def test_non_tensor_operand_is_a_type_error():
    with pytest.raises(TypeError):
        nnlite.add(nnlite.ones(2), "x")


def test_integer_division_by_zero_raises():
    with pytest.raises(ZeroDivisionError):
        nnlite.tensor([1, 2]) // 0
    with pytest.raises(ZeroDivisionError):
        nnlite.remainder(nnlite.tensor([1, 2]), nnlite.tensor([1, 0]))


def test_true_division_of_integers_is_float(torch):
    got = nnlite.tensor([1, 2, 3]) / 2
    assert got.dtype is nnlite.float32
    assert_close(got, torch.tensor([1, 2, 3]) / 2)


def test_large_inputs_take_the_parallel_path(torch):
    a, b = randn(300, 257, seed=7), randn(257, seed=8)
    assert_close(nnlite.tensor(a) * nnlite.tensor(b), torch.tensor(a) * torch.tensor(b))
    assert_close(nnlite.tensor(a) + 1.5, torch.tensor(a) + 1.5)
