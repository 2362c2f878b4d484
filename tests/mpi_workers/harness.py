"""Runs checks inside `mpiexec -n N` processes and reports each one as a JSON line.

A worker script registers its checks with @check and calls main(); every rank runs every
check in order, then all ranks meet at a barrier so that one failing check cannot leave the
next one out of step. tests/test_distributed.py launches the script and turns each reported
check into its own pytest item (see `launch`).
"""
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

CHECKS = {}
CUDA = os.environ.get("NNLITE_TEST_DEVICE", "cpu") == "cuda"
TIMEOUT_S = 20  # each collective in a check; the whole launch has its own limit (launch)


def check(fn):
    """A check run on every device."""
    CHECKS[fn.__name__] = fn
    return fn


def cpu_check(fn):
    """A check run on CPU tensors only (too slow for the CUDA simulator, or about the CPU path)."""
    if not CUDA:
        CHECKS[fn.__name__] = fn
    return fn


def main():
    import nnlite.distributed as dist
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=TIMEOUT_S))
    rank = dist.get_rank()
    # ranks' stdout interleaves under mpiexec: each rank writes its own report file
    report = open(os.path.join(os.environ["NNLITE_MPICHECK_DIR"], f"rank{rank}.jsonl"), "w")
    for name, fn in CHECKS.items():
        try:
            fn()
            result = {"check": name, "rank": rank, "ok": True}
        except Exception:  # reported, and the next check still runs
            result = {"check": name, "rank": rank, "ok": False, "error": traceback.format_exc()}
        report.write(json.dumps(result) + "\n")
        report.flush()
        dist.barrier()
    report.close()
    dist.destroy_process_group()


def mpiexec():
    """The mpiexec of the MPI that mpi4py was built with (pip's mpich puts it beside python)."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def launch(script, n=2, env=None, timeout=600):
    """Run `script` on n ranks; returns (results by check: [per-rank dicts], the completed process)."""
    with tempfile.TemporaryDirectory() as reports:
        proc = _run(script, n, dict(env or {}, NNLITE_MPICHECK_DIR=reports), timeout)
        results = {}
        for name in sorted(os.listdir(reports)):
            with open(os.path.join(reports, name)) as f:
                for line in f:
                    r = json.loads(line)
                    results.setdefault(r["check"], []).append(r)
    return results, proc


def _run(script, n, env, timeout):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
                    OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    full_env.update(env)
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, script], env=full_env,
                          capture_output=True, text=True, timeout=timeout)


_launched = {}


def shared_launch(key, run):
    """run() once per test session for `key`. Under pytest-xdist the workers share the result
    through files in a folder of this run (PYTEST_XDIST_TESTRUNUID), the first worker running
    it under a lock while the others wait; without xdist, in memory."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        if key not in _launched:
            _launched[key] = run()
        return _launched[key]
    folder = os.path.join(tempfile.gettempdir(), f"nnlite-mpi-{run_id}")
    os.makedirs(folder, exist_ok=True)
    saved = os.path.join(folder, key + ".json")
    with open(os.path.join(folder, key + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(saved):
            results, proc = run()
            with open(saved + ".tmp", "w") as f:
                json.dump({"results": results, "returncode": proc.returncode, "stdout": proc.stdout,
                           "stderr": proc.stderr}, f)
            os.replace(saved + ".tmp", saved)
    with open(saved) as f:
        done = json.load(f)
    return done["results"], subprocess.CompletedProcess([], done["returncode"], done["stdout"], done["stderr"])


def assert_passed(results, proc, name, n=2):
    """Every rank ran check `name` and it passed there."""
    reports = results.get(name, [])
    failures = [r for r in reports if not r["ok"]]
    if failures:
        raise AssertionError("\n".join(f"rank {r['rank']}:\n{r['error']}" for r in failures))
    if len(reports) != n:
        raise AssertionError(f"{name} reported on {len(reports)} of {n} ranks (exit {proc.returncode});\n"
                             f"stderr:\n{proc.stderr[-3000:]}")
