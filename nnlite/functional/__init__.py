"""nnlite.functional: every op as a function, with torch's names, signatures and numerics.

One module per family; each lists its public functions in `__all__` and the
ones that are also Tensor methods in `TENSOR_METHODS` (bound by
`nnlite._tensor_methods`). `nnlite.nn.functional` re-exports the
neural-network part.
"""
from ..tensor import Tensor
from . import (activation, atan, binary, conv, conversion, creation, dropout, indexing, linear, log2, loss,
               normalization, padding, pooling, reduction, shape, shape_extra, unary)

# Families whose TENSOR_METHODS become Tensor methods (captured before the
# star imports below rebind names such as `linear` to functions).
FAMILIES = [activation, atan, binary, conv, conversion, creation, dropout, indexing, linear, log2, loss,
            normalization, padding, pooling, reduction, shape, shape_extra, unary]
from . import sorting  # noqa: E402
FAMILIES.append(sorting)

from .activation import *  # noqa: E402,F401,F403
from .atan import *  # noqa: E402,F401,F403
from .attention import *  # noqa: E402,F401,F403
from .activation_extra import *  # noqa: E402,F401,F403
from .binary import *  # noqa: E402,F401,F403
from .conv import *  # noqa: E402,F401,F403
from .conversion import *  # noqa: E402,F401,F403
from .creation import *  # noqa: E402,F401,F403
from .ctc import *  # noqa: E402,F401,F403
from .distance import *  # noqa: E402,F401,F403
from .dropout import *  # noqa: E402,F401,F403
from .fold import *  # noqa: E402,F401,F403
from .indexing import *  # noqa: E402,F401,F403
from .linear import *  # noqa: E402,F401,F403
from .log2 import *  # noqa: E402,F401,F403
from .loss import *  # noqa: E402,F401,F403
from .loss_likelihood import *  # noqa: E402,F401,F403
from .loss_margin import *  # noqa: E402,F401,F403
from .normalization import *  # noqa: E402,F401,F403
from .padding import *  # noqa: E402,F401,F403
from .pixelshuffle import *  # noqa: E402,F401,F403
from .pooling import *  # noqa: E402,F401,F403
from .reduction import *  # noqa: E402,F401,F403
from .shape import *  # noqa: E402,F401,F403
from .shape_extra import *  # noqa: E402,F401,F403
from .sparse import *  # noqa: E402,F401,F403
from .unary import *  # noqa: E402,F401,F403
from .upsampling import *  # noqa: E402,F401,F403
from .vision import *  # noqa: E402,F401,F403
from .sorting import *  # noqa: E402,F401,F403
