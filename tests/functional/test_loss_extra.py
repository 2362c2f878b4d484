"""The remaining losses (kl_div, poisson/gaussian NLL, the margin and embedding losses):
values and gradients vs PyTorch in float32 and float64 over reductions and options;
gradcheck; the kernel pairs on CUDA (simulator); errors; inputs left alone."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:reduction. 'mean' divides")

REDUCTIONS = ["mean", "sum", "none"]


def _compare(torch, name, arrays, kwargs=None, grads=(0,), device="cpu", rtol=1e-5, atol=1e-6):
    """name(*arrays, **kwargs) in nnlite and torch: values, and gradients of the inputs in `grads`."""
    kwargs = kwargs or {}
    ours = [nnlite.tensor(a, device=device, requires_grad=i in grads) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    nkw = {k: nnlite.tensor(v, device=device) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    y, ty = getattr(F, name)(*ours, **nkw), getattr(torch.nn.functional, name)(*theirs, **tkw)
    assert tuple(y.shape) == tuple(ty.shape)
    assert y.dtype.name == str(ty.dtype).removeprefix("torch.")
    assert_close(y, ty.detach(), rtol=rtol, atol=atol)
    if not grads:
        return
    g = np.asarray(randn(*ty.shape, dtype=ty.detach().numpy().dtype, seed=99))
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for i in grads:
        assert_close(ours[i].grad, theirs[i].grad, rtol=rtol, atol=atol)


def _signs(shape, seed):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def _probs(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _cases(dtype):
    """(name, arrays, kwargs, differentiable inputs) for every loss, on small (4, 5) data."""
    x, y = randn(4, 5, dtype=dtype, seed=1), randn(4, 5, dtype=dtype, seed=2)
    p, s = _probs((4, 5), 3, dtype), _signs((4, 5), 4).astype(dtype)
    labels = np.random.default_rng(5).integers(0, 5, 4)
    multilabels = np.array([[3, 0, -1, 1, 1], [1, 2, 3, 4, 0], [-1, 0, 0, 0, 0], [4, -1, 2, 2, 2]])
    w = _probs((5,), 6, dtype) + 0.5
    return [
        ("kl_div", [x, p], {}, (0, 1)),
        ("kl_div", [x, y], {"log_target": True}, (0, 1)),
        ("poisson_nll_loss", [x, p * 3], {}, (0, 1)),
        ("poisson_nll_loss", [p + 0.1, p * 3], {"log_input": False, "full": True}, (0, 1)),
        ("gaussian_nll_loss", [x, y, p + 0.1], {"full": True}, (0, 1, 2)),
        ("hinge_embedding_loss", [x, s], {"margin": 0.5}, (0,)),
        ("margin_ranking_loss", [x[:, 0], y[:, 0], s[:, 0]], {"margin": 0.2}, (0, 1, 2)),
        ("soft_margin_loss", [x * 3, s], {}, (0,)),
        ("multilabel_soft_margin_loss", [x, (p > 0.5).astype(dtype)], {"weight": w}, (0, 1)),
        ("multi_margin_loss", [x, labels], {"p": 2, "margin": 0.7, "weight": w}, (0,)),
        ("multilabel_margin_loss", [x, multilabels], {}, (0,)),
        ("cosine_embedding_loss", [x, y, s[:, 0]], {"margin": 0.1}, (0, 1)),
        ("triplet_margin_loss", [x, y, x * 0.5 + 0.1], {"swap": True}, (0, 1, 2)),
        ("triplet_margin_with_distance_loss", [x, y, x * 0.5 + 0.1], {}, (0, 1, 2)),
    ]


CASE_NAMES = [f"{c[0]}-{i}" for i, c in enumerate(_cases(np.float32))]


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_each_loss_matches_torch_in_float32(torch, index, reduction):
    name, arrays, kw, grads = _cases(np.float32)[index]
    _compare(torch, name, arrays, dict(kw, reduction=reduction), grads)


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_each_loss_matches_torch_in_float64(torch, index):
    name, arrays, kw, grads = _cases(np.float64)[index]
    _compare(torch, name, arrays, dict(kw, reduction="sum"), grads, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ kl_div

@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean", "none"])
def test_kl_div_reductions_and_edge_targets(torch, log_target, reduction):
    x = randn(3, 4, 5, seed=7)
    t = randn(3, 4, 5, seed=8) if log_target else _probs((3, 4, 5), 9)
    if not log_target:
        t[0, 0, :2] = 0.0          # xlogy(0, 0) = 0 in the value; NaN in the target's gradient, as torch
    _compare(torch, "kl_div", [x, t], dict(reduction=reduction, log_target=log_target), grads=(0, 1))


def test_kl_div_large_takes_the_chunked_parallel_path(torch):
    x, t = randn(96, 1024, seed=10), _probs((96, 1024), 11)
    t[::7, ::5] = 0.0
    for reduction in ("batchmean", "none"):
        _compare(torch, "kl_div", [x, t], dict(reduction=reduction), grads=(0,), rtol=1e-5, atol=1e-6)
    _compare(torch, "kl_div", [x, t], dict(reduction="sum", log_target=True), grads=(0, 1), rtol=1e-4)


def test_kl_div_broadcasts_and_special_values(torch):
    _compare(torch, "kl_div", [randn(2, 3, seed=12), _probs((3,), 13)], dict(reduction="batchmean"), (0, 1))
    _compare(torch, "kl_div", [randn(3, seed=14), _probs((2, 3), 15)], dict(reduction="batchmean"), (0, 1))
    t = np.array([0.0, -1.0, np.inf, np.nan, 1e-42, 3e38, 0.5], np.float32)
    _compare(torch, "kl_div", [randn(7, seed=16), t], dict(reduction="none"), grads=())


def test_kl_div_legacy_arguments(torch):
    x, t = randn(3, 4, seed=17), _probs((3, 4), 18)
    for size_average, reduce in ((False, None), (None, False), (True, True)):
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            got = F.kl_div(nnlite.tensor(x), nnlite.tensor(t), size_average=size_average, reduce=reduce)
        with pytest.warns(UserWarning):
            want = torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(t), size_average=size_average,
                                              reduce=reduce)
        assert_close(got, want)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(nnlite.tensor(x), nnlite.tensor(t))


def test_fast_xlogx_is_accurate_in_float32():
    from numba import njit

    from nnlite.kernels.loss_likelihood import xlogx

    @njit(error_model="numpy")
    def apply(t, out):
        for i in range(t.size):
            out[i] = xlogx(t[i])

    rng = np.random.default_rng(19)
    t = np.concatenate([rng.random(20000) * 10, np.exp(rng.uniform(-103, 88, 20000)),
                        [0.0, 1.0, 1e-45, 3e-40, np.inf, -1.0, np.nan]]).astype(np.float32)
    out = np.empty_like(t)
    apply(t, out)
    with np.errstate(all="ignore"):
        want = np.where(t == 0, 0.0, t.astype(np.float64) * np.log(t.astype(np.float64))).astype(np.float32)
    np.testing.assert_allclose(out, want, rtol=3e-7, atol=1e-44, equal_nan=True)  # overflows to inf as float32 does


# ------------------------------------------------------------------ likelihood losses

@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss_options(torch, log_input, full):
    x = _probs((3, 6), 20) * 2 + (0.0 if log_input else 0.05)
    t = np.array([0.0, 0.5, 1.0, 1.5, 4.0, 9.0], np.float32)[None].repeat(3, 0)  # Stirling term only above 1
    _compare(torch, "poisson_nll_loss", [x, t], dict(log_input=log_input, full=full, eps=1e-3, reduction="none"),
             grads=(0, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3)])
def test_gaussian_nll_loss_var_shapes(torch, var_shape):
    x, t = randn(4, 3, seed=21), randn(4, 3, seed=22)
    var = _probs(var_shape, 23) + 0.05
    var.reshape(-1)[0] = 1e-9  # below eps: the value is clamped, the gradient passes as in torch
    _compare(torch, "gaussian_nll_loss", [x, t, var], dict(eps=1e-4, reduction="none"), grads=(0, 1, 2))


def test_gaussian_nll_loss_float_var(torch):
    x, t = randn(4, 3, seed=24), randn(4, 3, seed=25)
    got = F.gaussian_nll_loss(nnlite.tensor(x), nnlite.tensor(t), 0.5)
    want = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(t), 0.5)
    assert_close(got, want)


# ------------------------------------------------------------------ margin losses with kernels

@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss_options_and_shapes(torch, p, weighted):
    w = _probs((6,), 26) + 0.5 if weighted else None
    kw = dict(p=p, margin=0.8, weight=w)
    x = randn(5, 6, seed=27)
    for reduction in REDUCTIONS:
        _compare(torch, "multi_margin_loss", [x, np.random.default_rng(28).integers(0, 6, 5)],
                 dict(kw, reduction=reduction))
    _compare(torch, "multi_margin_loss", [x[0], np.array(2)], dict(kw, reduction="none"))       # unbatched
    _compare(torch, "multi_margin_loss", [x[0], np.array([2])], dict(kw, reduction="none"))
    _compare(torch, "multi_margin_loss", [np.float32(0.3), np.array(0)], dict(reduction="none"))  # 0-D


def test_multilabel_margin_loss_shapes(torch):
    x = randn(3, 4, seed=29)
    t = np.array([[0, 3, -1, 1], [2, 2, 1, -1], [-1, 3, 3, 3]])
    for reduction in REDUCTIONS:
        _compare(torch, "multilabel_margin_loss", [x, t], dict(reduction=reduction))
    _compare(torch, "multilabel_margin_loss", [x[0], t[0]], dict(reduction="none"))
    _compare(torch, "multilabel_margin_loss", [np.float32(0.2), np.array(0)], dict(reduction="none"))


def test_margin_kernels_large_take_the_parallel_path(torch):
    x = randn(400, 100, seed=30)
    labels = np.random.default_rng(31).integers(0, 100, 400)
    _compare(torch, "multi_margin_loss", [x, labels], dict(reduction="sum"), rtol=1e-5, atol=1e-5)
    multilabels = np.random.default_rng(32).integers(-1, 100, (400, 100))
    _compare(torch, "multilabel_margin_loss", [x, multilabels], rtol=1e-5, atol=1e-6)


def test_empty_batches(torch):
    for name, x, t in (("multi_margin_loss", np.zeros((0, 5), np.float32), np.zeros(0, np.int64)),
                       ("multilabel_margin_loss", np.zeros((0, 5), np.float32), np.zeros((0, 5), np.int64))):
        _compare(torch, name, [x, t], dict(reduction="none"))
        # torch leaves these two reduced outputs unwritten (garbage); nnlite gives a sum of 0 and a mean of NaN
        x, t = nnlite.tensor(x, requires_grad=True), nnlite.tensor(t)
        assert getattr(F, name)(x, t, reduction="sum").item() == 0
        loss = getattr(F, name)(x, t)
        assert np.isnan(loss.item())
        loss.backward()
        assert tuple(x.grad.shape) == (0, 5)
    for reduction in ("sum", "none", "batchmean"):
        _compare(torch, "kl_div", [np.zeros((0, 3), np.float32)] * 2, dict(reduction=reduction))
    _compare(torch, "triplet_margin_loss", [np.zeros((0, 3), np.float32)] * 3, dict(reduction="sum"))


# ------------------------------------------------------------------ element-wise and embedding losses

@pytest.mark.parametrize("p", [1, 2, 3])
def test_triplet_margin_loss_p_eps_swap(torch, p):
    a, pos, neg = randn(5, 4, seed=33), randn(5, 4, seed=34), randn(5, 4, seed=35)
    _compare(torch, "triplet_margin_loss", [a, pos, neg], dict(p=p, eps=1e-3, margin=2.0, swap=True,
                                                               reduction="none"), grads=(0, 1, 2))
    _compare(torch, "triplet_margin_loss", [a[0], pos[0], neg[0]], dict(p=p), grads=(0, 1, 2))


def test_triplet_margin_with_a_distance_function(torch):
    a, pos, neg = randn(5, 4, seed=36), randn(5, 4, seed=37), randn(5, 4, seed=38)
    ours = [nnlite.tensor(v, requires_grad=True) for v in (a, pos, neg)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (a, pos, neg)]
    got = F.triplet_margin_with_distance_loss(*ours, distance_function=lambda u, v: ((u - v) ** 2).sum(-1),
                                              margin=0.5, swap=True)
    want = torch.nn.functional.triplet_margin_with_distance_loss(
        *theirs, distance_function=lambda u, v: ((u - v) ** 2).sum(-1), margin=0.5, swap=True)
    assert_close(got, want.detach())
    got.backward()
    want.backward()
    for o, t in zip(ours, theirs):
        assert_close(o.grad, t.grad)


def test_hinge_embedding_broadcasts_and_other_target_values(torch):
    x = randn(2, 3, seed=39)
    _compare(torch, "hinge_embedding_loss", [x, np.array([1.0, -1.0, 0.5], np.float32)], dict(reduction="none"))


def test_soft_margin_loss_at_extreme_margins(torch):
    x = np.array([-100.0, -30.0, 0.0, 30.0, 100.0], np.float32)
    _compare(torch, "soft_margin_loss", [x, np.ones(5, np.float32)], dict(reduction="none"))


def test_non_contiguous_inputs(torch):
    """Transposed views (strided) in, values and gradients as torch's."""
    multilabels = np.array([[0, 3, -1, 1, 2], [2, 2, 1, -1, 0], [-1, 3, 3, 3, 1], [4, 0, -1, 0, 0]])
    cases = [("multi_margin_loss", np.array([0, 4, 2, 1]), {}),
             ("multilabel_margin_loss", multilabels, {}),
             ("kl_div", None, dict(reduction="batchmean"))]
    for name, target, kw in cases:
        x = nnlite.tensor(randn(5, 4, seed=40), requires_grad=True)
        tx = torch.tensor(randn(5, 4, seed=40), requires_grad=True)
        if target is None:  # kl_div: a strided target too
            t, tt = nnlite.tensor(_probs((5, 4), 41)).transpose(0, 1), torch.tensor(_probs((5, 4), 41)).T
        else:
            t, tt = nnlite.tensor(target), torch.tensor(target)
        got = getattr(F, name)(x.transpose(0, 1), t, **kw)
        want = getattr(torch.nn.functional, name)(tx.T, tt, **kw)
        assert_close(got, want.detach())
        got.backward()
        want.backward()
        assert_close(x.grad, tx.grad)


