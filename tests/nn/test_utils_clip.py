"""nn.utils gradient clipping and parameter/vector conversion against torch (float64)."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.nn.utils import (clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm,
                             parameters_to_vector, vector_to_parameters)
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _params_with_grads(device, scale=1.0, seed=0):
    """The same parameters and grads in nnlite (on device) and torch, float64."""
    ours, theirs = [], []
    for i, shape in enumerate(SHAPES):
        w = randn(*shape, dtype=np.float64, seed=seed + i)
        g = randn(*shape, dtype=np.float64, seed=seed + 10 + i) * scale
        p = nnlite.nn.Parameter(nnlite.tensor(w, device=device))
        p.grad = nnlite.tensor(g, device=device)
        q = torch.nn.Parameter(torch.tensor(w))
        q.grad = torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(device, norm_type, max_norm):
    ours, theirs = _params_with_grads(device)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type, foreach=True)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.ndim == 0 and total.dtype == nnlite.float64
    assert_close(total, expected, rtol=1e-12, atol=1e-12)
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-12)
        assert_close(p, q, rtol=0, atol=0)   # clipping touches grads only


def test_clip_grad_norm_single_tensor_and_generator():
    ours, theirs = _params_with_grads("cpu", scale=5.0)
    total = clip_grad_norm_(ours[0], 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs[0], 1.0)
    assert_close(total, expected, rtol=1e-12)
    assert_close(ours[0].grad, theirs[0].grad, rtol=1e-12)
    total = clip_grad_norm_((p for p in ours), 0.1)
    expected = torch.nn.utils.clip_grad_norm_((q for q in theirs), 0.1)
    assert_close(total, expected, rtol=1e-12)
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad, rtol=1e-12)


def test_clip_grad_norm_coefficient_always_multiplied():
    # a coefficient of 1 - tiny when total ~ max_norm: torch multiplies it in, so do we
    ours, theirs = _params_with_grads("cpu")
    before = [p.grad.numpy().copy() for p in ours]
    total = float(torch.nn.utils.get_total_norm([q.grad for q in theirs]))
    clip_grad_norm_(ours, total)
    torch.nn.utils.clip_grad_norm_(theirs, total)
    for p, q, b in zip(ours, theirs, before):
        assert_close(p.grad, q.grad, rtol=1e-14, atol=0)
        assert_close(p.grad, b * (total / (total + 1e-6)), rtol=1e-14, atol=0)
        assert not np.array_equal(p.grad.numpy(), b)


def test_clip_grad_norm_no_grads_returns_zero():
    p = nnlite.nn.Parameter(nnlite.ones(3))
    total = clip_grad_norm_([p], 1.0)
    assert total.ndim == 0 and total.item() == 0.0 and total.dtype == nnlite.float32
    assert clip_grad_norm_([], 1.0).item() == 0.0
    assert p.grad is None


def test_clip_grad_norm_nonfinite():
    ours, theirs = _params_with_grads("cpu")
    ours[0].grad[0, 0] = math.inf
    theirs[0].grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    # without the flag the non-finite norm is returned and multiplied in, as torch does
    total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isinf(total.item()) and math.isinf(expected.item())
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad, rtol=1e-12)


def test_clip_grad_norm_bad_norm_type():
    ours, _ = _params_with_grads("cpu")
    with pytest.raises(TypeError, match="norm_type"):
        clip_grad_norm_(ours, 1.0, norm_type="fro")


def test_get_total_norm_and_clip_grads_with_norm(device):
    ours, theirs = _params_with_grads(device, scale=3.0)
    total = get_total_norm([p.grad for p in ours], 3.0)
    expected = torch.nn.utils.get_total_norm([q.grad for q in theirs], 3.0)
    assert_close(total, expected, rtol=1e-12)
    clip_grads_with_norm_(ours, 2.0, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 2.0, expected)
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad, rtol=1e-12)
    with pytest.raises(TypeError, match="total_norm"):
        clip_grads_with_norm_(ours, 2.0, 3.0)


@pytest.mark.parametrize("clip_value", [0.1, 1])
def test_clip_grad_value_matches_torch(device, clip_value):
    ours, theirs = _params_with_grads(device, scale=2.0)
    before = [p.detach().clone() for p in ours]
    assert clip_grad_value_(ours, clip_value, foreach=False) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q, b in zip(ours, theirs, before):
        assert_close(p.grad, q.grad, rtol=0, atol=0)
        assert_close(p, b, rtol=0, atol=0)


def test_clip_grad_value_bad_value():
    ours, _ = _params_with_grads("cpu")
    with pytest.raises(TypeError, match="clip_value"):
        clip_grad_value_(ours, "1")


def test_parameters_to_vector_roundtrip(device):
    ours, theirs = _params_with_grads(device)
    vec = parameters_to_vector(ours)
    expected = torch.nn.utils.parameters_to_vector(theirs)
    assert_close(vec, expected, rtol=0, atol=0)
    # differentiable: the gradient of sum(vec * c) reaches every parameter
    for p in ours:
        p.grad = None
    (vec * 2.0).sum().backward()
    for p in ours:
        assert_close(p.grad, np.full(tuple(p.shape), 2.0))
    new = randn(vec.numel(), dtype=np.float64, seed=7)
    vector_to_parameters(nnlite.tensor(new, device=device), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs)
    for p, q in zip(ours, theirs):
        assert_close(p, q, rtol=0, atol=0)
        assert isinstance(p, nnlite.nn.Parameter)


def test_vector_to_parameters_errors():
    ours, _ = _params_with_grads("cpu")
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        vector_to_parameters(np.zeros(5), ours)
    with pytest.raises(RuntimeError, match="at least 23 elements"):
        vector_to_parameters(nnlite.zeros(5, dtype=nnlite.float64), ours)


def test_clip_grad_norm_scales_grads_in_place_including_views(device):
    ours, theirs = _params_with_grads(device, scale=4.0)
    ours[0].grad = ours[0].grad.t().contiguous().t()        # a non-contiguous grad takes mul_
    theirs[0].grad = theirs[0].grad.t().contiguous().t()
    grads = [p.grad for p in ours]
    versions = [g._version[0] for g in grads]
    clip_grad_norm_(ours, 0.5)
    torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    for p, q, g, v in zip(ours, theirs, grads, versions):
        assert p.grad is g and g._version[0] > v
        assert_close(p.grad, q.grad, rtol=1e-12)


def test_clip_grad_norm_float32_large(device):
    size = 4096 if device == "cuda" else 300_000
    g = randn(size, seed=3) * 10
    p = nnlite.nn.Parameter(nnlite.zeros(size, device=device))
    p.grad = nnlite.tensor(g, device=device)
    q = torch.nn.Parameter(torch.zeros(size))
    q.grad = torch.tensor(g)
    total = clip_grad_norm_([p], 1.0)
    expected = torch.nn.utils.clip_grad_norm_([q], 1.0)
    assert total.dtype == nnlite.float32
    assert_close(total, expected, rtol=1e-5)
    assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-9)
