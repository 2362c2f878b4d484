"""The CPU's implicit-GEMM convolution (kernels/conv_implicit.py): forward, weight gradient,
and the input gradient of stride-1 convolutions, without a whole-batch column matrix.

`conv.py`'s `_algorithm` picks these where `usable` says so; everything here takes the
2-D (4-D arrays) or 3-D (5-D arrays) layouts that conv.py passes its other algorithms.
"""
import numpy as np
from numba import get_num_threads

from ..backend.lazy import kernels
from ._arrays import contiguous_array
from ._util import empty_array
from .reduction import sum_array

KI = kernels("conv_implicit")
KM = kernels("matmul")

CHUNK_BYTES = 512 << 10  # one part's column matrix: a share of L2 next to the GEMM's packed panels


def usable(x_shape, w_shape, geo, dtype, dev):
    """Ungrouped convolutions on the CPU in a dtype BLAS can take from Numba's threads."""
    return (dev.type == "cpu" and geo.groups == 1 and 0 not in x_shape and 0 not in w_shape
            and KM.can_call_blas(dtype.np))


def is_unit_stride(geo):
    return all(s == 1 for s in geo.stride)


def _as_3d(a):
    """A 4-D (N, C, H, W) array as (N, C, 1, H, W); 5-D arrays as they are."""
    return a if a.ndim == 5 else a.reshape((a.shape[0], a.shape[1], 1, *a.shape[2:]))


def _geometry(geo):
    """The kernels' (sd, sh, sw, pd, ph, pw, dd, dh, dw), a 2-D geometry getting depth 1."""
    if len(geo.stride) == 3:
        return (*geo.stride, *geo.pad, *geo.dilation)
    return (1, *geo.stride, 0, *geo.pad, 1, *geo.dilation)


class _Plan:
    """How a convolution's chunks are laid out. The width taps are not gathered one by one:
    tap kj reads input column ow*sw + kj*dw - pw = (ow + q)*sw + r - pw with
    kj*dw = q*sw + r, so the gather copies each input row once per phase r used (every
    sw-th column from r), and tap kj becomes a GEMM over phase r's columns shifted by q.
    With stride 1 there is one phase and the shifts are kj*dw. Also: rows per chunk and the
    per-thread scratch."""

    def __init__(self, w5, out_w, geometry, dtype):
        o, c, kd, kh, kw = w5.shape
        sw, dw = geometry[2], geometry[8]
        self.kernel = (kd, kh, kw)
        self.geometry = geometry
        residues = [kj * dw % sw for kj in range(kw)]
        phases = sorted(set(residues))
        self.phases = np.array(phases, np.int64)
        self.tap_phase = np.array([phases.index(r) for r in residues], np.int64)
        self.tap_shift = np.array([kj * dw // sw for kj in range(kw)], np.int64)
        # weight-gradient slots: the taps grouped by phase
        self.slot_tap = np.array(sorted(range(kw), key=lambda kj: (self.tap_phase[kj], kj)), np.int64)
        self.phase_slots = np.searchsorted(self.tap_phase[self.slot_tap], np.arange(len(phases) + 1)).astype(np.int64)
        self.taps = c * kd * kh
        max_shift = int(self.tap_shift.max())
        self.wide = out_w + max_shift
        self.rows = max(1, CHUNK_BYTES // (len(phases) * self.taps * self.wide * dtype.np.itemsize))
        parts = get_num_threads()
        self.cols = np.empty((parts, len(phases) * self.taps, self.rows * self.wide + max_shift), dtype.np)
        self.rows_shape = (parts, o, self.rows, self.wide)

    def weight(self, w5):
        """w5 as (KW, O, C*KD*KH): one matrix per width tap."""
        return contiguous_array(w5.transpose(4, 0, 1, 2, 3)).reshape((w5.shape[4], w5.shape[0], -1))

    def unshift(self, gw, w_shape):
        """A (KW * O, Kc) gradient, rows in slot order, in the weight's own layout."""
        o, c, kd, kh, kw = (w_shape[0], w_shape[1], *self.kernel)
        by_tap = gw.reshape((kw, o, c, kd, kh))[np.argsort(self.slot_tap)]
        return contiguous_array(by_tap.transpose(1, 2, 3, 4, 0)).reshape(w_shape)


def _run_forward(x5, w5, bias, out5, geometry, dtype):
    plan = _Plan(w5, out5.shape[4], geometry, dtype)
    w3 = plan.weight(w5)
    with KM.blas_on_numba_threads(dtype.np):
        KI.conv_forward_cpu(x5, w3, w3[0, 0] if bias is None else bias, out5, plan.cols,
                            np.empty(plan.rows_shape, dtype.np), plan.kernel, geometry, plan.phases,
                            plan.tap_phase, plan.tap_shift, bias is not None)


def forward(x, w, bias, geo, dtype, dev):
    """The convolution of x by w (+ bias)."""
    out = empty_array((x.shape[0], w.shape[0], *geo.out_size), dtype, dev)
    _run_forward(_as_3d(x), _as_3d(w), bias, _as_3d(out), _geometry(geo), dtype)
    return out


def weight_grad(g, x, w, geo, dtype):
    """dL/dw of the convolution of x by w for output gradient g."""
    g5, w5 = _as_3d(g), _as_3d(w)
    plan = _Plan(w5, g5.shape[4], _geometry(geo), dtype)
    parts, o, kw = plan.cols.shape[0], w.shape[0], w5.shape[4]
    partial = np.empty((parts, kw * o, plan.taps), dtype.np)
    g_rows = np.empty((parts, kw * o, plan.cols.shape[2]), dtype.np)
    with KM.blas_on_numba_threads(dtype.np):
        KI.conv_weight_grad_cpu(_as_3d(x), g5, partial, plan.cols, g_rows, plan.kernel, plan.geometry, plan.phases,
                                plan.tap_shift, plan.slot_tap, plan.phase_slots, plan.rows, plan.wide)
    return plan.unshift(partial.sum(axis=0), w.shape)


def _flipped_geometry(w5, geometry):
    """The geometry of a stride-1 convolution's input gradient as a convolution of the output
    gradient: the same dilation, padding d * (k - 1) - p in front."""
    dilation, pads = geometry[6:], geometry[3:6]
    return (1, 1, 1, *(d * (k - 1) - p for d, k, p in zip(dilation, w5.shape[2:], pads)), *dilation)


def input_grad(g, w, x_shape, geo, dtype):
    """dL/dx of a stride-1 convolution: g convolved by w flipped in space with O and C swapped."""
    w5 = _as_3d(w)
    flipped = contiguous_array(w5.transpose(1, 0, 2, 3, 4)[:, :, ::-1, ::-1, ::-1])
    gx = np.empty(x_shape, dtype.np)
    _run_forward(_as_3d(g), flipped, None, _as_3d(gx), _flipped_geometry(w5, _geometry(geo)), dtype)
    return gx


def backward(g, x, w, geo, needs, dtype, dev):
    """(gx, gw, gb) for a stride-1 convolution (the caller checks `is_unit_stride`)."""
    gx = input_grad(g, w, x.shape, geo, dtype) if needs[0] else None
    gw = weight_grad(g, x, w, geo, dtype) if needs[1] else None
    gb = sum_array(g, tuple(i for i in range(g.ndim) if i != 1), dtype, dev) if needs[2] else None
    return gx, gw, gb
