"""Upsample, UpsamplingNearest2d, UpsamplingBilinear2d vs torch.nn: attributes, repr, (empty)
state_dict, outputs and gradients."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

LAYERS = [
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(5, 7), mode="bilinear")),
    ("Upsample", dict(scale_factor=(1.5, 2), mode="bicubic", align_corners=True)),
    ("Upsample", dict(scale_factor=2.5, mode="nearest-exact", recompute_scale_factor=True)),
    ("UpsamplingNearest2d", dict(scale_factor=3)),
    ("UpsamplingNearest2d", dict(size=4)),
    ("UpsamplingBilinear2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=(3, 8))),
]


@pytest.mark.parametrize("name, kwargs", LAYERS)
def test_layer_matches_torch(torch, name, kwargs):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    for attr in ("name", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    assert list(ours.parameters()) == []
    x = randn(2, 3, 4, 5, seed=1)
    xt = nnlite.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = ours(xt), theirs(tx)
    assert_close(y, ty, rtol=1e-5, atol=1e-6)
    g = randn(*ty.shape, seed=2)
    y.backward(nnlite.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(xt.grad, tx.grad, rtol=1e-5, atol=1e-6)


def test_3d_and_5d_inputs(torch):
    for mode, shape in (("linear", (1, 2, 5)), ("trilinear", (1, 2, 3, 4, 2))):
        x = randn(*shape, seed=3)
        y = nn.Upsample(scale_factor=2, mode=mode)(nnlite.tensor(x))
        assert_close(y, torch.nn.Upsample(scale_factor=2, mode=mode)(torch.tensor(x)), rtol=1e-5, atol=1e-6)


def test_in_a_sequential_and_errors():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear"))
    assert "(1): Upsample(scale_factor=2.0, mode='bilinear')" in repr(model)
    y = model(nnlite.ones(1, 1, 3, 3))
    assert tuple(y.shape) == (1, 2, 6, 6)
    assert np.isfinite(y.detach().numpy()).all()
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        nn.Upsample(scale_factor=2, align_corners=True)(nnlite.ones(1, 1, 3, 3))
