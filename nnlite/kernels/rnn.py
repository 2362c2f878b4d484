"""Fused gate kernels of the recurrent layers (LSTM, GRU, RNN tanh/relu), one time step each.

The functional layer (functional/rnn.py) runs the time loop: before it, one GEMM projects
the inputs of every step (gx); at each step one GEMM gives the hidden projection
gh = h_prev @ W_hh^T, and ONE kernel below does everything pointwise for the rows
(batch entries) alive at that step. All arrays are 2-D row-major, rows = batch entries:

forward  `(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu)`
  gx, gh     (bs, G*H)  input and hidden projections without biases
  bih, bhh   (G*H,)     biases (zeros when the layer has none)
  hstate     (bs, P)    hidden state, read; written with the new h when carry == 1
                        (no projection: P == H). With proj_size the caller projects hout.
  cstate     (bs, H)    LSTM cell state, read and written in place (others: unused)
  gates      (bs, W)    what backward needs: LSTM i,f,g,o,tanh(c) (W = 5H); GRU r,z,n,
                        W_hn h + b_hn (4H); RNN the output h (H)
  hprev, cprev          copies of the states before the step (for backward and dW_hh)
  hout       (bs, H)    the new hidden state (before any projection)
backward `(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu)`
  d1 + d2    (bs, H)    gradient of this step's h (output gradient + recurrent gradient)
  dc         (bs, H)    LSTM: gradient of c, replaced by that of c_prev
  dgx, dgh   (bs, G*H)  gradients of the pre-activation gates, input and hidden side
                        (they differ only in GRU's n gate; LSTM and RNN write dgx only)
  dhz        (bs, H)    GRU: the direct part z * dh of h_prev's gradient; read as part of
                        dh (from the later step) and replaced

Sigmoid and tanh use fastmath's vectorisable float32 forms on the CPU (libm for float64);
the CPU kernels use error_model="numpy" so a division has no ZeroDivisionError branch that
blocks vectorisation. On the CPU the time loop itself is a kernel too (`*_layer_fwd_cpu`,
`*_layer_bwd_cpu` below), built from the same row functions.
"""
import math

from numba import njit, prange

from ..backend.cuda import cuda
from ..backend.kernel_pair import KernelPair
from ._loops import SERIAL_WORK
from .fastmath import fexp, ftanh, like
from .matmul import _cblas_gemm


# ---------------------------------------------------------------- scalar math

@njit(inline="always")
def _sigmoid(v):
    return like(v, 1) / (like(v, 1) + fexp(-v))


@cuda.jit(device=True)
def _sigmoid_d(v):
    return 1 / (1 + math.exp(-v))


# ---------------------------------------------------------------- LSTM

