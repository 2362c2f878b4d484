"""Layers vs torch.nn: constructor signatures, attributes, reprs, state-dict layout, and outputs and
gradients after loading a torch layer's state dict."""
import inspect

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

LAYERS = {  # name -> constructor arguments, tried in both libraries
    "Linear": [(3, 4), (3, 4, False)],
    "Bilinear": [(2, 3, 4)],
    "Conv2d": [(3, 8, 3), ((3, 8, 3), {"padding": 1}), ((4, 8, (3, 5)), {"stride": 2, "bias": False}),
               ((4, 8, 3), {"padding": "same", "dilation": 2, "groups": 2}), ((3, 6, 3), {"padding": "valid"}),
               ((3, 6, 3), {"padding": (1, 2), "padding_mode": "reflect"})],
    "BatchNorm1d": [(4,), ((4,), {"momentum": None, "affine": False})],
    "BatchNorm2d": [(3,), ((3,), {"eps": 1e-3, "track_running_stats": False})],
    "MaxPool2d": [(2,), ((3, 2, 1), {"ceil_mode": True})],
    "AvgPool2d": [(2,), ((3,), {"stride": 2, "padding": 1, "count_include_pad": False})],
    "AdaptiveAvgPool2d": [((1, 1),), (5,)],
    "AdaptiveMaxPool2d": [((2, 3),), ((2,), {"return_indices": True})],
    "Dropout": [(), (0.2, True)], "Dropout1d": [()], "Dropout2d": [(0.3, True)], "Dropout3d": [()],
    "AlphaDropout": [(0.2,)], "FeatureAlphaDropout": [()],
    "Flatten": [(), (0, 2)],
    "Unflatten": [(1, (2, 3))],
    "Identity": [(), ((54,), {"unused": 1})],
    "ReLU": [(), (True,)], "ReLU6": [(), (True,)], "LeakyReLU": [(), (0.2, True)], "GELU": [(), ("tanh",)],
    "SiLU": [(), (True,)], "ELU": [(), (0.5, True)], "CELU": [()], "SELU": [(True,)], "Mish": [(True,)],
    "Hardtanh": [(), (-2.0, 2.0, True)], "Hardsigmoid": [(True,)], "Hardswish": [()], "Softplus": [(2.0, 10.0)],
    "Sigmoid": [()], "Tanh": [()], "Softmax": [(), (1,)], "LogSoftmax": [(-1,)],
    "CrossEntropyLoss": [(), ((), {"ignore_index": 3, "label_smoothing": 0.1, "reduction": "sum"})],
    "NLLLoss": [()], "MSELoss": [((), {"reduction": "none"})], "L1Loss": [()],
    "SmoothL1Loss": [((), {"beta": 0.5})],
    "HuberLoss": [((), {"delta": 2.0})], "BCELoss": [()], "BCEWithLogitsLoss": [()],
}

# torch parameters nnlite leaves out: deprecated aliases
TORCH_ONLY = {"Hardtanh": {"min_value", "max_value"}}


def _build(lib, name, spec):
    args, kwargs = spec if len(spec) == 2 and isinstance(spec[1], dict) else (spec, {})
    return getattr(lib.nn, name)(*args, **kwargs)


def _specs():
    return [(name, spec) for name, specs in LAYERS.items() for spec in specs]


