"""autograd.Function: the one way every op in nnlite records its gradient.

The API is torch.autograd.Function's: static `forward(ctx, *args)` and
`backward(ctx, *grad_outputs)`, `ctx.save_for_backward`, `ctx.saved_tensors`,
`ctx.needs_input_grad`, `ctx.mark_dirty`, `ctx.mark_non_differentiable`,
`ctx.set_materialize_grads`. The ctx object is the graph node (`grad_fn`).
"""
from .grad_mode import state as _grad_state

_Tensor = None  # nnlite.Tensor, bound when nnlite.tensor is imported


def _bind_tensor(cls):
    global _Tensor
    _Tensor = cls


class AccumulateGrad:
    """The graph edge into a leaf tensor: its gradient accumulates into `.grad`."""

    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    @property
    def next_functions(self):
        return ()

    def __repr__(self):
        return "<AccumulateGrad object>"


def _edge(t):
    """The (node, output_nr) a gradient for tensor t flows into, or None."""
    if not t._requires_grad:
        return None
    fn = t.grad_fn
    if fn is not None:
        return (fn, t._output_nr)
    return (t._accumulator(), 0)


class BackwardNode:
    """The ctx of one Function call and, afterwards, its node in the graph."""

    _is_graph_node = True

    def __init__(self, fn_cls, args):
        self._fn = fn_cls
        self.needs_input_grad = tuple(isinstance(a, _Tensor) and a._requires_grad for a in args)
        self.next_functions = tuple(_edge(a) if r else None for a, r in zip(args, self.needs_input_grad))
        # shape/dtype/device of each input that gets a gradient (to check what backward returns)
        self._input_meta = tuple((a._array.shape, a.dtype, a._device) if r else None
                                 for a, r in zip(args, self.needs_input_grad))
        self._saved = ()
        self._saved_versions = ()
        self._freed = False
        self._dirty = ()
        self._non_differentiable = ()
        self._materialize_grads = True
        self._output_meta = ()
        self._pre_hooks = None     # output_nr -> [hook(grad) -> grad or None]
        self._post_hooks = None

    # --- the ctx API used inside forward/backward
    def save_for_backward(self, *tensors):
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward.")
        for t, v in zip(self._saved, self._saved_versions):
            if t is not None and t._version[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: [{t.dtype} {list(t.shape)}], which is saved by "
                    f"{self.name()}; is at version {t._version[0]}; expected version {v} instead.")
        return self._saved

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def check_inplace(self, *tensors):
        """Raise before an in-place forward writes into a tensor that must not change
        (a leaf that requires grad); call it first in in-place forwards."""
        for t in tensors:
            _check_inplace_allowed(t)

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def set_materialize_grads(self, value):
        self._materialize_grads = bool(value)

    # --- the node API
    def name(self):
        return self._fn.__name__ + "Backward"

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) runs after this node's backward."""
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(fn)
        return _RemovableHandle(self._post_hooks, fn)

    def register_prehook(self, fn):
        """fn(grad_outputs) runs before this node's backward; may return new grads."""
        return self._add_pre_hook(-1, fn)

    def _add_pre_hook(self, output_nr, fn):
        if self._pre_hooks is None:
            self._pre_hooks = {}
        hooks = self._pre_hooks.setdefault(output_nr, [])
        hooks.append(fn)
        return _RemovableHandle(hooks, fn)

    def __repr__(self):
        return f"<{self.name()} object>"


class _RemovableHandle:
    def __init__(self, hooks, fn):
        self._hooks = hooks
        self._fn = fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class _NoGraphCtx:
    """The ctx handed to forward when no graph is recorded: saving is a no-op,
    but marking a tensor dirty still bumps its version, as in PyTorch."""

    __slots__ = ("needs_input_grad", "__dict__")

    def __init__(self, n_inputs):
        self.needs_input_grad = (False,) * n_inputs

    def save_for_backward(self, *tensors):
        pass

    def mark_dirty(self, *tensors):
        for t in tensors:
            t._version[0] += 1

    def check_inplace(self, *tensors):
        pass  # without a graph, in-place writes are always allowed (e.g. optimizer steps)

    def mark_non_differentiable(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        pass


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_cls_name = name + "Backward"


class Function(metaclass=_FunctionMeta):
    """Subclass with static forward(ctx, ...) and backward(ctx, *grads); call `.apply(...)`."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("Function subclasses must implement a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses must implement a static backward(ctx, ...)")

    @classmethod
    def apply(cls, *args):
        if _grad_state.enabled:
            for a in args:
                if isinstance(a, _Tensor) and a._requires_grad:
                    return _apply_with_graph(cls, args)
        return cls.forward(_NoGraphCtx(len(args)), *args)


def _apply_with_graph(cls, args):
    ctx = BackwardNode(cls, args)
    _grad_state.enabled = False
    try:
        outputs = cls.forward(ctx, *args)
    finally:
        _grad_state.enabled = True
    single = isinstance(outputs, _Tensor)
    outs = _attach_outputs(ctx, args, (outputs,) if single else tuple(outputs))
    return outs[0] if single else tuple(outs)


def _attach_outputs(ctx, args, outs):
    """Make the tensors forward returned outputs of node ctx; returns them."""
    dirty = ctx._dirty
    for t in dirty:
        _check_inplace_allowed(t)
        t._version[0] += 1
    non_diff = ctx._non_differentiable
    meta = []
    outs = list(outs)
    for i, t in enumerate(outs):
        if not isinstance(t, _Tensor):
            meta.append(None)
            continue
        if any(t is a for a in args) and not any(t is d for d in dirty):
            # forward returned an input as-is: the output is a new tensor sharing its data
            t = outs[i] = t._alias()
        meta.append((t._array.shape, t.dtype, t._device))
        if any(t is n for n in non_diff) or not t.dtype.is_floating_point:
            continue  # integer and bool outputs never require grad
        t.grad_fn = ctx
        t._output_nr = i
        t._requires_grad = True
    ctx._output_meta = tuple(meta)
    _store_saved(ctx, outs)
    return outs


def _store_saved(ctx, outs):
    saved = []
    for t in ctx._saved:
        if t is not None and t.grad_fn is ctx:
            # Saving an output as itself would make a reference cycle (output ->
            # grad_fn -> output) that only the cyclic GC can free, holding large
            # activations alive. Keep an alias that shares data and version.
            t = t._alias()
        saved.append(t)
    ctx._saved = tuple(saved)
    ctx._saved_versions = tuple(None if t is None else t._version[0] for t in saved)


def _check_inplace_allowed(t):
    if t.grad_fn is None and t._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = t._base
    if base is not None and base._requires_grad:
        if base.grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        raise RuntimeError("nnlite does not support in-place operations on a view of a tensor "
                           "that requires grad yet; use the out-of-place op or clone() first.")


class once_differentiable:
    """Decorator accepted for compatibility; nnlite records no graph in backward anyway."""

    def __new__(cls, fn):
        return fn
