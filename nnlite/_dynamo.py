"""torch._dynamo.is_compiling, which model code (detectron2's layers/wrappers.py) imports
directly: nnlite never compiles (see nnlite.compiler)."""
from .compiler import is_compiling  # noqa: F401
