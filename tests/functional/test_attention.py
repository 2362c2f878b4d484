"""scaled_dot_product_attention: output and gradients vs PyTorch (float32/float64; bool,
float and broadcast masks; causal with L < S and L > S; scale; GQA and broadcast heads;
2-D to 5-D inputs), small CPU tiles so that several blocks and ragged edges run, fully
masked rows, dropout (statistics, reproducibility, gradient consistent with the mask),
gradcheck, CUDA kernels vs CPU under the simulator, errors, inputs left alone."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from nnlite.backend.random import default_generator
from nnlite.kernels.random import _bits, _unit
from tests.helpers import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}
SMALL = (2, 3)  # CPU tiles: 2 query rows x 3 key rows


def _arrays(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _compare(torch, shapes, dtype=np.float64, mask=None, device="cpu", mask_grad=False, **kw):
    """Output and the gradients of query, key, value (and a float mask) in nnlite and torch."""
    arrays = _arrays(shapes, dtype)
    ours = [nnlite.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    nmask = tmask = None
    if mask is not None:
        nmask = nnlite.tensor(mask, device=device, requires_grad=mask_grad)
        tmask = torch.tensor(mask, requires_grad=mask_grad)
    y = F.scaled_dot_product_attention(*ours, attn_mask=nmask, **kw)
    kw.pop("block_sizes", None)
    ty = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=tmask, **kw)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty.detach(), **TOL[dtype])
    g = _arrays([tuple(ty.shape)], dtype, seed=9)[0]
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        assert_close(a.grad, b.grad, **TOL[dtype])
    if mask_grad:
        assert_close(nmask.grad, tmask.grad, **TOL[dtype])


QKV = [(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blocks", [None, SMALL])
def test_no_mask(torch, dtype, blocks):
    _compare(torch, QKV, dtype, block_sizes=blocks)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L, S", [(5, 7), (9, 4), (6, 6)])
def test_causal_top_left(torch, dtype, L, S):
    _compare(torch, [(2, 2, L, 4), (2, 2, S, 4), (2, 2, S, 3)], dtype, is_causal=True, block_sizes=SMALL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_shape", [(5, 7), (3, 1, 7), (2, 1, 5, 7), (1, 7)])
def test_bool_mask_broadcast_with_fully_masked_rows(torch, dtype, mask_shape):
    mask = np.random.default_rng(3).random(mask_shape) > 0.3
    mask[..., 0, :] = False  # fully masked rows: output and gradients 0, as torch's CPU kernel
    _compare(torch, QKV, dtype, mask=mask, block_sizes=SMALL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_shape", [(5, 7), (3, 5, 1)])
def test_float_mask_and_its_gradient(torch, dtype, mask_shape):
    mask = np.random.default_rng(4).standard_normal(mask_shape).astype(dtype)
    _compare(torch, QKV, dtype, mask=mask, mask_grad=True, block_sizes=SMALL)


def test_scale_gqa_and_broadcast_heads(torch):
    _compare(torch, [(2, 4, 5, 4), (2, 2, 7, 4), (2, 2, 7, 3)], enable_gqa=True, scale=0.3, block_sizes=SMALL)
    _compare(torch, [(2, 4, 5, 4), (2, 1, 7, 4), (2, 1, 7, 3)], is_causal=True, block_sizes=SMALL)
    _compare(torch, [(1, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 3)], block_sizes=SMALL)  # batch broadcast


@pytest.mark.parametrize("shapes", [
    [(5, 4), (7, 4), (7, 3)],
    [(3, 5, 4), (3, 7, 4), (3, 7, 3)],
    [(2, 2, 2, 5, 4), (2, 2, 2, 7, 4), (2, 2, 2, 7, 3)],
])
def test_ranks(torch, shapes):
    _compare(torch, shapes, is_causal=True, block_sizes=SMALL)


def test_long_sequence_default_blocks(torch):
    """More rows than one default tile, several key-block groups in backward."""
    _compare(torch, [(1, 1, 300, 8), (1, 1, 600, 8), (1, 1, 600, 8)], np.float32)
    _compare(torch, [(1, 1, 300, 8), (1, 1, 600, 8), (1, 1, 600, 8)], np.float32, is_causal=True)


def test_empty_inputs(torch):
    _compare(torch, [(0, 2, 5, 4), (0, 2, 7, 4), (0, 2, 7, 3)])
    _compare(torch, [(2, 5, 0), (2, 7, 0), (2, 7, 3)])  # E = 0: uniform weights
    q, k, v = (nnlite.tensor(a, requires_grad=True) for a in _arrays([(2, 5, 4), (2, 0, 4), (2, 0, 3)], np.float64))
    y = F.scaled_dot_product_attention(q, k, v)
    assert tuple(y.shape) == (2, 5, 3) and not np.any(y.detach().numpy())
    y.sum().backward()
    assert not np.any(q.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_propagate(torch, device, dtype):
    """A NaN query row gives a NaN output row, an infinite key NaN everywhere (as torch);
    gradients too."""
    q, k, v = _arrays([(1, 1, 4, 2), (1, 1, 5, 2), (1, 1, 5, 3)], dtype)
    q[0, 0, 1, 0] = np.nan
    for arrays in ([q, k, v], [q * 0 + 1, np.where(np.arange(10).reshape(5, 2) == 7, np.inf, k).astype(dtype), v]):
        ours = [nnlite.tensor(a, device=device, requires_grad=True) for a in arrays]
        theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
        y = F.scaled_dot_product_attention(*ours, block_sizes=SMALL)
        ty = torch.nn.functional.scaled_dot_product_attention(*theirs)
        assert_close(y, ty.detach(), **TOL[dtype])
        y.sum().backward()
        ty.sum().backward()
        for a, b in zip(ours, theirs):
            assert_close(a.grad, b.grad, **TOL[dtype])


def test_non_contiguous_inputs(torch):
    q, k, v = _arrays([(2, 5, 3, 4), (2, 7, 3, 4), (2, 7, 3, 3)], np.float64)
    ours = [nnlite.tensor(a).transpose(1, 2) for a in (q, k, v)]
    theirs = [torch.tensor(a).transpose(1, 2) for a in (q, k, v)]
    assert not ours[0].is_contiguous()
    y = F.scaled_dot_product_attention(*ours, block_sizes=SMALL)
    assert_close(y, torch.nn.functional.scaled_dot_product_attention(*theirs), **TOL[np.float64])


def test_gradcheck():
    q, k, v = (nnlite.tensor(a, requires_grad=True) for a in _arrays([(1, 2, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3)],
                                                                      np.float64))
    m = nnlite.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda a, b, c, d: F.scaled_dot_product_attention(a, b, c, attn_mask=d, block_sizes=SMALL),
                     (q, k, v, m))
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True, block_sizes=SMALL),
                     (q, k, v))


# ---------------------------------------------------------------- dropout

def _dropout_keep(seed, offset, p, count):
    """The kernels' keep mask: unit(hash(seed, offset + n)) >= p."""
    return np.array([_unit(_bits(seed, offset + n)) >= p for n in range(count)])