@pytest.mark.parametrize("name", list(LAYERS))
def test_constructor_signature_matches_torch(torch, name):
    ours = inspect.signature(getattr(nn, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    expected = [p for p in theirs.values() if p.name not in TORCH_ONLY.get(name, ())]
    assert [(p.name, p.default, p.kind) for p in ours.values()] == \
        [(p.name, p.default, p.kind) for p in expected]


@pytest.mark.parametrize("name, spec", _specs())
def test_repr_attributes_and_state_dict_match_torch(torch, name, spec):
    ours, theirs = _build(nnlite, name, spec), _build(torch, name, spec)
    assert repr(ours) == repr(theirs)
    for attr, value in vars(theirs).items():
        if not attr.startswith("_") and attr != "training":
            assert getattr(ours, attr) == value, attr
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert tuple(ours.state_dict()[key].shape) == tuple(value.shape), key
        assert ours.state_dict()[key].dtype.name == str(value.dtype).replace("torch.", ""), key


def _same_layer(torch, name, *args, **kwargs):
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _compare(torch, ours, theirs, *inputs, tol=1e-10):
    """Forward on the same float64 inputs, then backward of a weighted sum: outputs, input grads and
    parameter grads must agree."""
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    ns = [nnlite.tensor(x, requires_grad=True) for x in inputs]
    want, got = theirs(*ts), ours(*ns)
    assert_close(got, want, rtol=tol, atol=tol)
    weights = randn(*want.shape, dtype=np.float64, seed=9)
    (want * torch.tensor(weights)).sum().backward()
    (got * nnlite.tensor(weights)).sum().backward()
    for n, t in zip(ns, ts):
        assert_close(n.grad, t.grad, rtol=tol, atol=tol)
    for (key, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, q.grad, rtol=tol, atol=tol)


def test_linear_and_bilinear_match_torch(torch):
    _compare(torch, *_same_layer(torch, "Linear", 5, 3), randn(4, 5, dtype=np.float64))
    _compare(torch, *_same_layer(torch, "Linear", 5, 3, bias=False), randn(2, 4, 5, dtype=np.float64))
    _compare(torch, *_same_layer(torch, "Bilinear", 3, 2, 4), randn(5, 3, dtype=np.float64, seed=1),
             randn(5, 2, dtype=np.float64, seed=2))


@pytest.mark.parametrize("kwargs", [{}, {"padding": 1}, {"stride": 2, "padding": (1, 2), "bias": False},
                                    {"padding": "same", "dilation": 2, "groups": 2}, {"padding": "valid"},
                                    {"padding": (1, 2), "padding_mode": "reflect"},
                                    {"padding": 1, "padding_mode": "replicate", "stride": 2},
                                    {"padding": "same", "padding_mode": "circular"}])
def test_conv2d_matches_torch(torch, kwargs):
    ours, theirs = _same_layer(torch, "Conv2d", 4, 6, 3, **kwargs)
    _compare(torch, ours, theirs, randn(2, 4, 7, 8, dtype=np.float64, seed=3), tol=1e-9)


def test_conv2d_padding_mode_on_device(device):
    conv = nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular").to(device)
    x = nnlite.tensor(randn(1, 1, 3, 3), device=device, requires_grad=True)
    y = conv(x)
    assert y.shape == (1, 2, 3, 3) and y.device.type == device
    y.sum().backward()
    assert x.grad.shape == (1, 1, 3, 3) and conv.weight.grad.device.type == device
    reference = nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")
    reference.load_state_dict(conv.state_dict())
    assert_close(y, reference(x.detach().cpu()), rtol=1e-5, atol=1e-5)


def test_conv2d_constructor_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv2d(4, 4, 3, padding="full")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(4, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(4, 4, 3, padding_mode="mirror")


ACTIVATIONS = [("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.2,)), ("GELU", ()), ("GELU", ("tanh",)),
               ("SiLU", ()), ("ELU", (0.5,)), ("CELU", (1.5,)), ("SELU", ()), ("Mish", ()),
               ("Hardtanh", (-0.5, 0.7)),
               ("Hardsigmoid", ()), ("Hardswish", ()), ("Softplus", (2.0, 5.0)), ("Sigmoid", ()), ("Tanh", ()),
               ("Softmax", (1,)), ("LogSoftmax", (0,)), ("Identity", ()), ("Flatten", ()), ("Flatten", (0, 1)),
               ("Unflatten", (1, (2, 3)))]


@pytest.mark.parametrize("name, args", ACTIVATIONS)
def test_parameterless_layers_match_torch(torch, name, args):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    _compare(torch, ours, theirs, randn(4, 6, 1, dtype=np.float64, seed=5) * 3, tol=1e-7)


def test_inplace_activation_modifies_its_input(torch):
    x = nnlite.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x
    assert_close(x, np.array([0.0, 2.0]))


def test_unflatten_errors():
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints, but found type int"):
        nn.Unflatten(1, 6)
    with pytest.raises(TypeError, match="found element of type float at pos 1"):
        nn.Unflatten(1, (2, 3.0))


def test_loss_reduction_arguments():
    assert nn.MSELoss(reduction="sum").reduction == "sum"
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.NLLLoss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        nn.CrossEntropyLoss(reduction="bogus")
    weighted = nn.CrossEntropyLoss(weight=nnlite.ones(3))
    assert list(weighted.state_dict()) == ["weight"]  # the class weight is a buffer, as in torch


def test_dropout_and_batchnorm_argument_errors():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(AssertionError, match=r"max_val \(0\) must be greater than min_val \(1\)"):
        nn.Hardtanh(1, 0)


# ------------------------------------------------------------------ normalisation, pooling, dropout, losses

@pytest.mark.parametrize("name, kwargs, shape", [
    ("BatchNorm2d", {}, (4, 3, 5, 5)), ("BatchNorm2d", {"momentum": None}, (4, 3, 2, 2)),
    ("BatchNorm2d", {"affine": False, "momentum": 0.3}, (2, 3, 3, 1)),
    ("BatchNorm2d", {"track_running_stats": False}, (3, 3, 2, 2)),
    ("BatchNorm1d", {}, (6, 4)), ("BatchNorm1d", {"eps": 1e-3}, (3, 4, 5))])
def test_batchnorm_matches_torch_in_training_and_eval(torch, name, kwargs, shape):
    ours, theirs = _same_layer(torch, name, shape[1], **kwargs)
    for step in range(3):  # running statistics follow torch's, step by step
        _compare(torch, ours, theirs, randn(*shape, dtype=np.float64, seed=10 + step) * 2 + 1)
        for key, value in theirs.state_dict().items():
            assert_close(ours.state_dict()[key], value, rtol=1e-10, atol=1e-10)
    ours.eval()
    theirs.eval()
    _compare(torch, ours, theirs, randn(*shape, dtype=np.float64, seed=20))
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked) == 3
    else:
        assert ours.num_batches_tracked is None and ours.running_mean is None


def test_batchnorm_on_device(device):
    x = randn(3, 2, 2, 2) * 3
    outputs = []
    for dev in ["cpu", device]:
        bn = nn.BatchNorm2d(2).to(dev)
        y = bn(nnlite.tensor(x, device=dev))
        assert bn.running_mean.device.type == dev and int(bn.num_batches_tracked) == 1
        outputs.append((y, bn.running_mean, bn.running_var))
    for ours, ref in zip(outputs[1], outputs[0]):
        assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_batchnorm_input_checks():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(nnlite.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(nnlite.ones(2, 3, 4, 4))


@pytest.mark.parametrize("name, args, kwargs", [
    ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), {"ceil_mode": True}), ("MaxPool2d", (2,), {"dilation": 2}),
    ("AvgPool2d", (2,), {}), ("AvgPool2d", (3, 2, 1), {"count_include_pad": False, "ceil_mode": True}),
    ("AvgPool2d", (2,), {"divisor_override": 3}), ("AdaptiveAvgPool2d", ((2, 3),), {}),
    ("AdaptiveAvgPool2d", (1,), {}), ("AdaptiveMaxPool2d", ((3, 2),), {})])
def test_pooling_matches_torch(torch, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    _compare(torch, ours, theirs, randn(2, 3, 7, 6, dtype=np.float64, seed=11))


def test_max_pool_return_indices(torch):
    x = randn(1, 2, 4, 4, dtype=np.float64, seed=12)
    out, idx = nn.MaxPool2d(2, return_indices=True)(nnlite.tensor(x))
    t_out, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    assert_close(out, t_out)
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())


def test_dropout_train_and_eval():
    x = nnlite.ones(100, 100)
    drop = nn.Dropout(0.25)
    y = drop(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert_close(drop.eval()(x), x.numpy())
    assert_close(nn.Dropout(0.0)(x), x.numpy())
    channels = nn.Dropout2d(0.5)(nnlite.ones(4, 50, 3, 3)).numpy()
    per_channel = channels.reshape(4, 50, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))  # whole channels dropped
    for layer in [nn.AlphaDropout(0.2), nn.FeatureAlphaDropout(0.2)]:
        assert_close(layer.eval()(x), x.numpy())


@pytest.mark.parametrize("name, kwargs", [
    ("CrossEntropyLoss", {}), ("CrossEntropyLoss", {"reduction": "sum", "label_smoothing": 0.2}),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 1.0], "ignore_index": 1}),
    ("NLLLoss", {}), ("NLLLoss", {"weight": [1.0, 2.0, 0.5, 1.0], "reduction": "none"}),
    ("MSELoss", {}), ("MSELoss", {"reduction": "sum"}), ("L1Loss", {}), ("SmoothL1Loss", {"beta": 0.5}),
    ("HuberLoss", {"delta": 0.7, "reduction": "sum"}), ("BCELoss", {"weight": [1.0, 2.0, 0.5, 1.0]}),
    ("BCEWithLogitsLoss", {"pos_weight": [1.0, 3.0, 0.5, 2.0]})])
