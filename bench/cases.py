"""The benchmark cases: each builds an nnlite callable and a PyTorch callable on the same data."""
import os
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class Case:
    name: str
    build: Callable            # device -> (nnlite_fn, torch_fn)
    bar: Optional[float] = None
    repeat: Optional[int] = None


def _inputs(device, *shapes, requires_grad=False, seed=0):
    """The same float32 data as nnlite and torch tensors."""
    import nnlite
    import torch
    rng = np.random.default_rng(seed)
    nl, th = [], []
    for shape in shapes:
        a = rng.standard_normal(shape).astype(np.float32)
        nl.append(nnlite.tensor(a, device=device, requires_grad=requires_grad))
        th.append(torch.tensor(a, device=device, requires_grad=requires_grad))
    return nl, th


def _fwd_bwd(fn, inputs, grad):
    def step():
        for t in inputs:
            t.grad = None
        fn().backward(grad)
    return step


def conv_case(n, c, hw, k, groups, bar=2.0):
    def build(device):
        import nnlite
        import torch
        (x, w), (tx, tw) = _inputs(device, (n, c, hw, hw), (k, c // groups, 3, 3), requires_grad=True)
        y = nnlite.nn.functional.conv2d(x, w, padding=1, groups=groups)
        g = nnlite.ones_like(y)
        tg = torch.ones_like(torch.nn.functional.conv2d(tx, tw, padding=1, groups=groups))
        return (_fwd_bwd(lambda: nnlite.nn.functional.conv2d(x, w, padding=1, groups=groups), [x, w], g),
                _fwd_bwd(lambda: torch.nn.functional.conv2d(tx, tw, padding=1, groups=groups), [tx, tw], tg))
    kind = "depthwise " if groups > 1 else ""
    return Case(f"conv2d {kind}fwd+bwd ({n},{c},{hw},{hw})->{k} k3 p1", build, bar=bar, repeat=5)


def _unary(name, fn_name, shape, bar=None, **kw):
    def build(device):
        import nnlite
        import torch
        (x,), (tx,) = _inputs(device, shape)
        return (lambda: getattr(nnlite.nn.functional, fn_name)(x, **kw),
                lambda: getattr(torch.nn.functional, fn_name)(tx, **kw))
    return Case(name, build, bar=bar)


def matmul_case(m, k, n, bar):
    def build(device):
        (a, b), (ta, tb) = _inputs(device, (m, k), (k, n))
        return (lambda: a @ b), (lambda: ta @ tb)
    return Case(f"matmul {m}x{k} @ {k}x{n}", build, bar=bar)


def add_case(n, bar):
    def build(device):
        (a, b), (ta, tb) = _inputs(device, (n,), (n,))
        return (lambda: a + b), (lambda: ta + tb)
    return Case(f"add {n >> 20}M floats", build, bar=bar)


def tiny_add_case(device):
    """1000 calls per timing, so the printed ms are microseconds per call."""
    (a, b), (ta, tb) = _inputs(device, (1,), (1,))

    def nl():
        for _ in range(1000):
            a + b

    def th():
        for _ in range(1000):
            ta + tb
    return nl, th


def batch_norm_case(backward, n=8, bar=1.2):
    def build(device):
        import nnlite
        import torch
        F, TF = nnlite.nn.functional, torch.nn.functional
        (x, w, b), (tx, tw, tb) = _inputs(device, (n, 64, 56, 56), (64,), (64,), requires_grad=backward)
        rm, rv = nnlite.zeros(64, device=device), nnlite.ones(64, device=device)
        trm, trv = torch.zeros(64, device=device), torch.ones(64, device=device)
        nl = lambda: F.batch_norm(x, rm, rv, w, b, training=True)  # noqa: E731
        th = lambda: TF.batch_norm(tx, trm, trv, tw, tb, training=True)  # noqa: E731
        if not backward:
            return nl, th
        g, tg = nnlite.ones(n, 64, 56, 56, device=device), torch.ones(n, 64, 56, 56, device=device)
        return _fwd_bwd(nl, [x, w, b], g), _fwd_bwd(th, [tx, tw, tb], tg)
    return Case(f"batch_norm train {'fwd+bwd' if backward else 'fwd'} ({n},64,56,56)", build,
                bar=None if backward else bar)


def linear_case(device):
    import nnlite
    import torch
    (x, w, b), (tx, tw, tb) = _inputs(device, (512, 1024), (1024, 1024), (1024,), requires_grad=True)
    g, tg = nnlite.ones(512, 1024, device=device), torch.ones(512, 1024, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.linear(x, w, b), [x, w, b], g),
            _fwd_bwd(lambda: torch.nn.functional.linear(tx, tw, tb), [tx, tw, tb], tg))


def cross_entropy_case(device):
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (1024, 1000), requires_grad=True)
    target = np.random.default_rng(1).integers(0, 1000, 1024)
    t, tt = nnlite.tensor(target, device=device), torch.tensor(target, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.cross_entropy(x, t), [x], None),
            _fwd_bwd(lambda: torch.nn.functional.cross_entropy(tx, tt), [tx], None))


