"""Ranks that do not meet: NNLITE_FAILURE=stall (rank 1 skips a collective: rank 0 times out with a
clear error) or raise (rank 1 dies of an exception: the job ends instead of rank 0 waiting forever).
Each rank writes what happened to its report file."""
import datetime
import json
import os
import sys

import nnlite
import nnlite.distributed as dist


def report(**fields):
    path = os.path.join(os.environ["NNLITE_MPICHECK_DIR"], f"rank{dist.get_rank()}.jsonl")
    with open(path, "a") as f:
        f.write(json.dumps(fields) + "\n")


def main(mode):
    timeout = 2 if mode == "stall" else 600
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=timeout))
    if dist.get_rank() == 1:
        report(check=mode, rank=1, ok=True, event="skipping the collective")
        if mode == "raise":
            raise RuntimeError("rank 1 fails on purpose")
        return
    try:
        dist.all_reduce(nnlite.ones(4))
    except dist.DistBackendError as err:
        report(check=mode, rank=0, ok=True, event="error", error=str(err))
        try:
            dist.all_reduce(nnlite.ones(4))
        except dist.DistBackendError as again:
            report(check=mode, rank=0, ok=True, event="unusable", error=str(again))
        sys.exit(3)
    report(check=mode, rank=0, ok=False, event="all_reduce returned without rank 1")


if __name__ == "__main__":
    main(os.environ["NNLITE_FAILURE"])
