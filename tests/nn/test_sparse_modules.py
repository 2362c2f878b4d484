"""Embedding, EmbeddingBag, PairwiseDistance and CosineSimilarity: signatures, repr, attributes and
state_dict as torch's, default init (N(0, 1), padding row zeroed), from_pretrained (shared weight,
freeze), forward + gradients vs torch, CUDA (simulator, tiny shapes), constructor errors."""
import inspect

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

NAMES = ["Embedding", "EmbeddingBag", "PairwiseDistance", "CosineSimilarity"]

SPECS = [
    ("Embedding", (10, 3), {}),
    ("Embedding", (10, 3), dict(padding_idx=-2, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True, sparse=True)),
    ("EmbeddingBag", (10, 3), {}),
    ("EmbeddingBag", (10, 3), dict(max_norm=2.0, norm_type=3.0, mode="sum", padding_idx=2, include_last_offset=True)),
    ("PairwiseDistance", (), dict(p=1.0, eps=1e-3, keepdim=True)),
    ("CosineSimilarity", (), dict(dim=0, eps=1e-4)),
]


@pytest.mark.parametrize("name", NAMES)
def test_signatures_match_torch(torch, name):
    for method in ("__init__", "forward"):
        ours = inspect.signature(getattr(getattr(nn, name), method)).parameters
        theirs = inspect.signature(getattr(getattr(torch.nn, name), method)).parameters
        assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()]


@pytest.mark.parametrize("name, args, kwargs", SPECS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SPECS)])
def test_repr_attributes_and_state_dict_match_torch(torch, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    for attr, value in vars(theirs).items():
        if not attr.startswith("_") and attr != "training":
            assert getattr(ours, attr) == value, attr
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("name", ["Embedding", "EmbeddingBag"])
def test_default_init_is_standard_normal_with_zero_padding_row(name):
    m = getattr(nn, name)(400, 50, padding_idx=7)
    w = m.weight.detach().numpy()
    assert w.shape == (400, 50) and m.weight.requires_grad
    assert (w[7] == 0).all()
    rest = np.delete(w, 7, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02


def test_embedding_module_matches_torch(torch, device):
    theirs = torch.nn.Embedding(6, 3, padding_idx=1, scale_grad_by_freq=True).double()
    ours = nn.Embedding(6, 3, padding_idx=1, scale_grad_by_freq=True, device=device, dtype=nnlite.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx = np.array([[1, 2, 2], [5, 0, 1]])
    y, ty = ours(nnlite.tensor(idx, device=device)), theirs(torch.tensor(idx))
    assert_close(y, ty, rtol=1e-12, atol=0)
    g = randn(2, 3, 3, dtype=np.float64)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_module_matches_torch(torch, mode):
    theirs = torch.nn.EmbeddingBag(6, 3, mode=mode, padding_idx=0)
    ours = nn.EmbeddingBag(6, 3, mode=mode, padding_idx=0)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx, offsets = np.array([1, 0, 2, 5, 5, 3]), np.array([0, 2, 2])
    y = ours(nnlite.tensor(idx), nnlite.tensor(offsets))
    ty = theirs(torch.tensor(idx), torch.tensor(offsets))
    assert_close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad)


def test_embedding_bag_module_per_sample_weights(torch):
    theirs = torch.nn.EmbeddingBag(5, 2, mode="sum")
    ours = nn.EmbeddingBag(5, 2, mode="sum")
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx, psw = np.array([[1, 4], [0, 4]]), np.array([[0.5, 2.0], [1.0, -1.0]], np.float32)
    y = ours(nnlite.tensor(idx), per_sample_weights=nnlite.tensor(psw))
    assert_close(y, theirs(torch.tensor(idx), per_sample_weights=torch.tensor(psw)))


@pytest.mark.parametrize("freeze", [True, False])
def test_from_pretrained_shares_the_weight_and_freezes(torch, freeze):
    w = nnlite.tensor(randn(4, 3))
    emb = nn.Embedding.from_pretrained(w, freeze=freeze, padding_idx=1)
    bag = nn.EmbeddingBag.from_pretrained(w, freeze=freeze, mode="sum")
    temb = torch.nn.Embedding.from_pretrained(torch.tensor(w.numpy()), freeze=freeze, padding_idx=1)
    assert repr(emb) == repr(temb)
    for m in (emb, bag):
        assert m.weight.requires_grad is not freeze
        assert np.shares_memory(m.weight.detach().numpy(), w.numpy())
    assert (emb.weight.detach().numpy()[1] != 0).any()     # from_pretrained keeps the padding row as given
    assert_close(bag(nnlite.tensor([[0, 2]])), w.numpy()[[0]] + w.numpy()[[2]])


def test_embedding_max_norm_module_renormalises_its_weight(torch):
    theirs = torch.nn.Embedding(5, 4, max_norm=1.0)
    ours = nn.Embedding(5, 4, max_norm=1.0)
    with torch.no_grad():
        theirs.weight.mul_(3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx = np.array([0, 3])
    assert_close(ours(nnlite.tensor(idx)), theirs(torch.tensor(idx)))
    assert_close(ours.weight, theirs.weight)


def test_distance_modules_match_torch(torch, device):
    x1, x2 = randn(3, 4), randn(3, 4, seed=1)
    pairs = [(nn.PairwiseDistance(p=3.0, keepdim=True), torch.nn.PairwiseDistance(p=3.0, keepdim=True)),
             (nn.CosineSimilarity(dim=0), torch.nn.CosineSimilarity(dim=0))]
    for ours, theirs in pairs:
        a, b = (nnlite.tensor(x, device=device, requires_grad=True) for x in (x1, x2))
        ta, tb = (torch.tensor(x, requires_grad=True) for x in (x1, x2))
        y, ty = ours(a, b), theirs(ta, tb)
        assert_close(y, ty)
        y.sum().backward()
        ty.sum().backward()
        assert_close(a.grad, ta.grad, rtol=1e-5, atol=1e-6)
        assert_close(b.grad, tb.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Embedding(5, 3, padding_idx=5), "Padding_idx must be within num_embeddings.*5"),
    (lambda: nn.Embedding(5, 3, padding_idx=-6), "Padding_idx must be within num_embeddings.*-6"),
    (lambda: nn.Embedding(5, 3, _weight=nnlite.tensor(randn(4, 3))), r"Shape of weight.*\[5, 3\].*\[4, 3\]"),
    (lambda: nn.EmbeddingBag(5, 3, padding_idx=7), "Padding_idx must be within num_embeddings.*7"),
    (lambda: nn.Embedding.from_pretrained(nnlite.tensor(randn(4))), r"2-dimensional.*\[4\]"),
    (lambda: nn.EmbeddingBag.from_pretrained(nnlite.tensor(randn(2, 2, 2))), r"2-dimensional.*\[2, 2, 2\]"),
])
def test_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