def test_losses_match_torch(torch, name, kwargs):
    kwargs = dict(kwargs)  # (the parametrize dict is shared between runs: do not pop from it)
    tensors = {k: kwargs.pop(k) for k in ("weight", "pos_weight") if k in kwargs}
    ours = getattr(nn, name)(**kwargs, **{k: nnlite.tensor(v, dtype=nnlite.float64) for k, v in tensors.items()})
    theirs = getattr(torch.nn, name)(**kwargs, **{k: torch.tensor(v, dtype=torch.float64)
                                                  for k, v in tensors.items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    logits = randn(5, 4, dtype=np.float64, seed=13)
    if name == "BCELoss":
        logits = 1 / (1 + np.exp(-logits))  # probabilities
    if name in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss"):
        target_np = randn(5, 4, dtype=np.float64, seed=14)
        if name.startswith("BCE"):
            target_np = (target_np > 0).astype(np.float64)
        target, t_target = nnlite.tensor(target_np), torch.tensor(target_np)
    else:
        labels = np.array([0, 1, 3, 2, 1])
        target, t_target = nnlite.tensor(labels), torch.tensor(labels)
    x, tx = nnlite.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    got, want = ours(x, target), theirs(tx, t_target)
    assert_close(got, want, rtol=1e-10, atol=1e-10)
    got.sum().backward()
    want.sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-10, atol=1e-10)


def test_small_cnn_trains_like_torch(torch):
    """Conv-BN-ReLU-Pool-Flatten-Linear with CrossEntropyLoss and SGD: four float64 steps as torch."""

    def build(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3, padding=1), lib.nn.BatchNorm2d(4), lib.nn.ReLU(),
                                 lib.nn.MaxPool2d(2), lib.nn.Flatten(), lib.nn.Linear(4 * 2 * 2, 3)).double()
    theirs, ours = build(torch), build(nnlite)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = randn(5, 2, 4, 4, dtype=np.float64, seed=15)
    y = np.array([0, 2, 1, 1, 0])
    runs = [(torch, theirs, torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)),
            (nnlite, ours, nnlite.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9))]
    for lib, model, opt in runs:
        for _ in range(4):
            opt.zero_grad()
            lib.nn.CrossEntropyLoss()(model(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value, rtol=1e-8, atol=1e-8)


def test_small_cnn_trains_on_cuda_as_on_cpu(cuda_device):
    """The example's layer stack (bias-free conv, BN, in-place ReLU, pooling, linear, label-smoothed
    cross entropy, AdamW) takes the same three steps on CUDA as on the CPU: the whole slice end to end."""

    def build():
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    x = randn(5, 2, 4, 4, seed=16)
    y = np.array([0, 2, 1, 1, 0])
    nnlite.manual_seed(0)
    on_cpu = build()
    on_cuda = build().to(cuda_device)
    on_cuda.load_state_dict(on_cpu.state_dict())
    losses = {}
    for model in (on_cpu, on_cuda):
        device = next(model.parameters()).device
        opt = nnlite.optim.AdamW(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        steps = []
        for _ in range(3):
            opt.zero_grad()
            loss = loss_fn(model(nnlite.tensor(x, device=device)), nnlite.tensor(y, device=device))
            loss.backward()
            opt.step()
            steps.append(loss.item())
        losses[device.type] = steps
    assert losses["cpu"][-1] < losses["cpu"][0]
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-5)
    for key, value in on_cpu.state_dict().items():
        assert_close(on_cuda.state_dict()[key], value, rtol=1e-4, atol=1e-5)

@pytest.mark.parametrize("make", [lambda nn: nn.LayerNorm((4, 5)), lambda nn: nn.LayerNorm(5, elementwise_affine=False),
                                  lambda nn: nn.GroupNorm(2, 6), lambda nn: nn.GroupNorm(3, 6, affine=False)])
def test_layer_and_group_norm_modules_match_torch(torch, make):
    ours, theirs = make(nnlite.nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    x = np.random.default_rng(0).standard_normal((3, 6, 4, 5)).astype(np.float32)
    if isinstance(ours, nnlite.nn.LayerNorm) and ours.normalized_shape == (5,):
        x = x[:, :, 0]
    got = ours(nnlite.tensor(x))
    want = theirs(torch.tensor(x))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
