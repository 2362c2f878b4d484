"""Loss modules (the remaining torch.nn losses) and AdaptiveLogSoftmaxWithLoss: forward and
gradients vs torch's modules, settings and buffers, a torch state_dict loading, errors."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _module_cases():
    """(class name, constructor kwargs, input arrays, indices of inputs that get gradients)."""
    rng = np.random.default_rng(0)
    x, y = randn(4, 5, seed=1), randn(4, 5, seed=2)
    p = rng.random((4, 5)).astype(np.float32)
    s = np.where(rng.random((4, 5)) < 0.5, -1.0, 1.0).astype(np.float32)
    labels, w = rng.integers(0, 5, 4), rng.random(5).astype(np.float32) + 0.5
    multilabels = np.array([[3, 0, -1, 1, 1], [1, 2, 3, 4, 0], [-1, 0, 0, 0, 0], [4, -1, 2, 2, 2]])
    return [
        ("PoissonNLLLoss", dict(log_input=False, full=True, eps=1e-4, reduction="sum"), [p + 0.1, p * 4], (0, 1)),
        ("GaussianNLLLoss", dict(full=True, eps=1e-3), [x, y, p + 0.1], (0, 1, 2)),
        ("KLDivLoss", dict(reduction="batchmean"), [x, p], (0, 1)),
        ("KLDivLoss", dict(reduction="sum", log_target=True), [x, y], (0, 1)),
        ("HingeEmbeddingLoss", dict(margin=0.4, reduction="none"), [x, s], (0,)),
        ("MarginRankingLoss", dict(margin=0.3), [x, y, s], (0, 1, 2)),
        ("MultiLabelMarginLoss", dict(reduction="none"), [x, multilabels], (0,)),
        ("MultiLabelSoftMarginLoss", dict(weight=w), [x, p], (0, 1)),
        ("MultiMarginLoss", dict(p=2, margin=0.5, weight=w), [x, labels], (0,)),
        ("SoftMarginLoss", dict(reduction="sum"), [x, s], (0,)),
        ("CosineEmbeddingLoss", dict(margin=0.2), [x, y, s[:, 0]], (0, 1)),
        ("TripletMarginLoss", dict(margin=0.5, p=1, swap=True), [x, y, p], (0, 1, 2)),
        ("TripletMarginWithDistanceLoss", dict(margin=2.0, swap=True), [x, y, p], (0, 1, 2)),
    ]


CASE_IDS = [f"{c[0]}-{i}" for i, c in enumerate(_module_cases())]


def _build(lib, name, kw):
    kw = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return getattr(lib.nn, name)(**kw)


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_loss_modules_match_torch(torch, index):
    name, kw, arrays, grads = _module_cases()[index]
    ours = [nnlite.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    module, tmodule = _build(nnlite, name, kw), _build(torch, name, kw)
    got, want = module(*ours), tmodule(*theirs)
    assert_close(got, want.detach())
    got.sum().backward()
    want.sum().backward()
    for i in grads:
        assert_close(ours[i].grad, theirs[i].grad)
    assert module.reduction == tmodule.reduction


def test_settings_buffers_and_legacy_arguments(torch):
    w = nnlite.ones(5)
    module = nn.MultiMarginLoss(weight=w)
    assert "weight" in module.state_dict() and module.p == 1 and module.margin == 1.0
    assert "weight" in nn.MultiLabelSoftMarginLoss(weight=w).state_dict()
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.SoftMarginLoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.KLDivLoss(reduce=False).reduction == "none"
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    assert nn.TripletMarginWithDistanceLoss().distance_function is None


def test_module_constructor_errors():
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="expected weight to be None or 1D tensor, got 2D instead"):
        nn.MultiMarginLoss(weight=nnlite.ones(2, 2))
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater than 0, got 0"):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="TripletMarginWithDistanceLoss: expected margin to be greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=-1.0)
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        nn.HingeEmbeddingLoss(reduction="avg")
    with pytest.raises(ValueError, match="batchmean is not a valid value for reduction"):
        nn.PoissonNLLLoss(reduction="batchmean")


# ------------------------------------------------------------------ AdaptiveLogSoftmaxWithLoss

def _adaptive_pair(torch, head_bias=True):
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [5, 12], div_value=2.0, head_bias=head_bias)
    ours = nn.AdaptiveLogSoftmaxWithLoss(16, 20, [5, 12], div_value=2.0, head_bias=head_bias)
    ours.load_state_dict({k: nnlite.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def test_adaptive_log_softmax_layout_matches_torch(torch):
    ours, theirs = _adaptive_pair(torch, head_bias=False)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape)
    assert (ours.shortlist_size, ours.n_clusters, ours.head_size, ours.cutoffs) == (5, 2, 7, [5, 12, 20])


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_forward_and_gradients(torch, head_bias):
    ours, theirs = _adaptive_pair(torch, head_bias)
    x = randn(7, 16, seed=3)
    t = np.array([0, 4, 5, 11, 12, 19, 3])      # every cluster, both ends of each
    a, ta = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = ours(a, nnlite.tensor(t)), theirs(ta, torch.tensor(t))
    assert got._fields == ("output", "loss")
    assert_close(got.output, want.output.detach())
    assert_close(got.loss, want.loss.detach())
    got.loss.backward()
    want.loss.backward()
    assert_close(a.grad, ta.grad)
    for (name, param), (tname, tparam) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        assert_close(param.grad, tparam.grad, atol=1e-6)


def test_adaptive_log_softmax_unbatched_log_prob_and_predict(torch):
    ours, theirs = _adaptive_pair(torch)
    x = randn(6, 16, seed=4)
    got = ours(nnlite.tensor(x[0]), nnlite.tensor(np.array(13)))
    want = theirs(torch.tensor(x[0]), torch.tensor(13))
    assert tuple(got.output.shape) == ()
    assert_close(got.output, want.output.detach())
    assert_close(ours.log_prob(nnlite.tensor(x)), theirs.log_prob(torch.tensor(x)).detach())
    assert_close(np.exp(ours.log_prob(nnlite.tensor(x)).detach().numpy()).sum(1), np.ones(6), rtol=1e-5)
    np.testing.assert_array_equal(ours.predict(nnlite.tensor(x)).numpy(), theirs.predict(torch.tensor(x)).numpy())


def test_adaptive_log_softmax_on_each_device(torch, device):
    ours, theirs = _adaptive_pair(torch)
    ours.to(device)
    x, t = randn(3, 16, seed=5), np.array([1, 7, 15])
    got = ours(nnlite.tensor(x, device=device), nnlite.tensor(t, device=device))
    assert_close(got.loss, theirs(torch.tensor(x), torch.tensor(t)).loss.detach())


def test_adaptive_log_softmax_errors():
    for cutoffs in ([], [5, 5], [12, 5], [0, 5], [5, 20], [2.5]):
        with pytest.raises(ValueError, match="cutoffs should be a sequence"):
            nn.AdaptiveLogSoftmaxWithLoss(16, 20, cutoffs)
    m = nn.AdaptiveLogSoftmaxWithLoss(16, 20, [5, 12])
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 19\], but values in range \[0, 20\]"):
        m(nnlite.ones(2, 16), nnlite.tensor([0, 20]))
    with pytest.raises(RuntimeError, match="Input and target should have the same size in the batch dimension"):
        m(nnlite.ones(2, 16), nnlite.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input tensors"):
        m(nnlite.ones(2, 16), nnlite.tensor(1))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not supported"):
        m(nnlite.ones(2, 16), nnlite.zeros(2, 1, dtype=nnlite.int64))


def test_adaptive_log_softmax_leaves_inputs_alone(torch):
    ours, _ = _adaptive_pair(torch)
    x_np, t_np = randn(4, 16, seed=6), np.array([0, 6, 13, 19])
    x, t = nnlite.tensor(x_np), nnlite.tensor(t_np)
    ours(x, t)
    ours.log_prob(x)
    assert_close(x, x_np)
    assert_close(t, t_np)
