"""nn.Module machinery: registration, naming, recursion, modes, hooks, conversion, state dicts, repr."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import nnlite
import nnlite.nn as nn
from tests.helpers import assert_close


class Net(nn.Module):
    """A small model with a nested child, a shared module, a buffer and a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.Identity())
        self.scale = nn.Parameter(nnlite.ones(1))
        self.register_buffer("counter", nnlite.zeros(2))
        self.register_buffer("cache", nnlite.zeros(1), persistent=False)

    def forward(self, x):
        return self.block(self.fc1(x)) * self.scale


def test_assignment_registers_parameters_modules_and_buffers():
    net = Net()
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["fc1", "block"]
    assert list(net._buffers) == ["counter", "cache"]
    assert net.fc1.weight is net._modules["fc1"]._parameters["weight"]
    assert isinstance(net.scale, nn.Parameter) and isinstance(net.scale, nnlite.Tensor)
    assert net.scale.requires_grad


def test_named_parameters_order_prefix_and_recursion():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias"]
    assert [n for n, _ in net.named_parameters(prefix="m")][0] == "m.scale"
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_buffers()] == ["counter", "cache"]
    assert [n for n, _ in net.named_children()] == ["fc1", "block"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "block", "block.0", "block.1"]


def test_shared_modules_and_parameters_are_listed_once_unless_asked():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.modules())) == 2
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert len(list(seq.modules(remove_duplicate=False))) == 3


def test_named_modules_match_torch(torch):
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4),
                               torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 2)))
    net = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    assert [n for n, _ in net.named_modules()] == [n for n, _ in tnet.named_modules()]
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]


def test_reassignment_and_deletion():
    net = Net()
    net.fc1 = None
    assert net.fc1 is None and "fc1" in net._modules
    net.scale = None
    assert "scale" in net._parameters and net.scale is None
    net.counter = nnlite.ones(2)
    assert_close(net._buffers["counter"], np.ones(2))
    del net.counter
    assert "counter" not in net._buffers
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'counter'"):
        net.counter
    net.plain = 3
    assert net.plain == 3 and "plain" in net.__dict__
    net.plain = nn.Parameter(nnlite.zeros(1))  # a parameter replaces a plain attribute
    assert "plain" not in net.__dict__ and "plain" in net._parameters


def test_registration_errors():
    net = Net()
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter 'scale'"):
        net.scale = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'fc1'"):
        net.fc1 = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'counter'"):
        net.counter = 3
    with pytest.raises(KeyError, match="attribute 'fc1' already exists"):
        net.register_buffer("fc1", nnlite.zeros(1))
    with pytest.raises(KeyError, match="parameter name can"):
        net.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="empty string"):
        net.add_module("", nn.ReLU())
    with pytest.raises(TypeError, match="is not a Module subclass"):
        net.add_module("x", 3)
    with pytest.raises(TypeError, match="cannot assign 'nnlite.Tensor' object to parameter 'p'"):
        net.register_parameter("p", nnlite.zeros(1))

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(nnlite.ones(1))

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Early()
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        nn.Module(x=1)


def test_get_submodule_parameter_buffer():
    net = Net()
    assert net.get_submodule("block.0") is net.block[0]
    assert net.get_submodule("") is net
    assert net.get_parameter("block.0.bias") is net.block[0].bias
    assert net.get_buffer("counter") is net.counter
    with pytest.raises(AttributeError, match="Sequential has no attribute `7`"):
        net.get_submodule("block.7")
    with pytest.raises(AttributeError, match="`scale` is not an nn.Module"):
        net.get_submodule("scale")
    with pytest.raises(AttributeError, match="`fc1` is not an nn.Parameter"):
        net.get_parameter("fc1")
    with pytest.raises(AttributeError, match="`scale` is not a buffer"):
        net.get_buffer("scale")


def test_train_eval_apply_and_requires_grad():
    net = Net()
    assert net.training and net.block[0].training
    assert net.eval() is net
    assert not net.training and not net.block[1].training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "Identity", "Sequential", "Net"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_zero_grad_and_forward_backward():
    net = Net()
    out = net(nnlite.randn(2, 3)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_forward_hooks_and_pre_hooks_with_removable_handles():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = lin(nnlite.ones(1, 2))
    assert_close(out, lin.bias.detach().reshape(1, 2) + 1)
    assert calls == [(1, 2)]
    pre.remove()
    post.remove()
    assert_close(lin(nnlite.zeros(1, 2)), lin.bias.detach().reshape(1, 2))
    assert calls == [(1, 2)]
    order = []
    lin.register_forward_hook(lambda m, a, o: order.append("second"))
    with lin.register_forward_hook(lambda m, a, o: order.append("first"), prepend=True):
        lin(nnlite.zeros(1, 2))
    lin(nnlite.zeros(1, 2))
    assert order == ["first", "second", "second"]


def test_hooks_with_kwargs_and_always_call():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            if factor < 0:
                raise ValueError("negative factor")
            return x * factor

    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs["factor"] * 2}),
                                with_kwargs=True)
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["factor"]), with_kwargs=True)
    assert_close(m(nnlite.ones(2), factor=3.0), np.full(2, 6.0))
    assert seen == [6.0]
    always = []
    m.register_forward_hook(lambda mod, args, out: always.append(out), always_call=True)
    with pytest.raises(ValueError, match="negative factor"):
        m(nnlite.ones(2), factor=-1.0)
    assert always == [None]


