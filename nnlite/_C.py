"""The one name of torch._C that model code calls directly (torchvision's detection transforms
and mask heads ask whether a JIT trace is being recorded). nnlite records no traces."""


def _get_tracing_state():
    return None
