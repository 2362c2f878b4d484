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
    """How a convolution's chunks are laid out: taps along the width as GEMM shifts (stride 1)
    or gathered like the others; rows per chunk; the per-thread scratch shapes."""

    def __init__(self, w5, out_w, geometry, dtype):
        o, c, kd, kh, kw = w5.shape
        self.kernel = (kd, kh, kw)
        self.geometry = geometry
        self.shifts = kw if geometry[2] == 1 else 1
        self.taps = c * kd * kh * (kw // self.shifts)
        dw = geometry[8]
        self.wide = out_w + (self.shifts - 1) * dw
        self.rows = max(1, CHUNK_BYTES // (self.taps * self.wide * dtype.np.itemsize))
        parts = get_num_threads()
        self.cols = np.empty((parts, self.taps, self.rows * self.wide + (self.shifts - 1) * dw), dtype.np)
        self.rows_shape = (parts, o, self.rows, self.wide)

    def weight(self, w5):
        """w5 as (shifts, O, Kc): one matrix per width tap when the GEMMs shift."""
        o = w5.shape[0]
        if self.shifts == 1:
            return w5.reshape((1, o, -1))
        return contiguous_array(w5.transpose(4, 0, 1, 2, 3)).reshape((self.shifts, o, -1))

    def unshift(self, gw3, w_shape):
        """A (shifts * O, Kc) gradient (rows s * O + o) in the weight's own layout."""
        if self.shifts == 1:
            return gw3.reshape(w_shape)
        o, c, kd, kh, kw = (w_shape[0], w_shape[1], *self.kernel)
        return contiguous_array(gw3.reshape((kw, o, c, kd, kh)).transpose(1, 2, 3, 4, 0)).reshape(w_shape)


def _run_forward(x5, w5, bias, out5, geometry, dtype):
    plan = _Plan(w5, out5.shape[4], geometry, dtype)
    w3 = plan.weight(w5)
    with KM.blas_on_numba_threads(dtype.np):
        KI.conv_forward_cpu(x5, w3, w3[0, 0] if bias is None else bias, out5, plan.cols,
                            np.empty(plan.rows_shape, dtype.np), plan.kernel, geometry, bias is not None)


def forward(x, w, bias, geo, dtype, dev):
    """The convolution of x by w (+ bias)."""
    out = empty_array((x.shape[0], w.shape[0], *geo.out_size), dtype, dev)
    _run_forward(_as_3d(x), _as_3d(w), bias, _as_3d(out), _geometry(geo), dtype)
    return out


def weight_grad(g, x, w, geo, dtype):
    """dL/dw of the convolution of x by w for output gradient g."""
    g5, w5 = _as_3d(g), _as_3d(w)
    plan = _Plan(w5, g5.shape[4], _geometry(geo), dtype)
    parts, o = plan.cols.shape[0], w.shape[0]
    partial = np.empty((parts, plan.shifts * o, plan.taps), dtype.np)
    g_rows = np.empty((parts, plan.shifts * o, plan.cols.shape[2]), dtype.np)
    with KM.blas_on_numba_threads(dtype.np):
        KI.conv_weight_grad_cpu(_as_3d(x), g5, partial, plan.cols, g_rows, plan.kernel, plan.geometry,
                                plan.rows, plan.wide)
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
