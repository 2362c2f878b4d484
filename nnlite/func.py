"""nnlite.func: the functional module API of torch.func (functional_call)."""
from .nn.utils.stateless import func_functional_call as functional_call

__all__ = ["functional_call"]