def test_legacy_size_average_and_reduce(torch):
    x, labels = randn(4, 3, seed=43), np.array([0, 1, 2, 1])
    for size_average, reduce in ((False, None), (None, False)):
        with pytest.warns(UserWarning):
            got = F.multi_margin_loss(nnlite.tensor(x), nnlite.tensor(labels), size_average=size_average,
                                      reduce=reduce)
            want = torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor(labels),
                                                         size_average=size_average, reduce=reduce)
            got2 = F.soft_margin_loss(nnlite.tensor(x), nnlite.tensor(x), size_average=size_average, reduce=reduce)
            want2 = torch.nn.functional.soft_margin_loss(torch.tensor(x), torch.tensor(x),
                                                         size_average=size_average, reduce=reduce)
        assert_close(got, want)
        assert_close(got2, want2)


# ------------------------------------------------------------------ gradcheck

def _gradcheck_cases():
    rng = np.random.default_rng(44)
    x = nnlite.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = nnlite.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    p = nnlite.tensor(rng.random((3, 4)) + 0.1, requires_grad=True)
    s = nnlite.tensor(np.where(rng.random((3, 4)) < 0.5, -1.0, 1.0))
    labels = nnlite.tensor(np.array([0, 3, 1]))
    multilabels = nnlite.tensor(np.array([[0, 2, -1, 1], [3, -1, 0, 0], [1, 2, 3, 0]]))
    w = nnlite.tensor(rng.random(4) + 0.5)
    return [
        (lambda x, p: F.kl_div(x, p, reduction="batchmean"), (x, p)),
        (lambda x, y: F.kl_div(x, y, reduction="none", log_target=True), (x, y)),
        (lambda x, p: F.poisson_nll_loss(x, p * 3, full=True), (x, p)),
        (lambda p, y: F.poisson_nll_loss(p, y, log_input=False), (p, y)),
        (lambda x, y, p: F.gaussian_nll_loss(x, y, p, full=True), (x, y, p)),
        (lambda x: F.hinge_embedding_loss(x, s, margin=0.3), (x,)),
        (lambda x, y, p: F.margin_ranking_loss(x, y, p - 0.5, margin=0.1), (x, y, p)),
        (lambda x: F.soft_margin_loss(x, s), (x,)),
        (lambda x, p: F.multilabel_soft_margin_loss(x, p, weight=w), (x, p)),
        (lambda x: F.multi_margin_loss(x * 3, labels, p=2, weight=w, reduction="none"), (x,)),
        (lambda x: F.multi_margin_loss(x * 3, labels, margin=0.5), (x,)),
        (lambda x: F.multilabel_margin_loss(x * 3, multilabels, reduction="sum"), (x,)),
        (lambda x, y: F.cosine_embedding_loss(x, y, s[:, 0], margin=-0.5), (x, y)),
        (lambda x, y, p: F.triplet_margin_loss(x, y, p, p=3, swap=True), (x, y, p)),
        (lambda x, y, p: F.triplet_margin_with_distance_loss(x, y, p, margin=2.0), (x, y, p)),
    ]


