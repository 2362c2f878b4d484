"""functional_call (torch.nn.utils.stateless / torch.func): call a module with other tensors
in place of its parameters and buffers, then put the module's own tensors back.
"""
import contextlib
import warnings

from ...tensor import Tensor

__all__ = ["functional_call"]

_ABSENT = object()


def _merge_dicts(dicts):
    if isinstance(dicts, dict):
        return dicts
    if not isinstance(dicts, (list, tuple)) or not all(isinstance(d, dict) for d in dicts):
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, "
                         f"but got {type(dicts)}")
    merged = {}
    for d in dicts:
        for key, value in d.items():
            if key in merged:
                raise ValueError(f"{key} appeared in multiple dictionaries; behavior of functional call "
                                 "is ambiguous")
            merged[key] = value
    return merged


def _tied_groups(module):
    """Groups of names (params and buffers) that are one tensor, for groups of two or more."""
    by_tensor = {}
    members = list(module.named_parameters(remove_duplicate=False)) + \
        list(module.named_buffers(remove_duplicate=False))
    for name, t in members:
        by_tensor.setdefault(id(t), []).append(name)
    return [names for names in by_tensor.values() if len(names) > 1]


def _untie(module, tensors):
    """Give every name tied to a replaced name the same replacement (tie_weights=True)."""
    tensors = dict(tensors)
    for names in _tied_groups(module):
        given = {n: tensors[n] for n in names if n in tensors}
        if not given:
            continue
        values = list(given.values())
        if any(v is not values[0] for v in values[1:]):
            raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, which are "
                             "tied. Consider using tie_weights=False")
        for n in names:
            tensors.setdefault(n, values[0])
    return tensors


def _check_strict(module, tensors):
    names = {n for n, _ in module.named_parameters(remove_duplicate=False)} | \
        {n for n, _ in module.named_buffers(remove_duplicate=False)}
    missing = sorted(names - set(tensors))
    unexpected = sorted(set(tensors) - names)
    msgs = []
    if unexpected:
        msgs.append("Unexpected key(s): {}.".format(", ".join(map(repr, unexpected))))
    if missing:
        msgs.append("Missing key(s): {}.".format(", ".join(map(repr, missing))))
    if msgs:
        raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs))


def _swap(owner, name, value):
    """Put value in owner's slot `name` (its parameter, buffer or plain attribute); return the old one."""
    for registry in (owner._parameters, owner._buffers):
        if name in registry:
            old = registry[name]
            registry[name] = value   # no Parameter type check: any tensor may stand in
            return old
    # a plain attribute, or a parametrized tensor's property (whose setter runs right_inverse,
    # so the old value goes back the same way, as in torch)
    old = getattr(owner, name) if hasattr(owner, name) else _ABSENT
    object.__setattr__(owner, name, value)
    return old


def _current(owner, name):
    for registry in (owner._parameters, owner._buffers):
        if name in registry:
            return registry[name]
    return getattr(owner, name, None)


def _restore(owner, name, old):
    for registry in (owner._parameters, owner._buffers):
        if name in registry:
            registry[name] = old
            return
    if old is _ABSENT:
        if name in owner.__dict__:
            object.__delattr__(owner, name)
    else:
        object.__setattr__(owner, name, old)


@contextlib.contextmanager
def _reparametrize(module, given, tie_weights, strict):
    tensors = given
    if tie_weights:
        tensors = _untie(module, tensors)
    if strict:
        _check_strict(module, tensors)
    swapped = []
    try:
        for key, value in tensors.items():
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"functional_call: the value for '{key}' must be a Tensor, got "
                                f"{type(value).__name__}")
            path, _, name = key.rpartition(".")
            owner = module.get_submodule(path)
            swapped.append((owner, name, _swap(owner, name, value)))
        yield
    finally:
        for key, (owner, name, old) in reversed(list(zip(tensors, swapped))):
            if key in given:   # a module that replaced a tensor during forward: the caller sees it
                given[key] = _current(owner, name)
            _restore(owner, name, old)


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True,
                    strict=False):
    """Deprecated in torch in favour of torch.func.functional_call (nnlite.func.functional_call)."""
    warnings.warn("`nnlite.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will "
                  "be removed in a future version of PyTorch. Please use `nnlite.func.functional_call` "
                  "instead which is a drop-in replacement.", FutureWarning, stacklevel=2)
    return func_functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights,
                                strict=strict)


def func_functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True,
                         strict=False):
    """module(*args, **kwargs) computed with the given tensors in place of its parameters/buffers.

    A key naming a parametrized tensor (`weight`) is assigned through its right_inverse and
    restored the same way; to replace the unconstrained tensor itself, pass
    `parametrizations.weight.original`.
    """
    tensors = _merge_dicts(parameter_and_buffer_dicts)
    kwargs = {} if kwargs is None else kwargs
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, tensors, tie_weights, strict):
        return module(*args, **kwargs)
