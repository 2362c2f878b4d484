"""nnlite.distributed: collectives on 2 MPI ranks against numpy (tests/mpi_workers/), failures
across ranks, and the errors a single process sees. The multi-process tests skip, with the
reason, where mpi4py or mpiexec is missing."""
import time

import pytest

import nnlite
import nnlite.distributed as dist

from tests.mpi_workers.harness import assert_passed
from tests.mpi_workers.launching import device_checks, needs_mpi, run_workers, worker_run


@needs_mpi
@pytest.mark.parametrize("device, check", device_checks("collectives_worker.py"))
def test_collective(device, check):
    assert_passed(*worker_run("collectives_worker.py", device), check)


@needs_mpi
@pytest.mark.parametrize("device, check", device_checks("ddp_worker.py"))
def test_distributed_data_parallel(device, check):
    assert_passed(*worker_run("ddp_worker.py", device), check)


# ---------------------------------------------------------------- ranks that do not meet

@needs_mpi
def test_a_rank_that_skips_a_collective_times_out_with_a_clear_error():
    start = time.perf_counter()
    results, proc = run_workers("failure_worker.py", timeout=400, NNLITE_FAILURE="stall")
    events = {r["event"]: r for r in results.get("stall", [])}
    assert "error" in events, f"rank 0 reported {results}; stderr:\n{proc.stderr[-2000:]}"
    assert "all_reduce: timed out after 2 s" in events["error"]["error"]
    assert "unusable" in events["unusable"]["error"], "a group that timed out refuses the next call"
    assert proc.returncode != 0
    assert time.perf_counter() - start < 300  # far below a hang, with room for a cold start on a busy machine


@needs_mpi
def test_a_rank_that_raises_ends_the_job():
    start = time.perf_counter()
    results, proc = run_workers("failure_worker.py", timeout=400, NNLITE_FAILURE="raise")
    seen = f"exit {proc.returncode}, reports {results}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert "rank 1 fails on purpose" in proc.stderr + proc.stdout, seen
    assert proc.returncode != 0, seen
    assert not any(r["event"] == "all_reduce returned without rank 1" for r in results.get("raise", []))
    assert time.perf_counter() - start < 300, "rank 0 was left waiting (its collective waits up to 600 s)"


# ---------------------------------------------------------------- one process, no MPI needed

def test_a_collective_before_init_process_group_is_a_clear_error():
    assert not dist.is_initialized()
    for call in (lambda: dist.all_reduce(nnlite.ones(2)), dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.new_group([0])):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            call()


def test_init_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown backend 'tcp'"):
        dist.init_process_group("tcp")
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group("mpi", timeout=30)
    assert not dist.is_initialized()


def test_reduce_op_names_match_torch():
    names = {op.name for op in dist.ReduceOp}
    assert {"SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"} <= names
    assert dist.Backend("MPI") == "mpi" and dist.Backend.MPI == "mpi"
    with pytest.raises(ValueError, match="MPI only"):
        dist.Backend("nccl")
