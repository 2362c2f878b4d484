"""Implicit-GEMM convolution on the CPU: im2col one cache-sized chunk at a time.

The im2col path (kernels/conv.py, conv3d.py) writes every input tap of the whole batch
to memory before one big GEMM reads it back: for conv3d (2,32,16,32,32) k3 that is a
226 MB matrix per pass, and a GEMM with 32 output rows runs OpenBLAS at half speed
when its other side is 65536 columns long. Here each prange part takes a run of
chunks of `rows` output rows, gathers that chunk's input taps into its own column
matrix, small enough to stay in L2, and calls single-threaded BLAS GEMMs on it at once.

The gather does not copy the KW width taps one by one. Tap kj reads input column
ow*sw + kj*dw - pw = (ow + q)*sw + r - pw where kj*dw = q*sw + r: so the gather copies
each input row once per phase r that some tap uses (every sw-th column from r), `wide`
= OW + max(q) columns per output row, and tap kj becomes a GEMM reading phase r's
columns shifted by q. With stride 1 there is one phase and q = kj*dw; a 1x1 stride-2
conv has one phase and no shift. This copies up to KW times less; each output row has
max(q) extra columns, computed and dropped. So a chunk is:

- forward: acc (O, rows*wide) = sum_kj w[kj] (O, Kc) @ cols[phase of kj][:, q:], and the
  valid columns of acc (+ bias) go to out in NCDHW order;
- weight gradient: gw_part (KW*O, Kc) += g_chunk @ cols[phase].T, one GEMM per phase,
  g_chunk's row for (tap kj, channel o) being g's rows of channel o moved right by q
  with zeros in the dropped columns; one partial sum per part, added up by the caller
  (no atomics, no races);
- the input gradient of a stride-1 convolution is the convolution of the output
  gradient by the flipped, transposed weight, so it runs through `forward` too.

Kc is C*KD*KH. Arrays are 5-D
(N, C, D, H, W); 2-D convolutions are the case D = KD = 1. Callers hold
`matmul.blas_on_numba_threads` around these kernels. There is no CUDA twin: on CUDA the
same convolutions run as im2col + cuBLAS (kernels/conv.py, conv3d.py), which is what a
GPU's memory bandwidth and cuBLAS's big-GEMM kernels want.
"""
from numba import njit, prange

from .conv import _fill, _valid_columns
from .matmul import _cblas_gemm, cblas_gemm_add


@njit(inline="always")
def _copy_row(xs, row, off, sw, lo, hi, width):
    """row[j] = xs[j*sw + off] for j in [lo, hi), zero elsewhere in [0, width)."""
    _fill(row, 0, lo, 0)
    if sw == 1:
        seg, part = xs[lo + off:hi + off], row[lo:hi]
        for i in range(hi - lo):
            part[i] = seg[i]
    else:
        for j in range(lo, hi):
            row[j] = xs[j * sw + off]
    _fill(row, hi, width, 0)


@njit(inline="always")
def _gather_chunk(x, n, row0, rows, out_rows, wide, kernel, geometry, phases, cols):
    """cols[((p, c, kd, ki), r * wide + j] = x[n, c, id, ih, j * sw + phases[p] - pw]: the input
    rows that output rows row0 .. row0 + rows (flat (od, oh) indices) read, one per width
    phase, `wide` columns each; zeros outside the input and past the last row."""
    C, D, H, W = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    KD, KH = kernel[0], kernel[1]
    sd, sh, sw, pd, ph, pw, dd, dh, dw = geometry
    for p in range(phases.size):
        off = phases[p] - pw
        lo, hi = _valid_columns(off, sw, W, wide)
        for c in range(C):
            src = x[n, c]
            for kd in range(KD):
                for ki in range(KH):
                    dst = cols[((p * C + c) * KD + kd) * KH + ki]
                    for r in range(rows):
                        od, oh = (row0 + r) // out_rows, (row0 + r) % out_rows
                        idp, ih = od * sd - pd + kd * dd, oh * sh - ph + ki * dh
                        row = dst[r * wide:(r + 1) * wide]
                        if idp < 0 or idp >= D or ih < 0 or ih >= H:
                            _fill(row, 0, wide, 0)
                        else:
                            _copy_row(src[idp, ih], row, off, sw, lo, hi, wide)
                    _fill(dst, rows * wide, dst.shape[0], 0)


@njit(inline="always")
def _chunks(part, parts, images, rows_per_chunk, out_rows):
    """The first and last chunk of a part, and the chunks per image."""
    per_image = (out_rows + rows_per_chunk - 1) // rows_per_chunk
    return images * per_image * part // parts, images * per_image * (part + 1) // parts, per_image


