"""Where a whole-model training step spends its time, nnlite next to torch (issue 14).

    python bench/run.py --profile resnet18        # or mobilenet_v2, transformer
    python bench/profile_model.py resnet18 --steps 3

nnlite's side times every autograd Function call: `Function.apply` (forward) and the engine's
`_call_backward` (backward) are wrapped with a timer only inside `nnlite_profile()`, and put
back afterwards, so the library runs unchanged when not profiling. Only the outermost call
is timed (an op that calls other ops inside its forward or backward is charged with all of
it). What the step spends outside those calls is shown as its own rows: Python between ops
in forward (Module calls, argument checks) and the engine's own work in backward (graph
walk, gradient buffers, checks). torch's side is torch.profiler's self CPU time per aten op
on the same step, grouped into the same families. Profilers add their own overhead: compare
shares, and the un-profiled step times printed at the top. On a machine shared with other
busy processes, `--cpu-time` runs both libraries on one thread and times nnlite's side and the
un-profiled steps by process CPU time (torch's profiler keeps its own wall clock).
"""
import argparse
import collections
import contextlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PHASES = ("zero_grad", "forward", "backward", "optimizer")
CLOCK = time.perf_counter  # --cpu-time: time.process_time, which other processes' load does not inflate


def conv_label(x_shape, w_shape, stride):
    """conv2d's shape class: kernel, stride, channels, input size (and depthwise)."""
    n, cin, h, w = x_shape
    cout, cin_g, kh, kw = w_shape
    kind = " dw" if cin_g == 1 and cin > 1 else ""
    return f"conv2d{kind} {kh}x{kw} s{stride} {cin}->{cout} @{h}x{w}"


# Families shared by both libraries' op names (lower case, first match wins).
FAMILY_WORDS = (("batch_norm", "batch_norm"), ("batchnorm", "batch_norm"),
                ("max_pool", "max_pool"), ("maxpool", "max_pool"),
                ("avg_pool", "avg_pool"), ("avgpool", "avg_pool"), ("aten::mean", "avg_pool"),
                ("relu", "activation"), ("threshold", "activation"), ("clamp", "activation"),
                ("hardtanh", "activation"), ("activation", "activation"), ("gelu", "activation"),
                ("softmax", "loss"), ("nll", "loss"), ("cross_entropy", "loss"),
                ("addmm", "linear"), ("linear", "linear"), ("aten::mm", "linear"),
                ("dropout", "dropout"), ("bernoulli", "dropout"),
                ("copyinto", "in-place copy"), ("copy_", "in-place copy"), ("clone", "in-place copy"),
                ("add", "add"))


def family(name):
    low = name.lower()
    for word, fam in FAMILY_WORDS:
        if word in low:
            return fam
    return "other: " + name


# ---------------------------------------------------------------- nnlite: timing Function calls


class _Recorder:
    """Seconds per (phase, label); the phase is set by the step runner."""

    def __init__(self):
        self.totals = collections.defaultdict(float)
        self.counts = collections.defaultdict(int)
        self.phase = None
        self.depth = 0       # only the outermost Function call is timed
        self.labels = {}     # backward node -> its forward label

    def add(self, label, seconds):
        self.totals[(self.phase, label)] += seconds
        self.counts[(self.phase, label)] += 1


def _nnlite_label(fn_cls, args):
    name = fn_cls.__name__
    if name == "Convolution" and len(args) >= 4 and hasattr(args[3], "stride"):
        x, w, geo = args[0], args[1], args[3]
        if len(x.shape) == 4:
            return conv_label(tuple(x.shape), tuple(w.shape), geo.stride[0])
    return family(name) if not family(name).startswith("other") else name