def max_pool_case(device):
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (8, 64, 112, 112), requires_grad=True)
    g, tg = nnlite.ones(8, 64, 56, 56, device=device), torch.ones(8, 64, 56, 56, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.max_pool2d(x, 3, 2, 1), [x], g),
            _fwd_bwd(lambda: torch.nn.functional.max_pool2d(tx, 3, 2, 1), [tx], tg))


def sum_case(shape, dim, bar=None):
    def build(device):
        (x,), (tx,) = _inputs(device, shape)
        if dim is None:
            return (lambda: x.sum()), (lambda: tx.sum())
        return (lambda: x.sum(dim)), (lambda: tx.sum(dim))
    return Case(f"sum {shape} dim={dim}", build, bar=bar)


def digits_step_case(device):
    """One training step of examples/train_digits.py (batch 64): forward, loss, backward, AdamW.
    The same weights in both libraries."""
    import nnlite
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    from train_digits import DigitsNet
    nnlite.manual_seed(0)
    model = DigitsNet().to(device)
    tmodel = _torch_digits_net(torch).to(device)
    tmodel.load_state_dict({k: torch.tensor(v.cpu().numpy()) for k, v in model.state_dict().items()})
    (x,), (tx,) = _inputs(device, (64, 1, 8, 8))
    target = np.random.default_rng(1).integers(0, 10, 64)
    y, ty = nnlite.tensor(target, device=device), torch.tensor(target, device=device)
    opt = nnlite.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nnlite.nn.CrossEntropyLoss(label_smoothing=0.05)
    tloss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)

    def step(model, opt, loss_fn, x, y):
        def run():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return run
    return step(model, opt, loss_fn, x, y), step(tmodel, topt, tloss_fn, tx, ty)


def _torch_digits_net(torch):
    from collections import OrderedDict
    nn = torch.nn
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                      nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                      nn.MaxPool2d(2),
                      nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                      nn.MaxPool2d(2)),
        classifier=nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(256, 128), nn.ReLU(inplace=True),
                                 nn.Linear(128, 10))))


def conv_nd_case(fn_name, x_shape, w_shape, desc, bar=None, **kw):
    """fwd+bwd of nnlite.nn.functional.<fn_name> (conv1d, conv_transpose2d, ...) with bias."""
    def build(device):
        import nnlite
        import torch
        (x, w, b), (tx, tw, tb) = _inputs(device, x_shape, w_shape, (w_shape[1] if "transpose" in fn_name
                                                                        else w_shape[0],), requires_grad=True)
        fn, tfn = getattr(nnlite.nn.functional, fn_name), getattr(torch.nn.functional, fn_name)
        g = nnlite.ones_like(fn(x, w, b, **kw))
        tg = torch.ones_like(tfn(tx, tw, tb, **kw))
        return (_fwd_bwd(lambda: fn(x, w, b, **kw), [x, w, b], g),
                _fwd_bwd(lambda: tfn(tx, tw, tb, **kw), [tx, tw, tb], tg))
    return Case(f"{fn_name} fwd+bwd {desc}", build, bar=bar, repeat=5)


