"""DistributedDataParallel: one replica of the model per process, gradients averaged over the
processes while backward still runs.

Parameters are grouped, last first (the order backward reaches them), into buckets of about
`bucket_cap_mb`. When every gradient of a bucket has been accumulated (a post-accumulate hook
per parameter), the bucket is copied into one flat tensor and all-reduced asynchronously;
buckets are launched in index order so that every rank issues the same collectives in the
same order. When backward ends (an engine callback), the averaged buckets are copied back
into the parameters' .grad.
"""
import contextlib

from ... import distributed as dist
from ...autograd import engine
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...backend.dtype import uint8
from ...functional._arrays import cast_array, copy_array_into
from ...functional.creation import tensor
from ...functional.shape import cat
from ...tensor import Tensor
from ..modules.module import Module

_FIRST_BUCKET_BYTES = 1024 * 1024  # torch's: a small first bucket starts communication early
_DEFAULT_CAP_MB = 25


class _Bucket:
    """Parameters whose averaged gradients travel in one all-reduce of `flat`; `slots[i]` is
    parameter i's part of it, as an array of the parameter's shape."""

    def __init__(self, params):
        self.params = params
        self.offsets = []
        offset = 0
        for p in params:
            self.offsets.append(offset)
            offset += p.numel()
        self.flat = params[0].new_zeros(offset)  # on the parameters' device, in their dtype
        flat = self.flat._array
        self.slots = [flat[o:o + p.numel()].reshape(tuple(p.shape)) for o, p in zip(self.offsets, params)]
        self.pending = len(params)
        self.work = None

    def slot(self, i):
        """Parameter i's part of `flat` as a tensor (a view, for gradient_as_bucket_view)."""
        return self.flat.narrow(0, self.offsets[i], self.params[i].numel()).view(self.params[i].shape)


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel on nnlite.distributed (MPI).

    At construction rank 0's parameters and buffers are copied to every rank; before each
    forward that will be followed by a synced backward, rank 0's buffers are (broadcast_buffers).
    `no_sync()` accumulates gradients locally; the next synced backward averages the total.
    With find_unused_parameters=True, parameters the forward did not use still take part
    (their gradients stay as they were where no rank used them).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 init_sync=True, process_group=None, bucket_cap_mb=None, find_unused_parameters=False,
                 check_reduction=False, gradient_as_bucket_view=False, static_graph=False, **unused):
        super().__init__()
        self.process_group = process_group if process_group is not None else dist.group.WORLD
        if self.process_group is None:
            raise ValueError("DistributedDataParallel: " + dist._group._NOT_INITIALISED)
        self.module = module
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._params = [p for p in module.parameters() if p.requires_grad]
        if not self._params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        self.device_ids, self.output_device = self._check_devices(device_ids, output_device)
        self._root_rank = dist.get_global_rank(self.process_group, 0)
        self._verify_same_model()
        if init_sync:
            self._broadcast_coalesced(list(module.parameters()) + self._buffers_to_sync())
        self.bucket_bytes_cap = int((_DEFAULT_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self._buckets, self._place = self._build_buckets()
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in self._params]
        self._reset_pass()

    # ------------------------------------------------------------ construction
    def _check_devices(self, device_ids, output_device):
        devices = {p.device for p in self._params}
        if len(devices) > 1:
            raise ValueError("DistributedDataParallel: the module's parameters must be on one device, found "
                             f"{sorted(str(d) for d in devices)}")
        device = devices.pop()
        if device_ids is not None and device.type == "cpu" and len(device_ids) > 0:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with "
                             "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                             f"{list(device_ids)}, output_device {output_device}, and module parameters "
                             f"{{{device}}}.")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("DistributedDataParallel: one device per process; got device_ids "
                             f"{list(device_ids)} (start one process per GPU)")
        if device.type == "cpu" or not device_ids:
            return None, None
        return list(device_ids), output_device if output_device is not None else device_ids[0]

    def _verify_same_model(self):
        """Every rank holds parameters of the same shapes and dtypes (else a clear error everywhere)."""
        mine = [(tuple(t.shape), str(t.dtype)) for t in self._params + self._buffers_to_sync()]
        everyone = [None] * dist.get_world_size(self.process_group)
        dist.all_gather_object(everyone, mine, group=self.process_group)
        for rank, theirs in enumerate(everyone):
            if len(theirs) != len(everyone[0]):
                raise RuntimeError(f"DDP expects same model across all ranks, but Rank 0 has {len(everyone[0])} "
                                   f"params and buffers, while rank {rank} has inconsistent {len(theirs)}.")
            for i, (a, b) in enumerate(zip(everyone[0], theirs)):
                if a != b:
                    raise RuntimeError(f"DDP expects same model across all ranks, but tensor {i} is {a[0]} "
                                       f"{a[1]} on rank 0 and {b[0]} {b[1]} on rank {rank}.")

    def _buffers_to_sync(self):
        return [b for b in self.module.buffers() if b is not None] if self.broadcast_buffers else []

    def _broadcast_coalesced(self, tensors):
        """Rank 0's values into every rank's tensors: one broadcast per device and dtype."""
        if dist.get_world_size(self.process_group) == 1:
            return
        groups = {}
        for t in tensors:
            groups.setdefault((str(t.device), t.dtype), []).append(t)
        with no_grad():
            for group in groups.values():
                flat = cat([t.detach().reshape(-1) for t in group])
                # shapes were compared at construction: skip the per-call check of a synchronous call
                dist.broadcast(flat, self._root_rank, group=self.process_group, async_op=True).wait()
                offset = 0
                for t in group:
                    t.copy_(flat.narrow(0, offset, t.numel()).reshape(t.shape))
                    offset += t.numel()

    def _build_buckets(self):
        """Last parameters first, cut at the cap (the first bucket smaller), one device and dtype each."""
        buckets, current, size = [], [], 0
        cap = min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        for p in reversed(self._params):
            nbytes = p.numel() * p.element_size()
            if current and (size + nbytes > cap or p.dtype != current[0].dtype):
                buckets.append(_Bucket(current))
                current, size, cap = [], 0, self.bucket_bytes_cap
            current.append(p)
            size += nbytes
        buckets.append(_Bucket(current))
        place = {id(p): (b, i) for b, bucket in enumerate(buckets) for i, p in enumerate(bucket.params)}
        return buckets, place

    # ------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        if self.device_ids:
            inputs, kwargs = _to_device((inputs, kwargs), self.device_ids[0])
        syncing = is_grad_enabled() and self.require_backward_grad_sync
        self.require_forward_param_sync = syncing
        if syncing and self.broadcast_buffers:
            self._broadcast_coalesced(self._buffers_to_sync())
        output = self.module(*inputs, **kwargs)
        if syncing:
            self._reset_pass()
            if self.find_unused_parameters:
                self._unused = self._unreached_params(output)
        return output

    def _unreached_params(self, output):
        """Parameters the autograd graph of `output` does not reach."""
        reached, seen = set(), set()
        stack = [t.grad_fn for t in _tensors_in(output) if t.grad_fn is not None]
        stack += [t._accumulator() for t in _tensors_in(output) if t.grad_fn is None and t.requires_grad]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if isinstance(node, engine.AccumulateGrad):
                reached.add(id(node.variable))
                continue
            stack.extend(edge[0] for edge in node.next_functions if edge is not None)
        return [p for p in self._params if id(p) not in reached]

    # ------------------------------------------------------------ backward
    def _reset_pass(self):
        self._started = False
        self._next_bucket = 0
        self._got_grad = set()
        self._unused = []
        for bucket in self._buckets:
            bucket.pending = len(bucket.params)
            bucket.work = None

    def _grad_ready(self, param):
        """A parameter's gradient is complete for this backward pass."""
        if not self.require_backward_grad_sync:
            return
        if not self._started:
            self._started = True
            engine.queue_callback(self._finish_pass)
            for p in self._unused:  # nothing will come for them: their slots are zeros
                self._mark_ready(p, has_grad=False)
        self._mark_ready(param, has_grad=True)

    def _mark_ready(self, param, has_grad):
        b, i = self._place[id(param)]
        bucket = self._buckets[b]
        # array-level copies: one kernel each, no autograd bookkeeping (this runs for every parameter)
        if not has_grad or param.grad is None:
            with no_grad():
                bucket.slot(i).zero_()
        elif param.grad._base is not bucket.flat:  # a bucket view is already in place
            copy_array_into(param.grad._array, bucket.slots[i])
        if has_grad:
            self._got_grad.add(id(param))
        bucket.pending -= 1
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            ready = self._buckets[self._next_bucket]
            ready.work = dist.all_reduce(ready.flat, op=dist.ReduceOp.AVG, group=self.process_group,
                                         async_op=True)
            self._next_bucket += 1
        # MPI moves a nonblocking collective along only inside MPI calls: testing the buckets in
        # flight at each hook lets them progress while backward computes the next gradients
        for launched in self._buckets[:self._next_bucket]:
            launched.work.is_completed()

    def _finish_pass(self):
        """After backward: wait for the buckets, write the averaged gradients back."""
        launched = self._buckets[:self._next_bucket]
        for bucket in launched:
            bucket.work.wait()
        if len(launched) < len(self._buckets):
            self._reset_pass()
            raise RuntimeError(_unfinished_message(self._missing_params()))
        used_somewhere = self._globally_used() if self.find_unused_parameters else None
        with no_grad():
            for bucket in self._buckets:
                for i, param in enumerate(bucket.params):
                    if used_somewhere is not None and id(param) not in used_somewhere:
                        continue  # no rank produced a gradient: .grad stays as it was
                    self._write_grad(param, bucket, i)
        self._reset_pass()

    def _write_grad(self, param, bucket, i):
        if self.gradient_as_bucket_view:
            param.grad = bucket.slot(i)
        elif param.grad is None:
            param.grad = Tensor._wrap(cast_array(bucket.slots[i], bucket.slots[i].dtype), param.device)
        else:
            copy_array_into(bucket.slots[i], param.grad._array)
            param.grad._version[0] += 1

    def _globally_used(self):
        flags = tensor([id(p) in self._got_grad for p in self._params], dtype=uint8)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.process_group)
        return {id(p) for p, f in zip(self._params, flags.tolist()) if f}

    def _missing_params(self):
        names = {id(p): n for n, p in self.module.named_parameters()}
        return [names.get(id(p), "?") for b in self._buckets for p in b.params if id(p) not in self._got_grad]

    # ------------------------------------------------------------ torch's extras
    @contextlib.contextmanager
    def no_sync(self):
        """Gradients of the backward passes inside accumulate locally, unsynchronised."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _get_ddp_logging_data(self):
        return {"bucket_cap_bytes": self.bucket_bytes_cap, "num_buckets": len(self._buckets),
                "find_unused_parameters": self.find_unused_parameters}


def _unfinished_message(missing):
    return ("DistributedDataParallel: parameters received no gradient in this backward pass, so their buckets "
            f"could not be reduced: {missing}. This error indicates that your module has parameters that were "
            "not used in producing loss. You can enable unused parameter detection by passing the keyword "
            "argument `find_unused_parameters=True` to `DistributedDataParallel`, and by making sure all "
            "`forward` function outputs participate in calculating loss.")


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors_in(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors_in(item)


def _to_device(obj, device):
    if isinstance(obj, Tensor):
        return obj.to(f"cuda:{device}" if isinstance(device, int) else device)
    if isinstance(obj, tuple):
        return tuple(_to_device(o, device) for o in obj)
    if isinstance(obj, list):
        return [_to_device(o, device) for o in obj]
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj
