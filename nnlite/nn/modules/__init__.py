"""The layers of nnlite.nn, one family per file (the same file names as the functional families)."""
from .activation import (CELU, ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, Mish,
                         ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from .activation import (GLU, Hardshrink, LogSigmoid, PReLU, RReLU, Softmax2d, Softmin, Softshrink, Softsign,
                         Tanhshrink, Threshold)
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .channelshuffle import ChannelShuffle
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .distance import CosineSimilarity, PairwiseDistance
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from .flatten import Flatten, Unflatten
from .fold import Fold, Unfold
from .linear import Bilinear, Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .loss import CTCLoss
from .loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, KLDivLoss, MarginRankingLoss,
                   MultiLabelMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss,
                   TripletMarginLoss, TripletMarginWithDistanceLoss)
from .adaptive import AdaptiveLogSoftmaxWithLoss
from .module import Module
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .normalization import CrossMapLRN2d, GroupNorm, LayerNorm, LocalResponseNorm, RMSNorm
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
                      ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                      ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, LPPool1d, LPPool2d, LPPool3d, MaxPool1d,
                      MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d, FractionalMaxPool2d,
                      FractionalMaxPool3d)
from .sparse import Embedding, EmbeddingBag
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AlphaDropout", "AvgPool2d", "BatchNorm1d",
           "BatchNorm2d", "BCELoss", "BCEWithLogitsLoss", "Bilinear", "CELU", "Conv1d", "Conv2d",
           "ConvTranspose1d", "ConvTranspose2d", "Conv3d", "ConvTranspose3d",
           "CrossEntropyLoss", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ELU",
           "FeatureAlphaDropout", "Flatten", "GELU", "GroupNorm", "LayerNorm", "Hardsigmoid", "Hardswish", "Hardtanh",
           "HuberLoss", "Identity", "L1Loss", "LeakyReLU", "Linear", "LogSoftmax", "MaxPool2d",
           "Mish", "Module", "ModuleDict", "ModuleList", "MSELoss", "NLLLoss", "ParameterDict",
           "ParameterList", "ReLU", "ReLU6", "SELU", "Sequential", "Sigmoid", "SiLU",
           "SmoothL1Loss", "Softmax", "Softplus", "Tanh", "Unflatten"]
__all__ += ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]
__all__ += ["AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool3d", "AvgPool1d",
            "AvgPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "MaxPool1d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d",
            "MaxUnpool3d", "FractionalMaxPool2d", "FractionalMaxPool3d"]
__all__ += ["ChannelShuffle", "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
            "ConstantPad3d", "Fold", "PixelShuffle", "PixelUnshuffle", "ReflectionPad1d", "ReflectionPad2d",
            "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "Unfold", "ZeroPad1d",
            "ZeroPad2d", "ZeroPad3d"]
__all__ += ["BatchNorm3d", "CrossMapLRN2d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm",
            "RMSNorm"]
__all__ += ["AdaptiveLogSoftmaxWithLoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "KLDivLoss",
            "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
            "PoissonNLLLoss", "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss"]
__all__ += ["CTCLoss"]
__all__ += ["GLU", "Hardshrink", "LogSigmoid", "PReLU", "RReLU", "Softmax2d", "Softmin", "Softshrink", "Softsign",
            "Tanhshrink", "Threshold"]
__all__ += ["CosineSimilarity", "Embedding", "EmbeddingBag", "PairwiseDistance"]
from .batchnorm import SyncBatchNorm  # noqa: E402
__all__ += ["SyncBatchNorm"]
from .lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d, LazyConv3d,
                   LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d, LazyInstanceNorm1d,
                   LazyInstanceNorm2d, LazyInstanceNorm3d, LazyLinear, LazyModuleMixin, UninitializedBuffer,
                   UninitializedParameter)
__all__ += ["LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
            "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyInstanceNorm1d",
            "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LazyLinear", "LazyModuleMixin", "UninitializedBuffer",
            "UninitializedParameter"]
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
__all__ += ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]
from .activation_attention import MultiheadAttention, NonDynamicallyQuantizableLinear  # noqa: E402
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,  # noqa: E402
                          TransformerEncoderLayer)
__all__ += ["MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
            "TransformerEncoderLayer"]
from ..parallel import DataParallel  # noqa: E402  (nn.DataParallel, as in torch)
__all__ += ["DataParallel"]
