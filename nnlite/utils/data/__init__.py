"""A minimal torch.utils.data: Dataset, TensorDataset, DataLoader (single process).

Enough for the common in-memory training loop; batches of tensors are built
by indexing whole tensors at once rather than stacking samples one by one.
"""
import numpy as np


class Dataset:
    """Map-style dataset: __getitem__(i) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError("Dataset subclasses implement __getitem__")

    def __len__(self):
        raise NotImplementedError("Dataset subclasses implement __len__")


class TensorDataset(Dataset):
    """Samples are the i-th rows of tensors that share their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("Size mismatch between tensors: all must have the same first dimension")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class DataLoader:
    """Iterate a dataset in (optionally shuffled) batches.

    For a TensorDataset a batch is one advanced-indexing gather per tensor;
    other datasets are collated sample by sample with `stack`.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
                 collate_fn=None, **_ignored):
        if batch_size is None or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.collate_fn = collate_fn

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        from ..functional.creation import randperm
        n = len(self.dataset)
        if self.shuffle:
            return randperm(n, generator=self.generator).numpy()
        return np.arange(n)

    def __iter__(self):
        from ..functional.creation import tensor
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            if len(idx) < self.batch_size and self.drop_last:
                return
            if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:
                index = tensor(idx, device=self.dataset.tensors[0].device)
                yield tuple(t[index] for t in self.dataset.tensors)
            else:
                samples = [self.dataset[int(i)] for i in idx]
                yield (self.collate_fn or default_collate)(samples)


def default_collate(samples):
    """Stack tensors (and numbers) sample-wise, recursing into tuples and dicts."""
    from ..functional.creation import tensor
    from ..functional.shape import stack
    from ..tensor import Tensor
    first = samples[0]
    if isinstance(first, Tensor):
        return stack(samples)
    if isinstance(first, (int, float, bool, np.number)):
        return tensor(samples)
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(group)) for group in zip(*samples))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    return samples
