"""interpolate in every mode vs PyTorch (values and input gradients, float32 and float64), the
recompute_scale_factor and antialias rules, gradcheck in float64, CUDA (simulator, tiny shapes),
errors, empty batches, non-contiguous inputs, and the deprecated upsample* aliases."""
import warnings

import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

# (input shape, interpolate kwargs): every mode, size and scale_factor, both align_corners
CASES = [
    ((2, 3, 5, 7), dict(scale_factor=(0.6, 2.3), mode="nearest")),
    ((2, 3, 5, 7), dict(size=(10, 14), mode="nearest")),                # the exact x2 shortcut
    ((2, 3, 5, 7), dict(scale_factor=(1.7, 0.45), mode="nearest-exact")),
    ((2, 3, 9), dict(size=4, mode="linear")),
    ((2, 3, 5), dict(scale_factor=2.5, mode="linear", align_corners=True)),
    ((2, 3, 5, 7), dict(scale_factor=2, mode="bilinear")),
    ((2, 3, 5, 7), dict(size=(8, 3), mode="bilinear", align_corners=True)),
    ((2, 3, 5, 7), dict(scale_factor=2.5, mode="bilinear", recompute_scale_factor=True)),
    ((2, 3, 5, 7), dict(scale_factor=1.7, mode="bicubic")),
    ((2, 3, 6, 5), dict(size=(3, 9), mode="bicubic", align_corners=True)),
    ((2, 2, 4, 5, 6), dict(size=(3, 7, 2), mode="trilinear")),
    ((1, 2, 3, 4, 5), dict(scale_factor=(2.0, 0.5, 1.5), mode="trilinear", align_corners=True)),
    ((2, 2, 4, 5, 6), dict(scale_factor=1.5, mode="nearest")),
    ((2, 3, 9), dict(size=4, mode="area")),
    ((2, 3, 12, 13), dict(size=(5, 4), mode="area")),
    ((2, 3, 7, 6), dict(scale_factor=0.5, mode="area")),
    ((2, 2, 4, 5, 6), dict(size=(3, 7, 2), mode="area")),
    ((2, 3, 12, 13), dict(size=(5, 4), mode="bilinear", antialias=True)),
    ((2, 3, 12, 13), dict(size=(5, 4), mode="bicubic", antialias=True)),
    ((2, 3, 12, 13), dict(scale_factor=0.37, mode="bicubic", antialias=True, align_corners=True)),
    ((2, 3, 5, 6), dict(size=(7, 9), mode="bilinear", antialias=True)),   # antialias upsampling too
]
IDS = [f"{kw['mode']}-{i}" for i, (_, kw) in enumerate(CASES)]