def test_missing_forward_raises():
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(1)


def test_to_double_float_and_dtype_errors():
    net = Net()
    weight = net.fc1.weight
    net.fc1.weight.grad = nnlite.ones(4, 3)
    assert net.double() is net
    assert net.fc1.weight is weight  # same Parameter object: optimizers keep working
    assert weight.dtype is nnlite.float64 and weight.grad.dtype is nnlite.float64
    assert net.counter.dtype is nnlite.float64
    net.to(nnlite.float32)
    assert weight.dtype is nnlite.float32
    net.to(nnlite.zeros(1, dtype=nnlite.float64))
    assert weight.dtype is nnlite.float64
    net.float()
    assert weight.dtype is nnlite.float32
    with pytest.raises(TypeError, match="only accepts floating point or complex dtypes"):
        net.to(nnlite.int64)
    bn = nn.BatchNorm2d(2).double()
    assert bn.num_batches_tracked.dtype is nnlite.int64  # integer buffers keep their dtype
    bn.type(nnlite.float32)
    assert bn.num_batches_tracked.dtype is nnlite.float32  # .type() casts everything, as torch


def test_to_device(device):
    net = Net().to(device)
    assert all(p.device.type == device for p in net.parameters())
    assert all(b.device.type == device for b in net.buffers())
    out = net(nnlite.randn(2, 3, device=device))
    assert out.device.type == device
    assert net.cpu().fc1.weight.device.type == "cpu"


def test_deepcopy_keeps_structure_and_copies_data():
    net = Net()
    twin = copy.deepcopy(net)
    assert isinstance(twin.fc1.weight, nn.Parameter) and twin.fc1.weight is not net.fc1.weight
    assert_close(twin.fc1.weight, net.fc1.weight)
    with nnlite.no_grad():
        twin.fc1.weight.fill_(0)
    assert float(net.fc1.weight.abs().sum()) > 0


def test_dir_lists_registered_names():
    names = dir(Net())
    assert {"fc1", "block", "scale", "counter", "forward"} <= set(names)


# ------------------------------------------------------------------ state dict


def test_state_dict_keys_detached_and_non_persistent_excluded():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "counter", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias"]
    assert not sd["fc1.weight"].requires_grad and not isinstance(sd["fc1.weight"], nn.Parameter)
    assert sd["fc1.weight"].data_ptr() == net.fc1.weight.data_ptr()  # shares memory, as torch
    assert net.state_dict(keep_vars=True)["fc1.weight"] is net.fc1.weight
    assert list(net.state_dict(prefix="p."))[0] == "p.scale"
    assert sd._metadata["fc1"] == {"version": 1}


def test_state_dict_keys_and_shapes_match_torch(torch):
    t = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                            torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    n = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 4 * 4, 10))
    tsd, nsd = t.state_dict(), n.state_dict()
    assert list(tsd) == list(nsd)
    for k in tsd:
        assert tuple(tsd[k].shape) == tuple(nsd[k].shape), k
        assert str(tsd[k].dtype).replace("torch.", "") == nsd[k].dtype.name, k


def test_load_state_dict_roundtrip_and_numpy_values():
    src, dst = Net(), Net()
    result = dst.load_state_dict({k: v.numpy() for k, v in src.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for k, v in src.state_dict().items():
        assert_close(dst.state_dict()[k], v)
    weight = dst.fc1.weight
    dst.load_state_dict(src.state_dict())
    assert dst.fc1.weight is weight  # copied in place
    dst.load_state_dict(src.state_dict(), assign=True)
    assert dst.fc1.weight is not weight and isinstance(dst.fc1.weight, nn.Parameter)
    assert dst.fc1.weight.requires_grad


def test_load_state_dict_casts_dtype_in_place():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.eye(2), "bias": np.zeros(2)})
    assert lin.weight.dtype is nnlite.float32
    assert_close(lin.weight, np.eye(2))


def test_load_state_dict_errors_worded_like_torch(torch):
    t, n = torch.nn.Linear(3, 4), nn.Linear(3, 4)
    bad = {"weight": np.zeros((4, 2), np.float32), "extra": np.zeros(1, np.float32)}
    with pytest.raises(RuntimeError) as theirs:
        t.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as ours:
        n.load_state_dict(bad)
    expected = str(theirs.value).replace("torch.Size", "nnlite.Size")
    assert str(ours.value) == expected
    assert str(ours.value).startswith("Error(s) in loading state_dict for Linear:\n\t"
                                      'Missing key(s) in state_dict: "bias". \n\t'
                                      'Unexpected key(s) in state_dict: "extra". \n\t'
                                      "size mismatch for weight: copying a param with shape")


