"""utils.data rows: DistributedSampler's shuffled index list and one epoch of a DataLoader
over a TensorDataset through a DistributedSampler, vs torch on the same data."""
import numpy as np

from cases import Case


def sampler_case(n, world):
    def build(device):
        from nnlite.utils.data import DistributedSampler
        from torch.utils.data.distributed import DistributedSampler as TorchSampler
        ours, theirs = DistributedSampler(range(n), world, 0), TorchSampler(range(n), world, 0)
        return lambda: list(ours), lambda: list(theirs)
    return Case(f"DistributedSampler shuffle {n // 1000}k, {world} ranks", build, bar=3.0, repeat=5)


def loader_epoch_case(n, features, batch, world):
    def build(device):
        import nnlite
        import torch
        from nnlite.utils.data import DataLoader, DistributedSampler, TensorDataset
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((n, features), np.float32), rng.integers(0, 10, n)
        ours = DataLoader(TensorDataset(nnlite.tensor(x, device=device), nnlite.tensor(y, device=device)),
                          batch_size=batch, sampler=DistributedSampler(range(n), world, 0))
        data = torch.utils.data.TensorDataset(torch.tensor(x, device=device), torch.tensor(y, device=device))
        theirs = torch.utils.data.DataLoader(data, batch_size=batch,
                                             sampler=torch.utils.data.DistributedSampler(data, world, 0))

        def epoch(loader):
            return lambda: [xb for xb, _ in loader]
        return epoch(ours), epoch(theirs)
    return Case(f"DataLoader epoch {n // 1000}k x {features} b{batch}, DistributedSampler/{world}", build,
                bar=1.5, repeat=3)


BENCH_CASES = [
    sampler_case(60_000, 2),
    sampler_case(1_000_000, 4),
    loader_epoch_case(20_000, 784, 256, 2),
]