def _compare(torch, x, kwargs, device="cpu", tol=None):
    tol = tol or ((1e-12, 1e-12) if x.dtype == np.float64 else (1e-5, 1e-5))
    xt = nnlite.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y = F.interpolate(xt, **kwargs)
    ty = torch.nn.functional.interpolate(tx, **kwargs)
    assert y.dtype == xt.dtype
    assert_close(y, ty, rtol=tol[0], atol=tol[1])
    g = randn(*ty.shape, seed=11, dtype=x.dtype)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(xt.grad, tx.grad, rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kwargs", CASES, ids=IDS)
def test_matches_torch(torch, shape, kwargs, dtype):
    _compare(torch, randn(*shape, seed=1, dtype=dtype), kwargs)


@pytest.mark.parametrize("shape, kwargs", [CASES[i] for i in (0, 2, 3, 5, 8, 10, 13, 14, 18)],
                         ids=[IDS[i] for i in (0, 2, 3, 5, 8, 10, 13, 14, 18)])
def test_cuda_matches_torch(torch, cuda_device, shape, kwargs):
    _compare(torch, randn(*shape, seed=2), kwargs, device=cuda_device)


def test_scale_factor_is_used_unless_recomputed(torch):
    # 5 * 2.5 = 12 outputs: the source step is 1/2.5 = 0.4, not 5/12, unless recompute_scale_factor=True
    x = randn(1, 1, 5, seed=3, dtype=np.float64)
    given = F.interpolate(nnlite.tensor(x), scale_factor=2.5, mode="linear").numpy()
    recomputed = F.interpolate(nnlite.tensor(x), scale_factor=2.5, mode="linear",
                               recompute_scale_factor=True).numpy()
    assert given.shape == recomputed.shape == (1, 1, 12)
    assert not np.allclose(given, recomputed)
    for rsf in (None, False, True):
        _compare(torch, x, dict(scale_factor=2.5, mode="linear", recompute_scale_factor=rsf))
        _compare(torch, randn(1, 2, 5, 6, seed=4), dict(scale_factor=(1.3, 0.7), mode="nearest",
                                                         recompute_scale_factor=rsf))


def test_large_inputs_take_the_parallel_path(torch):
    x = randn(2, 8, 40, 41, seed=5)
    for kwargs in (dict(scale_factor=2, mode="bilinear"), dict(size=(17, 90), mode="bicubic"),
                   dict(scale_factor=0.5, mode="nearest-exact")):
        _compare(torch, x, kwargs)


@pytest.mark.parametrize("shape, kwargs", [
    ((1, 2, 4), dict(size=7, mode="linear")),
    ((1, 2, 3, 4), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ((1, 1, 4, 3), dict(size=(5, 2), mode="bicubic")),
    ((1, 1, 2, 3, 3), dict(size=(3, 2, 4), mode="trilinear")),
    ((1, 2, 5, 4), dict(size=(3, 2), mode="area")),
    ((1, 1, 6, 7), dict(size=(3, 4), mode="bicubic", antialias=True)),
    ((1, 2, 3, 5), dict(scale_factor=1.7, mode="nearest-exact")),
])
def test_gradcheck(shape, kwargs):
    x = nnlite.tensor(randn(*shape, seed=6, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda t: F.interpolate(t, **kwargs), (x,))


def test_same_size_is_a_copy(torch):
    x = nnlite.tensor(randn(1, 2, 3, 4, seed=7), requires_grad=True)
    for mode, kw in (("nearest", {}), ("bilinear", {"align_corners": False}), ("area", {})):
        y = F.interpolate(x, size=(3, 4), mode=mode, **kw)
        assert np.array_equal(y.detach().numpy(), x.detach().numpy())
        y.sum().backward()
        assert np.array_equal(x.grad.numpy(), np.ones((1, 2, 3, 4), np.float32))
        x.grad = None


def test_non_contiguous_input_and_input_not_modified(device):
    base = randn(2, 6, 5, 3, seed=8)
    x = nnlite.tensor(base, device=device, requires_grad=True)
    view = x.transpose(2, 3)                       # (2, 6, 3, 5), not contiguous
    y = F.interpolate(view, size=(4, 7), mode="bilinear")
    ref = F.interpolate(nnlite.tensor(np.ascontiguousarray(base.transpose(0, 1, 3, 2)), device=device),
                        size=(4, 7), mode="bilinear")
    assert_close(y, ref, rtol=0, atol=0)
    y.backward(nnlite.ones(2, 6, 4, 7, device=device))
    assert np.array_equal(x.detach().cpu().numpy(), base)
    assert tuple(x.grad.shape) == base.shape


def test_empty_batch():
    x = nnlite.zeros(0, 3, 4, 5, requires_grad=True)
    y = F.interpolate(x, scale_factor=2, mode="bicubic")
    assert tuple(y.shape) == (0, 3, 8, 10)
    y.backward(nnlite.ones(0, 3, 8, 10))
    assert tuple(x.grad.shape) == (0, 3, 4, 5)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(), ValueError, "either size or scale_factor should be defined"),
    (dict(size=4, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (dict(size=(4, 4, 4)), ValueError, "same number of spatial dimensions"),
    (dict(scale_factor=(2, 2, 2)), ValueError, "scale_factor must have the same number"),
    (dict(size=4, mode="nearest", align_corners=True), ValueError, "align_corners option can only be set"),
    (dict(size=4, mode="area", align_corners=False), ValueError, "align_corners option can only be set"),
    (dict(size=4, recompute_scale_factor=True), ValueError, "not meaningful with an explicit size"),
    (dict(size=4, mode="nearest", antialias=True), ValueError, "Anti-alias option is restricted"),
    (dict(size=4, mode="linear"), NotImplementedError, "Got 4D input, but linear mode needs 3D input"),
    (dict(size=4, mode="trilinear"), NotImplementedError, "Got 4D input, but trilinear mode needs 5D"),
    (dict(size=4, mode="cubic"), NotImplementedError, r"modes: nearest \| linear .*\(got cubic\)"),
    (dict(size=(0, 3)), RuntimeError, r"Input and output sizes should be greater than 0, but got input "
                                      r"\(H: 3, W: 4\) output \(H: 0, W: 3\)"),
    (dict(scale_factor=0.2), RuntimeError, "sizes should be greater than 0"),
    (dict(size=2.5), TypeError, "size must be an int"),
])
def test_bad_arguments(torch, kwargs, error, match):
    x = randn(1, 2, 3, 4)
    with pytest.raises(error, match=match):
        F.interpolate(nnlite.tensor(x), **kwargs)
    if error is not TypeError:                     # torch raises the same type
        with pytest.raises(error):
            torch.nn.functional.interpolate(torch.tensor(x), **kwargs)


def test_bad_inputs(torch):
    with pytest.raises(NotImplementedError, match=r"Only 3D, 4D and 5D input Tensors supported \(got 2D\)"):
        F.interpolate(nnlite.ones(3, 4), size=(), mode="nearest")
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        F.interpolate(nnlite.ones(1, 3, 4), size=5, mode="bilinear")
    with pytest.raises(NotImplementedError, match=r"got 5D\) .*\(got bicubic\)"):
        F.interpolate(nnlite.ones(1, 1, 2, 3, 4), size=5, mode="bicubic")
    with pytest.raises(ValueError, match="requires a 4-D tensor"):
        F.interpolate(nnlite.ones(1, 1, 2, 3, 4), size=5, mode="bilinear", antialias=True)
    with pytest.raises(RuntimeError, match=r"Non-empty 4D data tensor expected but got a tensor with sizes "
                                           r"\[1, 0, 3, 4\]"):
        F.interpolate(nnlite.ones(1, 0, 3, 4), size=5)
    with pytest.raises(TypeError, match="int64"):
        F.interpolate(nnlite.ones(1, 1, 3, 4, dtype=nnlite.int64), size=5, mode="bilinear")
    with pytest.raises(TypeError, match="must be Tensor"):
        F.interpolate(np.ones((1, 1, 3, 4)), size=5)


def test_deprecated_aliases(torch):
    x = randn(1, 2, 3, 4, seed=9)
    t = torch.tensor(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [(F.upsample(nnlite.tensor(x), scale_factor=2, mode="bicubic"),
                  torch.nn.functional.upsample(t, scale_factor=2, mode="bicubic")),
                 (F.upsample_nearest(nnlite.tensor(x), size=(5, 7)),
                  torch.nn.functional.upsample_nearest(t, size=(5, 7))),
                 (F.upsample_bilinear(nnlite.tensor(x), scale_factor=2),
                  torch.nn.functional.upsample_bilinear(t, scale_factor=2))]
    for ours, theirs in pairs:
        assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    with pytest.warns(UserWarning, match="deprecated"):
        F.upsample_bilinear(nnlite.tensor(x), size=(5, 5))
