"""CTC loss kernels: the forward (alpha) and backward (beta) recursions in log space.

Layouts (all C-contiguous): log_probs (T, N, C); targets (N, S) int64, padded, sample
b's labels in targets[b, :target_lengths[b]]; input_lengths, target_lengths (N,) int64;
log_alpha (N, T, 2S+1), kept by the forward for the backward; nll, loss (N,).

The extended label sequence of a target l_0 .. l_{L-1} is blank, l_0, blank, l_1, ...,
blank (2L+1 states): even states are blanks, state 2k+1 is l_k. A state may be entered
from itself, from the one before, and (labels only) from two before when the label
differs from the previous label; a repeated label needs the blank between its copies.
The loops walk the states in (label, blank) pairs, so no state index is divided by two.

The gradient is ATen's: d loss / d log_probs[t, b, c] = (exp(lp) - occupancy(t, c)) * g
for t < input_length and 0 after, where occupancy sums exp(alpha + beta + nll - lp) over
the states of class c. (That is the gradient through a log_softmax folded in: exact
when the log_probs are normalised, as torch's.) ATen sums the occupancies in log space;
here they are summed as probabilities, which lie in [0, 1]. An infeasible sample
(nll = inf) gets NaN there, as in ATen, unless zero_infinity zeroes its gradient.

The recursions are serial scalar loops (each state needs the row before), so they call
math.exp: fastmath's fexp pays off in vectorised loops only and made them 3.5x slower.
CPU: one sample per prange iteration. CUDA: one sample per block, the block's threads
over the states, a barrier between time steps; occupancies meet in atomic adds.
"""
import math

import numpy as np
from numba import njit, prange

from ..backend.cuda import SIMULATOR, compiled, cuda
from ..backend.launch import grid_blocks
from .fastmath import like

CTC_THREADS = 8 if SIMULATOR else 128      # threads of a CUDA block (one sample)


@njit(inline="always")
def _lse(a, b, c):
    """log(exp(a) + exp(b) + exp(c)), shifted by the largest as ATen (all -inf gives -inf)."""
    m = a
    if b > m:
        m = b
    if c > m:
        m = c
    if m == -math.inf:
        return m
    return math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m)) + m


@njit(inline="always")
def _lse2(a, b):
    """log(exp(a) + exp(b)): _lse with c = -inf, one exp fewer (blank states have two entries)."""
    m = b if b > a else a
    if m == -math.inf:
        return m
    return math.log(math.exp(a - m) + math.exp(b - m)) + m


@cuda.jit(device=True)
def _lse_dev(a, b, c):
    m = a
    if b > m:
        m = b
    if c > m:
        m = c
    if m == -math.inf:  # a branch, not log(0): the simulator's math.log raises there
        return m
    return math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m)) + m


@njit(inline="always")
def _can_skip(targets, b, k):
    """Whether label k may be entered from two states back (the label before differs)."""
    return k > 0 and targets[b, k] != targets[b, k - 1]


@cuda.jit(device=True)
def _can_skip_dev(targets, b, k):
    return k > 0 and targets[b, k] != targets[b, k - 1]


@njit(inline="always")
def _alpha_step(lp, targets, b, tl, blank, prev, cur, t):
    """cur = alpha at time t from prev = alpha at t - 1."""
    ninf = like(cur[0], -math.inf)
    lpb = lp[t, b, blank]
    cur[0] = prev[0] + lpb
    for k in range(tl):
        s = 2 * k + 1
        skip = prev[s - 2] if _can_skip(targets, b, k) else ninf
        cur[s] = _lse(prev[s], prev[s - 1], skip) + lp[t, b, targets[b, k]]
        cur[s + 1] = _lse2(prev[s + 1], prev[s]) + lpb


@njit(inline="always")
def _final_nll(alpha_last, tl):
    """-log p: the last blank alone for an empty target, else the last label and the last blank."""
    if tl == 0:
        return -alpha_last[0]
    return -_lse2(alpha_last[2 * tl], alpha_last[2 * tl - 1])


@njit(parallel=True, cache=True)
def ctc_loss_fwd_cpu(lp, targets, input_lengths, target_lengths, log_alpha, nll, loss, blank, zero_infinity):
    for b in prange(nll.size):
        il, tl = input_lengths[b], target_lengths[b]
        alpha = log_alpha[b]
        if il == 0:  # nothing emitted: only the empty target is possible
            nll[b] = 0.0 if tl == 0 else math.inf
        else:
            for s in range(2 * tl + 1):
                alpha[0, s] = -math.inf
            alpha[0, 0] = lp[0, b, blank]
            if tl > 0:
                alpha[0, 1] = lp[0, b, targets[b, 0]]
            for t in range(1, il):
                _alpha_step(lp, targets, b, tl, blank, alpha[t - 1], alpha[t], t)
            nll[b] = _final_nll(alpha[il - 1], tl)
        loss[b] = 0.0 if zero_infinity and nll[b] == math.inf else nll[b]


