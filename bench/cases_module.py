"""nn.Module machinery vs torch's: the Python path of calls, hooks and checkpoints (issue 12, part C).
No kernels of their own: these rows watch the per-call overhead that every layer pays."""
import numpy as np

from cases import Case


def _mlp(lib, width=256, depth=4):
    layers = []
    for _ in range(depth):
        layers += [lib.nn.Linear(width, width), lib.nn.ReLU()]
    return lib.nn.Sequential(*layers)


def _same_weights(model, ref):
    model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


def hooked_mlp_case(device):
    """fwd+bwd of a 4-layer MLP (64x256) with a full backward hook and a forward hook on every Linear."""
    import nnlite
    import torch
    model, ref = _mlp(nnlite), _mlp(torch)
    _same_weights(model, ref)
    model.to(device)
    ref.to(device)
    for lib_model in (model, ref):
        for layer in lib_model:
            if hasattr(layer, "weight"):
                layer.register_full_backward_hook(lambda m, gi, go: None)
                layer.register_forward_hook(lambda m, a, o: None)
    x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    xn = nnlite.tensor(x, device=device, requires_grad=True)
    xt = torch.tensor(x, device=device, requires_grad=True)

    def run(m, inp):
        def step():
            inp.grad = None
            m(inp).sum().backward()
        return step
    return run(model, xn), run(ref, xt)


def call_overhead_case(device):
    """100 calls of an Identity module with no hooks: the cost of Module.__call__ itself."""
    import nnlite
    import torch
    mine, theirs = nnlite.nn.Identity(), torch.nn.Identity()
    xn, xt = nnlite.ones(1, device=device), torch.ones(1)

    def run(m, x):
        def step():
            for _ in range(100):
                m(x)
        return step
    return run(mine, xn), run(theirs, xt)


def state_dict_roundtrip_case(device):
    """state_dict() then load_state_dict() of a 40-layer MLP (width 64)."""
    import nnlite
    import torch
    model, ref = _mlp(nnlite, 64, 20), _mlp(torch, 64, 20)
    model.to(device)
    return (lambda: model.load_state_dict(model.state_dict())), (lambda: ref.load_state_dict(ref.state_dict()))


BENCH_CASES = [
    Case("module: MLP fwd+bwd, hooks on every Linear", hooked_mlp_case),
    Case("module: 100 Identity calls, no hooks", call_overhead_case),
    Case("module: state_dict round trip, 40 layers", state_dict_roundtrip_case),
]
