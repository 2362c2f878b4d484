"""Recurrent layers (as torch.nn): RNNBase, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell.

Parameter names, shapes, order and initialisation are torch's, so a torch state_dict loads
as it is. The modules only check arguments and arrange shapes: the work is
functional/rnn.py's (one autograd Function per layer direction over the whole sequence).
"""
import math
import numbers
import warnings

from ...functional._util import check_same_device
from ...functional.creation import empty, zeros
from ...functional.rnn import RNNLayer, rnn_packed
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check_sizes(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size):
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                         "element being zeroed")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                      f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                      stacklevel=3)
    for name, value in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


def _check_like_input(input, h):
    if h.dtype != input.dtype:
        raise RuntimeError(f"Input and hidden tensors are not the same dtype, found input tensor with "
                           f"{input.dtype} and hidden tensor with {h.dtype}")
    if h.device != input.device:
        raise RuntimeError(f"Input and hidden tensors are not at the same device, found input tensor at "
                           f"{input.device} and hidden tensor at {h.device}")


class RNNBase(Module):
    """The multi-layer recurrent network shared by RNN, LSTM and GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        _check_sizes(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        self._flat_weights_names = []
        self._all_weights = []
        self._make_parameters(device, dtype)
        self.reset_parameters()

    def _make_parameters(self, device, dtype):
        gate_size = _GATES[self.mode] * self.hidden_size
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        dirs = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            for d in range(dirs):
                in_size = self.input_size if layer == 0 else real_hidden * dirs
                shapes = [("weight_ih", (gate_size, in_size)), ("weight_hh", (gate_size, real_hidden))]
                if self.bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if self.proj_size > 0:
                    shapes += [("weight_hr", (self.proj_size, self.hidden_size))]
                names = []
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}{'_reverse' if d == 1 else ''}"
                    setattr(self, name, Parameter(empty(shape, device=device, dtype=dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """Accepted for compatibility: the weights are used where they are (no cuDNN buffer)."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _layer_weights(self):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) per layer and direction, None where absent."""
        out = []
        for names in self._all_weights:
            by_kind = {name.split("_l")[0]: getattr(self, name) for name in names}
            out.append(tuple(by_kind.get(k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")))
        return out

    # ---------------------------------------------------------------- argument checks

    def _real_hidden(self):
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def check_input(self, input, batch_sizes):
        weight_dtype = self.weight_ih_l0.dtype
        if input.dtype != weight_dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
                             f"Convert input: input.to({weight_dtype}), or convert model: model.to({input.dtype})")
        expected = 2 if batch_sizes is not None else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def get_expected_hidden_size(self, input, batch_sizes, size=None):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.shape[0] if self.batch_first else input.shape[1]
        dirs = 2 if self.bidirectional else 1
        return (self.num_layers * dirs, mini_batch, self._real_hidden() if size is None else size)

    @staticmethod
    def check_hidden_size(hx, expected, msg="Expected hidden size {}, got {}"):
        if tuple(hx.shape) != tuple(expected):
            raise RuntimeError(msg.format(tuple(expected), list(hx.shape)))

    # ---------------------------------------------------------------- forward

    def _prepare(self, input, hx, n_states):
        """(data (N, I), batch_sizes, states in sorted order, how to finish) for any input kind."""
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(self.mode, self.mode)
        if isinstance(input, PackedSequence):
            data, batch_sizes = input.data, [int(b) for b in input.batch_sizes.tolist()]
            self.check_input(data, batch_sizes)
            states = self._states(hx, data, batch_sizes, n_states, True)
            if input.sorted_indices is not None:
                idx = input.sorted_indices.to(data.device)
                states = [s.index_select(1, idx) for s in states]
            return data, batch_sizes, states, ("packed", input)
        if input.dim() not in (2, 3):
            tail = " tensor instead" if name == "RNN" else " instead"
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tail}")
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        self.check_input(input, None)
        if self.batch_first:
            input = input.transpose(0, 1)
        steps, batch = input.shape[0], input.shape[1]
        states = self._states(hx, input, [batch] * steps, n_states, batched)
        data = input.contiguous().reshape(steps * batch, input.shape[2])
        return data, [batch] * steps, states, ("padded", (batched, steps, batch))

    def _states(self, hx, data, batch_sizes, n_states, batched):
        """Initial states as (L*D, B, size) tensors, checked (zeros when hx is None)."""
        sizes = [self._real_hidden(), self.hidden_size][:n_states]
        expected = [self.get_expected_hidden_size(data, batch_sizes[:1], s) for s in sizes]
        if hx is None:
            return [zeros(e, dtype=data.dtype, device=data.device) for e in expected]
        given = list(hx) if n_states == 2 else [hx]
        want = 3 if batched else 2
        if any(h.dim() != want for h in given):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            if n_states == 2:
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                   f"({given[0].dim()}-D, {given[1].dim()}-D) tensors")
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {given[0].dim()}-D tensor")
        if not batched:
            given = [h.unsqueeze(1) for h in given]
        for i, (h, e) in enumerate(zip(given, expected)):
            self.check_hidden_size(h, e, f"Expected hidden[{i}] size {{}}, got {{}}" if n_states == 2 else
                                   "Expected hidden size {}, got {}")
            _check_like_input(data, h)
        return given

    def _run(self, input, hx, n_states):
        data, batch_sizes, states, (kind, info) = self._prepare(input, hx, n_states)
        out, h_n, c_n = rnn_packed(self.mode, data, batch_sizes, states[0], states[1] if n_states == 2 else None,
                                   self._layer_weights(), self.num_layers, self.bidirectional, self.dropout,
                                   self.training)
        finals = [h_n, c_n][:n_states]
        if kind == "packed":
            if info.unsorted_indices is not None:
                idx = info.unsorted_indices.to(out.device)
                finals = [s.index_select(1, idx) for s in finals]
            return PackedSequence(out, info.batch_sizes, info.sorted_indices, info.unsorted_indices), finals
        batched, steps, batch = info
        out = out.reshape(steps, batch, out.shape[-1])
        if self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            finals = [s.squeeze(1) for s in finals]
        return out, finals

    def forward(self, input, hx=None):
        out, (h_n,) = self._run(input, hx, 1)
        return out, h_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(modes[self.nonlinearity], *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory, gates (i, f, g, o); proj_size projects h (weight_hr)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        out, (h_n, c_n) = self._run(input, hx, 2)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit, gates (r, z, n)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---------------------------------------------------------------- cells

class RNNCellBase(Module):
    """weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh, all U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = num_chunks * hidden_size
        self.weight_ih = Parameter(empty((gates, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(empty((gates, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(gates, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(gates, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, mode, input, states):
        """One step of the cell for a checked (B, I) input and (B, H) states."""
        name = type(self).__name__
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[1]} expected "
                               f"{self.input_size}")
        for i, s in enumerate(states):
            if s.shape[0] != input.shape[0]:
                raise RuntimeError(f"{name}: Input batch size {input.shape[0]} doesn't match hidden{i} batch "
                                   f"size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise RuntimeError(f"{name}: hidden{i} has inconsistent hidden_size: got {s.shape[1]}, expected "
                                   f"{self.hidden_size}")
        for s in states:
            _check_like_input(input, s)
        check_same_device(name, input, self.weight_ih, self.weight_hh)
        c0 = states[1] if mode == "LSTM" else None
        res = RNNLayer.apply(input.contiguous(), states[0], c0, self.weight_ih, self.weight_hh, self.bias_ih,
                             self.bias_hh, None, (mode, [input.shape[0]], False))
        return res[1:]

    def _cell(self, mode, input, hx, n_states):
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        given = [] if hx is None else (list(hx) if n_states == 2 else [hx])
        for i, s in enumerate(given):
            if s.dim() not in (1, 2):
                what = f"hx[{i}]" if n_states == 2 else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
            given = [s.unsqueeze(0) for s in given]
        if not given:
            given = [zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
                     for _ in range(n_states)]
        out = self._step(mode, input, given)
        return out if batched else [s.squeeze(0) for s in out]


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._cell(modes[self.nonlinearity], input, hx, 1)[0]


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        h, c = self._cell("LSTM", input, hx, 2)
        return h, c


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._cell("GRU", input, hx, 1)[0]
