"""Train a small CNN on scikit-learn's digits with nnlite - the PyTorch way, nothing compiled.

    pip install -e ".[examples]"
    python examples/train_digits.py                 # CPU
    python examples/train_digits.py --device cuda   # a CUDA GPU
    mpiexec -n 2 python examples/train_digits.py --distributed   # 2 processes, DDP (pip install -e ".[distributed]")

The digits dataset (1,797 8x8 grey images of 0-9) ships inside scikit-learn,
so nothing is downloaded. The script ends with a line `test accuracy: 0.9xx`.
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import nnlite
import nnlite.distributed as dist
from nnlite import nn, optim
from nnlite.nn.parallel import DistributedDataParallel
from nnlite.utils.data import DataLoader, DistributedSampler, TensorDataset


class DigitsNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1, bias=False),   # 8x8
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                          # 4x4
            nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                          # 2x2
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(64 * 2 * 2, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(device):
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]      # (N, 1, 8, 8) in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    mean, std = x_train.mean(), x_train.std()
    to = lambda a: nnlite.tensor(a, device=device)  # noqa: E731
    return (to((x_train - mean) / std), to(y_train.astype(np.int64)),
            to((x_test - mean) / std), to(y_test.astype(np.int64)))


def evaluate(model, x, y, batch_size=512):
    model.eval()
    correct = 0
    with nnlite.no_grad():
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=batch_size):
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / len(y)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch (split over processes)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distributed", action="store_true",
                        help="one process per mpiexec rank: DistributedDataParallel + DistributedSampler")
    args = parser.parse_args()

    rank, world = 0, 1
    if args.distributed:
        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    nnlite.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_data(args.device)
    model = DigitsNet().to(args.device)
    train_model = DistributedDataParallel(model) if args.distributed else model
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    train_set = TensorDataset(x_train, y_train)
    sampler = DistributedSampler(train_set, world, rank, seed=args.seed) if args.distributed else None
    loader = DataLoader(train_set, batch_size=args.batch_size // world, shuffle=sampler is None, sampler=sampler)
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"{sum(p.numel() for p in model.parameters())} parameters, {len(y_train)} training images, "
        f"device {args.device}" + (f", {world} processes" if args.distributed else ""))

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train_model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = tqdm(loader, desc=f"epoch {epoch:2d}/{args.epochs}", leave=False, mininterval=0.5, disable=rank != 0)
        total, seen = 0.0, 0
        for xb, yb in bar:
            optimizer.zero_grad()
            loss = loss_fn(train_model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            seen += len(yb)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        if rank == 0:
            share = " (rank 0's share)" if args.distributed else ""
            tqdm.write(f"epoch {epoch:2d}: train loss {total / seen:.4f}{share}, "
                       f"test accuracy {evaluate(model, x_test, y_test):.4f}")
    say(f"trained in {time.perf_counter() - start:.1f} s")
    say(f"test accuracy: {evaluate(model, x_test, y_test):.3f}")
    if args.distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
