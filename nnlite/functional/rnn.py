"""Recurrent layers (LSTM, GRU, RNN tanh/relu) over a whole sequence.

One direction of one layer is ONE autograd Function (`RNNLayer`): its forward runs the
time loop and its backward the reverse loop, calling kernels directly on arrays, so a
step costs a few microseconds of Python. The layout is PackedSequence's: `data` is
(N, features) with the rows of step t at offset sum(batch_sizes[:t]), batch_sizes[t] rows
each, the longest sequences first. A padded (T, B, F) tensor is the same layout with every
batch size B, so padded and packed input share this code.

Per step: gh = h_prev @ W_hh^T (one GEMM), then one fused gate kernel (kernels/rnn.py).
The input projection of every step is one GEMM before the loop; backward does one GEMM per
step for h_prev's gradient and one GEMM each over all steps for dx, dW_ih, dW_hh (and the
bias gradients, a column-sum kernel).
"""
import numpy as np
from numba import get_num_threads

from ..autograd.function import Function
from ..backend.lazy import kernels
from ._arrays import contiguous_array, copy_array_into, empty_for
from ._util import wrap
from .linear import _mT  # a transposed view: the GEMMs read transposed operands in place

K = kernels("rnn")
KM = kernels("matmul")
KF = kernels("creation")

# mode -> (gates per step G, saved gate columns per hidden unit, forward kernel, backward kernel, relu)
MODES = {
    "LSTM": (4, 5, "lstm_fwd", "lstm_bwd", 0),
    "GRU": (3, 4, "gru_fwd", "gru_bwd", 0),
    "RNN_TANH": (1, 1, "rnn_fwd", "rnn_bwd", 0),
    "RNN_RELU": (1, 1, "rnn_fwd", "rnn_bwd", 1),
}


def _zeros_like_shape(ref, shape):
    out = empty_for(ref, shape)
    if out.size:
        KF.fill(out.reshape(-1), out.dtype.type(0))
    return out


def _step_plan(batch_sizes, reverse):
    """[(row offset, rows)] in the order the steps run."""
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).tolist()
    plan = list(zip(offsets, [int(b) for b in batch_sizes]))
    return plan[::-1] if reverse else plan


def _cpu_loop(a):
    """Whether the CPU kernels that run the whole time loop apply (numpy's BLAS callable from Numba)."""
    return type(a) is np.ndarray and KM.can_call_blas(a.dtype)


def _plan_arrays(plan):
    """(row offsets, batch sizes) of the steps in run order, as int64 arrays for the CPU kernels."""
    return np.array([lo for lo, _ in plan], np.int64), np.array([bs for _, bs in plan], np.int64)


class _Buffers:
    """The arrays one layer keeps from forward for backward (preallocated for all steps)."""

    def __init__(self, x, N, B, H, P, G, W, lstm, proj):
        self.gates = empty_for(x, (N, W * H))
        self.hprev = empty_for(x, (N, P))
        self.cprev = empty_for(x, (N, H)) if lstm else self.hprev
        self.out = empty_for(x, (N, P))
        self.hraw = empty_for(x, (N, H)) if proj else self.out
        self.gh = empty_for(x, (B, G * H))


def _bias(b, ref, size):
    return contiguous_array(b._array) if b is not None else _zeros_like_shape(ref, (size,))


def _state(t, ref, shape):
    """A fresh contiguous copy of an initial state (it is updated in place by the loop)."""
    out = empty_for(ref, shape)
    if t is None:
        return _zeros_like_shape(ref, shape)
    copy_array_into(t._array, out)
    return out


def _forward_loop(mode, xa, ha, ca, w_ih, w_hh, bih, bhh, w_hr, plan):
    G, W, fwd_name, _, relu = MODES[mode]
    fwd = getattr(K, fwd_name)
    N, B, P = xa.shape[0], ha.shape[0], ha.shape[1]
    H = w_hh.shape[0] // G
    proj = w_hr is not None
    buf = _Buffers(xa, N, B, H, P, G, W, mode == "LSTM", proj)
    gx = empty_for(xa, (N, G * H))
    KM.matmul(xa, _mT(w_ih), gx)  # the input projection of every step at once
    whh_t = contiguous_array(_mT(w_hh))  # untransposed GEMMs are faster (kernels/rnn.py)
    whr_t = contiguous_array(_mT(w_hr)) if proj else whh_t
    if _cpu_loop(xa):
        parts = get_num_threads()
        with KM.blas_on_numba_threads(xa.dtype):
            getattr(K, fwd_name.split("_")[0] + "_layer_fwd_cpu")(
                gx, _column_blocks(whh_t, parts), bih, bhh, ha, ca, buf.gates, buf.hprev, buf.cprev, buf.hraw,
                buf.out, whr_t, buf.gh, *_plan_arrays(plan), int(proj), relu, parts)
    else:
        _forward_steps(fwd, buf, gx, ha, ca, whh_t, bih, bhh, whr_t if proj else None, plan, relu)
    return buf


