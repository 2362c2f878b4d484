"""nnlite.utils.data: TensorDataset and DataLoader."""
import pytest

import nnlite
from nnlite.utils.data import DataLoader, Dataset, TensorDataset


def test_batches_cover_the_dataset_once():
    x = nnlite.arange(10).float().view(10, 1)
    y = nnlite.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
    assert len(loader) == 3
    seen = []
    for xb, yb in loader:
        assert xb.shape[0] == yb.shape[0] <= 4
        assert (xb.view(-1).long() == yb).all().item()
        seen += yb.tolist()
    assert sorted(seen) == list(range(10))


def test_drop_last_and_order():
    ds = TensorDataset(nnlite.arange(10))
    batches = [b[0].tolist() for b in DataLoader(ds, batch_size=4, drop_last=True)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_custom_dataset_is_collated():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return nnlite.tensor([float(i)]), i * i

    xb, yb = next(iter(DataLoader(Squares(), batch_size=5)))
    assert xb.shape == (5, 1) and yb.tolist() == [0, 1, 4, 9, 16]


def test_errors():
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(nnlite.ones(3), nnlite.ones(4))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(nnlite.ones(3)), batch_size=0)
