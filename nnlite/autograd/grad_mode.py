"""no_grad, enable_grad, set_grad_enabled, inference_mode.

The flag is process-wide (PyTorch's is per thread): reading a module attribute
keeps the cost of every op's "does this need a graph?" check to a few tens of
nanoseconds.
"""
import functools


class _State:
    enabled = True


state = _State()


def is_grad_enabled():
    return state.enabled


class _GradModeContext:
    """Base of the grad-mode context managers; also usable as decorators."""

    _target = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._target

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Ops run inside record no graph (as torch.no_grad)."""
    _target = False


class enable_grad(_GradModeContext):
    """Re-enable graph recording inside a no_grad region."""
    _target = True


class inference_mode(_GradModeContext):
    """Alias of no_grad (nnlite has no separate inference tensors)."""

    def __init__(self, mode=True):
        self._target = not mode

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(not self._target):
                return fn(*args, **kwargs)
        return wrapper


class set_grad_enabled(_GradModeContext):
    """Set grad mode now; as a context manager, restore it on exit."""

    def __init__(self, mode):
        self._prev = state.enabled
        self._target = bool(mode)
        state.enabled = self._target

    def __enter__(self):
        pass

    def __call__(self, fn):
        state.enabled = self._prev  # used as a decorator: do not change the mode now
        mode = self._target

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
