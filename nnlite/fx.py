"""torch.fx's `wrap`, as model code calls it at import time to keep a function out of a
symbolic trace. nnlite has no symbolic tracer: `wrap` hands the function back unchanged."""


def wrap(fn_or_name):
    return fn_or_name
