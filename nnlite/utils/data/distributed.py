"""DistributedSampler: each process of a data-parallel job reads its own share of a dataset.

The shuffled order equals torch's index lists for the same seed and epoch: torch seeds a
CPU generator (a 32-bit Mersenne Twister) with seed + epoch and shuffles with
Fisher-Yates, drawing one 32-bit number per position. nnlite's own generator is
counter-based and gives other permutations, so this file draws from NumPy's legacy
MT19937 stream (stable by NumPy's compatibility policy), which is the same engine
seeded the same way. A job that mixes torch and nnlite processes therefore splits the
data identically.
"""
import math

import numpy as np
from numba import njit

from . import Sampler

__all__ = ["DistributedSampler"]

# torch draws a 32-bit number per swap while n < 2**32 / 20. Beyond, it draws 64 bits (two
# 32-bit outputs, the first as the high word): that branch follows a reading of torch's
# generator and is not compared with torch, a permutation of 214M indices being too slow here.
_SMALL_N = (2 ** 32 - 1) // 20


def torch_randperm(n, seed):
    """torch.randperm(n, generator=torch.Generator().manual_seed(seed)) as an int64 array."""
    if n <= 1:
        return np.arange(n, dtype=np.int64)
    # torch keeps the low 32 bits of the seed (negative seeds wrap as uint64 first)
    stream = np.random.RandomState(seed & 0xFFFFFFFF)
    if n < _SMALL_N:
        draws = stream.randint(0, 2 ** 32, size=n - 1, dtype=np.uint32).astype(np.int64)
    else:
        pairs = stream.randint(0, 2 ** 32, size=(n - 1, 2), dtype=np.uint32).astype(np.uint64)
        draws = (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]
    # swap targets for every position at once; only the swaps themselves run in order
    remaining = np.arange(n, 1, -1, dtype=np.uint64 if draws.dtype == np.uint64 else np.int64)
    targets = (draws % remaining).astype(np.int64) + np.arange(n - 1)
    return _swap_in_order(targets, n)


@njit(cache=True)
def _swap_in_order(targets, n):
    """Fisher-Yates with the swap targets drawn already: inherently sequential, so compiled."""
    order = np.arange(n)
    for i in range(targets.shape[0]):
        j = targets[i]
        order[i], order[j] = order[j], order[i]
    return order


def _process_group():
    """nnlite.distributed, once it is known to be usable (torch's checks and messages)."""
    try:
        from ... import distributed as dist
    except ImportError:
        dist = None
    if dist is None or not dist.is_available():
        raise RuntimeError("Requires distributed package to be available")
    if not dist.is_initialized():
        # torch's get_world_size() raises this when init_process_group was not called
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return dist


class DistributedSampler(Sampler):
    """Restrict data loading to the share of one process (torch.utils.data.distributed).

    Rank r takes positions r, r + num_replicas, ... of the (shuffled) index list, padded
    by repeating its head to a multiple of num_replicas, or cut to one with drop_last.
    Call set_epoch(epoch) before each epoch to get a new order.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = _process_group().get_world_size()
        if rank is None:
            rank = _process_group().get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            # the largest multiple of num_replicas not above n (torch's formula)
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def _all_indices(self):
        n = len(self.dataset)
        if self.shuffle:
            return torch_randperm(n, self.seed + self.epoch)
        return np.arange(n)

    def _indices(self):
        indices = self._all_indices()
        if not self.drop_last:
            padding = self.total_size - len(indices)
            # the head repeated (the whole list as often as needed when padding exceeds it)
            indices = np.concatenate([indices, np.resize(indices, padding)])
        else:
            indices = indices[:self.total_size]
        if len(indices) != self.total_size:
            raise AssertionError(f"Number of indices ({len(indices)}) does not match total_size "
                                 f"({self.total_size})")
        mine = indices[self.rank:self.total_size:self.num_replicas]
        if len(mine) != self.num_samples:
            raise AssertionError(f"Number of subsampled indices ({len(mine)}) does not match num_samples "
                                 f"({self.num_samples})")
        return mine

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Shuffle with seed + epoch from now on (the same on every rank)."""
        self.epoch = epoch
