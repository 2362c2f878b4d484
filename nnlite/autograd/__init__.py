"""nnlite.autograd: Function, backward, grad, grad modes and gradcheck."""
from .engine import run_backward
from .function import AccumulateGrad, BackwardNode, Function, once_differentiable
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "gradcheck", "once_differentiable",
           "AccumulateGrad", "BackwardNode"]


def _as_list(x):
    if x is None:
        return None
    return [x] if not isinstance(x, (list, tuple)) else list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (as torch.autograd.backward)."""
    if create_graph:
        raise NotImplementedError("nnlite does not record graphs of backward passes (create_graph=True)")
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) or [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"grad_tensors has {len(grads)} elements but tensors has {len(tensors)}")
    from .engine import _make_grads
    grads = _make_grads(tensors, grads, "backward")
    if inputs is not None:
        inputs = _as_list(inputs)
        results = run_backward(tensors, grads, bool(retain_graph), inputs=inputs, allow_unused=True,
                               accumulate=False)
        from .engine import _accumulate, _functional, callback_frame, run_post_accumulate_hooks
        with callback_frame():
            for t, g in zip(inputs, results):
                if g is not None:
                    _accumulate(t, g, _functional())
                    if t.grad_fn is None:
                        run_post_accumulate_hooks(t)
        return
    run_backward(tensors, grads, bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, materialize_grads=False):
    """The gradients of outputs with respect to inputs, as a tuple (touches no .grad)."""
    if create_graph:
        raise NotImplementedError("nnlite does not record graphs of backward passes (create_graph=True)")
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grads = _as_list(grad_outputs) or [None] * len(outputs)
    from .engine import _make_grads
    grads = _make_grads(outputs, grads, "grad")
    allow = bool(allow_unused) or materialize_grads
    results = run_backward(outputs, grads, bool(retain_graph), inputs=inputs, allow_unused=allow,
                           accumulate=False)
    if materialize_grads:
        from .. import functional as F
        results = [F.zeros_like(t) if g is None else g for t, g in zip(inputs, results)]
    return tuple(results)
