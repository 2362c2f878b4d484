#!/usr/bin/env bash
# One call on a lent GPU machine (the device tool), from the repo root:
#
#     bash bench/gpu_check.sh [pytest args...]
#
# 1. what the machine has (GPU, numba/numba-cuda/torch versions, where cuBLAS is);
# 2. every CUDA test of the suite on the real GPU (-m cuda), in parallel workers;
# 3. the CUDA bench (nnlite CUDA vs torch CUDA, same inputs, one process);
# 4. GPU time per kernel of each bench row (bench/cuda_kernel_times.py) and conv2d's algorithms
#    (bench/cuda_conv_probe.py);
# 5. launch overhead and a profile of the digits training step (bench/cuda_profile.py; PROFILE_S=0 skips),
#    then the per-call figures again through numba's own dispatch (NNLITE_FAST_LAUNCH=0);
# 6. the examples with --device cuda;
# 7. nnlite.ops on the CPU vs torchvision's CPU build, 2 threads each (torchvision is there).
# Logs and bench_cuda.json go to $OUT (the device tool brings that folder back).
# Each step has its own time limit (seconds, from the environment) so that the
# whole script ends inside one call, Numba's compile time on a cold cache included;
# a step cut short says so in its log.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/nnlite-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
TEST_S=${TEST_S:-200} BENCH_S=${BENCH_S:-120} PROBE_S=${PROBE_S:-40} PROFILE_S=${PROFILE_S:-40}
EXAMPLE_S=${EXAMPLE_S:-60} CPU_OPS_S=${CPU_OPS_S:-90} KERNELS_S=${KERNELS_S:-40}
t0=$(date +%s)
stamp() { echo "== $1 at $(( $(date +%s) - t0 )) s"; }

stamp "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY' 2>&1 | tee "$OUT/env.txt"
import importlib, numba, numpy, torch
print("numba", numba.__version__, "numpy", numpy.__version__, "torch", torch.__version__)
for name in ("numba_cuda", "cupy"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as e:
        print(name, "missing:", e)
from nnlite.backend import cublas
print("cuBLAS:", cublas.library())
PY

stamp "CUDA tests"
# -v: each result is logged as it lands, so a run cut short still shows what passed
timeout "$TEST_S" python3 -m pytest tests -m cuda -n 16 -v -p no:cacheprovider --tb=short -rfE "$@" \
    >"$OUT/cuda_tests.log" 2>&1
echo "pytest exit $? (124: cut short at ${TEST_S} s)"
echo "passed $(grep -c ' PASSED ' "$OUT/cuda_tests.log"), failed $(grep -c ' FAILED ' "$OUT/cuda_tests.log")," \
     "skipped $(grep -c ' SKIPPED ' "$OUT/cuda_tests.log"), errors $(grep -c ' ERROR ' "$OUT/cuda_tests.log")"
grep -E "^(FAILED|ERROR)" "$OUT/cuda_tests.log" | cut -c1-200 | head -40
tail -n 1 "$OUT/cuda_tests.log"

stamp "CUDA bench"
timeout "$BENCH_S" python3 bench/run.py --device cuda --no-startup --repeat 10 \
    --json "$OUT/bench_cuda.json" 2>&1 | grep -v Warning | tee "$OUT/bench_cuda.txt"

stamp "GPU time per kernel (CUPTI through torch.profiler)"
timeout "$KERNELS_S" python3 bench/cuda_kernel_times.py 2>&1 | grep -v Warning > "$OUT/kernel_times.txt"
head -n 60 "$OUT/kernel_times.txt" | cut -c1-150

if [ "$PROBE_S" -gt 0 ]; then
    stamp "conv2d's algorithms"
    timeout "$PROBE_S" python3 bench/cuda_conv_probe.py 2>&1 | grep -v Warning | tee "$OUT/conv_probe.txt"
fi

if [ "$PROFILE_S" -gt 0 ]; then
    stamp "launch overhead and the digits step"
    timeout "$PROFILE_S" python3 bench/cuda_profile.py >"$OUT/cuda_profile.txt" 2>&1
    head -n 40 "$OUT/cuda_profile.txt" | cut -c1-160
    echo "-- the same per-call figures through numba's own dispatch (NNLITE_FAST_LAUNCH=0):"
    NNLITE_FAST_LAUNCH=0 timeout "$PROFILE_S" python3 bench/cuda_profile.py --brief 2>&1 \
        | tee "$OUT/cuda_profile_numba_launch.txt" | cut -c1-160
fi

stamp "examples on cuda"
timeout "$EXAMPLE_S" python3 examples/train_digits.py --device cuda --epochs 3 2>&1 | grep -v "it/s" | tail -n 3 \
    | tee "$OUT/examples.txt"
timeout 30 python3 examples/custom_kernel.py --device cuda 2>&1 | tail -n 3 | tee -a "$OUT/examples.txt"
[ -f examples/train_transformer.py ] && timeout "$EXAMPLE_S" python3 examples/train_transformer.py --device cuda 2>&1 \
    | grep -v "it/s" | tail -n 3 | tee -a "$OUT/examples.txt"

stamp "nnlite.ops on the CPU vs torchvision"
NUMBA_NUM_THREADS=2 timeout "$CPU_OPS_S" python3 bench/run.py --no-startup --only ops. --repeat 5 2>&1 \
    | grep -v Warning | tee "$OUT/bench_cpu_ops.txt"
stamp "done"
