"""nnlite.layers (detectron2.layers) rows (issue 10, part G). FrozenBatchNorm2d runs against
detectron2's own torch formula (x * scale + bias, scale and bias reshaped (1, C, 1, 1));
ModulatedDeformConv against torchvision's deform_conv2d, "n/a" without torchvision."""
import numpy as np

from cases import Case, _fwd_bwd
from cases_ops import _pair, _torchvision_ops


def frozen_bn_case(device):
    """FrozenBatchNorm2d forward on (8,256,56,56) float32, statistics away from the identity."""
    import nnlite
    import nnlite.layers
    import torch
    rng = np.random.default_rng(0)
    C = 256
    x, tx = _pair(device, rng.standard_normal((8, C, 56, 56)).astype(np.float32))
    stats = {"weight": rng.standard_normal(C), "bias": rng.standard_normal(C),
             "running_mean": rng.standard_normal(C), "running_var": rng.random(C) + 0.5}
    bn = nnlite.layers.FrozenBatchNorm2d(C).to(device)
    for name, value in stats.items():
        setattr(bn, name, nnlite.tensor(value.astype(np.float32), device=device))
    t = {k: torch.tensor(v.astype(np.float32), device=device) for k, v in stats.items()}
    scale = t["weight"] * (t["running_var"] + bn.eps).rsqrt()
    shift = t["bias"] - t["running_mean"] * scale
    scale, shift = scale.reshape(1, -1, 1, 1), shift.reshape(1, -1, 1, 1)
    return lambda: bn(x), lambda: tx * scale + shift


def modulated_deform_conv_case(device):
    """ModulatedDeformConv (4,64,56,56) k3 p1 -> 64, bias, fwd+bwd (input, offset, mask, weight, bias)."""
    import nnlite
    import nnlite.layers
    import torch
    tv = _torchvision_ops()
    rng = np.random.default_rng(3)
    m = nnlite.layers.ModulatedDeformConv(64, 64, 3, padding=1).to(device)
    w, tw = _pair(device, (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32), requires_grad=True)
    b, tb = _pair(device, rng.standard_normal(64).astype(np.float32), requires_grad=True)
    m.weight, m.bias = nnlite.nn.Parameter(w.detach()), nnlite.nn.Parameter(b.detach())
    arrays = [rng.standard_normal((4, 64, 56, 56)), rng.standard_normal((4, 18, 56, 56)), rng.random((4, 9, 56, 56))]
    pairs = [_pair(device, a.astype(np.float32), requires_grad=True) for a in arrays]
    (x, tx), (offset, toffset), (mask, tmask) = pairs
    g, tg = nnlite.ones(4, 64, 56, 56, device=device), torch.ones(4, 64, 56, 56, device=device)
    return (_fwd_bwd(lambda: m(x, offset, mask), [x, offset, mask, m.weight, m.bias], g),
            _fwd_bwd(lambda: tv.deform_conv2d(tx, toffset, tw, tb, padding=1, mask=tmask), [tx, toffset, tmask, tw, tb],
                     tg))


BENCH_CASES = [
    Case("layers.FrozenBatchNorm2d (8,256,56,56)", frozen_bn_case, bar=1.0),
    Case("layers.ModulatedDeformConv fwd+bwd (4,64,56,56)", modulated_deform_conv_case, bar=1.0, repeat=3),
]