@njit(inline="always")
def _lstm_row(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry):
    # Short loops over row views, each with few arrays, so that LLVM vectorises every one
    # (one loop touching ten arrays needed too many aliasing checks and ran 4x slower).
    H = hout.shape[1]
    x, h_, hs, cs, gt, hp, cp, ho = gx[b], gh[b], hstate[b], cstate[b], gates[b], hprev[b], cprev[b], hout[b]
    for j in range(2 * H):                       # i, f
        gt[j] = _sigmoid(x[j] + bih[j] + h_[j] + bhh[j])
    for j in range(2 * H, 3 * H):                # g
        gt[j] = ftanh(x[j] + bih[j] + h_[j] + bhh[j])
    for j in range(3 * H, 4 * H):                # o
        gt[j] = _sigmoid(x[j] + bih[j] + h_[j] + bhh[j])
    for j in range(H):
        cp[j] = cs[j]
    for j in range(H):
        cs[j] = gt[H + j] * cp[j] + gt[j] * gt[2 * H + j]
    for j in range(H):
        gt[4 * H + j] = ftanh(cs[j])
    for j in range(H):
        ho[j] = gt[3 * H + j] * gt[4 * H + j]
    for j in range(hs.size):
        hp[j] = hs[j]
    if carry:
        for j in range(H):
            hs[j] = ho[j]


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_fwd_cpu(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    bs = hout.shape[0]
    if hout.size * 8 <= SERIAL_WORK:  # ~8 transcendental-heavy ops per element
        for b in range(bs):
            _lstm_row(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry)
    else:
        for b in prange(bs):
            _lstm_row(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry)


@cuda.jit(cache=True)
def lstm_fwd_cuda(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    bs, H = hout.shape
    P = hstate.shape[1]
    for k in range(cuda.grid(1), bs * H, cuda.gridsize(1)):
        b = k // H
        j = k % H
        if j < P:
            hprev[b, j] = hstate[b, j]
        i = _sigmoid_d(gx[b, j] + bih[j] + gh[b, j] + bhh[j])
        f = _sigmoid_d(gx[b, H + j] + bih[H + j] + gh[b, H + j] + bhh[H + j])
        g = math.tanh(gx[b, 2 * H + j] + bih[2 * H + j] + gh[b, 2 * H + j] + bhh[2 * H + j])
        o = _sigmoid_d(gx[b, 3 * H + j] + bih[3 * H + j] + gh[b, 3 * H + j] + bhh[3 * H + j])
        cp = cstate[b, j]
        c = f * cp + i * g
        tc = math.tanh(c)
        cprev[b, j] = cp
        cstate[b, j] = c
        gates[b, j] = i
        gates[b, H + j] = f
        gates[b, 2 * H + j] = g
        gates[b, 3 * H + j] = o
        gates[b, 4 * H + j] = tc
        hout[b, j] = o * tc
        if carry:
            # every thread has read hstate[b, j] (its own element) above, so this is safe
            hstate[b, j] = o * tc


lstm_fwd = KernelPair(lstm_fwd_cpu, lstm_fwd_cuda)


@njit(inline="always")
def _lstm_bwd_row(b, d1, d2, gates, cprev, dc, dgx):
    H = d1.shape[1]
    for j in range(H):
        dh = d1[b, j] + d2[b, j]
        i = gates[b, j]
        f = gates[b, H + j]
        g = gates[b, 2 * H + j]
        o = gates[b, 3 * H + j]
        tc = gates[b, 4 * H + j]
        dct = dc[b, j] + dh * o * (like(tc, 1) - tc * tc)
        dc[b, j] = dct * f
        dgx[b, j] = dct * g * i * (like(i, 1) - i)
        dgx[b, H + j] = dct * cprev[b, j] * f * (like(f, 1) - f)
        dgx[b, 2 * H + j] = dct * i * (like(g, 1) - g * g)
        dgx[b, 3 * H + j] = dh * tc * o * (like(o, 1) - o)


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_bwd_cpu(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    bs = d1.shape[0]
    if d1.size * 4 <= SERIAL_WORK:
        for b in range(bs):
            _lstm_bwd_row(b, d1, d2, gates, cprev, dc, dgx)
    else:
        for b in prange(bs):
            _lstm_bwd_row(b, d1, d2, gates, cprev, dc, dgx)


@cuda.jit(cache=True)
def lstm_bwd_cuda(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    bs, H = d1.shape
    for k in range(cuda.grid(1), bs * H, cuda.gridsize(1)):
        b = k // H
        j = k % H
        dh = d1[b, j] + d2[b, j]
        i = gates[b, j]
        f = gates[b, H + j]
        g = gates[b, 2 * H + j]
        o = gates[b, 3 * H + j]
        tc = gates[b, 4 * H + j]
        dct = dc[b, j] + dh * o * (1 - tc * tc)
        dc[b, j] = dct * f
        dgx[b, j] = dct * g * i * (1 - i)
        dgx[b, H + j] = dct * cprev[b, j] * f * (1 - f)
        dgx[b, 2 * H + j] = dct * i * (1 - g * g)
        dgx[b, 3 * H + j] = dh * tc * o * (1 - o)


lstm_bwd = KernelPair(lstm_bwd_cpu, lstm_bwd_cuda)


# ---------------------------------------------------------------- GRU
# r = s(x_r + h_r), z = s(x_z + h_z), n = tanh(x_n + r * (W_hn h + b_hn)), h' = (1 - z) n + z h

@njit(inline="always")
def _gru_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry):
    H = hout.shape[1]
    x, h_, hs, gt, hp, ho = gx[b], gh[b], hstate[b], gates[b], hprev[b], hout[b]
    for j in range(2 * H):                       # r, z
        gt[j] = _sigmoid(x[j] + bih[j] + h_[j] + bhh[j])
    for j in range(H):                           # W_hn h + b_hn
        gt[3 * H + j] = h_[2 * H + j] + bhh[2 * H + j]
    for j in range(H):                           # n
        gt[2 * H + j] = ftanh(x[2 * H + j] + bih[2 * H + j] + gt[j] * gt[3 * H + j])
    for j in range(H):
        hp[j] = hs[j]
    for j in range(H):
        z = gt[H + j]
        ho[j] = (like(z, 1) - z) * gt[2 * H + j] + z * hp[j]
    if carry:
        for j in range(H):
            hs[j] = ho[j]


@njit(parallel=True, cache=True, error_model="numpy")
def gru_fwd_cpu(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    bs = hout.shape[0]
    if hout.size * 6 <= SERIAL_WORK:
        for b in range(bs):
            _gru_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry)
    else:
        for b in prange(bs):
            _gru_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry)


@cuda.jit(cache=True)
def gru_fwd_cuda(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    bs, H = hout.shape
    for k in range(cuda.grid(1), bs * H, cuda.gridsize(1)):
        b = k // H
        j = k % H
        r = _sigmoid_d(gx[b, j] + bih[j] + gh[b, j] + bhh[j])
        z = _sigmoid_d(gx[b, H + j] + bih[H + j] + gh[b, H + j] + bhh[H + j])
        hn = gh[b, 2 * H + j] + bhh[2 * H + j]
        n = math.tanh(gx[b, 2 * H + j] + bih[2 * H + j] + r * hn)
        hp = hstate[b, j]
        hprev[b, j] = hp
        gates[b, j] = r
        gates[b, H + j] = z
        gates[b, 2 * H + j] = n
        gates[b, 3 * H + j] = hn
        hout[b, j] = (1 - z) * n + z * hp
        if carry:
            hstate[b, j] = (1 - z) * n + z * hp


gru_fwd = KernelPair(gru_fwd_cpu, gru_fwd_cuda)


@njit(inline="always")
def _gru_bwd_row(b, d1, d2, gates, hprev, dgx, dgh, dhz):
    H = d1.shape[1]
    for j in range(H):
        dh = d1[b, j] + d2[b, j] + dhz[b, j]
        r = gates[b, j]
        z = gates[b, H + j]
        n = gates[b, 2 * H + j]
        hn = gates[b, 3 * H + j]
        dn = dh * (like(z, 1) - z) * (like(n, 1) - n * n)
        dz = dh * (hprev[b, j] - n) * z * (like(z, 1) - z)
        dr = dn * hn * r * (like(r, 1) - r)
        dgx[b, j] = dr
        dgx[b, H + j] = dz
        dgx[b, 2 * H + j] = dn
        dgh[b, j] = dr
        dgh[b, H + j] = dz
        dgh[b, 2 * H + j] = dn * r
        dhz[b, j] = dh * z


@njit(parallel=True, cache=True, error_model="numpy")
def gru_bwd_cpu(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    bs = d1.shape[0]
    if d1.size * 4 <= SERIAL_WORK:
        for b in range(bs):
            _gru_bwd_row(b, d1, d2, gates, hprev, dgx, dgh, dhz)
    else:
        for b in prange(bs):
            _gru_bwd_row(b, d1, d2, gates, hprev, dgx, dgh, dhz)


@cuda.jit(cache=True)
def gru_bwd_cuda(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    bs, H = d1.shape
    for k in range(cuda.grid(1), bs * H, cuda.gridsize(1)):
        b = k // H
        j = k % H
        dh = d1[b, j] + d2[b, j] + dhz[b, j]
        r = gates[b, j]
        z = gates[b, H + j]
        n = gates[b, 2 * H + j]
        hn = gates[b, 3 * H + j]
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (hprev[b, j] - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dgx[b, j] = dr
        dgx[b, H + j] = dz
        dgx[b, 2 * H + j] = dn
        dgh[b, j] = dr
        dgh[b, H + j] = dz
        dgh[b, 2 * H + j] = dn * r
        dhz[b, j] = dh * z


gru_bwd = KernelPair(gru_bwd_cpu, gru_bwd_cuda)


# ---------------------------------------------------------------- RNN (tanh or relu)

@njit(inline="always")
def _rnn_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry, relu):
    H = hout.shape[1]
    x, h_, hs, gt, hp, ho = gx[b], gh[b], hstate[b], gates[b], hprev[b], hout[b]
    if relu:
        for j in range(H):
            v = x[j] + bih[j] + h_[j] + bhh[j]
            ho[j] = v if not v <= 0 else like(v, 0)  # NaN stays NaN, as torch.relu
    else:
        for j in range(H):
            ho[j] = ftanh(x[j] + bih[j] + h_[j] + bhh[j])
    for j in range(H):
        gt[j] = ho[j]
        hp[j] = hs[j]
    if carry:
        for j in range(H):
            hs[j] = ho[j]


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_fwd_cpu(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    bs = hout.shape[0]
    if hout.size * 2 <= SERIAL_WORK:
        for b in range(bs):
            _rnn_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry, relu)
    else:
        for b in prange(bs):
            _rnn_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry, relu)


@cuda.jit(cache=True)
def rnn_fwd_cuda(gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    bs, H = hout.shape
    for k in range(cuda.grid(1), bs * H, cuda.gridsize(1)):
        b = k // H
        j = k % H
        v = gx[b, j] + bih[j] + gh[b, j] + bhh[j]
        h = (v if not v <= 0 else 0) if relu else math.tanh(v)
        hprev[b, j] = hstate[b, j]
        gates[b, j] = h
        hout[b, j] = h
        if carry:
            hstate[b, j] = h


rnn_fwd = KernelPair(rnn_fwd_cpu, rnn_fwd_cuda)


@njit(inline="always")
def _rnn_bwd_row(b, d1, d2, gates, dgx, relu):
    H = d1.shape[1]
    for j in range(H):
        dh = d1[b, j] + d2[b, j]
        y = gates[b, j]
        if relu:
            dgx[b, j] = dh if y > 0 else like(dh, 0)
        else:
            dgx[b, j] = dh * (like(y, 1) - y * y)


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_bwd_cpu(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    bs = d1.shape[0]
    if d1.size <= SERIAL_WORK:
        for b in range(bs):
            _rnn_bwd_row(b, d1, d2, gates, dgx, relu)
    else:
        for b in prange(bs):
            _rnn_bwd_row(b, d1, d2, gates, dgx, relu)


@cuda.jit(cache=True)
def rnn_bwd_cuda(d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    bs, H = d1.shape
    for k in range(cuda.grid(1), bs * H, cuda.gridsize(1)):
        b = k // H
        j = k % H
        dh = d1[b, j] + d2[b, j]
        y = gates[b, j]
        if relu:
            dgx[b, j] = dh if y > 0 else 0
        else:
            dgx[b, j] = dh * (1 - y * y)


rnn_bwd = KernelPair(rnn_bwd_cpu, rnn_bwd_cuda)


# ---------------------------------------------------------------- small helpers of the loop

@njit(parallel=True, cache=True, error_model="numpy")
def add2d_cpu(a, b, out):
    """out = a + b for same-shape 2-D arrays (proj_size's output gradient, GRU's dh0)."""
    if out.size <= SERIAL_WORK:
        for r in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[r, j] = a[r, j] + b[r, j]
    else:
        for r in prange(out.shape[0]):
            for j in range(out.shape[1]):
                out[r, j] = a[r, j] + b[r, j]


@cuda.jit(cache=True)
def add2d_cuda(a, b, out):
    rows, cols = out.shape
    for k in range(cuda.grid(1), rows * cols, cuda.gridsize(1)):
        out[k // cols, k % cols] = a[k // cols, k % cols] + b[k // cols, k % cols]


add2d = KernelPair(add2d_cpu, add2d_cuda)


# ---------------------------------------------------------------- CPU: the whole time loop in one kernel
# On the CPU a step's GEMM and gate kernel alternate between OpenBLAS's thread pool and Numba's,
# which slow each other badly (more so on a busy machine). So the CPU runs a layer's whole time
# loop here, with single-threaded BLAS (matmul.py's cblas_gemm) called from Numba's threads and
# no Python per step. Each step is two parallel regions: the recurrent product, each thread
# computing one column block of h_prev @ W_hh^T (forward) or dgh @ W_hh (backward) from its own
# contiguous block of the weights, then the gates, each thread taking a block of rows. Cutting
# the product by columns rather than rows halves the weights each thread packs and streams: a
# (32, 256) @ (256, 1024) product took 0.11 ms instead of 0.19 ms per step on 2 threads, and the
# LSTM row of bench/ went from 1.14-1.26 to 1.00-1.09 of torch's time. The CUDA path keeps a
# Python loop of GEMMs and the twin kernels above (functional/rnn.py). Callers hold
# matmul.blas_on_numba_threads. W_hh^T and W_hr^T are contiguous copies: BLAS ran the forward
# product twice as fast untransposed.

@njit(inline="always")
def _lstm_any(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    _lstm_row(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry)


@njit(inline="always")
def _gru_any(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    _gru_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry)


@njit(inline="always")
def _rnn_any(b, gx, gh, bih, bhh, hstate, cstate, gates, hprev, cprev, hout, carry, relu):
    _rnn_row(b, gx, gh, bih, bhh, hstate, gates, hprev, hout, carry, relu)


@njit(inline="always")
def _columns_gemm(a, lda, rows, w_blocks, c, ldc):
    """c[:rows] = a[:rows] @ w, one column block of w per thread: each thread packs and streams
    only its part of the weights (twice as fast as cutting the rows, for a batch of 32)."""
    n, width = c.shape[1], w_blocks.shape[2]
    for k in prange(w_blocks.shape[0]):
        c0 = k * width
        c1 = min(n, c0 + width)
        if c1 > c0 and rows > 0:
            _cblas_gemm(0, 0, rows, c1 - c0, w_blocks.shape[1], a, lda, w_blocks[k], width, c[:, c0:], ldc)


@njit(inline="always")
def _layer_fwd(row, gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
               offsets, sizes, proj, relu, parts):
    gsize, P, H = gx.shape[1], hstate.shape[1], hraw.shape[1]
    carry = 0 if proj else 1
    for s in range(offsets.size):
        lo, bs = offsets[s], sizes[s]
        _columns_gemm(hstate, P, bs, whh_blocks, gh, gsize)  # gh = h @ W_hh^T
        blocks = min(parts, bs)
        for k in prange(blocks):
            r0, r1 = bs * k // blocks, bs * (k + 1) // blocks
            for b in range(r0, r1):
                row(b, gx[lo:], gh, bih, bhh, hstate, cstate, gates[lo:], hprev[lo:], cprev[lo:], hraw[lo:],
                    carry, relu)
            if proj:
                _cblas_gemm(0, 0, r1 - r0, P, H, hraw[lo + r0:], H, whr_t, P, out[lo + r0:], P)
                for b in range(r0, r1):
                    for j in range(P):
                        hstate[b, j] = out[lo + b, j]


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_layer_fwd_cpu(gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
                       offsets, sizes, proj, relu, parts):
    _layer_fwd(_lstm_any, gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
               offsets, sizes, proj, relu, parts)


@njit(parallel=True, cache=True, error_model="numpy")
def gru_layer_fwd_cpu(gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
                      offsets, sizes, proj, relu, parts):
    _layer_fwd(_gru_any, gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
               offsets, sizes, proj, relu, parts)


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_layer_fwd_cpu(gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
                      offsets, sizes, proj, relu, parts):
    _layer_fwd(_rnn_any, gx, whh_blocks, bih, bhh, hstate, cstate, gates, hprev, cprev, hraw, out, whr_t, gh,
               offsets, sizes, proj, relu, parts)


@njit(inline="always")
def _lstm_bwd_any(b, d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    _lstm_bwd_row(b, d1, d2, gates, cprev, dc, dgx)


@njit(inline="always")
def _gru_bwd_any(b, d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    _gru_bwd_row(b, d1, d2, gates, hprev, dgx, dgh, dhz)


@njit(inline="always")
def _rnn_bwd_any(b, d1, d2, gates, hprev, cprev, dc, dgx, dgh, dhz, relu):
    _rnn_bwd_row(b, d1, d2, gates, dgx, relu)


@njit(inline="always")
def _layer_bwd(row, go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
               offsets, sizes, proj, relu, parts):
    gsize, P = dgx.shape[1], dh.shape[1]
    H = dhraw.shape[1]
    for s in range(offsets.size - 1, -1, -1):
        lo, bs = offsets[s], sizes[s]
        blocks = min(parts, bs)
        for k in prange(blocks):
            r0, r1 = bs * k // blocks, bs * (k + 1) // blocks
            if proj:
                for b in range(r0, r1):
                    for j in range(P):
                        dP[lo + b, j] = go[lo + b, j] + dh[b, j]
                _cblas_gemm(0, 0, r1 - r0, H, P, dP[lo + r0:], P, w_hr, H, dhraw[r0:], H)
                for b in range(r0, r1):
                    row(b, dhraw, zeros, gates[lo:], hprev[lo:], cprev[lo:], dc, dgx[lo:], dgh[lo:], dhz, relu)
            else:
                for b in range(r0, r1):
                    row(b, go[lo:], dh, gates[lo:], hprev[lo:], cprev[lo:], dc, dgx[lo:], dgh[lo:], dhz, relu)
        _columns_gemm(dgh[lo:], gsize, bs, whh_blocks, dh, P)  # dh = dgh @ W_hh, every row read above


@njit(parallel=True, cache=True, error_model="numpy")
def lstm_layer_bwd_cpu(go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
                       offsets, sizes, proj, relu, parts):
    _layer_bwd(_lstm_bwd_any, go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
               offsets, sizes, proj, relu, parts)


@njit(parallel=True, cache=True, error_model="numpy")
def gru_layer_bwd_cpu(go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
                      offsets, sizes, proj, relu, parts):
    _layer_bwd(_gru_bwd_any, go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
               offsets, sizes, proj, relu, parts)


@njit(parallel=True, cache=True, error_model="numpy")
def rnn_layer_bwd_cpu(go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
                      offsets, sizes, proj, relu, parts):
    _layer_bwd(_rnn_bwd_any, go, dh, gates, hprev, cprev, dc, dgx, dgh, dhz, whh_blocks, w_hr, dP, dhraw, zeros,
               offsets, sizes, proj, relu, parts)


# ---------------------------------------------------------------- bias gradients

COLUMN_BLOCK = 256  # columns per CPU task: each task streams every row once over its columns


@njit(parallel=True, cache=True, error_model="numpy")
def column_sums_cpu(a, out):
    """out[j] = sum over rows of a[:, j] (the bias gradients: sums of the gate gradients over all steps)."""
    rows, cols = a.shape
    for c in prange((cols + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        lo = c * COLUMN_BLOCK
        acc = out[lo:min(cols, lo + COLUMN_BLOCK)]  # views: indices from range() vectorise
        for j in range(acc.size):
            acc[j] = 0
        for i in range(rows):
            row = a[i, lo:lo + acc.size]
            for j in range(acc.size):
                acc[j] += row[j]


@cuda.jit(cache=True)
def column_sums_cuda(a, out):
    rows, cols = a.shape
    for j in range(cuda.grid(1), cols, cuda.gridsize(1)):
        acc = a[0, j] - a[0, j]  # a zero of a's dtype
        for i in range(rows):
            acc += a[i, j]
        out[j] = acc


column_sums = KernelPair(column_sums_cpu, column_sums_cuda)
