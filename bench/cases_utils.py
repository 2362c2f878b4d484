"""nn.utils rows: gradient clipping over a model's worth of gradients, and an orthogonal
parametrization's forward+backward, vs torch on the same data."""
import numpy as np

from cases import Case


def _param_pairs(device, count, size, seed=0):
    """count float32 parameters of `size` elements with random grads, as nnlite and torch lists."""
    import nnlite
    import torch
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for _ in range(count):
        w, g = rng.standard_normal(size, np.float32), rng.standard_normal(size, np.float32)
        p = nnlite.nn.Parameter(nnlite.tensor(w, device=device))
        p.grad = nnlite.tensor(g, device=device)
        q = torch.nn.Parameter(torch.tensor(w, device=device))
        q.grad = torch.tensor(g, device=device)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


def clip_case(count, size, norm_type):
    def build(device):
        import nnlite.nn.utils
        import torch
        ours, theirs = _param_pairs(device, count, size)
        # max_norm far above the norm: the gradients keep their size from one repeat to the next
        return (lambda: nnlite.nn.utils.clip_grad_norm_(ours, 1e9, norm_type),
                lambda: torch.nn.utils.clip_grad_norm_(theirs, 1e9, norm_type))
    label = "inf" if norm_type == float("inf") else f"{norm_type:g}"
    return Case(f"clip_grad_norm_ p={label} {count}x{size // 1000}k floats", build, bar=1.5)


def orthogonal_case(n, orth_map):
    def build(device):
        import nnlite
        import nnlite.nn.utils.parametrizations as pz
        import torch
        theirs = torch.nn.Linear(n, n, device=device)
        ours = nnlite.nn.Linear(n, n, device=device)
        ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in theirs.state_dict().items()})
        torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=orth_map)
        pz.orthogonal(ours, orthogonal_map=orth_map)

        def step(module):
            def run():
                module.zero_grad()
                module.weight.sum().backward()
            return run
        return step(ours), step(theirs)
    return Case(f"orthogonal {orth_map} {n}x{n} weight fwd+bwd", build, bar=3.0, repeat=5)


BENCH_CASES = [
    clip_case(50, 200_000, 2.0),
    clip_case(50, 200_000, float("inf")),
    orthogonal_case(64, "matrix_exp"),
    orthogonal_case(64, "householder"),
]
