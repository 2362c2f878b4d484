"""unfold / fold (im2col / col2im): values and gradients vs PyTorch in float32 and float64, both
array paths (a kernel per image in torch's layout, and one batched kernel + re-layout), unbatched
inputs, gradcheck, CUDA kernels (simulator, tiny shapes), errors, empty batches, non-contiguous
inputs, inputs never modified, and the Fold / Unfold modules."""
import importlib

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

CASES = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1)),
    dict(kernel_size=2, stride=2),                                      # blocks that tile: no overlap
    dict(kernel_size=(3, 1), dilation=2, padding=2, stride=(1, 3)),     # blocks reading only padding
]
SIZE = (5, 7)
fold_module = importlib.import_module("nnlite.functional.fold")   # nnlite.functional.fold is the function


def _blocks(kw, size=SIZE):
    t = pytest.importorskip("torch")
    return t.nn.functional.unfold(t.zeros(1, 1, *size), **kw).shape[-1]


def _k(kw):
    k = kw["kernel_size"]
    return k * k if isinstance(k, int) else k[0] * k[1]


def _check(torch, ours, theirs, x, device="cpu", tol=1e-6):
    """Forward and input gradient (for a random output gradient) of ours vs theirs."""
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = ours(xt), theirs(tx)
    assert y.dtype is xt.dtype
    assert_close(y, ty, rtol=tol, atol=tol)
    g = randn(*ty.shape, seed=5, dtype=x.dtype)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(xt.grad, tx.grad, rtol=tol, atol=tol)


@pytest.fixture(params=["per_image", "batched"])
def path(request, monkeypatch):
    """Forces one of the two array paths (the choice depends on size and thread count)."""
    per_image = request.param == "per_image"
    monkeypatch.setattr(fold_module, "_per_image", lambda n, work, dev: per_image or n == 1)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", CASES)
def test_unfold_and_fold_match_torch(torch, path, kw, dtype):
    tf = torch.nn.functional
    _check(torch, lambda t: F.unfold(t, **kw), lambda t: tf.unfold(t, **kw), randn(3, 2, *SIZE, seed=1, dtype=dtype))
    cols = randn(3, 2 * _k(kw), _blocks(kw), seed=2, dtype=dtype)
    _check(torch, lambda t: F.fold(t, SIZE, **kw), lambda t: tf.fold(t, SIZE, **kw), cols)


def test_unbatched_inputs_match_torch(torch):
    tf = torch.nn.functional
    kw = CASES[1]
    _check(torch, lambda t: F.unfold(t, **kw), lambda t: tf.unfold(t, **kw), randn(2, *SIZE, seed=3))
    _check(torch, lambda t: F.fold(t, SIZE, **kw), lambda t: tf.fold(t, SIZE, **kw),
           randn(2 * _k(kw), _blocks(kw), seed=4))


def test_fold_output_size_as_int_and_lists(torch):
    cols = randn(2, 4 * 4, 9, seed=6)
    assert_close(F.fold(nnlite.tensor(cols), 4, [2, 2], stride=[1, 1]),
                 torch.nn.functional.fold(torch.tensor(cols), 4, [2, 2], stride=[1, 1]))


