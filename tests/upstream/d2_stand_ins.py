"""What detectron2's files import from detectron2's and fvcore's own plumbing (the registry,
the version flag, the process-group helpers), which has nothing to do with nnlite: neutral
stand-ins, shared by the run on nnlite and the run on PyTorch. detectron2 and fvcore are not
installed here; these tests run in one process.

`from detectron2.utils import comm, env` reads two submodules as names: `comm` and `env` below
are namespaces holding what those files use."""
import types

# detectron2.utils.env.TORCH_VERSION: the PyTorch version whose API both runs follow (nnlite
# follows torch 2.13; the reference is torch 2.13). It picks torch.compiler paths in wrappers.py.
TORCH_VERSION = (2, 13)


def get_world_size():
    """detectron2.utils.comm.get_world_size: these tests run in a single process."""
    return 1


def differentiable_all_reduce(input):
    """fvcore.nn.distributed.differentiable_all_reduce: the sum over one process is the input."""
    return input


class Registry:
    """fvcore.common.registry.Registry (detectron2.utils.registry): names -> callables, filled
    by the `@REGISTRY.register()` decorator."""

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def register(self, obj=None):
        if obj is None:  # used as @REGISTRY.register()
            return self.register
        name = obj.__name__
        if name in self._obj_map:
            raise KeyError(f"An object named '{name}' was already registered in '{self._name}' registry!")
        self._obj_map[name] = obj
        return obj

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(f"No object named '{name}' found in '{self._name}' registry!")
        return self._obj_map[name]

    def __contains__(self, name):
        return name in self._obj_map


comm = types.SimpleNamespace(get_world_size=get_world_size)
env = types.SimpleNamespace(TORCH_VERSION=TORCH_VERSION)
