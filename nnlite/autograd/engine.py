"""The backward engine: one reverse-topological walk over the recorded graph.

`backward(tensors, grad_tensors)` accumulates into the leaves' `.grad`;
`grad(outputs, inputs)` returns the gradients of the inputs instead and
touches no `.grad`. Both run every node's backward at most once, after all the
gradients flowing into it have been summed, and free the saved tensors unless
`retain_graph=True`. Backward runs with grad mode off (no higher-order graphs).
"""
import contextlib
import sys

import numpy as np

from .function import AccumulateGrad
from .grad_mode import state as _grad_state

_ops = None


def _functional():
    global _ops
    if _ops is None:
        from .. import functional as F
        _ops = F
    return _ops


def _make_grads(outputs, grad_outputs, create_graph_name):
    F = _functional()
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = F.ones_like(out)
        elif not isinstance(g, type(out)):
            g = F.full_like(out, g)
        elif tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"{create_graph_name}: mismatch in shape: grad_output[{i}] has a shape of "
                               f"{list(g.shape)} and output[{i}] has a shape of {list(out.shape)}.")
        elif g._device != out._device:
            raise RuntimeError(f"{create_graph_name}: grad_output[{i}] is on {g._device} but output[{i}] "
                               f"is on {out._device}")
        if g.dtype is not out.dtype:  # backward functions see gradients in their output's dtype
            g = g.to(out.dtype)
        grads.append(g.detach())
    return grads


def _root_edge(t):
    if t.grad_fn is not None:
        return (t.grad_fn, t._output_nr)
    return (t._accumulator(), 0)


def _collect(root_nodes):
    """Count, for every node reachable from the roots, how many edges enter it; for leaves with
    post-accumulate hooks, how many edges enter their accumulators."""
    deps = {}
    leaf_edges = {}
    seen = set()
    stack = list(root_nodes)
    for n in stack:
        seen.add(n)
    while stack:
        node = stack.pop()
        for edge in node.next_functions:
            if edge is None:
                continue
            child = edge[0]
            if isinstance(child, AccumulateGrad):
                if child.variable._post_acc_hooks:
                    leaf_edges[child] = leaf_edges.get(child, 0) + 1
                continue
            deps[child] = deps.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return deps, seen, leaf_edges


def _prune(nodes, targets):
    """Nodes from which some target node or accumulator can be reached."""
    useful = {}

    def visit(node):
        if node in useful:
            return useful[node]
        useful[node] = False  # cycles cannot occur; this only guards re-entry
        hit = node in targets
        for edge in node.next_functions:
            if edge is not None:
                child = edge[0]
                if child in targets or (not isinstance(child, AccumulateGrad) and visit(child)):
                    hit = True
        useful[node] = hit
        return hit

    for n in nodes:
        visit(n)
    return {n for n, u in useful.items() if u}


def run_backward(outputs, grad_outputs, retain_graph, inputs=None, allow_unused=False,
                 accumulate=True):
    """Shared engine of Tensor.backward / autograd.backward / autograd.grad."""
    F = _functional()
    root_edges = [_root_edge(t) for t in outputs]
    root_nodes = [e[0] for e in root_edges if not isinstance(e[0], AccumulateGrad)]
    deps, nodes, leaf_edges = _collect(root_nodes)
    if not accumulate:
        leaf_edges = {}
    accumulated = set()  # accumulators that received a gradient in this pass

    # capture: where each requested input's gradient will be read from
    capture = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not t._requires_grad:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
            capture.setdefault(_root_edge(t), []).append(i)
        targets = {e[0] for e in capture}
        needed = _prune(nodes, targets) if not accumulate else nodes
    else:
        needed = nodes
    results = [None] * (len(inputs) if inputs is not None else 0)

    buffers = {}
    ready = [n for n in root_nodes if deps.get(n, 0) == 0]
    ready = list(dict.fromkeys(ready))
    executed = []
    prev = _grad_state.enabled
    _grad_state.enabled = False
    _final_callbacks.append([])
    try:
        for (node, nr), g in zip(root_edges, grad_outputs):
            _deliver(node, nr, g, buffers, capture, results, accumulate, F, accumulated=accumulated)
            if accumulate and isinstance(node, AccumulateGrad) and node.variable._post_acc_hooks:
                leaf_edges[node] = leaf_edges.get(node, 0) + 1
                _leaf_edge_done(node, leaf_edges, accumulated)
        while ready:
            node = ready.pop()
            grads_in = buffers.pop(node, None)
            if node in needed and grads_in is not None:
                grads_in = _run_pre_hooks(node, grads_in)
                _capture_node(node, grads_in, capture, results)
                grads_out = _call_backward(node, grads_in, F)
                executed.append(node)
                for edge, g in zip(node.next_functions, grads_out):
                    if edge is None or g is None:
                        continue
                    child, nr = edge
                    if isinstance(child, AccumulateGrad) or child in needed:
                        _deliver(child, nr, g, buffers, capture, results, accumulate, F, from_node=True,
                                 accumulated=accumulated)
            for edge in node.next_functions:
                if edge is None:
                    continue
                child = edge[0]
                if isinstance(child, AccumulateGrad):
                    if child in leaf_edges:
                        _leaf_edge_done(child, leaf_edges, accumulated)
                    continue
                deps[child] -= 1
                if deps[child] == 0:
                    ready.append(child)
    finally:
        _grad_state.enabled = prev
        callbacks = _final_callbacks.pop()
        if not retain_graph:
            for node in executed:
                if node._saved:
                    node._freed = True
                node._saved = ()
    for callback in callbacks:
        callback()

    if inputs is not None:
        for i, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                                   "in the graph. Set allow_unused=True if this is the desired behavior.")
    return results


