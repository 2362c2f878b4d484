"""Box losses (generalized/distance/complete IoU loss) and sigmoid_focal_loss: values vs
plain numpy references written here, gradients vs torch autograd of torchvision's
formulas, gradcheck in float64, reductions (mean of nothing is 0), CUDA on the simulator,
errors, and inputs left unmodified."""
import math

import numpy as np
import pytest

import nnlite
from nnlite.autograd import gradcheck
from nnlite.ops import (complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss,
                        sigmoid_focal_loss)
from tests.helpers import assert_close, to_numpy

LOSSES = {"giou": generalized_box_iou_loss, "diou": distance_box_iou_loss, "ciou": complete_box_iou_loss}


def random_boxes(n, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 6, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(0.5, 5, (n, 2))], axis=1).astype(dtype)


# ---------------------------------------------------------------- numpy references

def _ref_box_loss(a, b, kind, eps=1e-7):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    iou = inter / (union + eps)
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    if kind == "giou":
        return 1 - (iou - (cw * ch - union) / (cw * ch + eps))
    centre = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    diou_loss = 1 - iou + centre / (cw ** 2 + ch ** 2 + eps)
    if kind == "diou":
        return diou_loss
    v = 4 / math.pi ** 2 * (math.atan((b[2] - b[0]) / (b[3] - b[1]))
                            - math.atan((a[2] - a[0]) / (a[3] - a[1]))) ** 2
    return diou_loss + v / (1 - iou + v + eps) * v


def ref_box_loss(kind, b1, b2, reduction="none"):
    loss = np.array([_ref_box_loss(a, b, kind) for a, b in zip(b1, b2)])
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean() if loss.size else 0.0}[reduction]


def ref_focal(x, t, alpha, gamma):
    p = 1 / (1 + np.exp(-x))
    ce = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    return loss if alpha < 0 else (alpha * t + (1 - alpha) * (1 - t)) * loss


# ---------------------------------------------------------------- torch transcription for gradients

