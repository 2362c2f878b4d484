"""The benchmark cases: each builds an nnlite callable and a PyTorch callable on the same data."""
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


def conv_case(n, c, hw, k, groups):
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
    return Case(f"conv2d {kind}fwd+bwd ({n},{c},{hw},{hw})->{k} k3 p1", build, bar=2.0, repeat=5)


def _unary(name, fn_name, shape, bar=None, **kw):
    def build(device):
        import nnlite
        import torch
        (x,), (tx,) = _inputs(device, shape)
        return (lambda: getattr(nnlite.nn.functional, fn_name)(x, **kw),
                lambda: getattr(torch.nn.functional, fn_name)(tx, **kw))
    return Case(name, build, bar=bar)


def matmul_case(device):
    (a, b), (ta, tb) = _inputs(device, (256, 1024), (1024, 1024))
    return (lambda: a @ b), (lambda: ta @ tb)


def add_case(device):
    (a, b), (ta, tb) = _inputs(device, (16 << 20,), (16 << 20,))
    return (lambda: a + b), (lambda: ta + tb)


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


def batch_norm_case(backward):
    def build(device):
        import nnlite
        import torch
        F, TF = nnlite.nn.functional, torch.nn.functional
        (x, w, b), (tx, tw, tb) = _inputs(device, (8, 64, 56, 56), (64,), (64,), requires_grad=backward)
        rm, rv = nnlite.zeros(64, device=device), nnlite.ones(64, device=device)
        trm, trv = torch.zeros(64, device=device), torch.ones(64, device=device)
        nl = lambda: F.batch_norm(x, rm, rv, w, b, training=True)  # noqa: E731
        th = lambda: TF.batch_norm(tx, trm, trv, tw, tb, training=True)  # noqa: E731
        if not backward:
            return nl, th
        g, tg = nnlite.ones(8, 64, 56, 56, device=device), torch.ones(8, 64, 56, 56, device=device)
        return _fwd_bwd(nl, [x, w, b], g), _fwd_bwd(th, [tx, tw, tb], tg)
    return Case(f"batch_norm train {'fwd+bwd' if backward else 'fwd'} (8,64,56,56)", build,
                bar=None if backward else 1.2)


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


def sum_case(dim):
    def build(device):
        (x,), (tx,) = _inputs(device, (1024, 4096))
        return (lambda: x.sum(dim)), (lambda: tx.sum(dim))
    return Case(f"sum (1024,4096) dim={dim}", build)


CASES = [
    conv_case(8, 64, 56, 64, 1),
    conv_case(8, 256, 14, 256, 1),
    conv_case(8, 128, 56, 128, 128),
    Case("matmul 256x1024 @ 1024x1024", matmul_case, bar=1.2),
    _unary("relu 16M floats", "relu", (16 << 20,), bar=1.2),
    Case("add 16M floats", add_case, bar=1.2),
    _unary("log_softmax (1024,4096) dim=1", "log_softmax", (1024, 4096), bar=1.2, dim=1),
    batch_norm_case(backward=False),
    Case("tiny add of 1-element tensors (us per call)", tiny_add_case, bar=4.0, repeat=5),
    batch_norm_case(backward=True),
    Case("linear fwd+bwd (512,1024)->1024", linear_case),
    _unary("softmax (1024,4096) dim=1", "softmax", (1024, 4096), dim=1),
    Case("cross_entropy fwd+bwd (1024,1000)", cross_entropy_case),
    Case("max_pool2d 3x3/2 fwd+bwd (8,64,112,112)", max_pool_case),
    sum_case(0),
    sum_case(1),
]
