"""Shape ops: views share memory, copies don't; values and gradients vs PyTorch; CUDA vs CPU."""
import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

CASES = [
    ("view", lambda x: x.view(6, 4)), ("view -1", lambda x: x.view(-1, 8)),
    ("reshape of transpose", lambda x: x.transpose(0, 2).reshape(12, 2)),
    ("flatten", lambda x: x.flatten(1)), ("unflatten", lambda x: x.unflatten(2, (2, 2))),
    ("squeeze/unsqueeze", lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(1)),
    ("permute", lambda x: x.permute(2, 0, 1)), ("transpose", lambda x: x.transpose(-1, 0)),
    ("t of 2d", lambda x: x[0].t()), ("expand", lambda x: x[:, :1].expand(2, 5, 4)),
    ("repeat", lambda x: x.repeat(2, 1, 1, 2)), ("flip", lambda x: x.flip(0, 2)),
    ("narrow", lambda x: x.narrow(1, 1, 2)), ("movedim", lambda x: x.movedim(0, -1)),
    ("getitem", lambda x: x[1, ::2, None, 1:]), ("ellipsis", lambda x: x[..., -1]),
    ("repeat_interleave", lambda x: x.repeat_interleave(2, dim=1)),
]


@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_with_gradients(torch, device, name, fn):
    data = randn(2, 3, 4, seed=1).astype(np.float64)
    x = nnlite.tensor(data, device=device, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    y, ty = fn(x), fn(tx)
    assert_close(y, ty)
    g = randn(*ty.shape, seed=2).astype(np.float64)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)


def test_views_share_memory_and_version():
    x = nnlite.zeros(2, 3)
    v = x.view(3, 2)
    v[0, 0] = 1.0
    t = x.t()
    t[2, 1] = 2.0
    assert x[0, 0].item() == 1.0 and x[1, 2].item() == 2.0
    assert x._version is v._version


def test_view_of_non_contiguous_needs_reshape():
    x = nnlite.zeros(3, 4).t()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(12)
    assert x.reshape(12).shape == (12,)
    assert x.view(4, 3).shape == (4, 3)  # a compatible view of a transposed tensor


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack_split_chunk(torch, device, dim):
    a, b = randn(2, 3, seed=3), randn(2, 3, seed=4)
    na, nb = nnlite.tensor(a, device=device), nnlite.tensor(b, device=device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert_close(nnlite.cat([na, nb], dim), torch.cat([ta, tb], dim))
    assert_close(nnlite.stack([na, nb], dim), torch.stack([ta, tb], dim))
    for got, want in zip(nnlite.cat([na, nb], dim).split(2, dim), torch.cat([ta, tb], dim).split(2, dim)):
        assert_close(got, want)
    for got, want in zip(na.chunk(2, dim), ta.chunk(2, dim)):
        assert_close(got, want)
    for got, want in zip(na.split([1, 1], 0), ta.split([1, 1], 0)):
        assert_close(got, want)


def test_cat_gradcheck_and_promotion():
    a = nnlite.tensor(randn(2, 3, seed=5).astype(np.float64), requires_grad=True)
    b = nnlite.tensor(randn(1, 3, seed=6).astype(np.float64), requires_grad=True)
    assert gradcheck(lambda x, y: nnlite.cat([x, y * 2, x]), (a, b))
    mixed = nnlite.cat([nnlite.ones(1, dtype=nnlite.int64), nnlite.ones(1, dtype=nnlite.float32)])
    assert mixed.dtype is nnlite.float32


def test_cat_errors():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        nnlite.cat([nnlite.ones(2, 3), nnlite.ones(2, 4)])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        nnlite.cat([nnlite.ones(2, 3), nnlite.ones(3)])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        nnlite.stack([nnlite.ones(2), nnlite.ones(3)])


def test_shape_errors_match_torch():
    x = nnlite.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        x.view(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.transpose(0, 2)
    with pytest.raises(RuntimeError, match="expanded size of the tensor"):
        x.expand(3, 3)
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 2"):
        x[2]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]


def test_expand_then_contiguous_and_broadcast_tensors(device):
    x = nnlite.arange(3, device=device).view(3, 1)
    e = x.expand(3, 4)
    assert e.stride() == (1, 0)
    assert e.contiguous().tolist() == [[0] * 4, [1] * 4, [2] * 4]
    a, b = nnlite.broadcast_tensors(nnlite.ones(2, 1), nnlite.ones(3))
    assert a.shape == b.shape == (2, 3)


def test_setitem_basic(torch, device):
    x = nnlite.zeros(3, 4, device=device)
    x[1] = 2.0
    x[:, 1:3] = nnlite.tensor([5.0, 6.0], device=device)
    x[2, ::3] = nnlite.tensor([7.0, 8.0], device=device)
    t = torch.zeros(3, 4)
    t[1] = 2.0
    t[:, 1:3] = torch.tensor([5.0, 6.0])
    t[2, ::3] = torch.tensor([7.0, 8.0])
    assert_close(x, t)


def test_flip_and_repeat_large_inputs(torch):
    a = randn(64, 130, seed=7)
    assert_close(nnlite.tensor(a).flip(1), torch.tensor(a).flip(1))
    assert_close(nnlite.tensor(a).repeat(3, 2), torch.tensor(a).repeat(3, 2))
    assert_close(nnlite.tensor(a).t().contiguous(), torch.tensor(a).t().contiguous())


def test_inputs_are_not_modified(device):
    data = randn(2, 3, 4, seed=8)
    x = nnlite.tensor(data, device=device)
    for _, fn in CASES:
        fn(x).contiguous()
    assert_close(x, data)
