"""AdaptiveLogSoftmaxWithLoss (as torch.nn): the efficient softmax of Grave et al. for
large vocabularies. Frequent classes (the shortlist) and one entry per cluster of rare
classes share a head Linear; each cluster has a tail of two bias-free Linears whose
hidden width shrinks by div_value per cluster. Parameter and submodule names are
torch's (head, tail.i.0, tail.i.1), so a torch state_dict loads.

Routing targets to clusters reads the (integer) targets on the host; every value
that carries a gradient goes through differentiable ops (linear, log_softmax,
gather, index_select, index_add).
"""
from collections import namedtuple

import numpy as np

from .. import functional as F
from ...backend import dtype as _dt
from ...backend.memory import to_host
from ...functional import creation as C
from ...functional import indexing as I
from ...functional import reduction as R
from ...functional import shape as S
from ...functional._arrays import contiguous_array
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             "order, where each value is between 1 and n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = dict(device=device, dtype=dtype)
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hidden, bias=False, **kw),
                                        Linear(hidden, size, bias=False, **kw)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for projection in self.tail:
            for layer in projection:
                layer.reset_parameters()

    def forward(self, input_, target_):
        input, target = self._batched(input_, target_)
        batch = target.shape[0]
        targets = np.asarray(to_host(contiguous_array(target._array))).astype(np.int64).reshape(-1)
        if batch and (targets.min() < 0 or targets.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                               f"[{targets.min()}, {targets.max()}] were found. ")
        # the head's class for each row: its own class in the shortlist, else its cluster's entry
        cluster = np.searchsorted(np.asarray(self.cutoffs), targets, side="right")
        head_class = np.where(cluster == 0, targets, self.shortlist_size + cluster - 1)
        output = C.zeros(batch, dtype=input.dtype, device=input.device)
        for i in range(1, self.n_clusters + 1):
            rows = np.nonzero(cluster == i)[0]
            if rows.size:
                output = self._add_cluster_logprob(output, input, i, rows, targets[rows] - self.cutoffs[i - 1])
        head_logprob = F.log_softmax(self.head(input), dim=1)
        output = output + S.squeeze(I.gather(head_logprob, 1, self._index(head_class[:, None], input)), 1)
        loss = R.mean(-output)
        if target_.ndim == 0:
            output = S.squeeze(output, 0)
        return _ASMoutput(output, loss)

    def _add_cluster_logprob(self, output, input, i, rows, relative):
        """output with the log-probability of each row's class within cluster i added at its row."""
        row_index = self._index(rows, input)
        logprob = F.log_softmax(self.tail[i - 1](I.index_select(input, 0, row_index)), dim=1)
        local = S.squeeze(I.gather(logprob, 1, self._index(relative[:, None], input)), 1)
        return I.index_add(output, 0, row_index, local)

    @staticmethod
    def _index(values, like):
        return C.tensor(np.ascontiguousarray(values, dtype=np.int64), dtype=_dt.int64, device=like.device)

    @staticmethod
    def _batched(input, target):
        if target.ndim == 1:
            if input.shape[0] != target.shape[0]:
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input.ndim != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with size "
                                   f"{list(input.shape)}")
            return input, target
        if target.ndim == 0:
            if input.ndim != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with size "
                                   f"{list(input.shape)}")
            return S.unsqueeze(input, 0), S.unsqueeze(target, 0)
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")

    def _get_full_log_prob(self, input, head_output):
        """Log-probabilities of every class: the shortlist's from the head, each cluster's as
        the cluster's head log-probability plus the class's within the cluster."""
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            entry = self.shortlist_size + i
            parts.append(cluster_logprob + head_logprob[:, entry:entry + 1])
        return S.cat(parts, 1)

    def log_prob(self, input):
        """(N, n_classes) log-probabilities of an (N, in_features) or (in_features,) input."""
        batched = input.ndim == 2
        if input.ndim not in (1, 2):
            raise RuntimeError(f"log_prob: expected a 1D or 2D input, got size {list(input.shape)}")
        x = input if batched else S.unsqueeze(input, 0)
        out = self._get_full_log_prob(x, self.head(x))
        return out if batched else S.squeeze(out, 0)

    def predict(self, input):
        """The most likely class of each row (the argmax of log_prob)."""
        return R.argmax(self.log_prob(input), dim=-1)