def test_dropout_matches_its_mask_in_forward_and_backward(torch, device):
    p = 0.4
    shapes = [(2, 2, 5, 4), (2, 2, 7, 4), (2, 2, 7, 3)]
    arrays = _arrays(shapes, np.float64)
    nnlite.manual_seed(7)
    seed, offset = default_generator(nnlite.device(device)).get_state()
    ours = [nnlite.tensor(a, device=device, requires_grad=True) for a in arrays]
    y = F.scaled_dot_product_attention(*ours, dropout_p=p, block_sizes=SMALL)
    keep = _dropout_keep(seed, offset, p, 2 * 2 * 5 * 7).reshape(2, 2, 5, 7)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    w = torch.softmax(theirs[0] @ theirs[1].transpose(-1, -2) / 2.0, dim=-1)
    ty = (w * torch.tensor(keep) / (1 - p)) @ theirs[2]
    assert_close(y, ty.detach(), **TOL[np.float64])
    g = _arrays([(2, 2, 5, 3)], np.float64, seed=5)[0]
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        assert_close(a.grad, b.grad, **TOL[np.float64])


def test_dropout_reproducible_and_statistics():
    q, k, v = (nnlite.tensor(a) for a in _arrays([(4, 16, 8), (4, 32, 8), (4, 32, 8)], np.float32))
    nnlite.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).numpy()
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).numpy()
    nnlite.manual_seed(3)
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).numpy()
    assert np.array_equal(a, c) and not np.array_equal(a, b)
    # the weights with uniform scores are 1/S; with v = 1 the output is (kept weights) / (1 - p)
    ones = nnlite.ones(64, 1, 200, 1)
    y = F.scaled_dot_product_attention(nnlite.zeros(64, 1, 50, 1), ones, ones, dropout_p=0.3).numpy()
    assert abs(y.mean() - 1.0) < 0.02  # unbiased
    assert abs(y.std() - np.sqrt(0.3 / 0.7 / 200)) < 0.005  # binomial spread of the kept fraction
    zero = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy()
    assert not np.any(zero)