@cuda.jit(cache=True)
def ctc_loss_fwd_cuda(lp, targets, input_lengths, target_lengths, log_alpha, nll, loss, blank, zero_infinity):
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    ninf = -math.inf
    for b in range(cuda.blockIdx.x, nll.size, cuda.gridDim.x):
        il, tl = input_lengths[b], target_lengths[b]
        for s in range(tid, 2 * tl + 1, nt):
            log_alpha[b, 0, s] = lp[0, b, blank] if s == 0 else (lp[0, b, targets[b, 0]] if s == 1 else ninf)
        cuda.syncthreads()
        for t in range(1, il):
            for s in range(tid, 2 * tl + 1, nt):
                k = (s - 1) // 2
                if s % 2 == 0:
                    la3 = ninf
                    c = blank
                else:
                    la3 = log_alpha[b, t - 1, s - 2] if _can_skip_dev(targets, b, k) else ninf
                    c = targets[b, k]
                la2 = log_alpha[b, t - 1, s - 1] if s > 0 else ninf
                log_alpha[b, t, s] = _lse_dev(log_alpha[b, t - 1, s], la2, la3) + lp[t, b, c]
            cuda.syncthreads()
        if tid == 0:
            if il == 0:
                v = 0.0 if tl == 0 else math.inf
            elif tl == 0:
                v = -log_alpha[b, il - 1, 0]
            else:
                v = -_lse_dev(log_alpha[b, il - 1, 2 * tl], log_alpha[b, il - 1, 2 * tl - 1], ninf)
            nll[b] = v
            loss[b] = 0.0 if zero_infinity and v == math.inf else v
        cuda.syncthreads()


@njit(inline="always")
def _beta_step(lp, targets, b, tl, blank, nxt, cur, t):
    """cur = beta at time t from nxt = beta at t + 1 (beta includes lp at t, as alpha)."""
    ninf = like(cur[0], -math.inf)
    lpb = lp[t, b, blank]
    last = 2 * tl
    cur[last] = nxt[last] + lpb
    for k in range(tl - 1, -1, -1):
        s = 2 * k + 1
        skip = nxt[s + 2] if k < tl - 1 and _can_skip(targets, b, k + 1) else ninf
        cur[s] = _lse(nxt[s], nxt[s + 1], skip) + lp[t, b, targets[b, k]]
        cur[s - 1] = _lse2(nxt[s - 1], nxt[s]) + lpb


@njit(inline="always")
def _beta_init(lp, targets, b, tl, blank, cur, t):
    """beta at the last emitted time: only the last blank and the last label end a path."""
    for s in range(2 * tl + 1):
        cur[s] = -math.inf
    cur[2 * tl] = lp[t, b, blank]
    if tl > 0:
        cur[2 * tl - 1] = lp[t, b, targets[b, tl - 1]]


