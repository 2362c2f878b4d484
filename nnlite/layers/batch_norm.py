"""detectron2.layers.batch_norm: FrozenBatchNorm2d, get_norm, NaiveSyncBatchNorm,
CycleBatchNormList and detectron2's channel LayerNorm, on nnlite.nn.

FrozenBatchNorm2d runs on the fused eval-mode batch_norm kernels (one pass, y = x * a + b per
channel), which also give the input gradient; detectron2 picks x * scale + bias when a
gradient is needed only to save torch memory, and the two differ by float rounding alone.
"""
import nnlite

from .. import nn
from ..nn import functional as F
from .wrappers import BatchNorm2d

__all__ = ["CycleBatchNormList", "FrozenBatchNorm2d", "LayerNorm", "NaiveSyncBatchNorm", "get_norm"]


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are fixed buffers.

    `weight`, `bias`, `running_mean` and `running_var` are buffers initialised to the
    identity (running_var = 1 - eps, so that var + eps = 1). Caffe2 checkpoints hold only
    weight and bias: loading one leaves the identity statistics in place.
    """

    _version = 3

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", nnlite.ones(num_features))
        self.register_buffer("bias", nnlite.zeros(num_features))
        self.register_buffer("running_mean", nnlite.zeros(num_features))
        self.register_buffer("running_var", nnlite.ones(num_features) - eps)
        self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise RuntimeError(f"FrozenBatchNorm2d: expected an input (N, {self.num_features}, H, W) with "
                               f"{self.num_features} channels, got input of shape {tuple(x.shape)}")
        if x.dtype == self.weight.dtype:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, eps=self.eps)
        # another dtype (e.g. half activations): fold in the buffers' dtype, apply in x's
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.reshape(shape).to(x.dtype) + bias.reshape(shape).to(x.dtype)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        version = local_metadata.get("version", None)
        if version is None or version < 2:
            # checkpoints from before version 2 had no statistics: keep them neutral, silently
            if prefix + "running_mean" not in state_dict:
                state_dict[prefix + "running_mean"] = nnlite.zeros_like(self.running_mean)
            if prefix + "running_var" not in state_dict:
                state_dict[prefix + "running_var"] = nnlite.ones_like(self.running_var)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def __repr__(self):
        return f"FrozenBatchNorm2d(num_features={self.num_features}, eps={self.eps})"

    @classmethod
    def convert_frozen_batchnorm(cls, module):
        """Every BatchNorm2d / SyncBatchNorm (and subclasses) in `module` becomes a
        FrozenBatchNorm2d with its values. A bare BN gives a new module; any other module is
        converted in place and returned."""
        if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            return cls._from_batchnorm(module)
        for name, child in list(module.named_children()):
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module

    @classmethod
    def _from_batchnorm(cls, bn):
        frozen = cls(bn.num_features)
        if bn.affine:
            frozen.weight = bn.weight.detach().clone()
            frozen.bias = bn.bias.detach().clone()
        if bn.running_mean is not None:  # shared with the BN, as detectron2 does
            frozen.running_mean = bn.running_mean.detach()
            frozen.running_var = bn.running_var.detach()
        frozen.eps = bn.eps
        frozen.num_batches_tracked = bn.num_batches_tracked
        return frozen

    @classmethod
    def convert_frozenbatchnorm2d_to_batchnorm2d(cls, module):
        """The inverse: every FrozenBatchNorm2d becomes an nn.BatchNorm2d with copies of its values."""
        if isinstance(module, FrozenBatchNorm2d):
            bn = nn.BatchNorm2d(module.num_features, module.eps)
            with nnlite.no_grad():
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn, name).copy_(getattr(module, name))
            bn.num_batches_tracked = module.num_batches_tracked
            return bn
        for name, child in list(module.named_children()):
            new_child = cls.convert_frozenbatchnorm2d_to_batchnorm2d(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


class LayerNorm(nn.Module):
    """LayerNorm over the channel dim of (N, C, H, W), as ConvNeXt and detectron2's "LN"."""

    def __init__(self, normalized_shape, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(nnlite.ones(normalized_shape))
        self.bias = nn.Parameter(nnlite.zeros(normalized_shape))
        self.eps = eps
        self.normalized_shape = (normalized_shape,)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.normalized_shape[0]:
            raise RuntimeError(f"LayerNorm: expected an input (N, {self.normalized_shape[0]}, H, W), got input "
                               f"of shape {tuple(x.shape)}")
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / nnlite.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def _group_norm_32(channels):
    return nn.GroupNorm(32, channels)


def _naive_sync_bn_n(channels):
    return NaiveSyncBatchNorm(channels, stats_mode="N")


def _norm_table():
    return {
        "BN": BatchNorm2d,
        "SyncBN": nn.SyncBatchNorm,  # detectron2 picks NaiveSyncBatchNorm only for torch <= 1.5
        "FrozenBN": FrozenBatchNorm2d,
        "GN": _group_norm_32,
        "nnSyncBN": nn.SyncBatchNorm,
        "naiveSyncBN": NaiveSyncBatchNorm,
        "naiveSyncBN_N": _naive_sync_bn_n,
        "LN": LayerNorm,
    }


def get_norm(norm, out_channels):
    """The normalisation layer for `out_channels` channels: `norm` is one of "BN", "SyncBN",
    "FrozenBN", "GN" (32 groups), "nnSyncBN", "naiveSyncBN", "naiveSyncBN_N", "LN"; "" or None
    for no layer (returns None); or a callable taking the channel count."""
    if norm is None:
        return None
    if isinstance(norm, str):
        if len(norm) == 0:
            return None
        table = _norm_table()
        if norm not in table:
            raise KeyError(f"get_norm: unknown norm {norm!r}; expected one of {sorted(table)}, '' or None, "
                           "or a callable")
        norm = table[norm]
    elif not callable(norm):
        raise TypeError(f"get_norm: norm must be a str, None or a callable, got {type(norm).__name__}")
    return norm(out_channels)


# ---------------------------------------------------------------- NaiveSyncBatchNorm

def _world_size():
    """Processes whose statistics are combined (1 without an initialised nnlite.distributed)."""
    from ..nn.modules.batchnorm import _sync_world_size
    return _sync_world_size()


class _AllReduceSum(nnlite.autograd.Function):
    """Sum over processes whose backward sums the gradients over processes too."""

    @staticmethod
    def forward(ctx, vec):
        from .. import distributed as dist
        out = vec.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        from .. import distributed as dist
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _all_reduce_sum(vec):
    return _AllReduceSum.apply(vec)


class NaiveSyncBatchNorm(BatchNorm2d):
    """BatchNorm2d whose training statistics are averaged over processes.

    stats_mode "": each process's mean and E[x^2] count equally (no empty batches).
    stats_mode "N": weighted by each process's batch size; an empty batch still takes part.
    In one process, or in eval mode, it is BatchNorm2d.
    """

    def __init__(self, *args, stats_mode="", **kwargs):
        super().__init__(*args, **kwargs)
        if stats_mode not in ("", "N"):
            raise ValueError(f"NaiveSyncBatchNorm: stats_mode must be '' or 'N', got {stats_mode!r}")
        self._stats_mode = stats_mode

    def forward(self, input):
        if _world_size() == 1 or not self.training:
            if input.numel() == 0 and self.training:
                return self._empty_forward(input)
            return super().forward(input)
        self._check_input_dim(input)
        half_input = input.dtype == nnlite.float16
        if half_input:  # fp16 is too coarse for the sums of squares
            input = input.float()
        mean, meansqr, momentum = self._synced_moments(input)
        var = meansqr - mean * mean
        scale = (var + self.eps).rsqrt()
        if self.weight is not None:
            scale = self.weight * scale
        bias = -mean * scale if self.bias is None else self.bias - mean * scale
        if self.running_mean is not None:  # (detectron2 fails without running stats; nnlite skips them)
            with nnlite.no_grad():  # running_var takes the biased variance here, as detectron2
                self.running_mean.add_(momentum * (mean.detach() - self.running_mean))
                self.running_var.add_(momentum * (var.detach() - self.running_var))
        ret = input * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
        return ret.half() if half_input else ret

    def _synced_moments(self, input):
        B, C = input.shape[0], input.shape[1]
        world = _world_size()
        if self._stats_mode == "":
            if B == 0:
                raise ValueError('SyncBatchNorm(stats_mode="") does not support zero batch size.')
            vec = nnlite.cat([input.mean(dim=[0, 2, 3]), (input * input).mean(dim=[0, 2, 3])], dim=0)
            vec = _all_reduce_sum(vec) * (1.0 / world)
            mean, meansqr = nnlite.split(vec, C)
            return mean, meansqr, self.momentum
        if B == 0:  # zeros that still depend on input, so that backward reaches every process
            vec = nnlite.zeros(2 * C + 1, device=input.device, dtype=input.dtype) + input.sum()
        else:
            one = nnlite.ones(1, device=input.device, dtype=input.dtype)
            vec = nnlite.cat([input.mean(dim=[0, 2, 3]), (input * input).mean(dim=[0, 2, 3]), one], dim=0)
        vec = _all_reduce_sum(vec * B)
        total = vec[-1].detach()
        momentum = total.clamp(max=1) * self.momentum  # no update when every batch is empty
        mean, meansqr, _ = nnlite.split(vec / total.clamp(min=1), C)
        return mean, meansqr, momentum

    def _empty_forward(self, input):
        """An empty batch in training: an empty output still attached to input, weight and bias;
        the running statistics stay as they are (as torch's batch_norm)."""
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"NaiveSyncBatchNorm: expected {self.num_features} channels, got input of shape "
                               f"{tuple(input.shape)}")
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        out = input.clone()
        if self.weight is not None:
            out = out * self.weight.reshape(1, -1, 1, 1)
        if self.bias is not None:
            out = out + self.bias.reshape(1, -1, 1, 1)
        return out


class CycleBatchNormList(nn.ModuleList):
    """`length` BatchNorm layers (domain-specific statistics) used in turn, one per forward call,
    with one shared affine transform; callers must call it a multiple of `length` times."""

    def __init__(self, length, bn_class=nn.BatchNorm2d, **kwargs):
        affine = kwargs.pop("affine", True)
        super().__init__([bn_class(**kwargs, affine=False) for _ in range(length)])
        self._affine = affine
        if affine:
            channels = self[0].num_features
            self.weight = nn.Parameter(nnlite.ones(channels))
            self.bias = nn.Parameter(nnlite.zeros(channels))
        self._pos = 0

    def forward(self, x):
        ret = self[self._pos](x)
        self._pos = (self._pos + 1) % len(self)
        if self._affine:
            return ret * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)
        return ret

    def extra_repr(self):
        return f"affine={self._affine}"