def _deliver(node, nr, g, buffers, capture, results, accumulate, F, from_node=False, accumulated=None):
    if isinstance(node, AccumulateGrad):
        key = (node, 0)
        if key in capture:
            for i in capture[key]:
                results[i] = g if results[i] is None else F.add(results[i], g)
        elif accumulate:
            _accumulate(node.variable, g, F, from_node)
            if accumulated is not None:
                accumulated.add(node)
        return
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * max(len(node._output_meta), nr + 1)
    buf[nr] = g if buf[nr] is None else F.add(buf[nr], g)


def _leaf_edge_done(acc, leaf_edges, accumulated):
    """One edge into a hooked accumulator is done; after the last one, its .grad is complete for
    this pass and the post-accumulate hooks run (not for a leaf that received no gradient)."""
    leaf_edges[acc] -= 1
    if leaf_edges[acc] == 0 and acc in accumulated:
        run_post_accumulate_hooks(acc.variable)


# ---------------------------------------------------------------- final callbacks
# One list per running backward pass (a hook may start a nested one): callbacks queued while a
# pass runs are called, in order, once it has finished.

_final_callbacks = []


@contextlib.contextmanager
def callback_frame():
    """A backward pass run outside run_backward (autograd.backward(inputs=...)'s accumulation):
    callbacks queued inside run when it ends without an error."""
    _final_callbacks.append([])
    try:
        yield
    except BaseException:
        _final_callbacks.pop()
        raise
    for callback in _final_callbacks.pop():
        callback()


def run_post_accumulate_hooks(leaf):
    for hook in list(leaf._post_acc_hooks or ()):
        hook(leaf)


def queue_callback(callback):
    """Call `callback()` when the backward pass now running has finished (torch's
    Variable._execution_engine.queue_callback, which DistributedDataParallel uses)."""
    if not _final_callbacks:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _final_callbacks[-1].append(callback)


def _capture_node(node, grads_in, capture, results):
    for nr, g in enumerate(grads_in):
        for i in capture.get((node, nr), ()):
            results[i] = g


def _run_pre_hooks(node, grads):
    hooks = node._pre_hooks
    if not hooks:
        return grads
    grads = list(grads)
    for nr, fns in hooks.items():
        if nr < 0:
            continue
        for fn in list(fns):
            if grads[nr] is not None:
                new = fn(grads[nr])
                if new is not None:
                    grads[nr] = new
    for fn in list(hooks.get(-1, ())):
        new = fn(tuple(grads))
        if new is not None:
            grads = list(new)
    return grads


