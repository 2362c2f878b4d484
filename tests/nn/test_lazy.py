"""Lazy modules: shape inference on the first call, the eager class afterwards, initialisation as the
eager class does it, and checkpoints, against torch."""
import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close, randn

torch = pytest.importorskip("torch")

# (lazy class name, constructor args, eager class name, an input shape)
CASES = [
    ("LazyLinear", (3,), "Linear", (2, 5)),
    ("LazyConv1d", (4, 3), "Conv1d", (2, 6, 7)),
    ("LazyConv2d", (4, 3), "Conv2d", (1, 6, 5, 5)),
    ("LazyConv3d", (2, 2), "Conv3d", (1, 3, 3, 3, 3)),
    ("LazyConvTranspose1d", (4, 3), "ConvTranspose1d", (2, 6, 5)),
    ("LazyConvTranspose2d", (2, 3), "ConvTranspose2d", (1, 4, 3, 3)),
    ("LazyConvTranspose3d", (2, 2), "ConvTranspose3d", (1, 3, 2, 2, 2)),
    ("LazyBatchNorm1d", (), "BatchNorm1d", (4, 3)),
    ("LazyBatchNorm2d", (), "BatchNorm2d", (2, 3, 4, 4)),
    ("LazyBatchNorm3d", (), "BatchNorm3d", (2, 3, 2, 2, 2)),
    ("LazyInstanceNorm1d", (), "InstanceNorm1d", (2, 3, 6)),
    ("LazyInstanceNorm2d", (), "InstanceNorm2d", (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", (), "InstanceNorm3d", (2, 3, 3, 3, 3)),
]
IDS = [c[0] for c in CASES]


def _eager_args(eager, args, shape):
    """The eager class's constructor arguments for what the lazy one infers from `shape`."""
    in_size = shape[-1] if eager == "Linear" else shape[1]
    return (in_size, *args)


@pytest.mark.parametrize("lazy,args,eager,shape", CASES, ids=IDS)
def test_first_call_turns_the_module_into_the_eager_class_like_torch(lazy, args, eager, shape):
    mine, ref = getattr(nn, lazy)(*args), getattr(torch.nn, lazy)(*args)
    assert repr(mine) == repr(ref)
    assert mine.has_uninitialized_params() and isinstance(mine.weight, nn.UninitializedParameter)
    x = randn(*shape, dtype=np.float32)
    mine(nnlite.tensor(x))
    ref(torch.tensor(x))
    assert type(mine).__name__ == type(ref).__name__ == eager
    assert isinstance(mine, getattr(nn, eager)) and type(mine.weight) is nn.Parameter
    assert repr(mine) == repr(ref)
    assert [(k, tuple(v.shape)) for k, v in mine.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert not mine._forward_pre_hooks and not mine._load_state_dict_pre_hooks
    assert not hasattr(mine, "_initialize_hook")


@pytest.mark.parametrize("lazy,args,eager,shape", CASES, ids=IDS)
def test_initialisation_draws_exactly_what_the_eager_class_draws(lazy, args, eager, shape):
    x = nnlite.tensor(randn(*shape))
    lazy_module = getattr(nn, lazy)(*args)
    nnlite.manual_seed(5)
    lazy_module(x)
    nnlite.manual_seed(5)
    eager_module = getattr(nn, eager)(*_eager_args(eager, args, shape))
    if "Norm" in eager:   # InstanceNorm's lazy twin keeps affine and running stats
        eager_module = getattr(nn, eager)(shape[1], affine=True, track_running_stats=True)
        eager_module(x)
    for (name, a), (_, b) in zip(lazy_module.state_dict().items(), eager_module.state_dict().items()):
        assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("lazy,args,eager,shape", CASES[:8], ids=IDS[:8])
def test_outputs_and_gradients_match_torch_after_loading_its_weights(lazy, args, eager, shape):
    x = randn(*shape, dtype=np.float64)
    ref = getattr(torch.nn, lazy)(*args).double()
    ref(torch.tensor(x))
    mine = getattr(nn, lazy)(*args).double()
    result = mine.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    assert repr(result) == "<All keys matched successfully>"
    assert type(mine).__name__ == lazy        # loading materialises; the first call switches the class
    xm, xt = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_m, out_t = mine(xm), ref(xt)
    assert type(mine).__name__ == eager
    assert_close(out_m, out_t, rtol=1e-10, atol=1e-10)
    out_m.sum().backward()
    out_t.sum().backward()
    assert_close(xm.grad, xt.grad, rtol=1e-10, atol=1e-10)
    assert_close(mine.weight.grad, ref.weight.grad, rtol=1e-10, atol=1e-10)


def test_lazy_instance_norm_defaults_are_affine_and_tracking_like_torch():
    for lib in (nn, torch.nn):
        m = lib.LazyInstanceNorm2d()
        assert m.affine and m.track_running_stats
    # with nothing to infer, torch leaves num_features at 0 (and warns in forward): so do we
    reprs = []
    for lib in (nnlite, torch):
        m = lib.nn.LazyInstanceNorm1d(affine=False, track_running_stats=False)
        with pytest.warns(UserWarning, match="does not match num_features"):
            m(lib.ones(2, 3, 5))
        reprs.append(repr(m))
    assert reprs[0] == reprs[1] and m.num_features == 0


def test_lazy_state_dict_holds_placeholders_and_loads_into_a_lazy_module():
    lazy = nn.LazyLinear(2)
    state = lazy.state_dict()
    assert isinstance(state["weight"], nn.UninitializedParameter)
    other = nn.LazyLinear(2)
    other.load_state_dict(state)
    assert other.has_uninitialized_params()
    ref = torch.nn.LazyLinear(2)
    assert list(ref.state_dict()) == list(state)


def test_materialize_keeps_the_object_and_follows_device_and_dtype():
    p = nn.UninitializedParameter(dtype=nnlite.float64)
    assert repr(p) == "<UninitializedParameter>" and p.requires_grad
    same = p
    p.materialize((2, 3))
    assert same is p and type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == nnlite.float64
    b = nn.UninitializedBuffer()
    b.materialize((4,), dtype=nnlite.float64)
    assert type(b) is nnlite.Tensor and b.dtype == nnlite.float64 and not b.requires_grad


def test_double_before_the_first_call_gives_double_parameters_and_buffers():
    m = nn.LazyLinear(2).double()
    m(nnlite.randn(3, 4, dtype=nnlite.float64))
    assert m.weight.dtype == nnlite.float64 and m.bias.dtype == nnlite.float64
    bn = nn.LazyBatchNorm1d().double()
    assert isinstance(bn.running_mean, nn.UninitializedBuffer) and bn.running_mean.dtype == nnlite.float64
    bn(nnlite.randn(4, 3, dtype=nnlite.float64))
    assert bn.running_var.dtype == nnlite.float64 and bn.running_var.shape == (3,)


def test_lazy_layers_in_a_sequential(device):
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)).to(device)
    out = model(nnlite.randn(1, 2, 4, 4, device=device))
    assert out.shape == (1, 2) and model[3].in_features == 16
    assert model[0].weight.device.type == device and [type(m).__name__ for m in model] == \
        ["Conv2d", "ReLU", "Flatten", "Linear"]


@pytest.mark.parametrize("build,shape", [
    (lambda lib: lib.nn.LazyConv2d(4, 3), (2, 3, 4, 4, 4)),
    (lambda lib: lib.nn.LazyConv1d(4, 3, groups=2), (2, 3, 5)),
    (lambda lib: lib.nn.LazyConvTranspose2d(4, 3), (3,)),
])
def test_bad_first_input_errors_match_torch(build, shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(Exception) as theirs:
        build(torch)(torch.tensor(x))
    with pytest.raises(type(theirs.value)) as mine:
        build(nnlite)(nnlite.tensor(x))
    assert str(mine.value).replace("nnlite.Size", "torch.Size") == str(theirs.value)


def test_incomplete_initialisation_is_an_error():
    class Half(nn.LazyModuleMixin, nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.UninitializedParameter()
            self.b = nn.UninitializedParameter()

        def initialize_parameters(self, x):
            self.a.materialize(x.shape)

        def forward(self, x):
            return x
    with pytest.raises(RuntimeError, match="module Half has not been fully initialized"):
        Half()(nnlite.ones(2))
    with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented"):
        type("NoInit", (nn.LazyModuleMixin, nn.Module), {"forward": lambda self, x: x})()(nnlite.ones(1))


def test_using_a_placeholder_raises_torchs_shape_error():
    for lib in (nnlite, torch):
        lazy = lib.nn.LazyLinear(2)
        with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
            lazy.weight.shape
    lazy = nn.LazyLinear(2)
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        nn.functional.linear(nnlite.ones(1, 3), lazy.weight)
    initialised = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        initialised.load_state_dict(lazy.state_dict())
