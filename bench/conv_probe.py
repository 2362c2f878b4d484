"""Time conv2d and pooling, nnlite vs PyTorch (CPU, float32, same inputs, same process).

Each case runs forward + backward (input and weight gradients) and prints the
median of 3 x `--runs` runs and the ratio nnlite / torch. Blocks of nnlite and
torch runs alternate so that noise from other processes hits both alike.

    python bench/conv_probe.py [--runs 15] [--threads 2] [--pool] [--cpu-time]

On a machine shared with other busy processes both libraries slow down 3-10x
and the ratio means little; --cpu-time compares single-threaded CPU time,
which other processes do not inflate.
"""
import argparse
import time

import numpy as np

CONV_CASES = [
    # name, input shape, weight shape, kwargs
    ("conv 64->64 56x56 k3p1", (8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    ("conv 256->256 14x14 k3p1", (8, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    ("depthwise 128 56x56 k3p1", (8, 128, 56, 56), (128, 1, 3, 3), dict(padding=1, groups=128)),
]
POOL_CASES = [
    ("max_pool2d k3s2p1", (8, 64, 112, 112), "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d k2", (8, 64, 56, 56), "avg_pool2d", dict(kernel_size=2)),
    ("adaptive_avg_pool2d 1", (8, 512, 7, 7), "adaptive_avg_pool2d", dict(output_size=1)),
]


CLOCK = time.perf_counter


def _median_ms(fn, runs):
    times = []
    for _ in range(runs):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return 1e3 * float(np.median(times))


def _pair(nn_fn, torch_fn, runs, rounds=3):
    """Medians over `rounds` blocks of `runs` calls of each library, blocks alternating.

    Blocks rather than single calls alternate: each library's idle threads
    (OpenMP, OpenBLAS) spin for a while after its last call and would steal the
    cores from the other library's very next call.
    """
    nn_fn(), torch_fn(), nn_fn(), torch_fn()  # compile / warm caches
    a, b = [], []
    for _ in range(rounds):
        a += [_median_ms(nn_fn, 1) for _ in range(runs)]
        b += [_median_ms(torch_fn, 1) for _ in range(runs)]
    return float(np.median(a)), float(np.median(b))


def conv_case(nnlite, torch, x_shape, w_shape, kwargs, runs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    nx, nw = nnlite.tensor(x, requires_grad=True), nnlite.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

    def run_nn():
        nx.grad = nw.grad = None
        y = nnlite.nn.functional.conv2d(nx, nw, **kwargs)
        y.backward(nnlite.ones(tuple(y.shape)))

    def run_torch():
        tx.grad = tw.grad = None
        y = torch.nn.functional.conv2d(tx, tw, **kwargs)
        y.backward(torch.ones(y.shape))

    return _pair(run_nn, run_torch, runs)


def pool_case(nnlite, torch, x_shape, op, kwargs, runs):
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    nx, tx = nnlite.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def run(lib, t):
        t.grad = None
        y = getattr(lib.nn.functional, op)(t, **kwargs)
        y.backward(lib.ones(tuple(y.shape)))

    return _pair(lambda: run(nnlite, nx), lambda: run(torch, tx), runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pool", action="store_true", help="also time the pooling ops")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread each, timed by process CPU time: immune to other processes' load")
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
        args.threads = 1
        import threadpoolctl  # numpy's OpenBLAS must run on one thread too
        threadpoolctl.threadpool_limits(1, user_api="blas")
    import torch
    torch.set_num_threads(args.threads)
    import nnlite  # before Numba's thread pool starts: nnlite picks its OpenMP wait policy
    import numba
    numba.set_num_threads(args.threads)
    print(f"{'case':28s} {'nnlite ms':>10s} {'torch ms':>10s} {'ratio':>6s}")
    rows = [(name, conv_case(nnlite, torch, xs, ws, kw, args.runs)) for name, xs, ws, kw in CONV_CASES]
    if args.pool:
        rows += [(name, pool_case(nnlite, torch, xs, op, kw, args.runs)) for name, xs, op, kw in POOL_CASES]
    for name, (ours, theirs) in rows:
        print(f"{name:28s} {ours:10.2f} {theirs:10.2f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
