"""Module hooks: forward (pre-)hooks, backward hooks and the global hooks of every module.

Full backward hooks work as torch's BackwardHook does: the module's tensor
inputs and outputs each pass through an identity autograd Function whose
backward sees the gradients flowing out of (outputs) and into (inputs) the
module. The output Function runs the backward pre-hooks and remembers
grad_output; the input Function hands (grad_input, grad_output) to the full
backward hooks, which may replace grad_input.
"""
import itertools
import warnings
from collections import OrderedDict

from ...autograd.function import Function
from ...autograd.grad_mode import state as _grad_state
from ...tensor import Tensor


class RemovableHandle:
    """What register_*_hook returns: `handle.remove()` unregisters the hook (also a context manager)."""

    _ids = itertools.count()

    def __init__(self, hooks, *extra_dicts):
        self.hooks = hooks
        self.extra_dicts = extra_dicts
        self.id = next(RemovableHandle._ids)

    def remove(self):
        for d in (self.hooks, *self.extra_dicts):
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks, hook, prepend=False, flags=()):
    """Register hook in `hooks` (first if prepend), marking it in each (flag dict, on) given."""
    handle = RemovableHandle(hooks, *(d for d, _ in flags))
    hooks[handle.id] = hook
    for flag_dict, on in flags:
        if on:
            flag_dict[handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


# ------------------------------------------------------------ hooks of every module
_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()
_global_forward_hooks_with_kwargs = OrderedDict()
_global_forward_hooks_always_called = OrderedDict()
_global_backward_pre_hooks = OrderedDict()
_global_backward_hooks = OrderedDict()
_global_is_full_backward_hook = None   # None: no global backward hook yet; then True or False


_global_buffer_registration_hooks = OrderedDict()
_global_module_registration_hooks = OrderedDict()
_global_parameter_registration_hooks = OrderedDict()


def register_module_buffer_registration_hook(hook):
    """hook(module, name, buffer) -> None or a replacement, whenever any module registers a buffer."""
    return _add_hook(_global_buffer_registration_hooks, hook)


def register_module_module_registration_hook(hook):
    """hook(module, name, submodule) -> None or a replacement, whenever any module registers a child."""
    return _add_hook(_global_module_registration_hooks, hook)


def register_module_parameter_registration_hook(hook):
    """hook(module, name, param) -> None or a replacement, whenever any module registers a parameter."""
    return _add_hook(_global_parameter_registration_hooks, hook)


def _registered(hooks, module, name, value):
    """value, or what the registration hooks replace it with."""
    for hook in list(hooks.values()):
        out = hook(module, name, value)
        if out is not None:
            value = out
    return value


def register_module_forward_pre_hook(hook):
    """hook(module, args) before every module's forward (before the module's own pre-hooks)."""
    return _add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """hook(module, args, output) after every module's forward (before the module's own hooks)."""
    return _add_hook(_global_forward_hooks, hook, False, [(_global_forward_hooks_with_kwargs, with_kwargs),
                                                          (_global_forward_hooks_always_called, always_call)])


def register_module_backward_hook(hook):
    """The non-full backward hook of every module (deprecated in torch, as here)."""
    global _global_is_full_backward_hook
    if _global_is_full_backward_hook is True:
        raise RuntimeError("Cannot use both regular backward hooks and full backward hooks as a global "
                           "Module hook. Please use only one of them.")
    _global_is_full_backward_hook = False
    return _add_hook(_global_backward_hooks, hook)


def register_module_full_backward_pre_hook(hook):
    """hook(module, grad_output) for every module, before its gradients are computed."""
    return _add_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook):
    """hook(module, grad_input, grad_output) for every module."""
    global _global_is_full_backward_hook
    if _global_is_full_backward_hook is False:
        raise RuntimeError("Cannot use both regular backward hooks and full backward hooks as a global "
                           "Module hook. Please use only one of them.")
    _global_is_full_backward_hook = True
    return _add_hook(_global_backward_hooks, hook)


