"""embedding, embedding_bag and one_hot: values and gradients vs PyTorch (float32 and float64),
gradcheck, CUDA kernels (tiny shapes), max_norm renormalisation in place, errors, untouched inputs,
empty and non-contiguous inputs."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _indices(shape, rows, seed=0):
    return np.random.default_rng(seed).integers(0, rows, size=shape).astype(np.int64)


def _run(torch, fn, tfn, w, device, g_seed=1, **arrays):
    """fn(nnlite weight, **nnlite arrays) and tfn(torch weight, **torch arrays), forward and weight grad."""
    a = nnlite.tensor(w, device=device, requires_grad=True)
    t = torch.tensor(w, requires_grad=True)
    y = fn(a, **{k: nnlite.tensor(v, device=device) for k, v in arrays.items()})
    ty = tfn(t, **{k: torch.tensor(v) for k, v in arrays.items()})
    g = randn(*ty.shape, dtype=w.dtype, seed=g_seed)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return y, ty, a.grad, t.grad


# ------------------------------------------------------------------ embedding

EMBEDDING_OPTIONS = [{}, {"padding_idx": 2}, {"padding_idx": -1, "scale_grad_by_freq": True}, {"sparse": True}]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_matches_torch(torch, device, dtype):
    w = randn(9, 5, dtype=dtype)
    idx = _indices((3, 4), 9)
    y, ty, gw, tgw = _run(torch, lambda a, i: F.embedding(i, a, padding_idx=2, scale_grad_by_freq=True),
                          lambda t, i: torch.nn.functional.embedding(i, t, padding_idx=2, scale_grad_by_freq=True),
                          w, device, i=idx)
    assert y.shape == (3, 4, 5) and y.dtype.name == np.dtype(dtype).name
    assert_close(y, ty, **TOL[dtype])
    assert_close(gw, tgw.to_dense(), **TOL[dtype])


@pytest.mark.parametrize("kw", EMBEDDING_OPTIONS, ids=str)
def test_embedding_options(torch, kw):
    # large enough for the parallel kernels (indices x dim > 32768)
    w = randn(300, 40)
    idx = _indices((50, 20), 300, seed=3)
    y, ty, gw, tgw = _run(torch, lambda a, i: F.embedding(i, a, **kw),
                          lambda t, i: torch.nn.functional.embedding(i, t, **kw), w, "cpu", i=idx)
    assert_close(y, ty)
    assert_close(gw, tgw.to_dense(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
def test_embedding_max_norm_renormalises_weight_in_place(torch, device, norm_type):
    w = randn(6, 4, seed=2) * 3
    idx = np.array([[1, 4], [4, 0]])
    a, t = nnlite.tensor(w, device=device), torch.tensor(w)
    version = a._version[0]
    y = F.embedding(nnlite.tensor(idx, device=device), a, max_norm=1.5, norm_type=norm_type)
    ty = torch.nn.functional.embedding(torch.tensor(idx), t, max_norm=1.5, norm_type=norm_type)
    assert_close(y, ty, rtol=1e-5, atol=1e-6)
    assert_close(a, t, rtol=1e-5, atol=1e-6)      # rows 0, 1, 4 scaled in the weight itself
    assert_close(a.cpu().numpy()[[2, 3, 5]], w[[2, 3, 5]], rtol=0, atol=0)
    assert a._version[0] > version


def test_embedding_max_norm_with_grad_and_strided_weight(torch):
    w = randn(4, 7, seed=5) * 3                     # the weight is a transposed view
    a = nnlite.tensor(w, requires_grad=True)
    t = torch.tensor(w, requires_grad=True)
    with nnlite.no_grad():
        wa = a.t()
    wt = t.detach().t()
    y = F.embedding(nnlite.tensor([0, 6, 0]), wa, max_norm=1.0)
    ty = torch.nn.functional.embedding(torch.tensor([0, 6, 0]), wt, max_norm=1.0)
    assert_close(y, ty)
    assert_close(wa, wt)


def test_embedding_gradcheck(device):
    w = nnlite.tensor(randn(5, 3, dtype=np.float64), device=device, requires_grad=True)
    idx = nnlite.tensor([[0, 2, 2], [4, 1, 2]], device=device)
    # padding_idx and scale_grad_by_freq change the gradient on purpose (checked against torch above)
    assert gradcheck(lambda a: F.embedding(idx, a), (w,))


def test_embedding_empty_and_noncontiguous_indices(torch, device):
    w = randn(6, 3)
    y, ty, gw, tgw = _run(torch, lambda a, i: F.embedding(i, a), lambda t, i: torch.nn.functional.embedding(i, t),
                          w, device, i=np.zeros((0, 2), np.int64))
    assert y.shape == (0, 2, 3)
    assert_close(gw, tgw)
    idx = _indices((4, 3), 6, seed=4)
    i = nnlite.tensor(idx, device=device).t()       # a non-contiguous index view
    a = nnlite.tensor(w, device=device)
    assert_close(F.embedding(i, a), torch.nn.functional.embedding(torch.tensor(idx).t(), torch.tensor(w)))


def test_embedding_int32_indices_and_0d(torch):
    w = randn(6, 3)
    assert_close(F.embedding(nnlite.tensor([5, 1], dtype=nnlite.int32), nnlite.tensor(w)), w[[5, 1]])
    assert F.embedding(nnlite.tensor(2), nnlite.tensor(w)).shape == (3,)


def test_embedding_errors():
    w = nnlite.tensor(randn(5, 3))
    with pytest.raises(IndexError, match=r"embedding.*input\[1\].*is 5.*5 rows"):
        F.embedding(nnlite.tensor([1, 5]), w)
    with pytest.raises(IndexError, match="embedding.*-1"):
        F.embedding(nnlite.tensor([-1]), w)
    with pytest.raises(RuntimeError, match="embedding.*Long, Int.*Float"):
        F.embedding(nnlite.tensor([1.0]), w)
    with pytest.raises(RuntimeError, match=r"embedding.*2-D.*\[5\]"):
        F.embedding(nnlite.tensor([1]), nnlite.tensor(randn(5)))
    with pytest.raises(ValueError, match="embedding.*padding_idx.*-5 through 4.*5"):
        F.embedding(nnlite.tensor([1]), w, padding_idx=5)
    with pytest.raises(TypeError, match="embedding.*weight.*Tensor"):
        F.embedding(nnlite.tensor([1]), randn(5, 3))


def test_embedding_leaves_inputs_alone():
    w, idx = randn(5, 3), np.array([[4, 0], [0, 2]])
    a, i = nnlite.tensor(w, requires_grad=True), nnlite.tensor(idx)
    F.embedding(i, a, padding_idx=0).sum().backward()
    assert_close(a, w, rtol=0, atol=0)
    assert (i.numpy() == idx).all()


# ------------------------------------------------------------------ embedding_bag

BAG_CASES = [  # (mode, input kind, padding_idx, include_last_offset)
    ("sum", "2d", None, False), ("mean", "offsets", 3, False), ("max", "offsets", None, True),
    ("max", "2d", 3, False), ("mean", "offsets", None, True), ("sum", "offsets", -1, False),
]


def _bag_inputs(kind, rows, seed=0, last=False):
    if kind == "2d":
        return {"i": _indices((4, 3), rows, seed)}
    # bags of 3, 0 (empty), 4, 2 and 1 entries; with include_last_offset the last offset is the input's
    # length, as torch documents (torch is inconsistent about entries past it)
    offsets = [0, 3, 3, 7, 9] + ([10] if last else [])
    return {"i": _indices((10,), rows, seed), "o": np.array(offsets, np.int64)}


def _bag_call(lib, kw):
    fn = lib.embedding_bag if lib is F else lib.nn.functional.embedding_bag
    return lambda w, i, o=None, p=None: fn(i, w, o, per_sample_weights=p, **kw)


@pytest.mark.parametrize("mode, kind, padding_idx, last", BAG_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_bag_matches_torch(torch, mode, kind, padding_idx, last, dtype):
    w = randn(7, 4, dtype=dtype)
    kw = dict(mode=mode, padding_idx=padding_idx, include_last_offset=last)
    y, ty, gw, tgw = _run(torch, _bag_call(F, kw), _bag_call(torch, kw), w, "cpu", **_bag_inputs(kind, 7, last=last))
    assert_close(y, ty, **TOL[dtype])
    assert_close(gw, tgw, **TOL[dtype])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_cuda_matches_torch(torch, device, mode):
    w = randn(7, 3)
    kw = dict(mode=mode, padding_idx=2)
    y, ty, gw, tgw = _run(torch, _bag_call(F, kw), _bag_call(torch, kw), w, device, **_bag_inputs("offsets", 7))
    assert_close(y, ty)
    assert_close(gw, tgw)


def test_embedding_bag_per_sample_weights(torch, device):
    w, psw = randn(7, 3), np.random.default_rng(1).random(10).astype(np.float32)
    arrays = _bag_inputs("offsets", 7, seed=2)
    a, t = nnlite.tensor(w, device=device, requires_grad=True), torch.tensor(w, requires_grad=True)
    p, tp = nnlite.tensor(psw, device=device, requires_grad=True), torch.tensor(psw, requires_grad=True)
    y = F.embedding_bag(nnlite.tensor(arrays["i"], device=device), a, nnlite.tensor(arrays["o"], device=device),
                        mode="sum", per_sample_weights=p, padding_idx=int(arrays["i"][0]))
    ty = torch.nn.functional.embedding_bag(torch.tensor(arrays["i"]), t, torch.tensor(arrays["o"]), mode="sum",
                                           per_sample_weights=tp, padding_idx=int(arrays["i"][0]))
    g = randn(*ty.shape, seed=3)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(y, ty)
    assert_close(a.grad, t.grad)
    assert_close(p.grad, tp.grad)


def test_embedding_bag_sparse_gives_torch_dense_gradient(torch):
    w = randn(7, 3)
    kw = dict(mode="mean", sparse=True)
    y, ty, gw, tgw = _run(torch, _bag_call(F, kw), _bag_call(torch, kw), w, "cpu", **_bag_inputs("offsets", 4))
    assert_close(y, ty)
    assert_close(gw, tgw.to_dense())


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq(torch, device, mode):
    # torch 2.13's CPU embedding_bag divides some rows by another row's count (indices [0, 1, 1, 2, 2, 2]
    # give row 2 a gradient of 3/2), so the reference is torch's embedding, which divides each row's
    # gradient by its own count, fed the gradient each entry receives from its bag.
    w = randn(7, 3)
    idx, offsets = np.array([0, 1, 1, 2, 2, 2, 5, 2]), np.array([0, 3, 3, 7])
    bag_of = np.searchsorted(offsets, np.arange(idx.size), side="right") - 1
    y, _, gw, _ = _run(torch, _bag_call(F, dict(mode=mode, scale_grad_by_freq=True)), _bag_call(torch, {"mode": mode}),
                       w, device, i=idx, o=offsets)
    g = randn(4, 3, dtype=np.float32, seed=1)   # the gradient _run fed in
    sizes = np.bincount(bag_of, minlength=4)[bag_of]
    entry_grad = g[bag_of] / (sizes[:, None] if mode == "mean" else 1)
    t = torch.tensor(w, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(idx), t, scale_grad_by_freq=True).backward(torch.tensor(entry_grad))
    assert_close(gw, t.grad)


def test_embedding_bag_max_ties_and_empty_bags(torch):
    w = np.array([[1.0, 2.0], [1.0, 0.0], [-1.0, -2.0]], np.float32)
    arrays = {"i": np.array([0, 1, 2, 2]), "o": np.array([0, 2, 2, 2])}  # bags: {0, 1}, {}, {}, {2, 2}
    y, ty, gw, tgw = _run(torch, _bag_call(F, {"mode": "max"}), _bag_call(torch, {"mode": "max"}), w, "cpu",
                          **arrays)
    assert_close(y, ty)
    assert_close(gw, tgw)   # the first of equal rows takes the gradient


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_large_parallel(torch, mode):
    # the benchmark's layout at a smaller size: 1-D input + offsets, many bags (parallel kernels)
    rows, bags, per_bag = 2000, 300, 20
    w = randn(rows, 32, seed=6)
    arrays = {"i": _indices((bags * per_bag,), rows, seed=7), "o": np.arange(bags, dtype=np.int64) * per_bag}
    y, ty, gw, tgw = _run(torch, _bag_call(F, {"mode": mode}), _bag_call(torch, {"mode": mode}), w, "cpu",
                          **arrays)
    assert_close(y, ty, rtol=1e-5, atol=1e-5)
    assert_close(gw, tgw, rtol=1e-5, atol=1e-5)


def test_embedding_bag_max_norm(torch):
    w = randn(6, 3, seed=8) * 4
    a, t = nnlite.tensor(w), torch.tensor(w)
    y = F.embedding_bag(nnlite.tensor([[1, 2], [2, 5]]), a, max_norm=2.0, mode="sum")
    ty = torch.nn.functional.embedding_bag(torch.tensor([[1, 2], [2, 5]]), t, max_norm=2.0, mode="sum")
    assert_close(y, ty)
    assert_close(a, t)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck(device, mode):
    w = nnlite.tensor(randn(5, 3, dtype=np.float64, seed=9), device=device, requires_grad=True)
    i = nnlite.tensor([0, 3, 3, 1, 4, 2], device=device)
    o = nnlite.tensor([0, 2, 2, 5], device=device)
    assert gradcheck(lambda a: F.embedding_bag(i, a, o, mode=mode, padding_idx=1), (w,))


def test_embedding_bag_gradcheck_per_sample_weights():
    w = nnlite.tensor(randn(5, 3, dtype=np.float64, seed=10), requires_grad=True)
    p = nnlite.tensor(randn(6, dtype=np.float64, seed=11), requires_grad=True)
    i, o = nnlite.tensor([0, 3, 3, 1, 4, 2]), nnlite.tensor([0, 2, 5])
    assert gradcheck(lambda a, q: F.embedding_bag(i, a, o, mode="sum", per_sample_weights=q), (w, p))


def test_embedding_bag_empty_input(torch):
    w = randn(4, 3)
    y, ty, gw, tgw = _run(torch, _bag_call(F, {}), _bag_call(torch, {}), w, "cpu",
                          i=np.zeros(0, np.int64), o=np.array([0, 0], np.int64))
    assert_close(y, ty)
    assert_close(gw, tgw)


def test_embedding_bag_leaves_inputs_alone():
    w, idx, off, psw = randn(5, 3), np.array([4, 0, 0, 2]), np.array([0, 1]), np.ones(4, np.float32)
    a, i, o, p = (nnlite.tensor(x, requires_grad=x.dtype == np.float32) for x in (w, idx, off, psw))
    F.embedding_bag(i, a, o, mode="sum", per_sample_weights=p).sum().backward()
    for t, x in ((a, w), (i, idx), (o, off), (p, psw)):
        assert (t.detach().numpy() == x).all()


BAG_ERRORS = [
    (dict(i=[1, 2], o=[1]), {}, RuntimeError, r"offsets\[0\] has to be 0.*got 1"),
    (dict(i=[1, 2], o=[0, 3]), {}, RuntimeError, r"offsets\[-1\] can not be greater than input's length 2.*3"),
    (dict(i=[1, 2, 3], o=[0, 2, 1]), {}, RuntimeError, "offsets must be non-decreasing"),
    (dict(i=[1, 2]), {}, ValueError, "offsets has to be a 1D Tensor.*None"),
    (dict(i=[[1, 2]], o=[0]), {}, ValueError, "input is 2D, then offsets has to be None"),
    (dict(i=[[[1]]]), {}, ValueError, "input has to be 1D or 2D.*dimension 3"),
    (dict(i=[1, 7], o=[0]), {}, RuntimeError, r"Index 1 of input takes value 7.*\[0, 5\)"),
    (dict(i=[[1, 2]]), {"mode": "foo"}, ValueError, "mode has to be one of sum, mean or max.*foo"),
    (dict(i=[[1, 2]]), {"mode": "max", "scale_grad_by_freq": True}, ValueError, "max mode does not support"),
    (dict(i=[[1, 2]]), {"mode": "max", "sparse": True}, ValueError, "max mode does not support sparse"),
    (dict(i=[[1, 2]]), {"padding_idx": 9}, RuntimeError, "padding_idx must be within.*-5 through 4.*9"),
    (dict(i=[[1, 2]], p=np.ones((1, 2))), {"mode": "mean"}, NotImplementedError, "only supported for mode='sum'"),
    (dict(i=[[1, 2]], p=np.ones(2, np.float32)), {"mode": "sum"}, ValueError, r"same shape as the input \(\[1, 2\]"),
    (dict(i=[[1, 2]], p=np.ones((1, 2))), {"mode": "sum"}, RuntimeError, "per_sample_weights.*Float.*Double"),
    (dict(i=[1.0, 2.0], o=[0]), {}, RuntimeError, "embedding_bag.*Long, Int.*Double"),
]


@pytest.mark.parametrize("arrays, kw, error, message", BAG_ERRORS, ids=[e[3][:30] for e in BAG_ERRORS])
def test_embedding_bag_errors(arrays, kw, error, message):
    w = nnlite.tensor(randn(5, 3))
    i = nnlite.tensor(np.array(arrays["i"]))
    o = nnlite.tensor(np.array(arrays["o"])) if "o" in arrays else None
    p = nnlite.tensor(arrays["p"]) if "p" in arrays else None
    with pytest.raises(error, match=message):
        F.embedding_bag(i, w, o, per_sample_weights=p, **kw)


def test_embedding_bag_weight_errors():
    with pytest.raises(RuntimeError, match=r"embedding_bag.*2-D.*\[5\]"):
        F.embedding_bag(nnlite.tensor([[1]]), nnlite.tensor(randn(5)))
    with pytest.raises(RuntimeError, match="embedding_bag.*floating point weight.*Long"):
        F.embedding_bag(nnlite.tensor([[1]]), nnlite.tensor(np.ones((5, 2), np.int64)))


# ------------------------------------------------------------------ one_hot

@pytest.mark.parametrize("num_classes", [-1, 6])
def test_one_hot_matches_torch(torch, device, num_classes):
    x = _indices((3, 4), 5, seed=12)
    y = F.one_hot(nnlite.tensor(x, device=device), num_classes)
    ty = torch.nn.functional.one_hot(torch.tensor(x), num_classes)
    assert y.dtype.name == "int64"
    assert (y.cpu().numpy() == ty.numpy()).all()


def test_one_hot_large_empty_and_0d(torch):
    x = _indices((5000,), 10, seed=13)
    assert (F.one_hot(nnlite.tensor(x)).numpy() == torch.nn.functional.one_hot(torch.tensor(x)).numpy()).all()
    assert F.one_hot(nnlite.tensor(np.zeros(0, np.int64)), 3).shape == (0, 3)
    assert F.one_hot(nnlite.tensor(2), 4).numpy().tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize("values, num_classes, message", [
    ([1, -1], -1, "Class values must be non-negative"), ([1, 3], 3, "smaller than num_classes"),
    ([1, 2], 0, "smaller than num_classes"), ([], -1, "Can not infer total number of classes from empty"),
])
def test_one_hot_errors(values, num_classes, message):
    with pytest.raises(RuntimeError, match=message):
        F.one_hot(nnlite.tensor(np.array(values, np.int64)), num_classes)


def test_one_hot_needs_int64():
    with pytest.raises(RuntimeError, match="one_hot.*LongTensor.*Int"):
        F.one_hot(nnlite.tensor([1], dtype=nnlite.int32))


def test_mixed_devices_are_an_error(cuda_device):
    w = nnlite.tensor(randn(5, 3), device=cuda_device)
    with pytest.raises(RuntimeError, match="embedding: Expected all tensors to be on the same device.*cpu"):
        F.embedding(nnlite.tensor([1]), w)
    with pytest.raises(RuntimeError, match="embedding_bag: Expected all tensors to be on the same device"):
        F.embedding_bag(nnlite.tensor([[1]]), w)