# ---------------------------------------------------------------- CUDA twins

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_torch(torch, cuda_device, dtype):
    _compare(torch, [(1, 2, 5, 3), (1, 2, 6, 3), (1, 2, 6, 2)], dtype, device=cuda_device, is_causal=True)
    _compare(torch, [(1, 1, 7, 3), (1, 1, 3, 3), (1, 1, 3, 2)], dtype, device=cuda_device, is_causal=True)
    mask = np.random.default_rng(2).random((5, 6)) > 0.4
    mask[1] = False
    _compare(torch, [(1, 2, 5, 3), (1, 1, 6, 3), (1, 1, 6, 2)], dtype, device=cuda_device, mask=mask)


def test_cuda_float_mask_grad_and_gqa(torch, cuda_device):
    mask = np.random.default_rng(4).standard_normal((2, 1, 6))
    _compare(torch, [(1, 2, 5, 3), (1, 1, 6, 3), (1, 1, 6, 2)], device=cuda_device, mask=mask, mask_grad=True)
    _compare(torch, [(1, 4, 3, 2), (1, 2, 8, 2), (1, 2, 8, 3)], device=cuda_device, enable_gqa=True, scale=0.7)


# ---------------------------------------------------------------- errors and inputs

@pytest.mark.parametrize("kwargs, error, words", [
    (dict(key=(2, 3, 7, 5)), RuntimeError, "key [2, 3, 7, 5]"),
    (dict(value=(2, 3, 6, 3)), RuntimeError, "value [2, 3, 6, 3]"),
    (dict(key=(2, 2, 7, 4), value=(2, 2, 7, 3)), RuntimeError, "heads"),
    (dict(attn_mask=np.ones((4, 7), bool)), RuntimeError, "[4, 7]"),
    (dict(attn_mask=np.ones((5, 7), bool), is_causal=True), RuntimeError, "is_causal"),
    (dict(attn_mask=np.ones((5, 7), np.int64)), RuntimeError, "attn_mask.dtype"),
    (dict(dropout_p=1.5), RuntimeError, "dropout probability"),
    (dict(query=(5,)), RuntimeError, "at least 2 dimensional"),
    (dict(query_dtype=np.float32), RuntimeError, "same dtype"),
    (dict(query_dtype=np.int64, all_dtype=True), RuntimeError, "float32 or float64"),
])
def test_errors(kwargs, error, words):
    shapes = dict(query=(2, 3, 5, 4), key=(2, 3, 7, 4), value=(2, 3, 7, 3))
    shapes.update({k: kwargs.pop(k) for k in list(kwargs) if k in shapes})
    dtype = kwargs.pop("query_dtype", np.float64)
    all_dtype = kwargs.pop("all_dtype", False)
    t = {n: nnlite.tensor(np.ones(s, dtype if n == "query" or all_dtype else np.float64)) for n, s in shapes.items()}
    if "attn_mask" in kwargs:
        kwargs["attn_mask"] = nnlite.tensor(kwargs["attn_mask"])
    with pytest.raises(error) as info:
        F.scaled_dot_product_attention(t["query"], t["key"], t["value"], **kwargs)
    assert words in str(info.value) and "scaled_dot_product_attention" in str(info.value)
    with pytest.raises(TypeError, match="query"):
        F.scaled_dot_product_attention(np.ones((2, 2)), t["key"], t["value"])


def test_inputs_unchanged():
    arrays = _arrays(QKV, np.float32) + [np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)]
    tensors = [nnlite.tensor(a, requires_grad=True) for a in arrays]
    y = F.scaled_dot_product_attention(*tensors[:3], attn_mask=tensors[3], dropout_p=0.2, block_sizes=SMALL)
    y.sum().backward()
    for a, t in zip(arrays, tensors):
        assert np.array_equal(a, t.detach().numpy())
