"""nnlite: PyTorch-style deep learning with nothing to compile.

Every operator is a pair of Numba kernels (CPU and CUDA) with its backward
kernels; `import nnlite as torch` runs most code written against torch.
"""
import math as _math

from .version import __version__
from .backend import dtype as _dtype_module
from .backend.device import device
from .backend.layout import Layout as layout, strided
from .backend.dtype import (bool_ as bool, dtype, float16, float32, float64, get_default_dtype,
                            int32, int64, promote_types, set_default_dtype, uint8)
from .backend.memory import empty_cache
from .backend.random import Generator, initial_seed, manual_seed, seed
from .tensor import Size, Tensor
from .autograd.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .functional import *  # noqa: F401,F403  (nnlite.add, nnlite.cat, ... as in torch)
from . import functional, autograd
from . import _tensor_methods  # noqa: F401  (binds Tensor methods and operators)
from . import _C, cuda, distributed, fx, jit, nn  # noqa: F401  (_C, fx, jit: eager stand-ins)
from .utils.dlpack import from_dlpack
from . import optim
from .serialization import load, save

float = float32
double = float64
half = float16
long = int64
int = int32
uint8 = uint8
pi = _math.pi
e = _math.e
inf = _math.inf
nan = _math.nan


def result_type(tensor1, tensor2):
    return _dtype_module.result_type(tensor1, tensor2)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()
from . import func  # noqa: E402  (torch.func.functional_call)
from .functional.shape_extra import _assert  # noqa: E402  (a private name: no star import brings it)
from . import compiler  # noqa: E402,F401  (torch.compiler's eager stand-ins)