# ------------------------------------------------------------ full backward hooks
def _identity(ctx, tensors):
    """New tensors sharing the inputs' data; those of inputs that need no grad stay out of the graph."""
    outs = tuple(t._alias() for t in tensors)
    ctx.mark_non_differentiable(*[o for o, t in zip(outs, tensors) if not t.requires_grad])
    return outs


class _InputHookFunction(Function):
    """Identity on the module's tensor inputs; its backward runs the full backward hooks."""

    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        return _identity(ctx, tensors)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.state.on_grad_input(grads))


class _OutputHookFunction(Function):
    """Identity on the module's tensor outputs; its backward runs the backward pre-hooks."""

    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        ctx.set_materialize_grads(False)   # the pre-hooks see None for outputs that got no gradient
        return _identity(ctx, tensors)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.state.on_grad_output(grads))


def _pack(positions, values, size):
    """A tuple of `size` entries: values at the given positions, None elsewhere."""
    packed = [None] * size
    for pos, value in zip(positions, values):
        packed[pos] = value
    return tuple(packed)


class _BackwardHookState:
    """One module call's link between its output gradients and its input gradients."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs = None
        self.input_positions = None
        self.n_inputs = 0
        self.output_positions = None
        self.n_outputs = 0

    @staticmethod
    def _wrap(function, state, values):
        """(values with their tensors passed through function, the tensors' positions or None)."""
        positions = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        if not (_grad_state.enabled and any(values[i].requires_grad for i in positions)):
            return values, None
        wrapped = function.apply(state, *(values[i] for i in positions))
        out = list(values)
        for pos, tensor in zip(positions, wrapped):
            out[pos] = tensor
        return tuple(out), positions

    def wrap_inputs(self, args):
        self.n_inputs = len(args)
        args, self.input_positions = self._wrap(_InputHookFunction, self, tuple(args))
        return args

    def wrap_outputs(self, result):
        single = not isinstance(result, tuple)
        values = (result,) if single else result
        self.n_outputs = len(values)
        values, self.output_positions = self._wrap(_OutputHookFunction, self, values)
        return values[0] if single else values

    def on_grad_output(self, grads):
        self.grad_outputs = _pack(self.output_positions, grads, self.n_outputs)
        for hook in self.pre_hooks:
            new = hook(self.module, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(self.grad_outputs):
                raise RuntimeError("Backward pre hook returned an invalid number of grad_output, got "
                                   f"{len(new)}, but expected {len(self.grad_outputs)}")
            self.grad_outputs = tuple(new)
        grad_outputs = self.grad_outputs
        if self.input_positions is None:
            self._no_input_needs_grad()
        return [grad_outputs[i] for i in self.output_positions]

    def _no_input_needs_grad(self):
        # No input Function was recorded: the full hooks fire here, with grad_input all None.
        if self.hooks:
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients. See the documentation of "
                          "Module.register_full_backward_hook for more details.", stacklevel=2)
        grad_inputs = (None,) * self.n_inputs
        for hook in self.hooks:
            new = hook(self.module, grad_inputs, self.grad_outputs)
            if new is not None and not (isinstance(new, tuple) and all(g is None for g in new)):
                raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                   "always return None or None for all gradients.")
        self.grad_outputs = None

    def on_grad_input(self, grads):
        if self.grad_outputs is None:
            return grads   # the gradient reached the inputs without passing through the outputs
        grad_inputs = _pack(self.input_positions, grads, self.n_inputs)
        for hook in self.hooks:
            new = hook(self.module, grad_inputs, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(grad_inputs):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, got "
                                   f"{len(new)}, but expected {len(grad_inputs)}")
            grad_inputs = tuple(new)
        self.grad_outputs = None
        return [grad_inputs[i] for i in self.input_positions]


def _first_tensor(result):
    """The tensor a non-full backward hook attaches to: the first one found in the output."""
    while not isinstance(result, Tensor):
        if isinstance(result, dict):
            result = next(v for v in result.values() if isinstance(v, Tensor))
        else:
            result = result[0]
    return result


