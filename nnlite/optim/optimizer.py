"""Optimizer: the base class of nnlite.optim (the API and state layout of torch.optim.Optimizer).

An optimizer holds `param_groups` (dicts of hyper-parameters, each with its
list of `params`) and `state` (per-parameter dicts of tensors). Subclasses
implement `step()` by handing each parameter's arrays to one fused kernel
pair in `nnlite.kernels.optim`, which updates the parameter and its state in
place.
"""
import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..backend.lazy import kernels
from ..functional._util import flat
from ..functional.creation import tensor as _tensor
from ..functional.creation import zeros_like
from ..functional._arrays import contiguous_array, copy_array_into, is_contiguous_array
from ..tensor import Tensor

K = kernels("optim")


class _RequiredParameter:
    """Marks a hyper-parameter that every param group must give (torch.optim.optimizer.required)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    return "nnlite.Tensor" if isinstance(obj, Tensor) else type(obj).__name__


class Optimizer:
    """Base class: param_groups, state, add_param_group, zero_grad, state_dict/load_state_dict."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got {_typename(params)}")
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group of parameters, filling its missing hyper-parameters from the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        if params and all(isinstance(p, tuple) and len(p) == 2 for p in params):
            param_group["param_names"] = [name for name, _ in params]  # from named_parameters()
            params = [p for _, p in params]
        param_group["params"] = params
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(param))
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, "
                          "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                          "information", stacklevel=3)
        existing = set(chain.from_iterable(g["params"] for g in self.param_groups))
        if not existing.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    @staticmethod
    def _evaluate(closure):
        """The closure's loss (computed with gradients enabled), or None."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------ state dict
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}, as torch lays it out.

        Parameters are numbered in the order they appear across the groups;
        the tensors in 'state' are the optimizer's own (not copies).
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state and hyper-parameters saved by state_dict() (torch's or nnlite's).

        State tensors (numpy arrays accepted) move to each parameter's device
        and, if floating point, its dtype; 'step' counters stay as saved.
        """
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast_state(param, v)
            else:
                state[k] = v
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ------------------------------------------------------------ helpers for step()
    def _params_with_grad(self, group):
        """(param, flat contiguous gradient array) for each parameter of the group that has a gradient."""
        for p in group["params"]:
            if p.grad is not None:
                yield p, _grad_array(type(self).__name__, p)

    def _state_buffer(self, param, name, state=None):
        """The flat contiguous array of state[name], created as zeros like the parameter."""
        state = self.state[param] if state is None else state
        buf = state.get(name)
        if buf is None:
            buf = state[name] = zeros_like(param, dtype=param.dtype)
        elif not is_contiguous_array(buf._array):
            buf = state[name] = buf.contiguous()
        return flat(buf._array)


def _grad_array(op, p):
    g = p.grad
    if tuple(g.shape) != tuple(p.shape):
        raise RuntimeError(f"{op}.step: the gradient of a parameter of shape {list(p.shape)} has shape "
                           f"{list(g.shape)}")
    if g.device != p.device:
        raise RuntimeError(f"{op}.step: the gradient is on {g.device} but its parameter is on {p.device}")
    if g.dtype is not p.dtype:
        g = g.to(p.dtype)
    return flat(contiguous_array(g._array))


class updating:
    """Context manager giving a parameter's data as a flat contiguous array to update in place.

    A non-contiguous parameter is updated in a contiguous copy that is written
    back on exit; either way the parameter's version counter advances, as
    after any in-place op.
    """

    def __init__(self, param):
        self.param = param
        self.array = param._array
        self.copy = None if is_contiguous_array(self.array) else contiguous_array(self.array)

    def __enter__(self):
        return flat(self.array if self.copy is None else self.copy)

    def __exit__(self, *exc):
        if self.copy is not None:
            copy_array_into(self.copy, self.array)
        self.param._version[0] += 1
        return False


def _cast_state(param, value, key=None):
    """A loaded state entry on the parameter's device (and dtype, for floating tensors but 'step')."""
    if isinstance(value, np.ndarray):
        value = _tensor(value)
    if isinstance(value, Tensor):
        if key == "step":
            return value
        if param.is_floating_point() and value.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device)
        return value.to(device=param.device)
    if isinstance(value, dict):
        return {k: _cast_state(param, v, key=k) for k, v in value.items()}
    return value


def step_counter():
    """A new step count: a 0-d CPU tensor of the default float dtype, as torch keeps it."""
    return _tensor(0.0)


def advance_step(state):
    """state['step'] += 1 in place; returns the new count as a Python float."""
    step = state["step"]
    if step.device.type == "cpu" and step.numel() == 1 and step.is_contiguous():
        step._array[...] += 1  # a 0-d numpy array: no kernel launch for one number
        step._version[0] += 1
    else:
        step.add_(1)
    return step.item()
