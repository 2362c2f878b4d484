"""Losses: values and gradients vs PyTorch over reductions, class weights, ignore_index,
label smoothing, K-dimensional and unbatched inputs, probability targets; gradcheck;
CUDA kernels vs the CPU ones; errors; inputs left alone."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # simulator arithmetic on inf

REDUCTIONS = ["mean", "sum", "none"]


def _compare(torch, name, arrays, kwargs=None, grads=(0,), device="cpu", rtol=1e-5, atol=1e-6):
    """name(*arrays, **kwargs) in nnlite and torch: values, and gradients of the inputs in `grads`."""
    kwargs = kwargs or {}
    ours = [None if a is None else nnlite.tensor(a, device=device, requires_grad=i in grads)
            for i, a in enumerate(arrays)]
    theirs = [None if a is None else torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    nkw = {k: nnlite.tensor(v, device=device) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    y, ty = getattr(F, name)(*ours, **nkw), getattr(torch.nn.functional, name)(*theirs, **tkw)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty.detach(), rtol=rtol, atol=atol)
    if not grads:
        return
    g = randn(*ty.shape, dtype=ty.detach().numpy().dtype, seed=99)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for i in grads:
        assert_close(ours[i].grad, theirs[i].grad, rtol=rtol, atol=atol)


def _targets(shape, C, seed, ignore=()):
    t = np.random.default_rng(seed).integers(0, C, shape)
    flat = t.reshape(-1)
    for k in ignore:
        flat[k] = -100
    return t


# ------------------------------------------------------------------ cross_entropy / nll_loss

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 7), (2, 3, 4, 5), (5,)])
def test_cross_entropy_class_indices(torch, reduction, label_smoothing, weighted, shape):
    C = shape[0] if len(shape) == 1 else shape[1]
    x = randn(*shape, seed=1) * 3
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = _targets(tshape, C, 2, ignore=(1,) if tshape else ())
    w = np.random.default_rng(3).random(C).astype(np.float32) + 0.1 if weighted else None
    _compare(torch, "cross_entropy", [x, t], dict(weight=w, reduction=reduction, label_smoothing=label_smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(torch, reduction, weighted):
    for shape in ((6, 5), (2, 3, 4, 5)):
        logp = np.log(np.random.default_rng(4).random(shape)).astype(np.float64)
        t = _targets(shape[:1] + shape[2:], shape[1], 5, ignore=(0, 3))
        w = np.random.default_rng(6).random(shape[1]) + 0.1 if weighted else None
        _compare(torch, "nll_loss", [logp, t], dict(weight=w, reduction=reduction), rtol=1e-12, atol=1e-12)


def test_unbatched_input_with_a_one_element_target(torch):
    x = randn(5, seed=41)
    for reduction in REDUCTIONS:
        # values only: torch's own backward rejects a (1,) target for a (C,) input
        _compare(torch, "cross_entropy", [x, np.array([3])], dict(reduction=reduction), grads=())
        _compare(torch, "nll_loss", [x, np.array(2)], dict(reduction=reduction))


def test_ignore_index_any_class_and_uint8_targets(torch):
    x = randn(6, 4, seed=7)
    t = np.array([0, 3, 3, 1, 2, 3])
    _compare(torch, "cross_entropy", [x, t], dict(ignore_index=3, label_smoothing=0.1))
    _compare(torch, "nll_loss", [x, t.astype(np.uint8)])


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_all_targets_ignored_gives_nan_like_torch(torch, label_smoothing):
    x = randn(3, 4, seed=8)
    t = np.full(3, -100)
    got = F.cross_entropy(nnlite.tensor(x), nnlite.tensor(t), label_smoothing=label_smoothing)
    assert np.isnan(got.item())
    _compare(torch, "cross_entropy", [x, t], dict(reduction="sum", label_smoothing=label_smoothing))


def test_large_batch_takes_the_parallel_path(torch):
    x = randn(512, 100, seed=9) * 2
    t = _targets((512,), 100, 10, ignore=range(0, 512, 7))
    w = np.random.default_rng(11).random(100).astype(np.float32)
    _compare(torch, "cross_entropy", [x, t], dict(weight=w, label_smoothing=0.1), rtol=1e-5, atol=1e-6)


def test_huge_logits_stay_finite(torch):
    x = np.array([[1e4, -1e4, 0.0], [-np.inf, 0.0, 1.0]], np.float32)
    _compare(torch, "cross_entropy", [x, np.array([0, 2])])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_probability_targets(torch, reduction, label_smoothing):
    x = randn(4, 5, 3, seed=12)
    p = np.random.default_rng(13).random((4, 5, 3)).astype(np.float32)
    w = np.random.default_rng(14).random(5).astype(np.float32)
    _compare(torch, "cross_entropy", [x, p], dict(weight=w, reduction=reduction, label_smoothing=label_smoothing),
             grads=(0, 1))
    _compare(torch, "cross_entropy", [x[:, :, 0], p[:, :, 0]], dict(reduction=reduction), grads=(0, 1))
    _compare(torch, "cross_entropy", [x[0, :, 0], p[0, :, 0]], dict(reduction=reduction), grads=(0, 1))


def test_empty_batches_follow_torch(torch):
    for t in (np.zeros(0, np.int64), np.zeros((0, 5), np.float32)):
        got = F.cross_entropy(nnlite.zeros(0, 5), nnlite.tensor(t))
        want = torch.nn.functional.cross_entropy(torch.zeros(0, 5), torch.tensor(t))
        assert np.isnan(got.item()) and np.isnan(want.item())


def test_legacy_size_average_and_reduce(torch):
    x, t = randn(4, 3, seed=15), np.array([0, 1, 2, 1])
    for size_average, reduce in ((False, None), (None, False), (True, True)):
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            got = F.cross_entropy(nnlite.tensor(x), nnlite.tensor(t), size_average=size_average, reduce=reduce)
        with pytest.warns(UserWarning):
            want = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t), size_average=size_average,
                                                     reduce=reduce)
        assert_close(got, want)


@pytest.mark.parametrize("case", ["indices", "smoothed", "weighted-kdim", "probabilities"])
def test_cross_entropy_on_each_device(torch, device, case):
    x = randn(3, 4, 2, seed=16)
    if case == "probabilities":
        p = np.random.default_rng(17).random((3, 4, 2)).astype(np.float32)
        _compare(torch, "cross_entropy", [x, p], dict(label_smoothing=0.1), grads=(0, 1), device=device)
        return
    t = _targets((3, 2), 4, 18, ignore=(2,))
    kw = {"indices": {}, "smoothed": dict(label_smoothing=0.2, reduction="sum"),
          "weighted-kdim": dict(weight=np.array([0.5, 1.0, 2.0, 0.1], np.float32), reduction="none")}[case]
    if case == "indices":
        x, t = x[:, :, 0].copy(), t[:, 0].copy()
    _compare(torch, "cross_entropy", [x, t], kw, device=device)


def test_cross_entropy_gradcheck():
    x = nnlite.tensor(randn(3, 4, 2, dtype=np.float64, seed=19), requires_grad=True)
    t = nnlite.tensor(np.array([[0, 3], [-100, 1], [2, 2]]))
    w = nnlite.tensor([0.5, 1.0, 2.0, 0.3], dtype=nnlite.float64)
    assert gradcheck(lambda x: F.cross_entropy(x, t, w, label_smoothing=0.2), (x,))
    p = nnlite.tensor(np.random.default_rng(20).random((3, 4, 2)), requires_grad=True)
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), (x, p))
    assert gradcheck(lambda x: F.nll_loss(x, t, w, reduction="none"), (x,))


def test_target_errors_match_torch():
    x = nnlite.ones(3, 5)
    with pytest.raises(IndexError, match="^Target 7 is out of bounds.$"):
        F.cross_entropy(x, nnlite.tensor([1, 0, 7]))
    with pytest.raises(IndexError, match="^Target -3 is out of bounds.$"):
        F.nll_loss(x, nnlite.tensor([1, -3, 9]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Int"):
        F.nll_loss(x, nnlite.tensor([1, 0, 2], dtype=nnlite.int32))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        F.cross_entropy(x, nnlite.ones(3))
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class probabilities, "
                                           "got Long"):
        F.cross_entropy(x, nnlite.zeros(3, 5, dtype=nnlite.int64))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)\."):
        F.cross_entropy(x, nnlite.tensor([1, 0]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 4\], got \[2, 5\]"):
        F.nll_loss(nnlite.ones(2, 3, 4), nnlite.zeros(2, 5, dtype=nnlite.int64))
    with pytest.raises(RuntimeError, match=r"size mismatch \(got input: \[2, 3, 4, 5\] , target: \[2, 4, 6\]"):
        F.nll_loss(nnlite.ones(2, 3, 4, 5), nnlite.zeros(2, 4, 6, dtype=nnlite.int64))
    with pytest.raises(ValueError, match=r"Expected 1 or more dimensions \(got 0\)"):
        F.nll_loss(nnlite.tensor(1.0), nnlite.tensor(0))


def test_argument_errors_match_torch():
    x, t = nnlite.ones(3, 5), nnlite.tensor([1, 0, 2])
    with pytest.raises(RuntimeError, match=r"weight tensor should be defined either for all 5 classes or no "
                                           r"classes but got weight tensor of shape: \[4\]"):
        F.nll_loss(x, t, weight=nnlite.ones(4))
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        F.cross_entropy(x, t, weight=nnlite.ones(5, dtype=nnlite.float64))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.nll_loss(x, t, reduction="avg")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        F.cross_entropy(nnlite.zeros(3, 5, dtype=nnlite.int64), t)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.cross_entropy(x, [1, 0, 2])


# ------------------------------------------------------------------ pointwise losses

POINTWISE = [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
             ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}), ("huber_loss", {"delta": 0.5})]


@pytest.mark.parametrize("name, kw", POINTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_losses(torch, name, kw, reduction, dtype):
    x, t = randn(4, 6, dtype=dtype, seed=21) * 2, randn(4, 6, dtype=dtype, seed=22)
    t[0, :2] = x[0, :2]  # zero differences: the kinks of l1 and friends
    _compare(torch, name, [x, t], dict(kw, reduction=reduction), grads=(0, 1))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_loss_weights(torch, name, reduction):
    x, t = randn(3, 4, seed=23), randn(3, 4, seed=24)
    w = np.random.default_rng(25).random((3, 4)).astype(np.float32)
    _compare(torch, name, [x, t], dict(weight=w, reduction=reduction), grads=(0, 1))


def test_pointwise_losses_broadcast_and_promote_like_torch(torch):
    x, t = randn(3, 4, seed=26), randn(4, seed=27)
    with pytest.warns(UserWarning, match="Using a target size"):
        _compare(torch, "mse_loss", [x, t], grads=(0, 1))
    _compare(torch, "l1_loss", [x, t.astype(np.float64)[None].repeat(3, 0)], grads=(0, 1))


def test_pointwise_losses_large(torch):
    x, t = randn(300, 300, seed=28), randn(300, 300, seed=29)
    for name, kw in POINTWISE:
        _compare(torch, name, [x, t], kw, grads=(0, 1), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(torch, reduction):
    x = np.random.default_rng(30).random((4, 5)).astype(np.float32) * 0.98 + 0.01
    t = np.random.default_rng(31).random((4, 5)).astype(np.float32)
    w = np.random.default_rng(32).random(5).astype(np.float32)
    _compare(torch, "binary_cross_entropy", [x, t], dict(weight=w, reduction=reduction), grads=(0, 1))


def test_binary_cross_entropy_clamps_log_at_minus_100(torch):
    _compare(torch, "binary_cross_entropy", [np.array([0.0, 1.0, 0.5], np.float32),
                                             np.array([1.0, 0.0, 0.5], np.float32)], dict(reduction="none"),
             grads=())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
def test_binary_cross_entropy_with_logits(torch, reduction, pos_weight):
    x = randn(4, 5, seed=33) * 6
    t = np.random.default_rng(34).random((4, 5)).astype(np.float32)
    kw = dict(reduction=reduction, weight=np.random.default_rng(35).random(5).astype(np.float32))
    if pos_weight:
        kw["pos_weight"] = np.random.default_rng(36).random(5).astype(np.float32) * 3
    _compare(torch, "binary_cross_entropy_with_logits", [x, t], kw, grads=(0, 1))


@pytest.mark.parametrize("input_dtype, target_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_binary_cross_entropy_with_logits_has_the_targets_dtype(torch, input_dtype, target_dtype):
    """torch writes this loss into a buffer made from the target: float64 logits with float32
    labels (torchvision's RPN) give a float32 loss, and the other way round a float64 one."""
    x = randn(6, seed=37).astype(input_dtype) * 3
    t = (np.random.default_rng(38).random(6) < 0.5).astype(target_dtype)
    for reduction in ["none", "mean"]:
        got = F.binary_cross_entropy_with_logits(nnlite.tensor(x), nnlite.tensor(t), reduction=reduction)
        want = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t),
                                                                    reduction=reduction)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        assert_close(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits"])
def test_pointwise_losses_on_each_device(torch, device, name):
    x = np.random.default_rng(37).random((3, 4)).astype(np.float32) * 0.9 + 0.05
    t = np.random.default_rng(38).random((3, 4)).astype(np.float32)
    _compare(torch, name, [x, t], dict(reduction="none"), grads=(0, 1), device=device)


def test_pointwise_gradcheck(device):
    x = nnlite.tensor(np.array([0.2, 0.45, 0.7, 0.9]), device=device, requires_grad=True)
    t = nnlite.tensor(np.array([0.1, 0.5, 0.3, 0.95]), device=device, requires_grad=True)
    pw = nnlite.tensor(np.array([2.0, 0.5, 1.0, 3.0]), device=device)
    for fn in (lambda x, t: F.mse_loss(x, t), lambda x, t: F.l1_loss(x, t, reduction="sum"),
               lambda x, t: F.smooth_l1_loss(x, t, beta=0.3), lambda x, t: F.huber_loss(x, t, delta=0.3),
               lambda x, t: F.binary_cross_entropy(x, t),
               lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")):
        assert gradcheck(fn, (x, t))


def test_pointwise_errors_match_torch():
    x = nnlite.ones(3, 5) * 0.5
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(5\) must match the size of tensor b \(4\)"):
        with pytest.warns(UserWarning):
            F.mse_loss(x, nnlite.ones(4))
    with pytest.raises(NotImplementedError, match='"mse_loss" not implemented for \'Long\''):
        F.mse_loss(nnlite.ones(3, dtype=nnlite.int64), nnlite.ones(3, dtype=nnlite.int64))
    with pytest.raises(ValueError, match="x is not a valid value for reduction"):
        F.mse_loss(x, x, reduction="x")
    with pytest.raises(ValueError, match="Weights and input must have the same size."):
        F.mse_loss(x, x, weight=nnlite.ones(5))
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values for beta."):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta."):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(nnlite.tensor([1.5]), nnlite.tensor([1.0]))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(nnlite.tensor([np.nan]), nnlite.tensor([1.0]))
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(nnlite.tensor([0.5]), nnlite.tensor([2.0]))
    with pytest.raises(ValueError, match="Using a target size .* that is different to the input size"):
        F.binary_cross_entropy(nnlite.tensor([0.5]), nnlite.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="Found dtype Float but expected Double"):
        F.binary_cross_entropy(nnlite.tensor([0.5], dtype=nnlite.float64), nnlite.tensor([1.0]))
    with pytest.raises(ValueError, match="Target size .* must be the same as input size"):
        F.binary_cross_entropy_with_logits(nnlite.tensor([0.5]), nnlite.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.binary_cross_entropy(nnlite.tensor([0.5]), nnlite.tensor([1.0]),
                               weight=nnlite.ones(1, requires_grad=True))


def test_losses_leave_their_inputs_alone(device):
    x_np = np.random.default_rng(39).random((3, 4)).astype(np.float32) * 0.9 + 0.05
    t_np = np.random.default_rng(40).random((3, 4)).astype(np.float32)
    x, t = nnlite.tensor(x_np, device=device), nnlite.tensor(t_np, device=device)
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "cross_entropy"):
        getattr(F, name)(x, t)
    idx = nnlite.tensor([1, 0, 3], device=device)
    F.cross_entropy(x, idx, label_smoothing=0.1)
    assert_close(x, x_np)
    assert_close(t, t_np)
    assert_close(idx, np.array([1, 0, 3]))