class HookMixin:
    """The hook half of Module: registration and the hooked call path."""

    def _init_hooks(self):
        set_plain = object.__setattr__
        for name in ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                     "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks",
                     "_backward_pre_hooks"):
            set_plain(self, name, OrderedDict())
        set_plain(self, "_is_full_backward_hook", None)

    # ------------------------------------------------------------ registration
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args; with_kwargs: hook(module, args, kwargs)."""
        return _add_hook(self._forward_pre_hooks, hook, prepend,
                         [(self._forward_pre_hooks_with_kwargs, with_kwargs)])

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """hook(module, args, output) -> None or new output; runs after forward."""
        return _add_hook(self._forward_hooks, hook, prepend, [(self._forward_hooks_with_kwargs, with_kwargs),
                                                              (self._forward_hooks_always_called, always_call)])

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) -> None or new grad_output, before the module's gradients."""
        return _add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or new grad_input."""
        if self._is_full_backward_hook is False:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a "
                               "single Module. Please use only one of them.")
        object.__setattr__(self, "_is_full_backward_hook", True)
        return _add_hook(self._backward_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        """Deprecated (as in torch): hook(module, grad_input, grad_output) on the grad_fn of the
        module's (first) output, so grad_input is that last op's input gradients."""
        if self._is_full_backward_hook is True:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a "
                               "single Module. Please use only one of them.")
        object.__setattr__(self, "_is_full_backward_hook", False)
        return _add_hook(self._backward_hooks, hook)

    def _backward_hook_lists(self):
        """(full backward hooks, non-full backward hooks, backward pre-hooks), global ones first."""
        full, plain = [], []
        for is_full, hooks in ((_global_is_full_backward_hook, _global_backward_hooks),
                               (self._is_full_backward_hook, self._backward_hooks)):
            if is_full is True:
                full += hooks.values()
            elif is_full is False:
                plain += hooks.values()
        return full, plain, [*_global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]

    # ------------------------------------------------------------ the hooked call
    def _call_with_hooks(self, args, kwargs):
        full_hooks, plain_hooks, pre_hooks = self._backward_hook_lists()
        args, kwargs = self._run_forward_pre_hooks(args, kwargs)
        bw_state = None
        if full_hooks or pre_hooks:
            bw_state = _BackwardHookState(self, full_hooks, pre_hooks)
            args = bw_state.wrap_inputs(args)
        result = None
        called = set()
        try:
            result = self.forward(*args, **kwargs)
            for hook_id, hook in self._all_forward_hooks():
                called.add(hook_id)
                out = self._run_forward_hook(hook_id, hook, args, kwargs, result)
                if out is not None:
                    result = out
        except Exception:
            self._run_always_called_hooks(called, args, kwargs, result)
            raise
        if bw_state is not None:
            result = bw_state.wrap_outputs(result)
        if plain_hooks:
            self._attach_plain_backward_hooks(plain_hooks, result)
        return result

    def _run_forward_pre_hooks(self, args, kwargs):
        for hook_id, hook in [*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()]:
            if hook_id in self._forward_pre_hooks_with_kwargs:
                out = hook(self, args, kwargs)
                if out is not None:
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {out}.")
                    args, kwargs = out
            else:
                out = hook(self, args)
                if out is not None:
                    args = out if isinstance(out, tuple) else (out,)
        return args, kwargs

    def _all_forward_hooks(self):
        return [*_global_forward_hooks.items(), *self._forward_hooks.items()]

    def _run_forward_hook(self, hook_id, hook, args, kwargs, result):
        if hook_id in self._forward_hooks_with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
            return hook(self, args, kwargs, result)
        return hook(self, args, result)

    def _run_always_called_hooks(self, called, args, kwargs, result):
        always = (self._forward_hooks_always_called, _global_forward_hooks_always_called)
        for hook_id, hook in self._all_forward_hooks():
            if any(hook_id in d for d in always) and hook_id not in called:
                try:
                    self._run_forward_hook(hook_id, hook, args, kwargs, result)
                except Exception:
                    pass  # the forward's own error is the one to report

    def _attach_plain_backward_hooks(self, hooks, result):
        grad_fn = _first_tensor(result).grad_fn
        if grad_fn is None:
            return
        for hook in hooks:
            grad_fn.register_hook(lambda grad_inputs, grad_outputs, hook=hook:
                                  hook(self, grad_inputs, grad_outputs))