def test_load_state_dict_non_strict_reports_keys():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["block.9.weight"] = nnlite.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"]
    assert result.unexpected_keys == ["block.9.weight"]
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])
    with pytest.raises(RuntimeError, match='While copying the parameter named "scale", expected'):
        net.load_state_dict({**net.state_dict(), "scale": "text"})


def test_loading_torch_state_dict_gives_torch_outputs(torch):
    tnet = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    net.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((4, 5))
    assert_close(net(nnlite.tensor(x)), tnet(torch.tensor(x)), rtol=1e-12, atol=1e-12)
    direct = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    direct.load_state_dict(tnet.state_dict())  # torch tensors themselves convert through __array__
    assert_close(direct(nnlite.tensor(x)), tnet(torch.tensor(x)), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ repr


def test_repr_matches_torch_for_nested_models(torch):
    def build(lib):
        m = lib.nn.Sequential(OrderedDict([
            ("conv", lib.nn.Conv2d(3, 8, 3, padding=1, bias=False)),
            ("bn", lib.nn.BatchNorm2d(8, momentum=None)),
            ("act", lib.nn.ReLU(inplace=True)),
            ("pool", lib.nn.MaxPool2d(2)),
            ("heads", lib.nn.ModuleList([lib.nn.Linear(4, 4) for _ in range(3)] + [lib.nn.Dropout(0.1)])),
            ("table", lib.nn.ModuleDict({"a": lib.nn.Flatten(), "b": lib.nn.Identity()})),
        ]))
        return m
    assert repr(build(nnlite)) == repr(build(torch))


class WithExtra(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(1, 1)

    def extra_repr(self):
        return "alpha=1\nbeta=2"


def test_repr_with_multiline_extra_repr():
    assert repr(WithExtra()) == ("WithExtra(\n  alpha=1\n  beta=2\n"
                                 "  (inner): Linear(in_features=1, out_features=1, bias=True)\n)")


def test_parameter_repr_and_class(torch):
    p = nn.Parameter(nnlite.tensor([1.0, 2.0]))
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))
    assert type(p * 2) is nnlite.Tensor
    assert not nn.Parameter(nnlite.ones(1), requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    with pytest.raises(TypeError, match="data must be a Tensor"):
        nn.Parameter([1.0])


@pytest.mark.parametrize("call", [
    lambda lib, m: m.set_submodule("block.1", lib.nn.ReLU()),
    lambda lib, m: m.set_submodule("block.new", lib.nn.ReLU()),
    lambda lib, m: m.set_submodule("block.new", lib.nn.ReLU(), strict=True),
    lambda lib, m: m.set_submodule("", lib.nn.ReLU()),
    lambda lib, m: m.set_submodule("fc1", 3),
    lambda lib, m: m.set_submodule("scale", lib.nn.ReLU()),
    lambda lib, m: m.set_submodule("nope.x", lib.nn.ReLU()),
    lambda lib, m: m.register_module("extra", lib.nn.Tanh()),
])
def test_set_submodule_and_register_module_match_torch(torch, call):
    results = []
    for lib in (nnlite, torch):
        model = lib.nn.Module()
        model.fc1 = lib.nn.Linear(3, 4)
        model.block = lib.nn.Sequential(lib.nn.Linear(4, 4), lib.nn.Identity())
        model.scale = lib.nn.Parameter(lib.ones(1))
        try:
            call(lib, model)
            results.append([(n, type(m).__name__) for n, m in model.named_modules()])
        except Exception as error:
            results.append((type(error).__name__, str(error).replace("torch", "nnlite")))
    assert results[0] == results[1]


def test_to_empty_keeps_shapes_dtypes_and_parameter_objects(device):
    net = Net().double()
    weight = net.fc1.weight
    net.to_empty(device=device)
    assert net.fc1.weight is weight and weight.device.type == device and weight.dtype == nnlite.float64
    assert net.counter.shape == (2,) and net.counter.device.type == device
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc1.weight", "fc1.bias", "block.0.weight",
                                                      "block.0.bias"]


def test_pickled_module_without_new_hook_dicts_still_works():
    import pickle
    lin = nn.Linear(2, 2)
    state = lin.__getstate__() if hasattr(lin, "__getstate__") else dict(lin.__dict__)
    state = {k: v for k, v in dict(state).items() if k not in ("_backward_pre_hooks", "_state_dict_pre_hooks")}
    old = nn.Linear.__new__(nn.Linear)
    old.__setstate__(state)
    assert old._backward_pre_hooks == OrderedDict() and old._state_dict_pre_hooks == OrderedDict()
    assert old(nnlite.ones(1, 2)).shape == (1, 2)
    assert pickle.loads(pickle.dumps(lin)).state_dict().keys() == lin.state_dict().keys()