def _call_backward(node, grads_in, F):
    if node._materialize_grads:
        # outputs that got no gradient get zeros (integer outputs never carry one)
        grads_in = [F.zeros(m[0], dtype=m[1], device=m[2])
                    if g is None and m is not None and m[1].is_floating_point else g
                    for g, m in zip(grads_in, node._output_meta)]
    result = node._fn.backward(node, *grads_in)
    if not isinstance(result, tuple):
        result = (result,)
    n_inputs = len(node.next_functions)
    if len(result) < n_inputs or any(g is not None for g in result[n_inputs:]):
        raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                           f"(expected {n_inputs}, got {len(result)})")
    checked = tuple(_check_grad(node, i, g, F) for i, g in enumerate(result[:n_inputs]))
    if node._post_hooks:
        for fn in list(node._post_hooks):
            fn(checked, tuple(grads_in))
    return checked


def _check_grad(node, i, g, F):
    meta = node._input_meta[i]
    if g is None or meta is None:
        return None
    shape, dtype, device = meta
    if not isinstance(g, F.Tensor):
        raise TypeError(f"function {node.name()} returned a gradient of type {type(g).__name__} "
                        f"at index {i}; expected a Tensor or None")
    if g._device != device:
        raise RuntimeError(f"function {node.name()} returned a gradient on {g._device} at index {i}; "
                           f"expected {device}")
    if tuple(g._array.shape) != tuple(shape):
        try:
            g = F.sum_to_size(g, shape)
        except RuntimeError:
            raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {i} - "
                               f"got {list(g.shape)} but expected shape compatible with {list(shape)}"
                               ) from None
    if g.dtype is not dtype:
        g = g.to(dtype)
    return g


def _accumulate(leaf, g, F, from_node=False):
    hooks = leaf._leaf_hooks()
    if leaf.grad is None and from_node and not hooks and _unshared(g, F):
        leaf.grad = g.detach()
        return
    for hook in hooks:
        new = hook(g)
        if new is not None:
            g = new
    if leaf.grad is None:
        # The incoming tensor may be shared (a user's gradient, the same tensor
        # delivered to several leaves, a view of another gradient): copy it.
        leaf.grad = g.detach().clone()
    else:
        leaf.grad._array_inplace_add(g)


# ---------------------------------------------------------------- keeping a gradient without a copy
# torch's AccumulateGrad keeps an incoming gradient as a leaf's .grad when nothing else
# holds it (use count 1) and copies it otherwise. Python shows the same through reference
# counts. Rather than assume what the interpreter counts, `_calibrate` measures once what a
# gradient that nothing else holds looks like at `_unshared`, by sending fresh host arrays
# down this very path; a gradient that anything else holds (a user, a saved context,
# another leaf, a view of its memory) counts more and is copied. Host arrays only.

_baseline = None   # {kind: counts} once measured; False if measuring failed (then: always copy)
_measuring = None  # the kind being measured


def _kind(a):
    """"own": an array owning its memory; "pool": a pool block's array (memory.host_empty),
    whose views all hold its base (numpy collapses view chains); None: anything else."""
    if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
        return None
    if a.base is None:
        return "own" if a.flags.owndata else None
    base = a.base
    return "pool" if isinstance(base, np.ndarray) and not isinstance(base.base, np.ndarray) else None


def _counts(g):
    a = g._array
    base = a.base
    return sys.getrefcount(g), sys.getrefcount(a), sys.getrefcount(base) if base is not None else 0


def _unshared(g, F):
    kind = _kind(g._array)
    if kind is None:
        return False
    if _measuring is not None:
        _baseline[_measuring] = _counts(g)
        return False
    if _baseline is None:
        _calibrate(F)
    return bool(_baseline) and _baseline.get(kind) == _counts(g)


def _calibrate(F):
    global _baseline, _measuring
    from ..backend.memory import SMALL_BYTES
    from .function import Function

    class FreshGradient(Function):
        @staticmethod
        def forward(ctx, x):
            return x.detach().clone()

        @staticmethod
        def backward(ctx, grad):
            return F.empty(tuple(grad.shape), dtype=grad.dtype)

    _baseline = {}
    try:
        with_grad = _grad_state.enabled
        _grad_state.enabled = True
        for kind, size in (("own", 1), ("pool", SMALL_BYTES)):
            _measuring = kind
            x = F.zeros(size, requires_grad=True)
            run_backward([FreshGradient.apply(x)], [F.ones(size)], False)
        _measuring = None
        if set(_baseline) != {"own", "pool"}:
            _baseline = False
    except Exception:
        _baseline = False
    finally:
        _measuring = None
        _grad_state.enabled = with_grad
