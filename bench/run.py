"""nnlite vs PyTorch on the same inputs, in one process: ms per call and the ratio.

    python bench/run.py                 # CPU, both libraries on 2 threads
    python bench/run.py --device cuda   # CUDA too, when a GPU is present
    python bench/run.py --only conv     # a subset, by name substring
    python bench/run.py --profile resnet18   # where a model's training step spends its time

ratio = nnlite time / PyTorch time (lower is better); each number is the
best of three medians of --repeat timed calls after warm-up calls, the two
libraries interleaved so that machine noise hits both, with a pause between
them so that neither is timed against the other's spinning worker threads. On CUDA each
number is the best of three rounds of --repeat calls queued back to back and synchronised
once. Also prints the import time and the cold-start time with a warm kernel cache (fresh
processes).
Benchmarks are not tests: nothing here fails.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cases import CASES, CUDA_CASES  # noqa: E402


def family_cases():
    """The rows of every bench/cases_<family>.py (its BENCH_CASES list), in file-name order:
    a family adds its rows by adding its file."""
    import glob
    import importlib
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, "cases_*.py"))):
        module = importlib.import_module(os.path.basename(path)[:-3])
        rows += getattr(module, "BENCH_CASES", [])
    return rows


SETTLE_S = 0.3


def _median_ms(fn, sync, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def _queued_ms(fn, sync, repeat):
    """GPU: `repeat` calls queued back to back, then one synchronisation (as CUDA programs
    run, and as torch.utils.benchmark times): each call's host overhead overlaps the GPU's
    work on the calls before it, so a row measures the slower of the two."""
    sync()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeat * 1e3


def time_pair(nl_fn, torch_fn, sync_nl, sync_torch, repeat, warmup=3, settle=SETTLE_S, queued=False):
    for _ in range(warmup):
        nl_fn()
        torch_fn()
    sync_nl()
    sync_torch()
    nl_times, torch_times = [], []
    for _ in range(3):  # interleave three rounds
        # Each library's idle worker threads spin for a while after its last
        # parallel call; let them park so neither library is timed against
        # the other's spinning threads.
        measure = _queued_ms if queued else _median_ms
        time.sleep(settle)
        nl_times.append(measure(nl_fn, sync_nl, repeat))
        time.sleep(settle)
        torch_times.append(measure(torch_fn, sync_torch, repeat))
    return min(nl_times), min(torch_times)


def _python(code):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


IMPORT_NUMBA = "import time; t=time.perf_counter(); import numba; print(time.perf_counter()-t)"
IMPORT_NNLITE = "import time; t=time.perf_counter(); import nnlite; print(time.perf_counter()-t)"
TRIVIAL_NUMBA = f"""
import time; t0 = time.perf_counter()
import sys; sys.path.insert(0, {HERE!r})
from cold_start import trivial
trivial(1.0)
print(time.perf_counter() - t0)
"""
FIRST_CONV = f"""
import time; t0 = time.perf_counter()
import sys; sys.path.insert(0, {HERE!r})
from cold_start import first_conv_relu_step
first_conv_relu_step()
print(time.perf_counter() - t0)
"""


def startup_report():
    runs = 5
    for code in (TRIVIAL_NUMBA, FIRST_CONV):  # warm the kernel caches first
        _python(code)
    numba_import = min(_python(IMPORT_NUMBA) for _ in range(runs))
    nnlite_import = min(_python(IMPORT_NNLITE) for _ in range(runs))
    trivial = min(_python(TRIVIAL_NUMBA) for _ in range(runs))
    first = min(_python(FIRST_CONV) for _ in range(runs))
    print(f"import numba {numba_import * 1e3:7.1f} ms | import nnlite {nnlite_import * 1e3:7.1f} ms | "
          f"ratio {nnlite_import / numba_import:4.2f} (bar <= 1.3)")
    print(f"fresh process, warm cache: numba's first trivial cached call at {trivial:5.3f} s; nnlite's first "
          f"conv2d+relu forward+backward at {first:5.3f} s; difference {first - trivial:5.3f} s (bar <= 0.3)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-startup", action="store_true", help="skip the import/cold-start timings")
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    parser.add_argument("--profile", default="", metavar="MODEL",
                        help="profile one whole-model training step instead (bench/profile_model.py)")
    parser.add_argument("--cpu-time", action="store_true", help="with --profile: 1 thread, process CPU time")
    args = parser.parse_args()
    if args.profile:
        from profile_model import profile_model
        return profile_model(args.profile, threads=args.threads, cpu_time=args.cpu_time)

    import torch
    import nnlite
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench: --device cuda needs a CUDA build of PyTorch and a GPU")
        sync_nl, sync_torch = nnlite.cuda.synchronize, torch.cuda.synchronize
    else:
        sync_nl = sync_torch = lambda: None

    print(f"nnlite {nnlite.__version__} vs torch {torch.__version__}; device={args.device}; "
          f"torch threads={torch.get_num_threads()}; numba threads={_numba_threads()}")
    if not args.no_startup and not args.only:
        startup_report()
    rows = []
    print(f"{'case':44s} {'nnlite ms':>10s} {'torch ms':>10s} {'ratio':>7s}  bar")
    for case in (CUDA_CASES if args.device == "cuda" else CASES) + family_cases():
        if args.only and args.only not in case.name:
            continue
        started = time.perf_counter()
        try:
            nl_fn, torch_fn = case.build(args.device)
        except (AttributeError, NotImplementedError) as e:
            print(f"{case.name:44s} {'n/a':>10s}  ({e})")
            continue
        except Exception as e:
            print(f"{case.name:44s} {'FAILED':>10s}  ({type(e).__name__}: {str(e)[:300]})", flush=True)
            continue
        try:  # (GPU work has no spinning CPU threads to wait out)
            t_nl, t_torch = time_pair(nl_fn, torch_fn, sync_nl, sync_torch, case.repeat or args.repeat,
                                      settle=0 if args.device == "cuda" else SETTLE_S,
                                      queued=args.device == "cuda")
        except Exception as e:  # a broken row must not hide the rows after it
            print(f"{case.name:44s} {'FAILED':>10s}  ({type(e).__name__}: {str(e)[:300]})", flush=True)
            continue
        bar = f"<= {case.bar}" if case.bar else ""
        # on a GPU, the wall time of the row (compiling included) shows where a cold run goes
        wall = f"  [{time.perf_counter() - started:.1f} s]" if args.device == "cuda" else ""
        print(f"{case.name:44s} {t_nl:10.3f} {t_torch:10.3f} {t_nl / t_torch:7.2f}  {bar:8s}{wall}", flush=True)
        if args.json:
            rows.append({"case": case.name, "nnlite_ms": t_nl, "torch_ms": t_torch, "ratio": t_nl / t_torch,
                         "bar": case.bar})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "torch": torch.__version__, "rows": rows}, f, indent=1)


def _numba_threads():
    import numba
    return numba.config.NUMBA_NUM_THREADS


if __name__ == "__main__":
    main()
