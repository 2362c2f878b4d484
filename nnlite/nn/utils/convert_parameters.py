"""parameters_to_vector / vector_to_parameters (torch.nn.utils.convert_parameters)."""
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(op, params):
    devices = {str(p.device) for p in params}
    if len(devices) > 1:
        raise TypeError(f"{op}: Found two parameters on different devices, this is currently not "
                        f"supported (devices: {', '.join(sorted(devices))}).")


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    from ...functional.shape import cat
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _check_same_device("parameters_to_vector", params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Slice vec into the parameters' shapes and make them their new `.data` (no copy of vec)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _check_same_device("vector_to_parameters", params)
    needed = sum(p.numel() for p in params)
    # torch reads the head of a longer vector and fails on a shorter one
    if vec.ndim != 1 or vec.numel() < needed:
        raise RuntimeError(f"vector_to_parameters: expected a 1-D vector of at least {needed} elements "
                           f"(the parameters' total), got shape {tuple(vec.shape)}")
    offset = 0
    for p in params:
        n = p.numel()
        p.data = vec.detach()[offset:offset + n].reshape(p.shape)
        offset += n
