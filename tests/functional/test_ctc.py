"""ctc_loss and CTCLoss: loss and log_probs gradient vs PyTorch for padded and concatenated
targets, varying lengths, repeated labels, empty targets, infeasible alignments (inf, NaN
gradient, zero_infinity), every reduction, unbatched input, unnormalised log_probs; gradcheck;
the CUDA kernels under the simulator; errors; inputs left alone."""
import numpy as np
import pytest

import nnlite
import nnlite.nn.functional as F
from nnlite.autograd import gradcheck
from tests.helpers import assert_close, randn

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # simulator arithmetic on inf

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def _log_probs(T, N, C, dtype=np.float64, seed=0):
    x = randn(T, N, C, dtype=np.float64, seed=seed)
    x = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return x.astype(dtype)


def _batch(seed=1):
    """T=12, N=5, C=5: repeated labels, an empty target, inputs shorter than T, and
    labels past a target's length that are never read."""
    targets = np.array([[1, 1, 2, 3, 0],     # repeated label: needs a blank between the 1s
                        [4, 2, 2, 2, 1],
                        [3, 0, 0, 0, 0],
                        [2, 4, 1, 3, 0],     # empty (length 0), labels ignored
                        [1, 2, 3, 4, 1]])
    input_lengths = [12, 9, 7, 5, 12]
    target_lengths = [4, 5, 1, 0, 5]
    return targets, input_lengths, target_lengths


