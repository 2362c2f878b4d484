"""Padding layers (as torch.nn): Reflection-, Replication-, Zero-, Constant- and CircularPad
in 1, 2 and 3 dims, each a call to F.pad. `padding` is an int (the same on every side) or a
sequence (left, right[, top, bottom[, front, back]]), stored as a tuple as torch stores it."""
from .. import functional as F
from .module import Module


def _ntuple(padding, n):
    """torch's _ntuple: a sequence as a tuple (its length is F.pad's to check), an int n times."""
    if isinstance(padding, (tuple, list)):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    """F.pad(input, self.padding, self.mode); `sides` is 2, 4 or 6 (1-, 2- or 3-D)."""
    mode = "constant"
    sides = 2

    def __init__(self, padding):
        super().__init__()
        self.padding = _ntuple(padding, self.sides)

    def forward(self, input):
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    sides = 2


class ReflectionPad2d(_ReflectionPadNd):
    sides = 4


class ReflectionPad3d(_ReflectionPadNd):
    sides = 6


class _ReplicationPadNd(_PadNd):
    mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    sides = 2


class ReplicationPad2d(_ReplicationPadNd):
    sides = 4


class ReplicationPad3d(_ReplicationPadNd):
    sides = 6


class _CircularPadNd(_PadNd):
    mode = "circular"

    def forward(self, input):
        # torch's modules check the rank themselves (ValueError), before F.pad would
        if input.ndim not in (self.sides // 2 + 1, self.sides // 2 + 2):
            lo = self.sides // 2 + 1
            raise ValueError(f"expected {lo}D or {lo + 1}D input (got {input.ndim}D input)")
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    sides = 2


class CircularPad2d(_CircularPadNd):
    sides = 4


class CircularPad3d(_CircularPadNd):
    sides = 6


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    sides = 2


class ConstantPad2d(_ConstantPadNd):
    sides = 4


class ConstantPad3d(_ConstantPadNd):
    sides = 6


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"