def _column_blocks(w, parts):
    """A host matrix (K, N) as `parts` contiguous column blocks (parts, K, ceil(N / parts)), the last
    zero-padded: the CPU time loop gives each thread one block of the recurrent weights."""
    k, n = w.shape
    width = max(1, -(-n // parts))
    blocks = np.zeros((parts, k, width), w.dtype)
    for p in range(parts):
        part = w[:, p * width:(p + 1) * width]
        blocks[p, :, :part.shape[1]] = part
    return blocks


def _forward_steps(fwd, buf, gx, ha, ca, whh_t, bih, bhh, whr_t, plan, relu):
    """The time loop in Python (CUDA, or a CPU whose BLAS Numba cannot call)."""
    proj = whr_t is not None
    for lo, bs in plan:
        hi = lo + bs
        hs, gh = ha[:bs], buf.gh[:bs]
        KM.matmul(hs, whh_t, gh)
        fwd(gx[lo:hi], gh, bih, bhh, hs, ca[:bs], buf.gates[lo:hi], buf.hprev[lo:hi], buf.cprev[lo:hi],
            buf.hraw[lo:hi], 0 if proj else 1, relu)
        if proj:
            KM.matmul(buf.hraw[lo:hi], whr_t, buf.out[lo:hi])
            copy_array_into(buf.out[lo:hi], hs)


def _backward_loop(mode, buf, go, dh, dc, w_hh, w_hr, plan):
    """The reverse time loop; returns (dgx, dgh, dP) over all steps and leaves h0's (and
    c0's) gradient in dh (dc)."""
    G, _, _, bwd_name, relu = MODES[mode]
    bwd = getattr(K, bwd_name)
    N, H = buf.gates.shape[0], w_hh.shape[0] // G
    dgx = empty_for(go, (N, G * H))
    dgh = empty_for(go, (N, G * H)) if mode == "GRU" else dgx
    dhz = _zeros_like_shape(go, (dh.shape[0], H)) if mode == "GRU" else dh
    proj = w_hr is not None
    dP = empty_for(go, (N, dh.shape[1])) if proj else None
    dhraw = empty_for(go, (dh.shape[0], H)) if proj else None
    zeros = _zeros_like_shape(go, (dh.shape[0], H)) if proj else None
    if _cpu_loop(go):
        parts = get_num_threads()
        with KM.blas_on_numba_threads(go.dtype):
            getattr(K, bwd_name.split("_")[0] + "_layer_bwd_cpu")(
                go, dh, buf.gates, buf.hprev, buf.cprev, dc, dgx, dgh, dhz, _column_blocks(w_hh, parts),
                w_hr if proj else w_hh, dP if proj else dh, dhraw if proj else dh, zeros if proj else dh,
                *_plan_arrays(plan), int(proj), relu, parts)
    else:
        _backward_steps(bwd, buf, go, dh, dc, dgx, dgh, dhz, w_hh, w_hr, dP, dhraw, zeros, plan, relu)
    if mode == "GRU":
        K.add2d(dh, dhz, dh)
    return dgx, dgh, dP


def _backward_steps(bwd, buf, go, dh, dc, dgx, dgh, dhz, w_hh, w_hr, dP, dhraw, zeros, plan, relu):
    """The reverse time loop in Python (CUDA, or a CPU whose BLAS Numba cannot call)."""
    proj = w_hr is not None
    for lo, bs in reversed(plan):
        hi = lo + bs
        if proj:
            K.add2d(go[lo:hi], dh[:bs], dP[lo:hi])
            KM.matmul(dP[lo:hi], w_hr, dhraw[:bs])
            d1, d2 = dhraw[:bs], zeros[:bs]
        else:
            d1, d2 = go[lo:hi], dh[:bs]
        bwd(d1, d2, buf.gates[lo:hi], buf.hprev[lo:hi], buf.cprev[lo:hi], dc[:bs], dgx[lo:hi], dgh[lo:hi],
            dhz[:bs], relu)
        KM.matmul(dgh[lo:hi], w_hh, dh[:bs])


def _column_sums(a):
    """Sum over the rows of a 2-D array (a bias gradient over every step)."""
    out = empty_for(a, (a.shape[1],))
    if a.shape[0] == 0:
        KF.fill(out, a.dtype.type(0))
    else:
        K.column_sums(a, out)
    return out


def _mm(a, b):
    out = empty_for(a, (a.shape[0], b.shape[1]))
    KM.matmul(a, b, out)
    return out


class RNNLayer(Function):
    """One direction of one recurrent layer over a packed sequence.

    forward(x (N, I), h0 (B, P), c0 (B, H) or None, w_ih, w_hh, b_ih, b_hh, w_hr, spec) with
    spec = (mode, batch_sizes, reverse); returns (out (N, P), h_n (B, P)) and c_n (B, H) for LSTM.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, spec):
        mode, batch_sizes, reverse = spec
        G = MODES[mode][0]
        xa = contiguous_array(x._array)
        dev = x._device
        gsize = w_hh.shape[0]
        ha = _state(h0, xa, (batch_sizes[0], w_hh.shape[1]))
        ca = _state(c0, xa, (batch_sizes[0], gsize // G)) if mode == "LSTM" else ha
        plan = _step_plan(batch_sizes, reverse)
        arrays = [contiguous_array(w._array) if w is not None else None for w in (w_ih, w_hh, w_hr)]
        bih, bhh = _bias(b_ih, xa, gsize), _bias(b_hh, xa, gsize)
        buf = _forward_loop(mode, xa, ha, ca, arrays[0], arrays[1], bih, bhh, arrays[2], plan)
        ctx.spec, ctx.plan, ctx.buf, ctx.arrays, ctx.xa = spec, plan, buf, arrays, xa
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        outs = (wrap(buf.out, dev), wrap(ha, dev))
        return outs + (wrap(ca, dev),) if mode == "LSTM" else outs

    @staticmethod
    def backward(ctx, g_out, g_h, g_c=None):
        mode = ctx.spec[0]
        buf, (w_ih, w_hh, w_hr), xa = ctx.buf, ctx.arrays, ctx.xa
        dev = g_out._device
        go = contiguous_array(g_out._array)
        dh = _state(g_h, go, tuple(g_h.shape))
        dc = _state(g_c, go, tuple(g_c.shape)) if mode == "LSTM" else dh
        dgx, dgh, dP = _backward_loop(mode, buf, go, dh, dc, w_hh, w_hr, ctx.plan)
        need = ctx.needs_input_grad
        grads = [
            _mm(dgx, w_ih) if need[0] else None,
            dh if need[1] else None,
            dc if mode == "LSTM" and need[2] else None,
            _mm(_mT(dgx), xa) if need[3] else None,
            _mm(_mT(dgh), buf.hprev) if need[4] else None,
            _column_sums(dgx) if need[5] else None,
            _column_sums(dgh) if need[6] else None,
            _mm(_mT(dP), buf.hraw) if w_hr is not None and need[7] else None,
        ]
        return tuple(None if g is None else wrap(g, dev) for g in grads) + (None,)


def rnn_packed(mode, data, batch_sizes, hx, cx, weights, num_layers, bidirectional, dropout=0.0, training=False):
    """Every layer and direction of a recurrent network over packed data.

    data (N, I); batch_sizes a list of ints (decreasing); hx (L*D, B, P) and, for LSTM, cx
    (L*D, B, H), in sorted batch order; weights a list of (w_ih, w_hh, b_ih, b_hh, w_hr) per
    layer then direction (None for absent biases or projection). Dropout is applied to the
    output of every layer but the last when training. Returns (out (N, D*P), h_n, c_n or None).
    """
    from .dropout import dropout as apply_dropout
    from .shape import cat, stack
    from ._util import check_same_device
    name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
    check_same_device(name, data, hx, cx, *(w for ws in weights for w in ws))
    dirs = 2 if bidirectional else 1
    batch_sizes = [int(b) for b in batch_sizes]
    layer_input, h_n, c_n = data, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            c0 = cx[k] if mode == "LSTM" else None
            res = RNNLayer.apply(layer_input, hx[k], c0, *weights[k], (mode, batch_sizes, d == 1))
            outs.append(res[0])
            h_n.append(res[1])
            if mode == "LSTM":
                c_n.append(res[2])
        layer_input = outs[0] if dirs == 1 else cat(outs, 1)
        if dropout and training and layer < num_layers - 1:
            layer_input = apply_dropout(layer_input, dropout, True)
    return layer_input, stack(h_n, 0), stack(c_n, 0) if mode == "LSTM" else None