def test_gradcheck_every_loss():
    for fn, inputs in _gradcheck_cases():
        assert gradcheck(fn, inputs)


# ------------------------------------------------------------------ devices

@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_each_loss_on_each_device(torch, device, index):
    name, arrays, kw, grads = _cases(np.float32)[index]
    _compare(torch, name, arrays, dict(kw, reduction="none" if index % 2 else "mean"), grads, device=device)


def test_kernel_pairs_on_each_device_with_edge_values(torch, device):
    t = np.array([[0.0, -1.0, 0.5], [2.0, 1e-3, 0.25]], np.float32)
    for reduction in ("sum", "none"):
        _compare(torch, "kl_div", [randn(2, 3, seed=45), t], dict(reduction=reduction), grads=(0, 1),
                 device=device)
    _compare(torch, "multi_margin_loss", [randn(3, 4, seed=46), np.array([3, 0, 1])],
             dict(p=1, reduction="sum"), device=device)


# ------------------------------------------------------------------ errors and inputs

def _expect(exc, match, fn, *args, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


def test_errors_name_the_op_and_the_shapes():
    x, t = nnlite.ones(3, 5), nnlite.tensor([1, 0, 2])
    _expect(RuntimeError, r"multi_margin_loss: target out of range.*\[0, 5\)", F.multi_margin_loss, x,
            nnlite.tensor([1, 0, 5]))
    _expect(RuntimeError, r"Expected target size \[3\], but got \[2\]", F.multi_margin_loss, x, t[:2])
    _expect(RuntimeError, r"inconsistent weight size, expected 5 but got \[4\]", F.multi_margin_loss, x, t,
            weight=nnlite.ones(4))
    _expect(RuntimeError, "expected scalar type Long but found Int", F.multi_margin_loss, x, t.int())
    _expect(ValueError, "only p == 1 and p == 2 supported", F.multi_margin_loss, x, t, p=3)
    _expect(ValueError, "weight must be one-dimensional", F.multi_margin_loss, x, t, weight=nnlite.ones(1, 5))
    _expect(RuntimeError, r"Expected non-empty vector or matrix.*\[3, 0\]", F.multi_margin_loss,
            nnlite.ones(3, 0), t)
    _expect(RuntimeError, "not differentiable with respect to argument 'weight'", F.multi_margin_loss, x, t,
            weight=nnlite.ones(5, requires_grad=True))
    _expect(RuntimeError, r"multilabel_margin_loss: inconsistent target size: \[3\] for input of size: \[3, 5\]",
            F.multilabel_margin_loss, x, t)
    _expect(RuntimeError, "multilabel_margin_loss: argument #2 'target' is out of range", F.multilabel_margin_loss,
            x, nnlite.full((3, 5), 5, dtype=nnlite.int64))
    _expect(RuntimeError, "multilabel_margin_loss: argument #2 'target' is out of range", F.multilabel_margin_loss,
            x, nnlite.full((3, 5), -2, dtype=nnlite.int64))
    _expect(ValueError, "var has negative entry/entries", F.gaussian_nll_loss, x, x, -nnlite.ones(3, 5))
    _expect(ValueError, "var has negative entry/entries", F.gaussian_nll_loss, x, x, -1.0)
    _expect(ValueError, "var is of incorrect size", F.gaussian_nll_loss, x, x, nnlite.ones(2, 5))
    _expect(ValueError, "avg is not valid", F.gaussian_nll_loss, x, x, nnlite.ones(3, 5), reduction="avg")
    _expect(ValueError, "avg is not a valid value for reduction", F.kl_div, x, x, reduction="avg")
    _expect(ValueError, "batchmean is not a valid value for reduction", F.poisson_nll_loss, x, x,
            reduction="batchmean")
    _expect(TypeError, "argument 'target' must be Tensor", F.kl_div, x, [1.0])
    _expect(NotImplementedError, "\"kl_div\" not implemented for 'Long'", F.kl_div, t, t)
    _expect(RuntimeError, r"The size of tensor a \(5\) must match the size of tensor b \(4\)", F.kl_div, x,
            nnlite.ones(4))


def test_embedding_loss_errors_match_torch():
    x = nnlite.ones(3, 5)
    _expect(RuntimeError, r"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                          r"input1: \[3, 5\], input2: \[3, 5\], target: \[3\]", F.margin_ranking_loss, x, x,
            nnlite.ones(3))
    _expect(RuntimeError, r"1D target tensor expects 2D input tensors, but found inputs with sizes \[5\] and \[5\]",
            F.cosine_embedding_loss, x[0], x[0], nnlite.ones(3))
    _expect(RuntimeError, "0D target tensor expects 1D input tensors", F.cosine_embedding_loss, x, x,
            nnlite.tensor(1.0))
    _expect(RuntimeError, "0D or 1D target tensor expected, multi-target not supported", F.cosine_embedding_loss,
            x, x, x)
    _expect(ValueError, "margin must be greater than 0, got 0", F.triplet_margin_loss, x, x, x, margin=0)
    _expect(RuntimeError, "anchor 2D, positive 1D, and negative 2D inputs", F.triplet_margin_loss, x, x[0], x)
    _expect(ValueError, "margin must be greater than 0, got -1", F.triplet_margin_with_distance_loss, x, x, x,
            margin=-1)
    _expect(TypeError, "distance_function must be callable", F.triplet_margin_with_distance_loss, x, x, x,
            distance_function=3)
    _expect(RuntimeError, "not differentiable with respect to argument 'target'", F.soft_margin_loss, x,
            nnlite.ones(3, 5, requires_grad=True))


def test_losses_leave_their_inputs_alone(device):
    x_np, p_np = randn(3, 4, seed=47), _probs((3, 4), 48)
    labels_np, multi_np = np.array([0, 3, 1]), np.array([[0, 2, -1, 1], [3, -1, 0, 0], [1, 2, 3, 0]])
    x, p = nnlite.tensor(x_np, device=device), nnlite.tensor(p_np, device=device)
    labels, multi = nnlite.tensor(labels_np, device=device), nnlite.tensor(multi_np, device=device)
    F.kl_div(x, p, reduction="batchmean")
    F.kl_div(x, p, reduction="none", log_target=True)
    F.multi_margin_loss(x, labels)
    F.multilabel_margin_loss(x, multi)
    F.gaussian_nll_loss(x, p, p * 0)  # var below eps is clamped on a copy
    for arr, want in ((x, x_np), (p, p_np), (labels, labels_np), (multi, multi_np)):
        assert_close(arr, want)