@njit(inline="always")
def _gradient_row(lp, targets, b, tl, blank, alpha, beta, nll, g, out, t):
    """out[c] = (exp(lp[t, b, c]) - occupancy of c at t) * g."""
    C = out.size
    for c in range(C):  # ATen's exp(-inf + nll - lp): 0, or NaN when nll - lp is +inf or NaN
        out[c] = like(g, 0) if nll - lp[t, b, c] < math.inf else like(g, math.nan)
    for s in range(2 * tl + 1):
        c = blank if s % 2 == 0 else targets[b, s // 2]
        out[c] += math.exp(alpha[s] + beta[s] + nll - lp[t, b, c])
    for c in range(C):
        out[c] = (math.exp(lp[t, b, c]) - out[c]) * g


@njit(parallel=True, cache=True)
def ctc_loss_bwd_cpu(lp, targets, input_lengths, target_lengths, log_alpha, nll, grad_loss, log_beta, grad,
                     blank, zero_infinity):
    """grad (T, N, C) from the loss gradient per sample; log_beta (N, 2, 2S+1) is scratch."""
    T = lp.shape[0]
    for b in prange(nll.size):
        il, tl = input_lengths[b], target_lengths[b]
        if zero_infinity and nll[b] == math.inf:
            il = 0  # its gradient is zero everywhere
        for t in range(il, T):
            grad[t, b, :] = 0
        if il == 0:
            continue
        beta = log_beta[b]
        _beta_init(lp, targets, b, tl, blank, beta[(il - 1) % 2], il - 1)
        for t in range(il - 1, -1, -1):
            if t < il - 1:
                _beta_step(lp, targets, b, tl, blank, beta[(t + 1) % 2], beta[t % 2], t)
            _gradient_row(lp, targets, b, tl, blank, log_alpha[b, t], beta[t % 2], nll[b], grad_loss[b],
                          grad[t, b], t)


@cuda.jit(device=True)
def _beta_state_dev(lp, targets, b, tl, blank, nxt, s, t):
    """beta at (t, s) from the row nxt at t + 1."""
    ninf = -math.inf
    last = 2 * tl
    k = s // 2  # the label of state s + 1
    if s % 2 == 0:
        c = blank
        lb3 = ninf
    else:
        c = targets[b, k]
        lb3 = nxt[s + 2] if s < last - 1 and _can_skip_dev(targets, b, k + 1) else ninf
    lb2 = nxt[s + 1] if s < last else ninf
    return _lse_dev(nxt[s], lb2, lb3) + lp[t, b, c]


@cuda.jit(cache=True)
def ctc_loss_bwd_cuda(lp, targets, input_lengths, target_lengths, log_alpha, nll, grad_loss, log_beta, grad,
                      blank, zero_infinity):
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, C = lp.shape[0], lp.shape[2]
    for b in range(cuda.blockIdx.x, nll.size, cuda.gridDim.x):
        il, tl, v = input_lengths[b], target_lengths[b], nll[b]
        if zero_infinity and v == math.inf:
            il = 0
        for i in range(tid, T * C, nt):  # occupancies start at 0 (NaN where ATen's exp(-inf + nll - lp) is)
            t, c = i // C, i % C
            grad[t, b, c] = 0 if t >= il or v - lp[t, b, c] < math.inf else math.nan
        n = 2 * tl + 1
        if il > 0:  # beta at the last emitted time: only the last blank and the last label end a path
            for s in range(tid, n, nt):
                log_beta[b, (il - 1) % 2, s] = -math.inf if s < n - 2 else (
                    lp[il - 1, b, blank] if s == n - 1 else lp[il - 1, b, targets[b, tl - 1]])
        cuda.syncthreads()
        for t in range(il - 1, -1, -1):
            if t < il - 1:
                for s in range(tid, n, nt):
                    log_beta[b, t % 2, s] = _beta_state_dev(lp, targets, b, tl, blank, log_beta[b, (t + 1) % 2], s, t)
                cuda.syncthreads()
            for s in range(tid, n, nt):
                c = blank if s % 2 == 0 else targets[b, s // 2]
                w = math.exp(log_alpha[b, t, s] + log_beta[b, t % 2, s] + v - lp[t, b, c])
                cuda.atomic.add(grad, (t, b, c), w)
        cuda.syncthreads()
        g = grad_loss[b]
        for i in range(tid, il * C, nt):
            t, c = i // C, i % C
            grad[t, b, c] = (math.exp(lp[t, b, c]) - grad[t, b, c]) * g
        cuda.syncthreads()


def ctc_loss_fwd(lp, targets, input_lengths, target_lengths, log_alpha, nll, loss, blank, zero_infinity):
    """nll and loss (zeroed where infinite if zero_infinity) per sample; log_alpha for the backward."""
    args = (lp, targets, input_lengths, target_lengths, log_alpha, nll, loss, blank, zero_infinity)
    if type(lp) is np.ndarray:
        ctc_loss_fwd_cpu(*args)
    else:
        compiled(ctc_loss_fwd_cuda)[grid_blocks(nll.size, CTC_THREADS)](*args)


def ctc_loss_bwd(lp, targets, input_lengths, target_lengths, log_alpha, nll, grad_loss, log_beta, grad, blank,
                 zero_infinity):
    """grad of the log_probs from grad_loss (N,), the per-sample loss gradient."""
    args = (lp, targets, input_lengths, target_lengths, log_alpha, nll, grad_loss, log_beta, grad, blank,
            zero_infinity)
    if type(lp) is np.ndarray:
        ctc_loss_bwd_cpu(*args)
    else:
        compiled(ctc_loss_bwd_cuda)[grid_blocks(nll.size, CTC_THREADS)](*args)
