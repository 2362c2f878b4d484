"""replicate: copies of a module tree, one per device, for DataParallel.

A replica's parameters are not leaves: they are differentiable copies of the module's
parameters (a view on the same device, a .to() copy on another), so the gradients of
every replica's loss add up in the original parameters' .grad. Buffers are plain copies,
except that the first replica, when it sits on the module's device, shares them, so that
in-place updates there (BatchNorm's running statistics) reach the module, as torch
guarantees for device_ids[0].
"""
from .scatter_gather import to_device

__all__ = ["replicate"]


def _param_copy(p, dev, detach):
    if detach:
        p = p.detach()
    return p.view_as(p) if p.device == dev else p.to(dev)


def _buffer_copy(b, dev, shared, detach):
    if b.requires_grad and not detach:
        return _param_copy(b, dev, detach)
    b = b.detach() if b.requires_grad else b
    if b.device == dev:
        return b if shared else b.clone()
    return b.to(dev)


def _shallow_replica(module):
    """A new object of the module's class sharing its attributes, with its own registries."""
    own = getattr(type(module), "_replicate_for_data_parallel", None)
    if own is not None:  # a class that refuses (lazy modules) or replicates itself
        return own(module)
    replica = object.__new__(type(module))
    set_plain = object.__setattr__
    set_plain(replica, "__dict__", dict(module.__dict__))
    set_plain(replica, "_parameters", {})  # parameter copies become plain attributes
    set_plain(replica, "_buffers", dict(module._buffers))
    set_plain(replica, "_modules", dict(module._modules))
    set_plain(replica, "_is_replica", True)
    return replica


def replicate(network, devices, detach=False):
    """One replica of `network` per entry of `devices` (device ids, names or nnlite.device).

    With detach=True the replicas' parameters are cut from the graph (for no-grad forwards).
    """
    if not devices:
        return []
    devices = [to_device(d) for d in devices]
    params = {id(p): p for p in network.parameters()}
    modules = list(network.modules())
    position = {id(m): i for i, m in enumerate(modules)}
    replicas = []
    for j, dev in enumerate(devices):
        trees = [_shallow_replica(m) for m in modules]  # first: lazy modules refuse here
        copies = {key: _param_copy(p, dev, detach) for key, p in params.items()}
        for module, replica in zip(modules, trees):
            _fill(module, replica, trees, position, copies, dev, j == 0, detach)
        replicas.append(trees[0])
    return replicas


def _fill(module, replica, trees, position, param_copies, dev, first, detach):
    """Point the replica's children, parameters and buffers at this device's copies."""
    for key, child in module._modules.items():
        replica._modules[key] = None if child is None else trees[position[id(child)]]
    for key, p in module._parameters.items():
        if p is None:
            replica._parameters[key] = None
        else:
            object.__setattr__(replica, key, param_copies[id(p)])
    for key, b in module._buffers.items():
        replica._buffers[key] = None if b is None else _buffer_copy(b, dev, first, detach)
