"""state_dict / load_state_dict and their hooks: the checkpoint half of Module, as torch's.

Saving walks the tree writing each module's parameters, persistent buffers and
`_extra_state`, with `_metadata[prefix] = {"version": module._version}`.
Loading calls each module's `_load_from_state_dict(state_dict, prefix,
local_metadata, strict, missing_keys, unexpected_keys, error_msgs)` on the
entries under its prefix, so that a model file's override can rename legacy
keys before the module decides which keys are unexpected.
"""
import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from ..parameter import Parameter
from ._hooks import RemovableHandle, _add_hook

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """load_state_dict's result: the keys it could not match."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _tensor_like(value):
    """A state-dict value as a Tensor: Tensors as they are, numpy arrays (and anything with
    __array__ or __cuda_array_interface__, e.g. torch tensors) converted; None otherwise."""
    from ...functional.creation import tensor
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__cuda_array_interface__"):
        return tensor(value)
    if hasattr(value, "__array__"):
        return tensor(np.asarray(value))
    return None


class StateDictMixin:
    """The checkpoint half of Module."""

    _version = 1    # stored in state_dict metadata, for modules that change their state layout

    def _init_state_dict_hooks(self):
        for name in ("_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks"):
            object.__setattr__(self, name, OrderedDict())

    # ------------------------------------------------------------ extra state
    def get_extra_state(self):
        """Override (with set_extra_state) to save non-tensor state under `<prefix>_extra_state`."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called. "
                           "Please file an issue to report this bug.")

    def set_extra_state(self, state):
        """Override (with get_extra_state) to restore what get_extra_state saved."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called. "
                           "Please file an issue to report this bug.")

    def _overrides(self, name):
        return getattr(type(self), name) is not getattr(StateDictMixin, name)

    # ------------------------------------------------------------ hooks
    def register_state_dict_pre_hook(self, hook):
        """hook(module, prefix, keep_vars) before the module saves its entries."""
        return _add_hook(self._state_dict_pre_hooks, hook)

    def _register_state_dict_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) -> None or a new state_dict (root only)."""
        if getattr(hook, "_from_public_api", False):
            raise RuntimeError("Cannot register the same function as the state dict post hook that was "
                               "previously registered via register_state_dict_post_hook")
        return _add_hook(self._state_dict_hooks, hook)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) -> None; may edit state_dict in place."""
        hook._from_public_api = True
        return _add_hook(self._state_dict_hooks, hook)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        if with_module:
            def hook_with_module(*args, _hook=hook):
                return _hook(self, *args)
            return _add_hook(self._load_state_dict_pre_hooks, hook_with_module)
        return _add_hook(self._load_state_dict_pre_hooks, hook)

    def register_load_state_dict_pre_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs), before this module loads its entries."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys) -> None, after this module and its children loaded."""
        return _add_hook(self._load_state_dict_post_hooks, hook)

    # ------------------------------------------------------------ saving
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if self._overrides("get_extra_state"):
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of every parameter and persistent buffer, by dotted name (detached)."""
        if args:  # torch's deprecated positional form: (destination, prefix, keep_vars)
            destination = args[0] if destination is None else destination
            prefix = args[1] if len(args) > 1 and prefix == "" else prefix
            keep_vars = args[2] if len(args) > 2 and keep_vars is False else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, local_metadata)
            if getattr(hook, "_from_public_api", False):
                if result is not None:
                    raise RuntimeError("state_dict post-hook must return None")
            elif result is not None:
                destination = result
        return destination

    # ------------------------------------------------------------ loading
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Copy this module's own entries (not its children's) out of state_dict."""
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(), self._buffers.items())
                       if v is not None and k not in self._non_persistent_buffers_set}
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, param in local_state.items():
            key = prefix + name
            if key in state_dict:
                self._load_entry(name, key, param, state_dict[key], assign, error_msgs)
            elif strict:
                missing_keys.append(key)
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if self._overrides("set_extra_state"):
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            unexpected_keys.extend(self._unexpected(state_dict, prefix, local_state, extra_key))

    def _unexpected(self, state_dict, prefix, local_state, extra_key):
        for key in state_dict:
            if key.startswith(prefix) and key != extra_key:
                head = key[len(prefix):].split(".", 1)
                if (head[0] not in self._modules) if len(head) > 1 else (head[0] not in local_state):
                    yield key

    def _load_entry(self, name, key, param, value, assign, error_msgs):
        value, given = _tensor_like(value), value
        if value is None:
            error_msgs.append(f'While copying the parameter named "{key}", expected nnlite.Tensor or '
                              f"Tensor-like object (a numpy array) from checkpoint but received {type(given)}")
            return
        if _is_placeholder(param):
            return   # a lazy checkpoint entry into a lazy module: nothing to copy yet
        if param.ndim == 0 and value.ndim == 1 and value.shape[0] == 1:
            value = value.reshape(())
        if tuple(value.shape) != tuple(param.shape):
            error_msgs.append(f"size mismatch for {key}: copying a param with shape {value.shape} from "
                              f"checkpoint, the shape in current model is {param.shape}.")
            return
        try:
            with no_grad():
                if not assign:
                    param.copy_(value)
                elif isinstance(param, Parameter):
                    if not isinstance(value, Parameter):
                        value = Parameter(value, param.requires_grad)
                    else:
                        value.requires_grad_(param.requires_grad)
                    setattr(self, name, value)
                else:
                    setattr(self, name, value)
        except Exception as ex:
            error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in the model '
                              f"are {param.shape} and whose dimensions in the checkpoint are "
                              f"{value.shape}, an exception occurred : {ex.args}.")

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy parameters and buffers from state_dict (values: Tensors or numpy arrays).

        Returns (missing_keys, unexpected_keys); with strict=True any mismatch
        raises RuntimeError listing them, worded as torch words it. Size
        mismatches raise whatever strict is.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata

        def load(module, local_state, prefix=""):
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = True
            module._load_from_state_dict(local_state, prefix, local_metadata, True, missing, unexpected,
                                         errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local_state.items() if k.startswith(child_prefix)},
                         child_prefix)
            _run_load_post_hooks(module, _IncompatibleKeys(missing, unexpected))

        load(self, state_dict)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)


def _is_placeholder(value):
    """An UninitializedParameter/Buffer of a lazy module (lazy.py; tested by its class attribute)."""
    return getattr(type(value), "cls_to_become", None) is not None


def _run_load_post_hooks(module, incompatible_keys):
    # the hooks see the running lists and may edit them in place (clearing them avoids the error)
    for hook in module._load_state_dict_post_hooks.values():
        if hook(module, incompatible_keys) is not None:
            raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not "
                                 "expected to return new values, if incompatible_keys need to be modified, "
                                 "it should be done inplace.")


__all__ = ["RemovableHandle", "StateDictMixin", "_IncompatibleKeys", "_tensor_like"]