@njit(inline="always")
def _chunk(t, per_image, rows_per_chunk, out_rows):
    """(image, first flat output row, number of rows) of chunk t."""
    row0 = (t % per_image) * rows_per_chunk
    return t // per_image, row0, min(rows_per_chunk, out_rows - row0)


@njit(parallel=True, nogil=True, cache=True)
def conv_forward_cpu(x, w3, bias, out, cols_scratch, acc_scratch, kernel, geometry, phases, tap_phase, tap_shift,
                     use_bias):
    """out (N, O, OD, OH, OW) = the convolution of x by w3 (KW, O, Kc) (+ bias): width tap kj
    reads phase tap_phase[kj] of the columns, shifted by tap_shift[kj]."""
    N, O, OD, OH, OW = out.shape
    KW, K = w3.shape[0], w3.shape[2]
    parts, rows_per_chunk, wide = acc_scratch.shape[0], acc_scratch.shape[2], acc_scratch.shape[3]
    width, plane = cols_scratch.shape[2], OD * OH * OW
    flat = out.reshape((N, O, plane))
    for part in prange(parts):
        cols, acc = cols_scratch[part], acc_scratch[part]
        first, last, per_image = _chunks(part, parts, N, rows_per_chunk, OD * OH)
        for t in range(first, last):
            n, row0, rows = _chunk(t, per_image, rows_per_chunk, OD * OH)
            _gather_chunk(x, n, row0, rows, OH, wide, kernel, geometry, phases, cols)
            for kj in range(KW):
                block = cols[tap_phase[kj] * K:(tap_phase[kj] + 1) * K, tap_shift[kj]:]
                if kj == 0:
                    _cblas_gemm(0, 0, O, rows * wide, K, w3[kj], K, block, width, acc, rows_per_chunk * wide)
                else:
                    cblas_gemm_add(0, 0, O, rows * wide, K, w3[kj], K, block, width, acc, rows_per_chunk * wide)
            for o in range(O):
                b = bias[o] if use_bias else 0
                dst = flat[n, o, row0 * OW:(row0 + rows) * OW]
                for r in range(rows):
                    src, line = acc[o, r], dst[r * OW:(r + 1) * OW]
                    for j in range(OW):
                        line[j] = src[j] + b


@njit(parallel=True, nogil=True, cache=True)
def conv_weight_grad_cpu(x, g, partial, cols_scratch, g_scratch, kernel, geometry, phases, tap_shift, slot_tap,
                         phase_slots, rows_per_chunk, wide):
    """partial[part] (KW * O, Kc): that part's share of the weight gradient for the output
    gradient g (N, O, OD, OH, OW); row s * O + o for width tap slot_tap[s] of channel o,
    the slots of phase p being phase_slots[p] .. phase_slots[p + 1].
    g_scratch is (parts, KW * O, width of the column matrices)."""
    N, O, OD, OH, OW = g.shape
    parts, K = partial.shape[0], partial.shape[2]
    width, plane = cols_scratch.shape[2], OD * OH * OW
    flat = g.reshape((N, O, plane))
    for part in prange(parts):
        cols, g_rows, acc = cols_scratch[part], g_scratch[part], partial[part]
        acc[:] = 0
        g_rows[:] = 0  # columns never written stay zero: they add nothing to the gradient
        first, last, per_image = _chunks(part, parts, N, rows_per_chunk, OD * OH)
        for t in range(first, last):
            n, row0, rows = _chunk(t, per_image, rows_per_chunk, OD * OH)
            _gather_chunk(x, n, row0, rows, OH, wide, kernel, geometry, phases, cols)
            if rows < rows_per_chunk:
                g_rows[:, rows * wide:] = 0  # no earlier chunk's rows under the zeros cols has there
            # row s * O + o of g_rows: g's rows of channel o, each in a `wide` slot, moved right by
            # tap slot_tap[s]'s shift; one GEMM per phase then pairs each tap with its columns
            for s in range(slot_tap.size):
                q = tap_shift[slot_tap[s]]
                for o in range(O):
                    src = flat[n, o, row0 * OW:(row0 + rows) * OW]
                    dst = g_rows[s * O + o, q:]
                    for r in range(rows):
                        dst[r * wide:r * wide + OW] = src[r * OW:(r + 1) * OW]
            k = min(rows * wide + wide - OW, width)
            for p in range(phases.size):
                s0, s1 = phase_slots[p], phase_slots[p + 1]
                # acc (taps of phase p, Kc) += g_rows (those taps, k) @ cols of phase p (Kc, k).T
                cblas_gemm_add(0, 1, (s1 - s0) * O, K, k, g_rows[s0 * O:], width, cols[p * K:], width,
                               acc[s0 * O:], K)
