"""nnlite.nn.utils.prune vs torch.nn.utils.prune on the same weights (issue 12, part B).

Mask computation runs once per pruning call, so its rows have no bar; the row that matters
in training is the pruned layer's forward, where the pre-hook's mask * orig is added to
every step."""
import numpy as np

from cases import Case


def _weight_pair(device, shape, zero_fraction=0.0, seed=0):
    import nnlite
    import torch
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) < zero_fraction] = 0     # zeros tie at the cut: torch's selection is replayed
    return nnlite.tensor(w, device=device), torch.tensor(w, device=device)


def l1_mask_case(zero_fraction):
    """L1Unstructured(0.5).compute_mask on a 1000x1000 weight."""
    def build(device):
        import nnlite
        import torch.nn.utils.prune as tprune
        from nnlite.nn.utils import prune
        w, tw = _weight_pair(device, (1000, 1000), zero_fraction)
        ones, tones = nnlite.ones_like(w), tw.new_ones(tw.shape)
        ours, theirs = prune.L1Unstructured(0.5), tprune.L1Unstructured(0.5)
        return lambda: ours.compute_mask(w, ones), lambda: theirs.compute_mask(tw, tones)
    return build


def ln_structured_mask_case(device):
    """LnStructured(0.5, n=2, dim=0).compute_mask on a (256, 256, 3, 3) conv weight."""
    import nnlite
    import torch.nn.utils.prune as tprune
    from nnlite.nn.utils import prune
    w, tw = _weight_pair(device, (256, 256, 3, 3))
    ones, tones = nnlite.ones_like(w), tw.new_ones(tw.shape)
    ours, theirs = prune.LnStructured(0.5, 2, 0), tprune.LnStructured(0.5, 2, 0)
    return lambda: ours.compute_mask(w, ones), lambda: theirs.compute_mask(tw, tones)


def pruned_linear_forward_case(device):
    """A pruned Linear(1024, 1024) forward+backward on a batch of 64 (the hook runs each call)."""
    import nnlite
    import torch
    import torch.nn.utils.prune as tprune
    from nnlite.nn.utils import prune
    ours, theirs = nnlite.nn.Linear(1024, 1024).to(device), torch.nn.Linear(1024, 1024).to(device)
    w, tw = _weight_pair(device, (1024, 1024), seed=1)
    ours.weight = nnlite.nn.Parameter(w)
    theirs.weight = torch.nn.Parameter(tw)
    prune.l1_unstructured(ours, "weight", 0.5)
    tprune.l1_unstructured(theirs, "weight", 0.5)
    x, tx = _weight_pair(device, (64, 1024), seed=2)

    def step_ours():
        ours.weight_orig.grad = None
        ours(x).sum().backward()

    def step_theirs():
        theirs.weight_orig.grad = None
        theirs(tx).sum().backward()
    return step_ours, step_theirs


BENCH_CASES = [
    Case("prune.l1_unstructured mask 1000x1000", l1_mask_case(0.0)),
    Case("prune.l1_unstructured mask 1000x1000 30% ties", l1_mask_case(0.3)),
    Case("prune.ln_structured mask (256,256,3,3) n=2", ln_structured_mask_case),
    Case("prune pruned Linear(1024) fwd+bwd batch 64", pruned_linear_forward_case, bar=1.5),
]