@contextlib.contextmanager
def nnlite_profile(rec):
    """Wrap Function.apply and the engine's backward call with timers; undo on exit."""
    from nnlite.autograd import engine
    from nnlite.autograd.function import Function
    original_apply = Function.__dict__["apply"]
    original_backward = engine._call_backward

    def timed_apply(cls, *args):
        if rec.depth:
            return original_apply.__func__(cls, *args)
        label = _nnlite_label(cls, args)
        rec.depth += 1
        t0 = CLOCK()
        try:
            out = original_apply.__func__(cls, *args)
        finally:
            rec.depth -= 1
        rec.add(label, CLOCK() - t0)
        first = out[0] if isinstance(out, tuple) else out
        node = getattr(first, "grad_fn", None)
        if node is not None:
            rec.labels[node] = label
        return out

    def timed_backward(node, grads_in, F):
        label = rec.labels.get(node, node._fn.__name__)
        rec.depth += 1
        t0 = CLOCK()
        try:
            return original_backward(node, grads_in, F)
        finally:
            rec.depth -= 1
            rec.add(label, CLOCK() - t0)

    Function.apply = classmethod(timed_apply)
    engine._call_backward = timed_backward
    try:
        yield rec
    finally:
        Function.apply = original_apply
        engine._call_backward = original_backward


def _phased_step(lib_f, setup, phase_timer):
    """The training step of bench/models.py, split into timed phases."""
    with phase_timer("zero_grad"):
        setup.opt.zero_grad()
    with phase_timer("forward"):
        loss = lib_f.cross_entropy(setup.model(setup.x), setup.target)
    with phase_timer("backward"):
        loss.backward()
    with phase_timer("optimizer"):
        setup.opt.step()


def profile_nnlite(setup, steps):
    """{(phase, label): ms per step} and the phase wall times, from `steps` profiled steps."""
    import nnlite
    rec = _Recorder()
    walls = collections.defaultdict(float)

    @contextlib.contextmanager
    def phase_timer(phase):
        rec.phase = phase
        t0 = CLOCK()
        yield
        walls[phase] += CLOCK() - t0

    with nnlite_profile(rec):
        for _ in range(steps):
            rec.labels.clear()
            _phased_step(nnlite.nn.functional, setup, phase_timer)
    rows = _nnlite_rows(rec, walls)
    return {key: ms / steps for key, ms in rows.items()}, {p: w * 1e3 / steps for p, w in walls.items()}


def _nnlite_rows(rec, walls):
    """ms per (phase, label); the optimizer and zero_grad are one row each; what the forward and
    backward phases spent outside Function calls becomes the Python / engine overhead row."""
    rows = collections.defaultdict(float)
    inside = collections.defaultdict(float)
    for (phase, label), s in rec.totals.items():
        if phase in ("forward", "backward"):
            rows[(phase, label)] += s * 1e3
            inside[phase] += s * 1e3
    rows[("forward", "Python between ops")] = walls["forward"] * 1e3 - inside["forward"]
    rows[("backward", "autograd engine overhead")] = walls["backward"] * 1e3 - inside["backward"]
    rows[("optimizer", "optimizer")] = walls["optimizer"] * 1e3
    rows[("zero_grad", "zero_grad")] = walls["zero_grad"] * 1e3
    return rows


# ---------------------------------------------------------------- torch: torch.profiler


def _torch_conv_strides(model, x):
    """(input shape, weight shape) -> stride of every Conv2d, from one forward with hooks."""
    import torch
    strides = {}

    def hook(module, inputs, output):
        strides[(tuple(inputs[0].shape), tuple(module.weight.shape))] = module.stride[0]
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return strides


def _torch_label(event, strides):
    name = event.name
    if "conv" in name.lower():
        shapes = [tuple(s) for s in (event.input_shapes or []) if len(s) == 4]
        for a, b in zip(shapes, shapes[1:]):
            if (a, b) in strides:
                return conv_label(a, b, strides[(a, b)])
        return "conv2d (shape unknown)"
    if name.startswith("autograd::engine") or name.endswith("Backward0") or name.endswith("Backward1"):
        return "autograd engine overhead"
    return family(name)


