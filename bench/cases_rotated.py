"""nnlite.layers' rotated-box ops vs the fastest vectorised torch version written here (issue 10):
detectron2's own kernels need a C++ build and are not installable here.

The torch baseline of nms_rotated: a circle test over all pairs picks the candidate pairs (torch
ops), their exact intersection areas come from clipping every edge of one box to the other box
(the same Green's theorem idea as nnlite's kernel, batched over pairs x edges), and a greedy
sweep over the suppressing pairs gives the kept boxes."""
import math

import numpy as np

from cases import Case


def rotated_boxes(rng, n, extent=800.0, lo=16.0, hi=128.0):
    """n rotated boxes as a detector proposes them: centres in [0, extent)^2, sides lo..hi, any angle."""
    return np.concatenate([rng.uniform(0, extent, (n, 2)), rng.uniform(lo, hi, (n, 2)),
                           rng.uniform(-90, 90, (n, 1))], axis=1).astype(np.float32)


def _frames(torch, boxes):
    """Per box: centre (N, 2), half sizes (N, 2), unit axes u and v in the world (N, 2) each."""
    theta = boxes[:, 4] * (math.pi / 180)
    c, s = torch.cos(theta), torch.sin(theta)
    u_axis = torch.stack([c, -s], 1)        # x = cx + cos u + sin v, y = cy - sin u + cos v
    v_axis = torch.stack([s, c], 1)
    return boxes[:, :2], boxes[:, 2:4] / 2, u_axis, v_axis


def _corners(centre, half, u_axis, v_axis):
    """(P, 4, 2) corners counter-clockwise: (+,+), (-,+), (-,-), (+,-) in the box's frame."""
    import torch
    su = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=centre.dtype, device=centre.device)[None, :, None]
    sv = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=centre.dtype, device=centre.device)[None, :, None]
    return (centre[:, None] + su * half[:, None, :1] * u_axis[:, None] + sv * half[:, None, 1:] * v_axis[:, None])


def _boundary_sum(torch, a_corners, b_centre, b_half, b_u, b_v):
    """Sum over A's edges of (t_hi - t_lo) cross(p, q), each edge clipped to box B."""
    p, q = a_corners, a_corners.roll(-1, dims=1)                    # (P, 4, 2) edges p -> q
    rel_p, rel_q = p - b_centre[:, None], q - b_centre[:, None]
    lo = torch.zeros(p.shape[:2], dtype=p.dtype, device=p.device)
    hi = torch.ones(p.shape[:2], dtype=p.dtype, device=p.device)
    for axis, half in ((b_u, b_half[:, :1]), (b_v, b_half[:, 1:])):
        fp = (rel_p * axis[:, None]).sum(-1)
        fq = (rel_q * axis[:, None]).sum(-1)
        for f0, f1 in ((half - fp, half - fq), (half + fp, half + fq)):   # inside: f >= 0
            t = f0 / (f0 - f1)
            lo = torch.where((f0 < 0) & (f1 >= 0), torch.maximum(lo, t), lo)
            hi = torch.where((f0 >= 0) & (f1 < 0), torch.minimum(hi, t), hi)
            hi = torch.where((f0 < 0) & (f1 < 0), torch.zeros_like(hi), hi)
    cross = p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]
    return ((hi - lo).clamp(min=0) * cross).sum(1)


def torch_pair_iou(torch, boxes, i, j):
    """Exact IoU of the pairs (boxes[i], boxes[j]) in the boxes' dtype (float32 here, as
    detectron2), centred on each pair's midpoint."""
    centre, half, u_axis, v_axis = _frames(torch, boxes)
    mid = (centre[i] + centre[j]) / 2
    ci, cj = centre[i] - mid, centre[j] - mid
    corners_i = _corners(ci, half[i], u_axis[i], v_axis[i])
    corners_j = _corners(cj, half[j], u_axis[j], v_axis[j])
    inter = 0.5 * (_boundary_sum(torch, corners_i, cj, half[j], u_axis[j], v_axis[j])
                   + _boundary_sum(torch, corners_j, ci, half[i], u_axis[i], v_axis[i]))
    area_i, area_j = 4 * half[i].prod(1), 4 * half[j].prod(1)
    return inter / (area_i + area_j - inter)


def torch_nms_rotated(torch, boxes, scores, iou_threshold):
    """Greedy rotated NMS (IoU >= threshold suppresses), vectorised in torch where it can be."""
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    centre, radius = b[:, :2], b[:, 2:4].norm(dim=1) / 2
    reach = radius[:, None] + radius[None, :]
    near = ((centre[:, None] - centre[None]) ** 2).sum(-1) < reach * reach
    i, j = torch.triu(near, diagonal=1).nonzero(as_tuple=True)        # candidate pairs, i < j
    suppress = torch_pair_iou(torch, b, i, j) >= iou_threshold
    i, j = i[suppress].tolist(), j[suppress].tolist()
    removed, keep, k = bytearray(len(order)), [], 0
    for row in range(len(order)):                                    # pairs come sorted by i
        if not removed[row]:
            keep.append(row)
        while k < len(i) and i[k] == row:
            if not removed[row]:
                removed[j[k]] = 1
            k += 1
    return order[keep]


def nms_rotated_case(device):
    import nnlite
    import torch
    from nnlite.layers.nms import nms_rotated
    rng = np.random.default_rng(0)
    boxes, scores = rotated_boxes(rng, 2000), rng.random(2000).astype(np.float32)
    b, s = nnlite.tensor(boxes, device=device), nnlite.tensor(scores, device=device)
    tb, ts = torch.tensor(boxes, device=device), torch.tensor(scores, device=device)
    return lambda: nms_rotated(b, s, 0.5), lambda: torch_nms_rotated(torch, tb, ts, 0.5)


BENCH_CASES = [
    Case("layers.nms_rotated 2000 boxes", nms_rotated_case, bar=1.0),
]