def torch_box_loss(torch, kind, b1, b2, eps=1e-7):
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    iw, ih = torch.min(x2, x2g) - torch.max(x1, x1g), torch.min(y2, y2g) - torch.max(y1, y1g)
    inter = torch.where((iw > 0) & (ih > 0), iw * ih, torch.zeros_like(iw))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    cw = torch.max(x2, x2g) - torch.min(x1, x1g)
    ch = torch.max(y2, y2g) - torch.min(y1, y1g)
    if kind == "giou":
        return 1 - (iou - (cw * ch - union) / (cw * ch + eps))
    centre = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    loss = 1 - iou + centre / (cw ** 2 + ch ** 2 + eps)
    if kind == "diou":
        return loss
    v = 4 / math.pi ** 2 * (torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return loss + alpha * v


def _pairs(n, dtype=np.float64):
    b1, b2 = random_boxes(n, 1, dtype), random_boxes(n, 2, dtype)
    b1[0] = b2[0]                       # identical boxes
    b1[1] = b2[1] + 20                  # disjoint boxes
    return b1, b2


# ---------------------------------------------------------------- box losses

@pytest.mark.parametrize("kind", list(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_box_loss_matches_numpy(kind, dtype, reduction):
    b1, b2 = _pairs(6, dtype)
    out = LOSSES[kind](nnlite.tensor(b1), nnlite.tensor(b2), reduction=reduction)
    assert out.dtype == nnlite.tensor(b1).dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    expected = ref_box_loss(kind, b1.astype(np.float64), b2.astype(np.float64), reduction)
    assert_close(out, np.asarray(expected), rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", list(LOSSES))
def test_box_loss_gradients_match_torch(kind, torch):
    b1, b2 = _pairs(5)
    ours = [nnlite.tensor(b, requires_grad=True) for b in (b1, b2)]
    theirs = [torch.tensor(b, requires_grad=True) for b in (b1, b2)]
    out, expected = LOSSES[kind](*ours), torch_box_loss(torch, kind, *theirs)
    weights = np.random.default_rng(0).standard_normal(5)
    (out * nnlite.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for a, e in zip(ours, theirs):
        assert_close(a.grad, e.grad, rtol=1e-10, atol=1e-10)


# complete_box_iou_loss is left out: its alpha takes no gradient by design, so the
# numerical gradient differs; the torch comparison above covers it.
@pytest.mark.parametrize("kind", ["giou", "diou"])
def test_box_loss_gradcheck(kind):
    b1, b2 = random_boxes(3, 3), random_boxes(3, 4)
    ins = tuple(nnlite.tensor(b, requires_grad=True) for b in (b1, b2))
    assert gradcheck(lambda a, b: LOSSES[kind](a, b, reduction="sum"), ins)


def test_box_losses_cuda(cuda_device):
    b1, b2 = _pairs(3, np.float32)
    for kind, fn in LOSSES.items():
        t1 = nnlite.tensor(b1, device=cuda_device, requires_grad=True)
        out = fn(t1, nnlite.tensor(b2, device=cuda_device), reduction="mean")
        assert_close(out, np.asarray(ref_box_loss(kind, b1.astype(float), b2.astype(float), "mean")),
                     rtol=1e-5, atol=1e-5)
        out.backward()
        assert np.isfinite(to_numpy(t1.grad)).all()


def test_box_losses_empty_and_batched():
    none = nnlite.zeros(0, 4, requires_grad=True)
    for fn in LOSSES.values():
        mean = fn(none, nnlite.zeros(0, 4), reduction="mean")
        assert float(mean) == 0.0            # not NaN, as torchvision
        mean.backward()
        assert tuple(fn(none, nnlite.zeros(0, 4)).shape) == (0,)
    b1, b2 = _pairs(6)
    out = generalized_box_iou_loss(nnlite.tensor(b1.reshape(2, 3, 4)), nnlite.tensor(b2.reshape(2, 3, 4)))
    assert_close(out, ref_box_loss("giou", b1, b2).reshape(2, 3), rtol=1e-12, atol=1e-12)


def test_box_losses_integer_boxes_are_float32():
    b = nnlite.tensor([[0, 0, 2, 2], [1, 1, 4, 3]])
    for fn in LOSSES.values():
        assert fn(b, b.flip(0)).dtype == nnlite.float32


def test_box_losses_errors_and_inputs_unmodified():
    b1, b2 = _pairs(3)
    t1, t2 = nnlite.tensor(b1), nnlite.tensor(b2)
    for name, fn in LOSSES.items():
        with pytest.raises(ValueError, match=r"expected 'boxes1' of shape \(\.\.\., 4\), got \(3, 5\)"):
            fn(nnlite.zeros(3, 5), t2)
        with pytest.raises(ValueError, match=r"one shape, got \(3, 4\) and \(2, 4\)"):
            fn(t1, t2[:2])
        with pytest.raises(TypeError, match="numeric dtype, got nnlite.bool"):
            fn(t1, nnlite.ones(3, 4, dtype=nnlite.bool))
        with pytest.raises(ValueError, match="invalid value for 'reduction': 'avg'"):
            fn(t1, t2, reduction="avg")
        fn(t1, t2, reduction="sum")
    assert_close(t1, b1, rtol=0, atol=0)
    assert_close(t2, b2, rtol=0, atol=0)


# ---------------------------------------------------------------- sigmoid_focal_loss

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha,gamma,reduction", [(0.25, 2, "none"), (-1, 0, "mean"), (0.7, 1.5, "sum")])
def test_focal_matches_numpy(dtype, alpha, gamma, reduction):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 4)) * 3).astype(dtype)
    t = (rng.uniform(size=(5, 4)) > 0.6).astype(dtype)
    out = sigmoid_focal_loss(nnlite.tensor(x), nnlite.tensor(t), alpha, gamma, reduction)
    ref = ref_focal(x.astype(np.float64), t.astype(np.float64), alpha, gamma)
    ref = {"none": ref, "mean": ref.mean(), "sum": ref.sum()}[reduction]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert out.dtype == nnlite.tensor(x).dtype
    assert_close(out, np.asarray(ref), rtol=tol, atol=tol)


def test_focal_gradients_match_torch(torch):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((4, 3)) * 2, rng.uniform(size=(4, 3))   # soft targets too
    ours = [nnlite.tensor(a, requires_grad=True) for a in (x, t)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, t)]
    out = sigmoid_focal_loss(*ours, alpha=0.3, gamma=2, reduction="sum")
    p = torch.sigmoid(theirs[0])
    ce = torch.nn.functional.binary_cross_entropy_with_logits(*theirs, reduction="none")
    p_t = p * theirs[1] + (1 - p) * (1 - theirs[1])
    expected = ((0.3 * theirs[1] + 0.7 * (1 - theirs[1])) * ce * (1 - p_t) ** 2).sum()
    out.backward()
    expected.backward()
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for a, e in zip(ours, theirs):
        assert_close(a.grad, e.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("alpha,gamma", [(-1, 0), (0.6, 1.5), (0.25, 2)])
def test_focal_gradcheck_inputs_and_soft_targets(alpha, gamma):
    rng = np.random.default_rng(6)
    x = nnlite.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    t = nnlite.tensor(rng.uniform(0.1, 0.9, (3, 2)), requires_grad=True)
    assert gradcheck(lambda a, b: sigmoid_focal_loss(a, b, alpha, gamma, "sum"), (x, t))


def test_focal_gradcheck_and_cuda(cuda_device):
    rng = np.random.default_rng(2)
    x = nnlite.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    t = nnlite.tensor((rng.uniform(size=(3, 2)) > 0.5).astype(np.float64))
    assert gradcheck(lambda a: sigmoid_focal_loss(a, t, reduction="mean"), (x,))
    xs, ts = rng.standard_normal((4, 3)).astype(np.float32), (rng.uniform(size=(4, 3)) > 0.5).astype(np.float32)
    xc = nnlite.tensor(xs, device=cuda_device, requires_grad=True)
    out = sigmoid_focal_loss(xc, nnlite.tensor(ts, device=cuda_device), reduction="sum")
    assert_close(out, np.asarray(ref_focal(xs.astype(float), ts.astype(float), 0.25, 2).sum()), rtol=1e-5, atol=1e-5)
    out.backward()
    assert tuple(xc.grad.shape) == (4, 3)


def test_focal_empty_errors_and_inputs_unmodified():
    assert tuple(sigmoid_focal_loss(nnlite.zeros(0, 3), nnlite.zeros(0, 3)).shape) == (0, 3)
    x, t = np.array([[0.5, -1.0]]), np.array([[1.0, 0.0]])
    tx, tt = nnlite.tensor(x), nnlite.tensor(t)
    with pytest.raises(ValueError, match="invalid alpha value 1.5"):
        sigmoid_focal_loss(tx, tt, alpha=1.5)
    with pytest.raises(ValueError, match="invalid value for 'reduction': 'max'"):
        sigmoid_focal_loss(tx, tt, reduction="max")
    with pytest.raises(TypeError, match="argument 'targets' must be Tensor, not list"):
        sigmoid_focal_loss(tx, [[1.0, 0.0]])
    sigmoid_focal_loss(tx, tt, reduction="sum")
    assert_close(tx, x, rtol=0, atol=0)
    assert_close(tt, t, rtol=0, atol=0)


def test_focal_mixed_dtype_path_equals_fused():
    """Same-dtype float inputs run the fused kernels; mixed dtypes run torchvision's
    composition: both must agree, gradients included (gamma 2 and a general gamma)."""
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((5, 4)) * 2, (rng.uniform(size=(5, 4)) > 0.5).astype(np.float64)
    for gamma in (2, 1.5):
        a = nnlite.tensor(x, requires_grad=True)
        b = nnlite.tensor(x, requires_grad=True)
        fused = sigmoid_focal_loss(a, nnlite.tensor(t), 0.4, gamma, "sum")
        composed = sigmoid_focal_loss(b, nnlite.tensor(t.astype(np.float32)), 0.4, gamma, "sum")
        fused.backward()
        composed.backward()
        # the mixed-dtype BCE computes in float32 (as torch's), hence float32 tolerances
        assert_close(fused, composed, rtol=1e-6, atol=1e-6)
        assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