def interpolate_case(device):
    """bilinear x2 on (8,64,56,56), fwd+bwd."""
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (8, 64, 56, 56), requires_grad=True)
    g, tg = nnlite.ones(8, 64, 112, 112, device=device), torch.ones(8, 64, 112, 112, device=device)
    kw = dict(scale_factor=2, mode="bilinear")
    return (_fwd_bwd(lambda: nnlite.nn.functional.interpolate(x, **kw), [x], g),
            _fwd_bwd(lambda: torch.nn.functional.interpolate(tx, **kw), [tx], tg))


def unfold_case(device):
    """unfold (im2col) k3 on (8,64,56,56), fwd+bwd (its backward is fold)."""
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (8, 64, 56, 56), requires_grad=True)
    g, tg = nnlite.ones(8, 64 * 9, 54 * 54, device=device), torch.ones(8, 64 * 9, 54 * 54, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.unfold(x, 3), [x], g),
            _fwd_bwd(lambda: torch.nn.functional.unfold(tx, 3), [tx], tg))


def grid_sample_case(device):
    """grid_sample bilinear on (8,32,64,64) at an affine grid (rotation and zoom), fwd+bwd to input and grid."""
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (8, 32, 64, 64), requires_grad=True)
    a = 0.3
    theta = np.tile(np.array([[0.9 * np.cos(a), -np.sin(a), 0.1], [np.sin(a), 0.9 * np.cos(a), -0.05]],
                             np.float32), (8, 1, 1))
    grid = torch.nn.functional.affine_grid(torch.tensor(theta), (8, 32, 64, 64), align_corners=False).numpy()
    g, tgrid = nnlite.tensor(grid, device=device, requires_grad=True), torch.tensor(grid, device=device,
                                                                                     requires_grad=True)
    go, tgo = nnlite.ones(8, 32, 64, 64, device=device), torch.ones(8, 32, 64, 64, device=device)
    kw = dict(mode="bilinear", padding_mode="zeros", align_corners=False)
    return (_fwd_bwd(lambda: nnlite.nn.functional.grid_sample(x, g, **kw), [x, g], go),
            _fwd_bwd(lambda: torch.nn.functional.grid_sample(tx, tgrid, **kw), [tx, tgrid], tgo))


def kl_div_case(device):
    """kl_div of log-probabilities against probabilities, 'batchmean', gradient of the input."""
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (1024, 4096), requires_grad=True)
    t = np.random.default_rng(2).random((1024, 4096)).astype(np.float32)
    nt, tt = nnlite.tensor(t, device=device), torch.tensor(t, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.kl_div(x, nt, reduction="batchmean"), [x], None),
            _fwd_bwd(lambda: torch.nn.functional.kl_div(tx, tt, reduction="batchmean"), [tx], None))


def ctc_case(device):
    """ctc_loss 'mean' of log_softmax'd inputs (T=200, N=16, C=30), targets of 30..50 labels
    (S=50), input lengths 150..200; the gradient of the log-probabilities."""
    import nnlite
    import torch
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 16, 30))
    lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(np.float32)
    targets = rng.integers(1, 30, (16, 50))
    il, tl = tuple(int(v) for v in rng.integers(150, 201, 16)), tuple(int(v) for v in rng.integers(30, 51, 16))
    x, tx = nnlite.tensor(lp, device=device, requires_grad=True), torch.tensor(lp, device=device, requires_grad=True)
    t, tt = nnlite.tensor(targets, device=device), torch.tensor(targets, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.ctc_loss(x, t, il, tl), [x], None),
            _fwd_bwd(lambda: torch.nn.functional.ctc_loss(tx, tt, il, tl), [tx], None))


