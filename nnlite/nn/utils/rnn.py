"""Packed sequences, as torch.nn.utils.rnn: PackedSequence, pack_padded_sequence,
pad_packed_sequence, pad_sequence, pack_sequence, unpack_sequence, unpad_sequence.

Every conversion is one `index_select` of rows (padding comes from one extra row holding
padding_value), so gradients flow through packing and unpacking with no kernel of its own.
Packed data holds the rows of step 0 for the batch_sizes[0] longest sequences, then step 1's,
and so on; sorted_indices[i] is the caller's index of the i-th longest sequence.
"""
from collections import namedtuple

import numpy as np

from ...functional._util import check_tensor
from ...functional.creation import full, tensor
from ...functional.indexing import index_select
from ...functional.shape import cat
from ...tensor import Tensor

_PackedSequenceBase = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def _index(values, device):
    return tensor(np.asarray(values, dtype=np.int64), device=device)


class PackedSequence(_PackedSequenceBase):
    """(data, batch_sizes, sorted_indices, unsorted_indices); batch_sizes is an int64 CPU
    tensor; the indices are None when the batch was sorted already (enforce_sorted=True)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes must be given (pass the output of "
                             "pack_padded_sequence rather than building one by hand)")
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = tensor(np.asarray(batch_sizes, dtype=np.int64))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """Moves data and indices (batch_sizes stays on the CPU, as torch's)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = (lambda t: None if t is None else t.to(data.device))
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cuda(self, *args, **kwargs):
        return self.to("cuda", *args, **kwargs) if not args else self.to(*args, **kwargs)

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self._replace(data=self.data.double())

    def float(self):
        return self._replace(data=self.data.float())

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return False


def _invert(permutation):
    inverse = np.empty(len(permutation), dtype=np.int64)
    inverse[np.asarray(_as_list(permutation), dtype=np.int64)] = np.arange(len(permutation))
    return _index(inverse, permutation.device if isinstance(permutation, Tensor) else "cpu")


def _as_list(values):
    if isinstance(values, Tensor):
        return [int(v) for v in values.cpu().tolist()]
    return [int(v) for v in values]


def _batch_sizes(sorted_lengths):
    """batch_sizes[t] = how many sequences are longer than t (lengths sorted, decreasing)."""
    lengths = np.asarray(sorted_lengths, dtype=np.int64)
    return [int(v) for v in (lengths[None, :] > np.arange(lengths[0])[:, None]).sum(1)]


def _check_lengths(lengths, batch, steps, enforce_sorted):
    if len(lengths) != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={batch})")
    if any(n <= 0 for n in lengths):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in "
                           "'lengths' that is <= 0")
    if max(lengths) > steps:
        raise RuntimeError(f"pack_padded_sequence: a length ({max(lengths)}) is longer than the padded "
                           f"sequence ({steps} steps)")
    if enforce_sorted and any(a < b for a, b in zip(lengths, lengths[1:])):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                           "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                           "to sidestep this requirement if you do not need ONNX exportability.")


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences of the given lengths."""
    check_tensor("pack_padded_sequence", "input", input)
    lengths = _as_list(lengths)
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    _check_lengths(lengths, batch, steps, enforce_sorted)
    if enforce_sorted:
        order, sorted_indices = list(range(batch)), None
    else:
        order = [int(i) for i in np.argsort(-np.asarray(lengths), kind="stable")]
        sorted_indices = _index(order, input.device)
    batch_sizes = _batch_sizes([lengths[i] for i in order])
    # row of (t, b) in the input viewed as (T*B, *) or (B*T, *)
    rows = [(order[s] * steps + t) if batch_first else (t * batch + order[s])
            for t, bs in enumerate(batch_sizes) for s in range(bs)]
    flat = input.reshape((batch * steps,) + tuple(input.shape[2:]))
    data = index_select(flat, 0, _index(rows, input.device))
    return PackedSequence(data, batch_sizes, sorted_indices)  # unsorted_indices: the inverse, by __new__


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded batch and the lengths (int64, the caller's batch order) of a PackedSequence."""
    data, batch_sizes = sequence.data, _as_list(sequence.batch_sizes)
    steps, batch = len(batch_sizes), batch_sizes[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps = total_length
    unsorted = (list(range(batch)) if sequence.unsorted_indices is None
                else _as_list(sequence.unsorted_indices))
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)]).tolist()
    pad_row = offsets[-1]  # the extra row holding padding_value
    sizes = batch_sizes + [0] * (steps - len(batch_sizes))

    def row(t, b):
        s = unsorted[b]
        return offsets[t] + s if s < sizes[t] else pad_row

    rows = ([row(t, b) for b in range(batch) for t in range(steps)] if batch_first
            else [row(t, b) for t in range(steps) for b in range(batch)])
    pad = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = index_select(cat([data, pad], 0), 0, _index(rows, data.device))
    shape = (batch, steps) if batch_first else (steps, batch)
    sorted_lengths = [sum(1 for bs in batch_sizes if bs > s) for s in range(batch)]
    lengths = tensor(np.asarray([sorted_lengths[unsorted[b]] for b in range(batch)], dtype=np.int64))
    return padded.reshape(shape + tuple(data.shape[1:])), lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shape (L_i, *) into (max L, B, *) (or (B, max L, *)), padded."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must have trailing shape {list(trailing)}, "
                               f"got {list(s.shape)}")
    lengths = [int(s.shape[0]) for s in sequences]
    steps, batch = max(lengths), len(sequences)
    starts = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    pad_row = starts[-1]

    def row(t, b):
        shift = steps - lengths[b] if padding_side == "left" else 0
        return starts[b] + t - shift if 0 <= t - shift < lengths[b] else pad_row

    rows = ([row(t, b) for b in range(batch) for t in range(steps)] if batch_first
            else [row(t, b) for t in range(steps) for b in range(batch)])
    ref = sequences[0]
    pad = full((1,) + trailing, padding_value, dtype=ref.dtype, device=ref.device)
    padded = index_select(cat(sequences + [pad], 0), 0, _index(rows, ref.device))
    return padded.reshape(((batch, steps) if batch_first else (steps, batch)) + trailing)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *) (longest first unless enforce_sorted=False)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences (L_i, *) held in a PackedSequence, in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return [padded[b][:n] for b, n in enumerate(lengths.tolist())]


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) of a padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[b][:n] for b, n in enumerate(_as_list(lengths))]


__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpack_sequence", "unpad_sequence"]
