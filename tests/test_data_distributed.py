"""nnlite.utils.data: DistributedSampler, the samplers and DataLoader(sampler=, batch_sampler=), against torch."""
import itertools
import types

import pytest

import nnlite
from nnlite.utils.data import (BatchSampler, DataLoader, Dataset, DistributedSampler, RandomSampler, Sampler,
                               SequentialSampler, SubsetRandomSampler, TensorDataset)
from nnlite.utils.data.distributed import torch_randperm

torch = pytest.importorskip("torch")
from torch.utils.data import distributed as torch_distributed  # noqa: E402


def torch_sampler(n, **kwargs):
    return torch_distributed.DistributedSampler(range(n), **kwargs)


def error_of(fn):
    """(type, message) of the exception fn raises."""
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


# ------------------------------------------------------------ the permutation


@pytest.mark.parametrize("seed", [0, 1, 42, -5, 2 ** 33 + 7])
def test_permutation_is_torchs(seed):
    for n in [0, 1, 2, 3, 10, 97, 1000, 4099]:
        g = torch.Generator()
        g.manual_seed(seed)
        assert torch_randperm(n, seed).tolist() == torch.randperm(n, generator=g).tolist(), (n, seed)


def test_nnlite_randperm_is_not_torchs():
    # why the sampler carries its own Mersenne Twister: nnlite's generator is counter-based
    g = nnlite.Generator()
    g.manual_seed(0)
    assert nnlite.randperm(50, generator=g).tolist() != torch_randperm(50, 0).tolist()


# ------------------------------------------------------------ DistributedSampler


@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("shuffle,drop_last", [(False, False), (False, True), (True, False), (True, True)])
def test_index_lists_equal_torchs(world, shuffle, drop_last):
    for n, seed, epoch in itertools.product([0, 1, 2, 5, 10, 13, 100], [0, 7], [0, 3]):
        for rank in range(world):
            kwargs = dict(num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
            ours, theirs = DistributedSampler(range(n), **kwargs), torch_sampler(n, **kwargs)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs), (n, kwargs, epoch)
            assert len(ours) == len(theirs) and ours.total_size == theirs.total_size


@pytest.mark.parametrize("n,world", [(10, 3), (12, 4), (2, 5), (7, 1)])
def test_ranks_partition_the_padded_list(n, world):
    shares = [list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=True, seed=3))
              for r in range(world)]
    assert len({len(s) for s in shares}) == 1  # every rank gets as many samples
    merged = [i for s in shares for i in s]
    assert set(merged) == set(range(n))  # nothing is left out ...
    assert len(merged) - n == (-n) % world  # ... and only the padding repeats
    dropped = [list(DistributedSampler(range(n), num_replicas=world, rank=r, seed=3, drop_last=True))
               for r in range(world)]
    flat = [i for s in dropped for i in s]
    assert len(flat) == len(set(flat)) == n - n % world  # disjoint after the cut


def test_padding_longer_than_the_data_repeats_whole_lists():
    shares = [list(DistributedSampler(range(2), num_replicas=5, rank=r, shuffle=False)) for r in range(5)]
    assert shares == [[0], [1], [0], [1], [0]]


def test_set_epoch_reseeds_and_is_deterministic():
    a = DistributedSampler(range(50), num_replicas=2, rank=0, seed=5)
    b = DistributedSampler(range(50), num_replicas=2, rank=0, seed=5)
    first = list(a)
    assert list(a) == first == list(b)  # no epoch change: the same order every pass
    a.set_epoch(1)
    assert list(a) != first
    same_sum = DistributedSampler(range(50), num_replicas=2, rank=0, seed=6)
    assert list(same_sum) == list(a)  # seed + epoch is what counts, as in torch


def test_dataset_is_not_modified():
    data = list(range(9))
    list(DistributedSampler(data, num_replicas=2, rank=1))
    assert data == list(range(9))


def test_rank_errors_match_torch():
    for rank in [2, -1, 5]:
        ours = error_of(lambda: DistributedSampler(range(4), num_replicas=2, rank=rank))
        assert ours == error_of(lambda: torch_sampler(4, num_replicas=2, rank=rank))
        assert ours[1] == f"Invalid rank {rank}, rank should be in the interval [0, 1]"


def fake_distributed(available=True, initialized=True, world=4, rank=2):
    return types.SimpleNamespace(is_available=lambda: available, is_initialized=lambda: initialized,
                                 get_world_size=lambda: world, get_rank=lambda: rank)


def test_world_and_rank_come_from_the_process_group(monkeypatch):
    monkeypatch.setattr(nnlite, "distributed", fake_distributed(world=4, rank=2), raising=False)
    sampler = DistributedSampler(range(10), shuffle=False)
    assert (sampler.num_replicas, sampler.rank) == (4, 2)
    assert list(sampler) == [2, 6, 0]


def test_missing_or_uninitialised_process_group(monkeypatch):
    monkeypatch.setattr(nnlite, "distributed", fake_distributed(available=False), raising=False)
    with pytest.raises(RuntimeError, match="^Requires distributed package to be available$"):
        DistributedSampler(range(4))
    monkeypatch.setattr(nnlite, "distributed", fake_distributed(initialized=False), raising=False)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(range(4), rank=0)  # torch's error when init_process_group was not called
    monkeypatch.delattr(nnlite, "distributed", raising=False)
    monkeypatch.setitem(__import__("sys").modules, "nnlite.distributed", None)  # not importable
    with pytest.raises(RuntimeError, match="Requires distributed package"):
        DistributedSampler(range(4), num_replicas=2)


# ------------------------------------------------------------ the other samplers