def multi_margin_case(device):
    """multi_margin_loss of (1024, 1000) scores against class indices, mean, gradient of the scores."""
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (1024, 1000), requires_grad=True)
    target = np.random.default_rng(3).integers(0, 1000, 1024)
    t, tt = nnlite.tensor(target, device=device), torch.tensor(target, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.multi_margin_loss(x, t), [x], None),
            _fwd_bwd(lambda: torch.nn.functional.multi_margin_loss(tx, tt), [tx], None))


def sdpa_case(causal):
    """scaled_dot_product_attention fwd+bwd, q = k = v shape (8, 8, 1024, 64), gradients of all three."""
    def build(device):
        import nnlite
        import torch
        nl, th = _inputs(device, *[(8, 8, 1024, 64)] * 3, requires_grad=True)
        g = np.random.default_rng(5).standard_normal((8, 8, 1024, 64)).astype(np.float32)
        ng, tg = nnlite.tensor(g, device=device), torch.tensor(g, device=device)
        return (_fwd_bwd(lambda: nnlite.nn.functional.scaled_dot_product_attention(*nl, is_causal=causal), nl, ng),
                _fwd_bwd(lambda: torch.nn.functional.scaled_dot_product_attention(*th, is_causal=causal), th, tg))
    return Case(f"scaled_dot_product_attention {'causal' if causal else 'no mask'} fwd+bwd (8,8,1024,64)",
                build, bar=1.0, repeat=3)


def activation_fwd_bwd_case(fn_name, n):
    """F.<fn_name> of n floats, forward and backward (gradient of ones)."""
    def build(device):
        import nnlite
        import torch
        (x,), (tx,) = _inputs(device, (n,), requires_grad=True)
        g, tg = nnlite.ones(n, device=device), torch.ones(n, device=device)
        return (_fwd_bwd(lambda: getattr(nnlite.nn.functional, fn_name)(x), [x], g),
                _fwd_bwd(lambda: getattr(torch.nn.functional, fn_name)(tx), [tx], tg))
    return Case(f"{fn_name} fwd+bwd {n >> 20}M floats", build)


def prelu_case(device):
    """prelu with one slope per channel, fwd+bwd (8,64,56,56): gradients of the input and the weight."""
    import nnlite
    import torch
    (x,), (tx,) = _inputs(device, (8, 64, 56, 56), requires_grad=True)
    w = nnlite.full((64,), 0.25, device=device, requires_grad=True)
    tw = torch.full((64,), 0.25, device=device, requires_grad=True)
    g, tg = nnlite.ones(8, 64, 56, 56, device=device), torch.ones(8, 64, 56, 56, device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.prelu(x, w), [x, w], g),
            _fwd_bwd(lambda: torch.nn.functional.prelu(tx, tw), [tx, tw], tg))


def pool_case(op, shape, *args):
    """F.<op>(x, *args) fwd+bwd, with a ones gradient of the output's shape."""
    def build(device):
        import nnlite
        import torch
        (x,), (tx,) = _inputs(device, shape, requires_grad=True)
        out = tuple(getattr(torch.nn.functional, op)(tx.detach(), *args).shape)
        g, tg = nnlite.ones(*out, device=device), torch.ones(*out, device=device)
        return (_fwd_bwd(lambda: getattr(nnlite.nn.functional, op)(x, *args), [x], g),
                _fwd_bwd(lambda: getattr(torch.nn.functional, op)(tx, *args), [tx], tg))
    return build


