"""nnlite.distributed's speed on 2 ranks:

    mpiexec -n 2 python bench/distributed.py

- all_reduce of 25M float32 (nnlite.distributed.all_reduce on a tensor) against mpi4py's own
  Allreduce on the same numpy buffer (issue bar: <= 1.1);
- a DistributedDataParallel training step of examples/train_digits.py's CNN, each rank on
  its half of a 64-image batch with one thread, against the same per-rank step without DDP
  (issue bar: <= 1.2, i.e. at most 20% more).
Each figure is the median over repeats, ranks kept in step by a barrier before each.
"""
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # "2 ranks x 1 thread": one core each
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))

import nnlite  # noqa: E402
import nnlite.distributed as dist  # noqa: E402
from nnlite import nn, optim  # noqa: E402
from nnlite.nn.parallel import DistributedDataParallel  # noqa: E402


def median_time(fn, repeat, warmup=2):
    comm = dist.group.WORLD.comm
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        comm.Barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def all_reduce_row(n=25_000_000, repeat=9):
    from mpi4py import MPI
    comm = dist.group.WORLD.comm
    ours = nnlite.ones(n)
    theirs = np.ones(n, np.float32)
    t_ours = median_time(lambda: dist.all_reduce(ours), repeat)
    t_mpi = median_time(lambda: comm.Allreduce(MPI.IN_PLACE, theirs, op=MPI.SUM), repeat)
    return "all_reduce 25M float32, 2 ranks", t_ours, t_mpi, 1.1


def ddp_step_row(global_batch=64, repeat=30):
    from train_digits import DigitsNet
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(rank)
    x = nnlite.tensor(rng.standard_normal((global_batch // world, 1, 8, 8)).astype(np.float32))
    y = nnlite.tensor(rng.integers(0, 10, global_batch // world))
    loss_fn = nn.CrossEntropyLoss()

    def step_of(model, params):
        optimizer = optim.AdamW(params, lr=1e-3)

        def step():
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        return step
    nnlite.manual_seed(0)
    plain = DigitsNet()
    nnlite.manual_seed(0)
    wrapped = DigitsNet()
    ddp = DistributedDataParallel(wrapped)
    t_plain = median_time(step_of(plain, plain.parameters()), repeat, warmup=5)
    t_ddp = median_time(step_of(ddp, wrapped.parameters()), repeat, warmup=5)
    return f"DDP step, digits CNN, {world} ranks x 1 thread, batch {global_batch // world}/rank", t_ddp, t_plain, 1.2


def main():
    dist.init_process_group("mpi")
    rows = [all_reduce_row(), ddp_step_row()]
    if dist.get_rank() == 0:
        print(f"nnlite {nnlite.__version__}; {dist.get_world_size()} ranks; NUMBA_NUM_THREADS="
              f"{os.environ['NUMBA_NUM_THREADS']}")
        print(f"{'case':58s} {'nnlite ms':>10s} {'baseline ms':>12s} {'ratio':>6s}  bar")
        for name, ours, base, bar in rows:
            ratio = ours / base
            print(f"{name:58s} {ours * 1e3:10.3f} {base * 1e3:12.3f} {ratio:6.2f}  <= {bar}"
                  f"{'' if ratio <= bar else '  (over)'}")
        print("baselines: mpi4py Allreduce on the same numpy buffer; the same per-rank step without DDP")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
