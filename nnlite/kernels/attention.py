"""Launchers of the fused attention kernels (attention_cpu.py, attention_cuda.py):
they size the per-thread scratch on the CPU, pin BLAS to one thread while
Numba's threads call it, and pick the dtype's CUDA entry point and grid.

All arrays are contiguous: q (BHq, L, E), k (BHk, S, E), v (BHk, S, Ev),
mask (M, L, S) additive, mask_index (BHq,) int64, out (BHq, L, Ev), lse (BHq, L).
"""
import numpy as np
from numba import get_num_threads

from ..backend.cuda import compiled
from ..backend.launch import grid_blocks
from ..backend.memory import host_empty
from . import attention_cpu as _cpu
from . import attention_cuda as _cuda
from .matmul import blas_on_numba_threads, can_call_blas

BLOCK_Q = 256   # query rows per CPU work item: (256, 256) tiles ran fwd+bwd 1.5x faster than (64, 128)
BLOCK_K = 256   # key rows per CPU tile (OpenBLAS is inefficient on smaller GEMMs)
CUDA_MAX_DIM = _cuda.MAX_DIM


def _cpu_parts(work):
    return max(1, min(work, 2 * get_num_threads()))


def _check_blas(dtype):
    if not can_call_blas(dtype):
        raise RuntimeError("scaled_dot_product_attention: the CPU kernels call numpy's OpenBLAS (ILP64) "
                           f"GEMM for {np.dtype(dtype)}, which this numpy build does not provide")


def sdpa_fwd(q, k, v, mask, mask_index, out, lse, scale, causal, has_mask, seed, offset, p_drop, keep_scale,
             block_q=BLOCK_Q, block_k=BLOCK_K):
    """out, lse = fused attention forward (see attention_cpu.py)."""
    dtype = q.dtype.type
    if type(q) is np.ndarray:
        _check_blas(q.dtype)
        parts = _cpu_parts(q.shape[0] * -(-q.shape[1] // block_q))
        sbuf = host_empty((parts, block_q, block_k), q.dtype)
        stats = host_empty((parts, 3, block_q), q.dtype)
        with blas_on_numba_threads(q.dtype):
            _cpu.sdpa_fwd_cpu(q, k, v, mask, mask_index, out, lse, sbuf, stats, dtype(scale), causal,
                              has_mask, seed, offset, dtype(p_drop), dtype(keep_scale), block_q, block_k)
        return
    kernel = _cuda.sdpa_fwd_f64_cuda if q.dtype == np.float64 else _cuda.sdpa_fwd_f32_cuda
    blocks = q.shape[0] * -(-q.shape[1] // _cuda.BLOCK_Q)
    grid, threads = grid_blocks(blocks, _cuda.BLOCK_Q)
    compiled(kernel)[grid, threads](q, k, v, mask, mask_index, out, lse, dtype(scale), causal, has_mask, seed,
                                    offset, dtype(p_drop), dtype(keep_scale))


def key_groups(q_shape, k_shape, block_k=BLOCK_K):
    """How many key-block groups the CPU backward splits each key head into (1 with enough heads)."""
    parts = 2 * get_num_threads()
    nkb = max(1, -(-k_shape[1] // block_k))
    return max(1, min(nkb, -(-parts // max(1, k_shape[0]))))


def sdpa_bwd(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, delta, scale, causal, has_mask,
             want_dmask, seed, offset, p_drop, keep_scale, block_q=BLOCK_Q, block_k=BLOCK_K):
    """dq_part (groups, BHq, L, E; groups = 1 on CUDA), dk, dv and dmask (BHq, L, S) when want_dmask;
    delta (BHq, L) is CUDA scratch (the CPU kernel computes it per tile)."""
    dtype = q.dtype.type
    if type(q) is np.ndarray:
        _check_blas(q.dtype)
        parts = _cpu_parts(k.shape[0] * dq_part.shape[0])
        sbuf = host_empty((parts, block_q, block_k), q.dtype)
        dpbuf = host_empty((parts, block_q, block_k), q.dtype)
        row_delta = host_empty((parts, block_q), q.dtype)
        with blas_on_numba_threads(q.dtype):
            _cpu.sdpa_bwd_cpu(q, k, v, mask, mask_index, out, lse, dout, dq_part, dk, dv, dmask, sbuf, dpbuf,
                              row_delta, dtype(scale), causal, has_mask, want_dmask, seed, offset,
                              dtype(p_drop), dtype(keep_scale), block_q, block_k)
        return
    f64 = q.dtype == np.float64
    dq = dq_part[0]
    blocks = q.shape[0] * -(-q.shape[1] // _cuda.BLOCK_Q)
    grid, threads = grid_blocks(blocks, _cuda.BLOCK_Q)
    kernel = _cuda.sdpa_bwd_dq_f64_cuda if f64 else _cuda.sdpa_bwd_dq_f32_cuda
    compiled(kernel)[grid, threads](q, k, v, mask, mask_index, out, lse, dout, dq, delta, dmask, dtype(scale),
                                    causal, has_mask, want_dmask, seed, offset, dtype(p_drop), dtype(keep_scale))
    blocks = k.shape[0] * -(-k.shape[1] // _cuda.BLOCK_K)
    grid, threads = grid_blocks(blocks, _cuda.BLOCK_K)
    kernel = _cuda.sdpa_bwd_dkdv_f64_cuda if f64 else _cuda.sdpa_bwd_dkdv_f32_cuda
    compiled(kernel)[grid, threads](q, k, v, mask, mask_index, lse, dout, delta, dk, dv, dtype(scale), causal,
                                    has_mask, seed, offset, dtype(p_drop), dtype(keep_scale))
