"""nnlite.nn: Module, layers, losses, init (the API of torch.nn)."""
from . import functional
from . import init
from . import utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["Parameter", "functional", "init", "utils"] + _modules_all
from . import parallel  # noqa: E402  (after modules: DistributedDataParallel is a Module)
