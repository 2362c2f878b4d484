"""GPU time per kernel for the CUDA bench's rows: which of nnlite's kernels (and
torch's) take the time, read by CUPTI through torch.profiler, which records every
kernel the process launches, Numba's included.

    python bench/cuda_kernel_times.py [substring]   # needs a CUDA GPU and torch

For each CUDA_CASES row (or those whose name contains the substring) prints the
GPU microseconds per call of each library's kernels, the busiest kernels first,
and the wall time per call: the gap between the two is host overhead.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CALLS = 5


def kernel_table(torch, fn, sync):
    from torch.profiler import ProfilerActivity, profile
    for _ in range(2):
        fn()
    sync()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        for _ in range(CALLS):
            fn()
        sync()
        wall = (time.perf_counter() - t0) / CALLS * 1e6
    rows = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            name = event.name[:70]
            rows[name] = rows.get(name, 0.0) + event.time_range.elapsed_us() / CALLS
    return wall, sorted(rows.items(), key=lambda kv: -kv[1])


def main():
    import torch
    import nnlite
    from cases import CUDA_CASES
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for case in CUDA_CASES:
        if only not in case.name:
            continue
        try:
            nl_fn, torch_fn = case.build("cuda")
            for label, fn, sync in (("nnlite", nl_fn, nnlite.cuda.synchronize), ("torch", torch_fn, torch.cuda.synchronize)):
                wall, rows = kernel_table(torch, fn, sync)
                gpu = sum(us for _, us in rows)
                print(f"{case.name} | {label}: wall {wall:8.1f} us/call, GPU {gpu:8.1f} us/call in {len(rows)} kernels")
                for name, us in rows[:6]:
                    print(f"    {us:8.1f} us  {name}")
        except Exception as e:  # a broken row must not hide the others
            print(f"{case.name}: FAILED {type(e).__name__}: {str(e)[:200]}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
