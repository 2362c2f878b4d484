"""nnlite.optim vs torch.optim: one optimizer step over many parameters (issue 12's row).

torch runs its multi-tensor `foreach` implementation; nnlite runs one fused
kernel per parameter. Both start from the same float32 parameters and
gradients; the step is repeated in place (the state keeps evolving the same way
in both), so the timing includes the state reads and writes of a real step.
"""
import numpy as np

from cases import Case


def optimizer_step_case(name, n_params, numel, torch_options=None, bar=1.0, **options):
    def build(device):
        import nnlite
        import nnlite.nn as nn
        import torch
        rng = np.random.default_rng(0)
        nl_params, th_params = [], []
        for _ in range(n_params):
            p, g = rng.standard_normal(numel, dtype=np.float32), rng.standard_normal(numel, dtype=np.float32)
            nl = nn.Parameter(nnlite.tensor(p, device=device))
            nl.grad = nnlite.tensor(g, device=device)
            th = torch.nn.Parameter(torch.tensor(p, device=device))
            th.grad = torch.tensor(g, device=device)
            nl_params.append(nl)
            th_params.append(th)
        nl_opt = getattr(nnlite.optim, name)(nl_params, **options)
        th_opt = getattr(torch.optim, name)(th_params, **options, **(torch_options or {}))
        return nl_opt.step, th_opt.step
    total = n_params * numel
    label = f"{total // 10**6}M params" if total >= 10**6 else f"{total} params"
    return Case(f"{name} step on {label}", build, bar=bar, repeat=5)


BENCH_CASES = [
    optimizer_step_case("Adam", 10, 1 << 20, torch_options={"foreach": True}, lr=1e-3),
    optimizer_step_case("RMSprop", 10, 1 << 20, torch_options={"foreach": True}, lr=1e-3, momentum=0.9),
    optimizer_step_case("NAdam", 10, 1 << 20, torch_options={"foreach": True}, lr=1e-3),
]