def row_norm_case(op, shape, *args, bar=1.0):
    """F.<op>(x, *args, w, b) fwd+bwd with per-channel (or per-column) affine parameters."""
    def build(device):
        import nnlite
        import torch
        wshape = (shape[-1],) if op == "layer_norm" else (shape[1],)
        (x, w, b), (tx, tw, tb) = _inputs(device, shape, wshape, wshape, requires_grad=True)
        g, tg = nnlite.ones(*shape, device=device), torch.ones(*shape, device=device)
        return (_fwd_bwd(lambda: getattr(nnlite.nn.functional, op)(x, *args, w, b), [x, w, b], g),
                _fwd_bwd(lambda: getattr(torch.nn.functional, op)(tx, *args, tw, tb), [tx, tw, tb], tg))
    groups = f" {args[0]} groups" if op == "group_norm" else ""
    return Case(f"{op} fwd+bwd {shape}{groups}", build, bar=bar, repeat=5)


def instance_norm_case(shape, bar=1.0):
    def build(device):
        import nnlite
        import torch
        C = shape[1]
        (x, w, b), (tx, tw, tb) = _inputs(device, shape, (C,), (C,), requires_grad=True)
        g, tg = nnlite.ones(*shape, device=device), torch.ones(*shape, device=device)
        return (_fwd_bwd(lambda: nnlite.nn.functional.instance_norm(x, weight=w, bias=b), [x, w, b], g),
                _fwd_bwd(lambda: torch.nn.functional.instance_norm(tx, weight=tw, bias=tb), [tx, tw, tb], tg))
    return Case(f"instance_norm fwd+bwd {shape}", build, bar=bar, repeat=5)


def embedding_bag_case(device):
    """mode sum, 1-D input + offsets: 4096 bags of 20 indices into a (100000, 128) weight."""
    import nnlite
    import torch
    (w,), (tw,) = _inputs(device, (100000, 128), requires_grad=True)
    idx = np.random.default_rng(1).integers(0, 100000, 4096 * 20)
    offsets = np.arange(4096) * 20
    i, o = nnlite.tensor(idx, device=device), nnlite.tensor(offsets, device=device)
    ti, to = torch.tensor(idx, device=device), torch.tensor(offsets, device=device)
    g, tg = nnlite.ones((4096, 128), device=device), torch.ones((4096, 128), device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.embedding_bag(i, w, o, mode="sum"), [w], g),
            _fwd_bwd(lambda: torch.nn.functional.embedding_bag(ti, tw, to, mode="sum"), [tw], tg))


def cosine_similarity_case(device):
    import nnlite
    import torch
    (a, b), (ta, tb) = _inputs(device, (4096, 512), (4096, 512), requires_grad=True)
    g, tg = nnlite.ones((4096,), device=device), torch.ones((4096,), device=device)
    return (_fwd_bwd(lambda: nnlite.nn.functional.cosine_similarity(a, b, dim=1), [a, b], g),
            _fwd_bwd(lambda: torch.nn.functional.cosine_similarity(ta, tb, dim=1), [ta, tb], tg))


