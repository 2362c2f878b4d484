"""nnlite.nn.functional: the neural-network ops, as torch.nn.functional."""
from ..functional.activation import *  # noqa: F401,F403
from ..functional.attention import *  # noqa: F401,F403
from ..functional.activation_extra import *  # noqa: F401,F403
from ..functional.conv import *  # noqa: F401,F403
from ..functional.ctc import *  # noqa: F401,F403
from ..functional.distance import *  # noqa: F401,F403
from ..functional.dropout import *  # noqa: F401,F403
from ..functional.fold import *  # noqa: F401,F403
from ..functional.linear import bilinear, linear  # noqa: F401
from ..functional.loss import *  # noqa: F401,F403
from ..functional.loss_likelihood import *  # noqa: F401,F403
from ..functional.loss_margin import *  # noqa: F401,F403
from ..functional.normalization import *  # noqa: F401,F403
from ..functional.padding import *  # noqa: F401,F403
from ..functional.pixelshuffle import *  # noqa: F401,F403
from ..functional.pooling import *  # noqa: F401,F403
from ..functional.sparse import *  # noqa: F401,F403
from ..functional.upsampling import *  # noqa: F401,F403
from ..functional.vision import *  # noqa: F401,F403
from ..functional.unary import sigmoid, tanh  # noqa: F401  (torch.nn.functional has them too)
from ..functional.multihead_attention import *  # noqa: F401,F403
