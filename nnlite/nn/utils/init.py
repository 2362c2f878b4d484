"""skip_init (torch.nn.utils.skip_init): build a module without running its initialisation.

torch builds the module on the meta device and then allocates it uninitialised
(`to_empty`). nnlite has no meta device, so it builds the module on its final
device while the random and constant initialisers of nnlite.nn.init are
switched off: the parameters keep the uninitialised memory `empty()` gave them.
"""
import contextlib
import inspect

from .. import init as _init
from ..modules.module import Module

__all__ = ["skip_init"]


def _keep(tensor, *args, **kwargs):
    return tensor


@contextlib.contextmanager
def _initialisers_off():
    # every in-place initialiser (uniform_, kaiming_normal_, ...) of nnlite.nn.init, as the
    # modules call them through the `init` module object
    names = [n for n in dir(_init) if n.endswith("_") and not n.startswith("_")
             and callable(getattr(_init, n))]
    saved = {n: getattr(_init, n) for n in names}
    try:
        for n in names:
            setattr(_init, n, _keep)
        yield
    finally:
        for n, fn in saved.items():
            setattr(_init, n, fn)


def skip_init(module_cls, *args, **kwargs):
    """module_cls(*args, **kwargs) with its parameters left uninitialised (the class must take `device`)."""
    if not (inspect.isclass(module_cls) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    kwargs.setdefault("device", "cpu")
    with _initialisers_off():
        return module_cls(*args, **kwargs)
