"""torch.jit's names that model code calls while running eagerly. nnlite has no TorchScript:
code runs as the Python it is, so these answer "not scripting, not tracing" and their
decorators hand the function back unchanged. `script`/`trace` are not offered."""


def is_scripting():
    return False


def is_tracing():
    return False


def unused(fn):
    """@torch.jit.unused: marks code TorchScript should skip; eager code keeps it."""
    return fn


def ignore(fn=None, **kwargs):
    return fn if fn is not None else (lambda f: f)


def _script_if_tracing(fn):
    return fn


def script_if_tracing(fn):
    """@torch.jit.script_if_tracing: scripts `fn` only while tracing; eager code runs it as is."""
    return fn


def _overload_method(fn):
    return fn


def annotate(the_type, the_value):
    """torch.jit.annotate(type, value): a type hint for the compiler; the value itself."""
    return the_value