def test_gradcheck():
    x = nnlite.tensor(randn(1, 2, 4, 3, seed=7, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda t: F.unfold(t, 2, padding=1, stride=(2, 1)), (x,))
    cols = nnlite.tensor(randn(2, 2 * 2, 8, seed=8, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda t: F.fold(t, (3, 4), 2, dilation=(1, 2), padding=(1, 0)), (cols,))


@pytest.mark.parametrize("n", [1, 2])   # 1: a kernel per image; 2: batched + re-layout (always on CUDA)
def test_device_matches_torch(torch, device, n):
    tf = torch.nn.functional
    kw = dict(kernel_size=2, padding=1, stride=(1, 2))
    _check(torch, lambda t: F.unfold(t, **kw), lambda t: tf.unfold(t, **kw), randn(n, 2, 3, 4, seed=9),
           device=device)
    cols = randn(n, 2 * 4, _blocks(kw, (3, 4)), seed=10)
    _check(torch, lambda t: F.fold(t, (3, 4), **kw), lambda t: tf.fold(t, (3, 4), **kw), cols, device=device)


def test_empty_batch():
    x = nnlite.zeros(0, 2, 4, 4, requires_grad=True)
    y = F.unfold(x, 2)
    assert tuple(y.shape) == (0, 8, 9)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 4, 4)
    c = nnlite.zeros(0, 8, 9, requires_grad=True)
    z = F.fold(c, 4, 2)
    assert tuple(z.shape) == (0, 2, 4, 4)
    z.sum().backward()
    assert tuple(c.grad.shape) == (0, 8, 9)


def test_non_contiguous_inputs(torch):
    x = randn(2, 5, 3, 6, seed=11)
    tf = torch.nn.functional
    xt = nnlite.tensor(x).transpose(1, 3)          # (2, 6, 3, 5), not contiguous
    assert not xt.is_contiguous()
    assert_close(F.unfold(xt, 2, padding=1), tf.unfold(torch.tensor(x).transpose(1, 3), 2, padding=1))
    cols = randn(2, 9, 8, seed=12)                 # transposed to (2, 8, 9): 2 channels of 2x2, 9 blocks
    ct = nnlite.tensor(cols).transpose(1, 2)
    assert_close(F.fold(ct, 4, 2), tf.fold(torch.tensor(cols).transpose(1, 2), 4, 2))


def test_inputs_are_not_modified(device):
    x_np = randn(2, 2, 4, 4, seed=13)
    x = nnlite.tensor(x_np, device=device, requires_grad=True)
    y = F.unfold(x, 2, padding=1)
    g_np = randn(*y.shape, seed=14)
    g = nnlite.tensor(g_np, device=device)
    y.backward(g)
    c = nnlite.tensor(g_np, device=device, requires_grad=True)
    z = F.fold(c, 4, 2, padding=1)
    z.backward(x)
    assert np.array_equal(x.detach().cpu().numpy(), x_np)
    assert np.array_equal(g.cpu().numpy(), g_np)
    assert np.array_equal(c.detach().cpu().numpy(), g_np)


X = nnlite.zeros(2, 3, 5, 6)
COLS = nnlite.zeros(2, 27, 12)
ERRORS = [
    (lambda: F.unfold(X, 7), RuntimeError, "calculated shape of the array of sliding blocks as (-1, 0)"),
    (lambda: F.unfold(X, 0), RuntimeError, "kernel size should be greater than zero"),
    (lambda: F.unfold(X, 3, stride=0), RuntimeError, "stride should be greater than zero"),
    (lambda: F.unfold(X, 3, dilation=(1, 0)), RuntimeError, "dilation should be greater than zero"),
    (lambda: F.unfold(X, 3, padding=-1), RuntimeError, "padding should be non-negative"),
    (lambda: F.unfold(X, (3, 3, 3)), RuntimeError, "It is expected kernel_size equals to 2, but got size 3"),
    (lambda: F.unfold(X, 3.0), TypeError, "must be tuple of ints, but found element of type float"),
    (lambda: F.unfold(nnlite.zeros(3, 5), 3), IndexError, "expected a 3D or 4D input, but got input of size [3, 5]"),
    (lambda: F.unfold(nnlite.zeros(1, 2, 3, 5, 5), 3), RuntimeError, "Expected 3D or 4D (batch mode) tensor"),
    (lambda: F.unfold(nnlite.zeros(2, 0, 5, 6), 3), RuntimeError, "non-zero dimensions for input, but got: [2, 0"),
    (lambda: F.unfold(nnlite.zeros(2, 3, 5, 6, dtype=nnlite.int64), 3), NotImplementedError,
     "\"unfold\" not implemented for 'int64'"),
    (lambda: F.unfold(np.zeros((2, 3, 5, 6)), 3), TypeError, "argument 'input' must be Tensor"),
    (lambda: F.fold(COLS, (5, 5), 3), RuntimeError,
     "calculated number of sliding blocks 3 * 3 = 9, but got input.size(2)=12"),
    (lambda: F.fold(nnlite.zeros(2, 26, 12), (5, 6), 3), RuntimeError,
     "divisible by the product of kernel_size, but got input.size(1)=26 and kernel_size=(3, 3)"),
    (lambda: F.fold(nnlite.zeros(2, 27, 12, 1), (5, 6), 3), RuntimeError, "Expected 2D or 3D (batch mode) tensor"),
    (lambda: F.fold(nnlite.zeros(2, 27, 0), (2, 2), 3), RuntimeError, "but got: [2, 27, 0]"),
    (lambda: F.fold(COLS, (5, 6, 1), 3), RuntimeError, "It is expected output_size equals to 2, but got size 3"),
    (lambda: F.fold(COLS, (5, 6), 3, stride=(2,)), RuntimeError, "It is expected stride equals to 2"),
    (lambda: F.fold(COLS, (5, 6), (0, 3)), RuntimeError, "kernel_height: 0 kernel_width: 3"),
    (lambda: F.fold(COLS.to(nnlite.int32), (5, 6), 3), NotImplementedError, "\"fold\" not implemented for 'int32'"),
]


@pytest.mark.parametrize("call,exc,message", ERRORS)
def test_bad_input_raises(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)
    assert str(info.value).startswith(("unfold", "fold", '"unfold"', '"fold"')) or exc is TypeError


def test_modules_match_torch(torch):
    x = randn(2, 3, 5, 6, seed=15)
    un, tun = nn.Unfold((2, 3), dilation=1, padding=(1, 0), stride=2), torch.nn.Unfold((2, 3), 1, (1, 0), 2)
    fo, tfo = nn.Fold((5, 6), (2, 3), 1, (1, 0), 2), torch.nn.Fold((5, 6), (2, 3), 1, (1, 0), 2)
    for ours, theirs in ((un, tun), (fo, tfo)):
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == [] and list(ours.parameters()) == []
    assert_close(fo(un(nnlite.tensor(x))), tfo(tun(torch.tensor(x))))
    assert repr(nn.Unfold(3)) == repr(torch.nn.Unfold(3))
    assert repr(nn.Fold(4, 2)) == repr(torch.nn.Fold(4, 2))