CASES = [
    conv_case(8, 64, 56, 64, 1),
    conv_case(8, 256, 14, 256, 1),
    conv_case(8, 128, 56, 128, 128),
    matmul_case(256, 1024, 1024, bar=1.2),
    _unary("relu 16M floats", "relu", (16 << 20,), bar=1.2),
    _unary("gelu 16M floats", "gelu", (16 << 20,), bar=1.0),
    activation_fwd_bwd_case("gelu", 16 << 20),
    _unary("logsigmoid 16M floats", "logsigmoid", (16 << 20,)),
    _unary("softplus 16M floats", "softplus", (16 << 20,)),
    _unary("mish 16M floats", "mish", (16 << 20,)),
    _unary("elu 16M floats", "elu", (16 << 20,)),
    Case("prelu per-channel fwd+bwd (8,64,56,56)", prelu_case, repeat=5),
    add_case(16 << 20, bar=1.2),
    _unary("log_softmax (1024,4096) dim=1", "log_softmax", (1024, 4096), bar=1.2, dim=1),
    batch_norm_case(backward=False),
    Case("tiny add of 1-element tensors (us per call)", tiny_add_case, bar=4.0, repeat=5),
    batch_norm_case(backward=True),
    Case("linear fwd+bwd (512,1024)->1024", linear_case),
    _unary("softmax (1024,4096) dim=1", "softmax", (1024, 4096), dim=1),
    Case("cross_entropy fwd+bwd (1024,1000)", cross_entropy_case),
    Case("max_pool2d 3x3/2 fwd+bwd (8,64,112,112)", max_pool_case),
    sum_case((1024, 4096), 0),
    sum_case((1024, 4096), 1),
    conv_nd_case("conv1d", (32, 128, 1024), (128, 128, 5), "(32,128,1024)->128 k5 p2", bar=1.5, padding=2),
    conv_nd_case("conv_transpose2d", (8, 64, 28, 28), (64, 32, 4, 4), "(8,64,28,28)->32 k4 s2 p1", bar=1.5,
                 stride=2, padding=1),
    Case("interpolate bilinear x2 fwd+bwd (8,64,56,56)", interpolate_case, bar=1.0, repeat=5),
    Case("unfold k3 fwd+bwd (8,64,56,56)", unfold_case, bar=1.0, repeat=5),
    Case("max_pool3d k2 fwd+bwd (2,32,16,32,32)", pool_case("max_pool3d", (2, 32, 16, 32, 32), 2), bar=1.0),
    Case("adaptive_avg_pool2d ->1 fwd+bwd (32,512,7,7)", pool_case("adaptive_avg_pool2d", (32, 512, 7, 7), 1),
         bar=1.0),
    conv_nd_case("conv3d", (2, 32, 16, 32, 32), (32, 32, 3, 3, 3), "(2,32,16,32,32)->32 k3 p1", bar=1.5, padding=1),
    Case("grid_sample bilinear affine grid fwd+bwd (8,32,64,64)", grid_sample_case, bar=1.0, repeat=5),
    row_norm_case("layer_norm", (32, 128, 768), (768,)),
    row_norm_case("group_norm", (8, 64, 56, 56), 32),
    instance_norm_case((8, 64, 56, 56)),
    Case("kl_div batchmean fwd+bwd (1024,4096)", kl_div_case, bar=1.0),
    Case("multi_margin_loss fwd+bwd (1024,1000)", multi_margin_case),
    Case("ctc_loss fwd+bwd T=200 N=16 C=30 S=50", ctc_case, bar=1.0),
    sdpa_case(causal=True),
    sdpa_case(causal=False),
    Case("embedding_bag sum fwd+bwd (100000,128) 4096 bags x 20", embedding_bag_case, bar=1.0, repeat=5),
    Case("cosine_similarity fwd+bwd (4096,512) dim=1", cosine_similarity_case, bar=1.0),
]

# On a GPU: sizes that fill an H200, the bars of the CUDA issue (ratio to torch CUDA).
CUDA_CASES = [  # the bars first: a GPU lease is short
    matmul_case(4096, 4096, 4096, bar=1.2),
    conv_case(32, 64, 56, 64, 1, bar=2.0),
    _unary("relu 64M floats", "relu", (64 << 20,), bar=1.2),
    add_case(64 << 20, bar=1.2),
    sum_case((64 << 20,), None, bar=1.5),
    _unary("softmax (4096,4096) dim=1", "softmax", (4096, 4096), bar=1.5, dim=1),
    batch_norm_case(backward=False, n=32, bar=1.5),
    Case("digits example training step (batch 64)", digits_step_case, bar=3.0),
    batch_norm_case(backward=True, n=32),
    sum_case((4096, 4096), 0),
    sum_case((4096, 4096), 1),
    Case("linear fwd+bwd (512,1024)->1024", linear_case),
    Case("cross_entropy fwd+bwd (1024,1000)", cross_entropy_case),
    Case("max_pool2d 3x3/2 fwd+bwd (8,64,112,112)", max_pool_case),
    _unary("log_softmax (4096,4096) dim=1", "log_softmax", (4096, 4096), dim=1),
    Case("tiny add of 1-element tensors (us per call)", tiny_add_case, repeat=5),
]
