"""The sorting family vs torch on the same inputs: sort along the last dim, a detection head's
topk over many scores, and unique of integer labels."""
import numpy as np

from cases import Case


def _pair(device, array):
    import nnlite
    import torch
    return nnlite.tensor(array, device=device), torch.tensor(array, device=device)


def sort_case(device):
    """sort (256, 4096) float32 along the last dim (torch with stable=True, the order nnlite gives)."""
    import nnlite
    import torch
    x, tx = _pair(device, np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32))
    return lambda: nnlite.sort(x), lambda: torch.sort(tx, stable=True)


def topk_case(device):
    """topk 1000 of 200k scores (an RPN level's pre-NMS selection)."""
    import nnlite
    import torch
    x, tx = _pair(device, np.random.default_rng(1).random(200000).astype(np.float32))
    return lambda: nnlite.topk(x, 1000), lambda: torch.topk(tx, 1000)


def unique_case(device):
    """unique of 1M int64 labels in 0..999 with inverse and counts."""
    import nnlite
    import torch
    x, tx = _pair(device, np.random.default_rng(2).integers(0, 1000, 1_000_000))
    return (lambda: nnlite.unique(x, return_inverse=True, return_counts=True),
            lambda: torch.unique(tx, return_inverse=True, return_counts=True))


BENCH_CASES = [
    Case("sort (256,4096) dim -1", sort_case, bar=3.0),
    Case("topk 1000 of 200k", topk_case, bar=5.0),
    Case("unique 1M int64 inverse+counts", unique_case, bar=3.0),
]
