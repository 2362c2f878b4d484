"""nnlite.ops vs torchvision.ops on the same inputs (issue 9's rows). torchvision is not a test
or runtime dependency: without it each row prints "n/a (torchvision is not installed)"."""
import numpy as np

from cases import Case, _fwd_bwd


def _torchvision_ops():
    try:
        import torchvision.ops
    except ImportError:
        raise NotImplementedError("torchvision is not installed") from None
    return torchvision.ops


def _pair(device, array, requires_grad=False):
    import nnlite
    import torch
    return (nnlite.tensor(array, device=device, requires_grad=requires_grad),
            torch.tensor(array, device=device, requires_grad=requires_grad))


def _boxes(rng, n, extent, lo, hi):
    """n overlapping xyxy boxes, as detection heads produce: centres in [0, extent), sides lo..hi."""
    centre = rng.uniform(0, extent, (n, 2))
    half = rng.uniform(lo / 2, hi / 2, (n, 2))
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def nms_case(device):
    import nnlite.ops
    tv = _torchvision_ops()
    rng = np.random.default_rng(0)
    (b, tb), (s, ts) = _pair(device, _boxes(rng, 10000, 800, 16, 128)), _pair(device, rng.random(10000, np.float32))
    return lambda: nnlite.ops.nms(b, s, 0.5), lambda: tv.nms(tb, ts, 0.5)


def batched_nms_case(device):
    import nnlite.ops
    tv = _torchvision_ops()
    rng = np.random.default_rng(1)
    b, tb = _pair(device, _boxes(rng, 20000, 800, 16, 128))
    s, ts = _pair(device, rng.random(20000, np.float32))
    i, ti = _pair(device, rng.integers(0, 80, 20000))
    return lambda: nnlite.ops.batched_nms(b, s, i, 0.5), lambda: tv.batched_nms(tb, ts, ti, 0.5)


def _rois(rng, k=1000, images=2, height=200, width=272, scale=4):
    """k boxes in image coordinates (feature map times `scale`) with their image index first."""
    boxes = _boxes(rng, k, min(height, width) * scale, 32, 256)
    index = rng.integers(0, images, (k, 1)).astype(np.float32)
    return np.concatenate([index, boxes], axis=1)


def roi_case(name, channels=256, **kw):
    """nnlite.ops.<name> vs torchvision's, fwd+bwd: 1000 boxes on (2,channels,200,272), 7x7, scale 1/4."""
    def build(device):
        import nnlite
        import nnlite.ops
        import torch
        tv = _torchvision_ops()
        rng = np.random.default_rng(2)
        (x, tx) = _pair(device, rng.standard_normal((2, channels, 200, 272)).astype(np.float32), requires_grad=True)
        rois, trois = _pair(device, _rois(rng))
        ours, theirs = getattr(nnlite.ops, name), getattr(tv, name)
        y = ours(x, rois, (7, 7), 0.25, **kw)
        g, tg = nnlite.ones_like(y), torch.ones(tuple(y.shape), device=device)
        return (_fwd_bwd(lambda: ours(x, rois, (7, 7), 0.25, **kw), [x], g),
                _fwd_bwd(lambda: theirs(tx, trois, (7, 7), 0.25, **kw), [tx], tg))
    return build


def deform_conv_case(device):
    """deform_conv2d (4,64,56,56) k3 p1 -> 64 with a DCNv2 mask, fwd+bwd (all five gradients)."""
    import nnlite
    import nnlite.ops
    import torch
    tv = _torchvision_ops()
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((4, 64, 56, 56)), rng.standard_normal((4, 18, 56, 56)),
              rng.standard_normal((64, 64, 3, 3)) * 0.05, rng.standard_normal(64), rng.random((4, 9, 56, 56))]
    pairs = [_pair(device, a.astype(np.float32), requires_grad=True) for a in arrays]
    ours, theirs = [p[0] for p in pairs], [p[1] for p in pairs]
    x, offset, w, b, mask = ours
    tx, toffset, tw, tb, tmask = theirs
    g, tg = nnlite.ones(4, 64, 56, 56, device=device), torch.ones(4, 64, 56, 56, device=device)
    return (_fwd_bwd(lambda: nnlite.ops.deform_conv2d(x, offset, w, b, padding=1, mask=mask), ours, g),
            _fwd_bwd(lambda: tv.deform_conv2d(tx, toffset, tw, tb, padding=1, mask=tmask), theirs, tg))


def box_iou_case(device):
    import nnlite.ops
    tv = _torchvision_ops()
    rng = np.random.default_rng(4)
    (a, ta), (b, tb) = (_pair(device, _boxes(rng, 4000, 800, 16, 128)) for _ in range(2))
    return lambda: nnlite.ops.box_iou(a, b), lambda: tv.box_iou(ta, tb)


def focal_loss_case(device):
    """sigmoid_focal_loss (100000, 80), reduction 'mean', fwd+bwd."""
    import nnlite.ops
    tv = _torchvision_ops()
    rng = np.random.default_rng(5)
    x, tx = _pair(device, rng.standard_normal((100000, 80)).astype(np.float32), requires_grad=True)
    t, tt = _pair(device, (rng.random((100000, 80)) < 0.02).astype(np.float32))
    return (_fwd_bwd(lambda: nnlite.ops.sigmoid_focal_loss(x, t, reduction="mean"), [x], None),
            _fwd_bwd(lambda: tv.sigmoid_focal_loss(tx, tt, reduction="mean"), [tx], None))


BENCH_CASES = [  # vs torchvision.ops, when it is installed
    Case("ops.nms 10k boxes iou 0.5", nms_case, bar=0.2),
    Case("ops.batched_nms 20k boxes 80 classes", batched_nms_case, bar=0.2),
    Case("ops.roi_align fwd+bwd 1000 boxes 7x7 sr2 aligned", roi_case("roi_align", sampling_ratio=2, aligned=True),
         bar=0.5, repeat=3),
    Case("ops.roi_pool fwd+bwd 1000 boxes 7x7", roi_case("roi_pool"), bar=0.5, repeat=3),
    # position-sensitive: 245 = 5 output channels x 7 x 7 bins
    Case("ops.ps_roi_align fwd+bwd 1000 boxes 7x7 sr2 C=245", roi_case("ps_roi_align", 245, sampling_ratio=2),
         bar=0.5, repeat=3),
    Case("ops.deform_conv2d fwd+bwd (4,64,56,56) k3 mask", deform_conv_case, bar=1.0, repeat=3),
    Case("ops.box_iou 4000x4000", box_iou_case, bar=1.0),
    Case("ops.sigmoid_focal_loss fwd+bwd (100000,80)", focal_loss_case, bar=1.0),
]