def _run_both(torch, x, targets, il, tl, device="cpu", grad=None, **kw):
    """(nnlite loss, nnlite grad, torch loss, torch grad) of ctc_loss on the same data."""
    ours = nnlite.tensor(x, device=device, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y = F.ctc_loss(ours, nnlite.tensor(targets, device=device), il, tl, **kw)
    ty = torch.nn.functional.ctc_loss(theirs, torch.tensor(targets), il, tl, **kw)
    g = np.ones(ty.shape, x.dtype) if grad is None else grad.astype(x.dtype)
    y.backward(nnlite.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    return y, ours.grad, ty, theirs.grad


def _assert_parity(torch, x, targets, il, tl, device="cpu", grad=None, **kw):
    y, gx, ty, tgx = _run_both(torch, x, targets, il, tl, device, grad, **kw)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty.detach(), **TOL[x.dtype.type])
    assert_close(gx, tgx, **TOL[x.dtype.type])
    return y, gx


def _concatenated(targets, tl):
    return np.concatenate([targets[b, :n] for b, n in enumerate(tl)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_parity(torch, dtype, form, reduction):
    targets, il, tl = _batch()
    x = _log_probs(12, 5, 5, dtype)
    t = targets if form == "padded" else _concatenated(targets, tl)
    g = randn(5, seed=3) if reduction == "none" else None
    _assert_parity(torch, x, t, il, tl, grad=g, reduction=reduction)


def test_long_sequences_float32(torch):
    """Long inputs: the log-space recursion must not underflow (probabilities reach e^-300).
    float32 rounding grows with T, so both float32 results are judged against float64 torch:
    ours must be as accurate as torch's."""
    rng = np.random.default_rng(2)
    il, tl = [200, 170, 150, 199], [30, 45, 50, 38]
    targets = rng.integers(1, 20, (4, 50))
    x = _log_probs(200, 4, 20, np.float32, seed=4)
    y, gx, ty, tgx = _run_both(torch, x, targets, il, tl, reduction="none")
    _, _, y64, g64 = _run_both(torch, x.astype(np.float64), targets, il, tl, reduction="none")
    for ours, theirs, exact in ((y.detach(), ty, y64), (gx, tgx, g64)):
        ours, theirs, exact = ours.numpy(), theirs.detach().numpy(), exact.detach().numpy()
        assert np.isfinite(ours).all()
        assert np.abs(ours - exact).max() <= 1.5 * np.abs(theirs - exact).max() + 1e-6


def test_blank_not_zero_and_tensor_lengths(torch):
    """blank = C - 1 (label 0 is an ordinary label); lengths as int32 tensors, targets int32."""
    targets, il, tl = _batch()
    x = _log_probs(12, 5, 5)
    targets = np.where(targets == 4, 0, targets).astype(np.int32)
    ours = nnlite.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y = F.ctc_loss(ours, nnlite.tensor(targets), nnlite.tensor(np.array(il, np.int32)),
                   nnlite.tensor(np.array(tl, np.int32)), blank=4, reduction="sum")
    ty = torch.nn.functional.ctc_loss(theirs, torch.tensor(targets), torch.tensor(il, dtype=torch.int32),
                                      torch.tensor(tl, dtype=torch.int32), blank=4, reduction="sum")
    y.backward()
    ty.backward()
    assert_close(y, ty.detach(), **TOL[np.float64])
    assert_close(ours.grad, theirs.grad, **TOL[np.float64])


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("target_rank", [1, 2])
def test_unbatched(torch, reduction, target_rank):
    x = _log_probs(7, 1, 4)[:, 0]
    targets = np.array([3, 1, 1]) if target_rank == 1 else np.array([[3, 1, 1]])
    y, _ = _assert_parity(torch, x, targets, (7,), (3,), reduction=reduction)
    assert y.shape == ()


def test_infeasible_gives_inf_and_nan_gradient(torch):
    """Target longer than the input allows (1 1 2 needs 4 frames with its blank, 3 given): inf,
    and ATen's NaN gradient up to the input length (zero after it)."""
    targets = np.array([[1, 1, 2], [2, 1, 0]])
    x = _log_probs(6, 2, 3)
    y, gx = _assert_parity(torch, x, targets, [3, 6], [3, 2], reduction="none")
    assert y.detach().numpy()[0] == np.inf
    assert np.isnan(gx.numpy()[:3, 0]).all() and (gx.numpy()[3:, 0] == 0).all()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_zero_infinity(torch, reduction):
    targets = np.array([[1, 1, 2], [2, 1, 0], [1, 2, 2]])
    x = _log_probs(6, 3, 3)
    y, gx = _assert_parity(torch, x, targets, [3, 6, 0], [3, 2, 2], reduction=reduction, zero_infinity=True)
    assert np.isfinite(y.detach().numpy()).all()
    assert (gx.numpy()[:, 0] == 0).all() and (gx.numpy()[:, 2] == 0).all()


def test_zero_input_length_and_empty_target(torch):
    """input length 0: loss 0 for an empty target, inf otherwise, no gradient either way."""
    x = _log_probs(4, 3, 3)
    y, gx = _assert_parity(torch, x, np.array([[1], [2], [1]]), [0, 0, 4], [0, 1, 0], reduction="none")
    assert y.detach().numpy()[0] == 0 and y.detach().numpy()[1] == np.inf
    assert (gx.numpy()[:, :2] == 0).all()


@pytest.mark.parametrize("targets", [np.zeros((2, 0), np.int64), np.zeros((0,), np.int64)], ids=["padded", "concat"])
def test_all_targets_empty(torch, targets):
    """No labels at all: a (N, 0) padded or a (0,) concatenated target tensor."""
    _assert_parity(torch, _log_probs(4, 2, 3), targets, [4, 3], [0, 0], reduction="none")


def test_unnormalised_log_probs(torch):
    """ATen's gradient exp(lp) - occupancy, which assumes normalised log_probs, is kept as is."""
    x = randn(8, 2, 4, dtype=np.float64, seed=5)
    _assert_parity(torch, x, np.array([[1, 2, 2], [3, 1, 0]]), [8, 6], [3, 2], reduction="sum")


def test_non_contiguous_log_probs(torch):
    """log_probs as a (N, T, C) array transposed to (T, N, C), as a model's output often is."""
    targets, il, tl = _batch()
    x = np.ascontiguousarray(_log_probs(12, 5, 5).transpose(1, 0, 2))
    ours = nnlite.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y = F.ctc_loss(ours.transpose(0, 1), nnlite.tensor(targets), il, tl)
    ty = torch.nn.functional.ctc_loss(theirs.transpose(0, 1), torch.tensor(targets), il, tl)
    y.backward()
    ty.backward()
    assert_close(y, ty.detach(), **TOL[np.float64])
    assert_close(ours.grad, theirs.grad, **TOL[np.float64])


def test_gradcheck():
    """Through log_softmax, where ATen's gradient is the exact one."""
    x = nnlite.tensor(randn(5, 2, 3, dtype=np.float64, seed=6), requires_grad=True)
    targets = nnlite.tensor(np.array([[1, 1], [2, 0]]))
    assert gradcheck(lambda v: F.ctc_loss(F.log_softmax(v, 2), targets, [5, 4], [2, 1], reduction="none"), (x,))


def test_module(torch):
    targets, il, tl = _batch()
    x = _log_probs(12, 5, 5, np.float32)
    loss = nnlite.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    tloss = torch.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    y = loss(nnlite.tensor(x), nnlite.tensor(targets), il, tl)
    assert_close(y, tloss(torch.tensor(x), torch.tensor(targets), il, tl), **TOL[np.float32])
    assert (loss.blank, loss.reduction, loss.zero_infinity) == (0, "sum", True)


# ------------------------------------------------------------------ CUDA kernels (simulator: tiny shapes)

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda(torch, device, dtype):
    """T=7, N=3, C=4: 11 states (more than a simulated block's 8 threads) with repeated labels,
    an empty target, an infeasible sample zeroed; 3 samples on 2 simulated blocks."""
    targets = np.array([[1, 1, 2, 3, 1], [2, 0, 0, 0, 0], [1, 2, 0, 0, 0]])
    x = _log_probs(7, 3, 4, dtype, seed=7)
    y, gx = _assert_parity(torch, x, targets, [7, 4, 1], [5, 0, 2], device=device, grad=randn(3, seed=8),
                           reduction="none", zero_infinity=True)
    assert y.device.type == device and gx.device.type == device


def test_cuda_infeasible_nan(torch, device):
    targets = np.array([[1, 1, 2]])
    x = _log_probs(4, 1, 3, seed=9)
    _, gx = _assert_parity(torch, x, targets, [3], [3], device=device, reduction="sum")
    assert np.isnan(gx.cpu().numpy()[:3]).all() and (gx.cpu().numpy()[3:] == 0).all()


# ------------------------------------------------------------------ errors

def _call(x=None, targets=None, il=(4, 4), tl=(2, 1), **kw):
    x = nnlite.tensor(_log_probs(4, 2, 3)) if x is None else x
    targets = nnlite.tensor(np.array([[1, 2], [2, 0]])) if targets is None else targets
    return F.ctc_loss(x, targets, il, tl, **kw)


@pytest.mark.parametrize("case, error, match", [
    (dict(tl=(3, 1)), RuntimeError, "size at least 3.*got size 2"),
    (dict(il=(5, 4)), RuntimeError, "at most 4.*got value 5"),
    (dict(il=(-1, 4)), RuntimeError, "at least 0.*got value -1"),
    (dict(tl=(2, -1)), RuntimeError, "target_lengths to have value at least 0"),
    (dict(il=(4,)), RuntimeError, r"input_lengths must be of size batch_size \(2\), got 1"),
    (dict(blank=3), RuntimeError, r"blank must be in label range \[0, 3\), got 3"),
    (dict(blank=-1), RuntimeError, "blank must be in label range"),
    (dict(x=nnlite.tensor(np.zeros(4, np.float32))), RuntimeError, r"\(T, N, C\).*size \[4\]"),
    (dict(x=nnlite.tensor(np.zeros((4, 2, 3, 1), np.float32))), RuntimeError, "4-dimensional"),
    (dict(x=nnlite.tensor(np.zeros((4, 2, 3), np.int64))), NotImplementedError, "ctc_loss.*Long"),
    (dict(x=nnlite.tensor(np.zeros((4, 0, 3), np.float32)), il=(), tl=()), RuntimeError, "must not be empty"),
    (dict(targets=nnlite.tensor(np.zeros((2, 2, 1), np.int64))), RuntimeError, "3-dimensional tensor of size"),
    (dict(targets=nnlite.tensor(np.array([1, 2, 2, 0]))), RuntimeError, "sum\\(target_lengths\\) = 3.*\\[4\\]"),
    (dict(targets=nnlite.tensor(np.array([[1, 2]]))), RuntimeError, "size 2 \\(the batch\\).*got size 1"),
    (dict(targets=nnlite.tensor(np.array([[1, 3], [2, 0]]))), IndexError, "label 3 .*out of range for 3"),
    (dict(targets=nnlite.tensor(np.array([[-1, 1], [2, 0]]))), IndexError, "label -1"),
    (dict(il=nnlite.tensor(np.array([4.0, 4.0]))), RuntimeError, "input_lengths must be integral"),
    (dict(il=(4.0, 4.0)), TypeError, "input_lengths must be a tensor or a tuple of ints"),
    (dict(reduction="avg"), ValueError, "avg is not a valid value for reduction"),
    (dict(x=np.zeros((4, 2, 3))), TypeError, "must be Tensor"),
])
def test_errors(case, error, match):
    with pytest.raises(error, match=match):
        _call(**case)


def test_padding_beyond_target_length_is_ignored(torch):
    """Labels past a sample's target length (padding such as -1) are never read."""
    x = _log_probs(4, 2, 3)
    _assert_parity(torch, x, np.array([[1, 2, -1], [2, -1, -1]]), [4, 4], [2, 1])


def test_inputs_unchanged():
    targets, il, tl = _batch()
    x = _log_probs(12, 5, 5)
    xt, tt = nnlite.tensor(x, requires_grad=True), nnlite.tensor(targets)
    il_t, tl_t = nnlite.tensor(np.array(il)), nnlite.tensor(np.array(tl))
    F.ctc_loss(xt, tt, il_t, tl_t, zero_infinity=True).backward()
    np.testing.assert_array_equal(xt.detach().numpy(), x)
    np.testing.assert_array_equal(tt.numpy(), targets)
    np.testing.assert_array_equal(il_t.numpy(), il)
    np.testing.assert_array_equal(tl_t.numpy(), tl)
