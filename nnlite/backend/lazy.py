"""Lazy kernel modules: a kernel file is imported on the first use of an op.

Creating a Numba dispatcher costs ~0.25 ms; nnlite has hundreds, so importing
them all would make `import nnlite` slow. `kernels("unary")` returns a stand-in
whose first attribute access imports `nnlite.kernels.unary` and copies its
namespace into the stand-in, so later lookups are plain attribute reads.
"""
import importlib


class LazyModule:
    def __init__(self, name):
        self.__dict__["_lazy_name"] = name

    def __getattr__(self, attr):
        module = importlib.import_module(self.__dict__["_lazy_name"])
        self.__dict__.update(module.__dict__)
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {module.__name__} has no attribute {attr}") from None

    def __repr__(self):
        return f"<lazy module {self.__dict__['_lazy_name']}>"


def kernels(family):
    """The kernel module nnlite.kernels.<family>, loaded on first use."""
    return LazyModule("nnlite.kernels." + family)