def test_sequential_and_batch_samplers_equal_torchs():
    from torch.utils.data import BatchSampler as TBatch, SequentialSampler as TSeq
    assert list(SequentialSampler(range(5))) == list(TSeq(range(5)))
    for n, size, drop in itertools.product([0, 1, 7, 9], [1, 3, 4], [False, True]):
        ours, theirs = BatchSampler(SequentialSampler(range(n)), size, drop), TBatch(TSeq(range(n)), size, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert list(BatchSampler([5, 1, 4], 2, False)) == [[5, 1], [4]]  # any iterable of indices


def test_random_samplers_draw_permutations():
    assert sorted(RandomSampler(range(20))) == list(range(20))
    long = list(RandomSampler(range(6), num_samples=15))
    assert len(long) == 15 and sorted(long[:6]) == sorted(long[6:12]) == list(range(6))
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=40))
    assert len(drawn) == 40 and set(drawn) <= {0, 1, 2}
    g1, g2 = nnlite.Generator(), nnlite.Generator()
    g1.manual_seed(4)
    g2.manual_seed(4)
    assert list(RandomSampler(range(30), generator=g1)) == list(RandomSampler(range(30), generator=g2))
    subset = [3, 8, 11, 20]
    picked = list(SubsetRandomSampler(subset))
    assert sorted(picked) == subset and len(SubsetRandomSampler(subset)) == 4


def test_sampler_errors_match_torch():
    from torch.utils.data import BatchSampler as TBatch, RandomSampler as TRandom
    cases = [(lambda m: m(range(3), replacement=1), RandomSampler, TRandom),
             (lambda m: m(range(3), num_samples=0), RandomSampler, TRandom),
             (lambda m: m(range(0)), RandomSampler, TRandom),
             (lambda m: m(range(3), 0, False), BatchSampler, TBatch),
             (lambda m: m(range(3), 2, None), BatchSampler, TBatch)]
    for build, ours, theirs in cases:
        assert error_of(lambda: build(ours)) == error_of(lambda: build(theirs))
    with pytest.raises(NotImplementedError):
        iter(Sampler())


# ------------------------------------------------------------ DataLoader


def loader_pair(n, device="cpu", **kwargs):
    """The same loader over rows 0..n-1 in nnlite and in torch; kwargs may hold sampler factories."""
    ours = {k: (v("nnlite") if callable(v) else v) for k, v in kwargs.items()}
    theirs = {k: (v("torch") if callable(v) else v) for k, v in kwargs.items()}
    x = nnlite.arange(n, device=device).float().view(n, 1)
    return (DataLoader(TensorDataset(x, nnlite.arange(n, device=device)), **ours),
            torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)), **theirs))


def distributed(world, rank, **kwargs):
    def make(lib):
        cls = DistributedSampler if lib == "nnlite" else torch_distributed.DistributedSampler
        return cls(range(11), num_replicas=world, rank=rank, seed=9, **kwargs)
    return make


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_with_distributed_sampler_equals_torch(device, drop_last):
    for rank in range(3):
        ours, theirs = loader_pair(11, device, batch_size=2, drop_last=drop_last, sampler=distributed(3, rank))
        got = [(xb.view(-1).long().tolist(), yb.tolist()) for xb, yb in ours]
        want = [b[0].tolist() for b in theirs]
        assert [y for _, y in got] == want and all(x == y for x, y in got)
        assert len(ours) == len(theirs)
        assert all(yb.device == nnlite.device(device) for _, yb in ours)


def test_loader_with_batch_sampler_equals_torch():
    def batches(lib):
        mod = nnlite.utils.data if lib == "nnlite" else torch.utils.data
        return mod.BatchSampler(distributed(2, 1, shuffle=True)(lib), 3, False)
    ours, theirs = loader_pair(11, batch_sampler=batches)
    assert [b[1].tolist() for b in ours] == [b[0].tolist() for b in theirs]
    assert len(ours) == len(theirs) == 2


def test_loader_with_any_sampler_and_a_custom_dataset():
    class Squares(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return i * i

    loader = DataLoader(Squares(), batch_size=4, sampler=[5, 0, 2])
    assert [b.tolist() for b in loader] == [[25, 0, 4]]
    assert [int(s) for s in DataLoader(Squares(), batch_size=None, sampler=[3, 1])] == [9, 1]
    assert len(DataLoader(Squares(), batch_size=None)) == 6


def test_loader_follows_a_subclassed_sampler():
    class Backwards(SequentialSampler):
        def __iter__(self):
            return iter(range(len(self.data_source) - 1, -1, -1))

    ds = TensorDataset(nnlite.arange(5))
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=Backwards(ds))] == [[4, 3], [2, 1], [0]]


def test_loader_option_errors_match_torch():
    ds, tds = TensorDataset(nnlite.arange(4)), torch.utils.data.TensorDataset(torch.arange(4))
    cases = [dict(shuffle=True, sampler=[0, 1]),
             dict(batch_sampler=[[0]], batch_size=2),
             dict(batch_sampler=[[0]], drop_last=True),
             dict(batch_sampler=[[0]], sampler=[0]),
             dict(batch_size=None, drop_last=True),
             dict(num_workers=-1),
             dict(prefetch_factor=2),
             dict(persistent_workers=True)]
    for kwargs in cases:
        ours = error_of(lambda: DataLoader(ds, **kwargs))
        assert ours == error_of(lambda: torch.utils.data.DataLoader(tds, **kwargs)), kwargs
    with pytest.raises(ValueError, match="^sampler option is mutually exclusive with shuffle$"):
        DataLoader(ds, shuffle=True, sampler=DistributedSampler(range(4), num_replicas=1, rank=0))
