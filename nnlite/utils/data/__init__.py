"""A minimal torch.utils.data: datasets, samplers and a single-process DataLoader.

Enough for the common in-memory training loop; batches of tensors are built
by indexing whole tensors at once rather than stacking samples one by one.
"""
import itertools

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


class Sampler:
    """Base class of samplers: __iter__ yields dataset indices (or lists of them, for batch samplers)."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self):
        return np.arange(len(self.data_source))

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


class RandomSampler(Sampler):
    """A fresh permutation per pass (or num_samples draws, with replacement if asked).

    Draws come from nnlite's generators (`generator`, else the default one), so a pass
    is reproducible after nnlite.manual_seed but is not torch's permutation.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        _check_positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self):
        from ...functional.creation import randint, randperm
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return randint(0, n, (count,), generator=self.generator).numpy()
        # num_samples beyond n: whole permutations, then the head of one more (as torch)
        perms = [randperm(n, generator=self.generator).numpy() for _ in range(count // n + 1)]
        return np.concatenate(perms)[:count]

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        from ...functional.creation import randperm
        for i in randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Group the indices of `sampler` into lists of batch_size (the last one shorter unless drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        _check_positive_int("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        indices = iter(self.sampler)
        while True:
            batch = list(itertools.islice(indices, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


class DataLoader:
    """Iterate a dataset in batches, in the order a sampler gives (single process).

    torch's arguments; num_workers, pin_memory and the other multi-process options are
    accepted and checked but everything runs in this process. For a TensorDataset a
    batch is one advanced-indexing gather per tensor; other datasets are collated
    sample by sample with `stack`.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, pin_memory_device="", in_order=True):
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    def __len__(self):
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    def __iter__(self):
        if not self._auto_collation:  # batch_size=None: one sample at a time, uncollated
            for i in self.sampler:
                sample = self.dataset[i]
                yield self.collate_fn(sample) if self.collate_fn is not None else sample
            return
        for idx in self._index_batches():
            yield self._fetch(idx)

    def _index_batches(self):
        """Index batches as int64 arrays; the common samplers are sliced from one array, not listed."""
        batcher = self.batch_sampler
        # only where the sampler's own __iter__ is the stock one: a subclass may reorder
        if type(batcher) is BatchSampler and type(batcher.sampler).__iter__ in _SLICEABLE:
            order = np.asarray(batcher.sampler._indices(), dtype=np.int64)
            size = batcher.batch_size
            stop = len(order) - len(order) % size if batcher.drop_last else len(order)
            for start in range(0, stop, size):
                yield order[start:start + size]
        else:
            for batch in batcher:
                yield np.asarray(batch, dtype=np.int64)

    def _fetch(self, idx):
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:
            from ...functional.creation import tensor
            index = tensor(idx, device=self.dataset.tensors[0].device)
            return tuple(t[index] for t in self.dataset.tensors)
        samples = [self.dataset[int(i)] for i in idx]
        return (self.collate_fn or default_collate)(samples)


def _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers):
    """torch's checks of the multi-process options (which this loader accepts and does not use)."""
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                         "multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing.let "
                         "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


def default_collate(samples):
    """Stack tensors (and numbers) sample-wise, recursing into tuples and dicts."""
    from ...functional.creation import tensor
    from ...functional.shape import stack
    from ...tensor import Tensor
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


from .distributed import DistributedSampler  # noqa: E402  (needs Sampler, defined above)

# samplers whose __iter__ is iter(self._indices()): DataLoader slices that array instead
_SLICEABLE = {SequentialSampler.__iter__, RandomSampler.__iter__, DistributedSampler.__iter__}

__all__ = ["BatchSampler", "DataLoader", "Dataset", "DistributedSampler", "RandomSampler", "Sampler",
           "SequentialSampler", "SubsetRandomSampler", "TensorDataset", "default_collate"]