def profile_torch(setup, steps):
    """{(phase, label): ms per step} of torch's self CPU time, phases told apart by time range."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function
    strides = _torch_conv_strides(setup.model, setup.x)

    @contextlib.contextmanager
    def phase_timer(phase):
        with record_function("phase::" + phase):
            yield

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            _phased_step(torch.nn.functional, setup, phase_timer)
    events = list(prof.events())
    spans = [(e.time_range.start, e.time_range.end, e.name[len("phase::"):])
             for e in events if e.name.startswith("phase::")]
    rows = collections.defaultdict(float)
    for e in events:
        if e.name.startswith("phase::") or e.name.startswith("ProfilerStep"):
            continue
        phase = next((p for s, t, p in spans if s <= e.time_range.start < t), None)
        if phase is None:
            continue
        label = _torch_label(e, strides) if phase in ("forward", "backward") else phase
        rows[(phase, label)] += e.self_cpu_time_total / 1e3
    return {key: ms / steps for key, ms in rows.items()}


# ---------------------------------------------------------------- the table


def _unprofiled_ms(step, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        step()
        times.append(CLOCK() - t0)
    return min(times) * 1e3


def print_table(ours, theirs, out=sys.stdout):
    keys = sorted(set(ours) | set(theirs),
                  key=lambda k: (PHASES.index(k[0]), -max(ours.get(k, 0), theirs.get(k, 0))))
    total_ours, total_theirs = sum(ours.values()), sum(theirs.values())
    print(f"{'phase':9s} {'op family / conv shape class':46s} {'nnlite ms':>10s} {'%':>5s} "
          f"{'torch ms':>10s} {'%':>5s} {'ratio':>6s}", file=out)
    for k in keys:
        a, b = ours.get(k, 0.0), theirs.get(k, 0.0)
        if a < 0.05 and b < 0.05:
            continue
        ratio = f"{a / b:6.2f}" if b > 0.05 else "     -"
        print(f"{k[0]:9s} {k[1][:46]:46s} {a:10.2f} {100 * a / total_ours:5.1f} {b:10.2f} "
              f"{100 * b / total_theirs:5.1f} {ratio}", file=out)
    print(f"{'total':9s} {'(profiled; each profiler adds overhead)':46s} {total_ours:10.2f} {'':5s} "
          f"{total_theirs:10.2f}", file=out)


def family_totals(rows):
    """The same rows summed per family (all conv shape classes together; the ops of no family
    that take under 1% of the step as one row)."""
    out = collections.defaultdict(float)
    small = 0.01 * sum(rows.values())
    for (phase, label), ms in rows.items():
        if label.startswith("conv2d"):
            label = "conv2d (all)"
        elif label.startswith("other: ") and ms < small:
            label = "other (small ops)"
        out[(phase, label)] += ms
    return dict(out)


def main(argv=None):
    from cases_models import MODEL_SETUPS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(MODEL_SETUPS))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread each, nnlite timed by process CPU time: immune to other processes' load")
    args = parser.parse_args(argv)
    profile_model(args.model, args.steps, args.threads, args.cpu_time)


def _use_threads(threads, cpu_time):
    global CLOCK
    import numba
    import torch
    if cpu_time:
        import threadpoolctl  # numpy's BLAS must run on one thread too
        threadpoolctl.threadpool_limits(1, user_api="blas")
        CLOCK, threads = time.process_time, 1
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads


def profile_model(name, steps=3, threads=2, cpu_time=False):
    from cases_models import MODEL_SETUPS
    if name not in MODEL_SETUPS:
        raise SystemExit(f"profile: unknown model {name!r}; choose one of {sorted(MODEL_SETUPS)}")
    threads = _use_threads(threads, cpu_time)
    clock = "process CPU time, 1 thread" if cpu_time else f"wall time, {threads} threads"
    ours, theirs = MODEL_SETUPS[name]("cpu")
    for _ in range(2):  # warm-up: compile, fill the caching allocator
        ours.step()
        theirs.step()
    t_ours, t_theirs = _unprofiled_ms(ours.step), _unprofiled_ms(theirs.step)
    print(f"{name}: un-profiled step, best of 3 ({clock}): nnlite {t_ours:.1f} ms, torch {t_theirs:.1f} ms, "
          f"ratio {t_ours / t_theirs:.2f} (shared machine: noisy)")
    nl_rows, walls = profile_nnlite(ours, steps)
    th_rows = profile_torch(theirs, steps)
    torch_clock = "torch: wall time under torch.profiler, inflated by other processes' load" if cpu_time else ""
    print(f"\nper family, ms per step (mean of {steps} profiled steps) {torch_clock}")
    print_table(family_totals(nl_rows), family_totals(th_rows))
    print("\nconv2d by shape class, ms per step")
    print_table({k: v for k, v in nl_rows.items() if k[1].startswith("conv2d")},
                {k: v for k, v in th_rows.items() if k[1].startswith("conv2d")})


if __name__ == "__main__":
    main()
