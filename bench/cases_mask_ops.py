"""nnlite.layers.paste_masks_in_image vs detectron2's CPU algorithm written in torch
(issue 10's row): masks pasted one at a time over the region around their box with
grid_sample, which detectron2 measured as its fastest CPU path."""
import numpy as np

from cases import Case


def _torch_paste(torch, masks, boxes, image_shape, threshold=0.5):
    F = torch.nn.functional
    n = len(masks)
    h, w = image_shape
    out = torch.zeros(n, h, w, dtype=torch.bool, device=masks.device)
    x0s, y0s = torch.clamp(boxes[:, :2].floor() - 1, min=0).to(torch.int64).unbind(1)
    x1s = torch.clamp(boxes[:, 2].ceil() + 1, max=w).to(torch.int64)
    y1s = torch.clamp(boxes[:, 3].ceil() + 1, max=h).to(torch.int64)
    for i, (xa, ya, xb, yb) in enumerate(zip(x0s.tolist(), y0s.tolist(), x1s.tolist(), y1s.tolist())):
        x0, y0, x1, y1 = boxes[i]
        img_y = ((torch.arange(ya, yb, dtype=torch.float32, device=masks.device) + 0.5) - y0) / (y1 - y0) * 2 - 1
        img_x = ((torch.arange(xa, xb, dtype=torch.float32, device=masks.device) + 0.5) - x0) / (x1 - x0) * 2 - 1
        grid = torch.stack([img_x[None, :].expand(len(img_y), -1), img_y[:, None].expand(-1, len(img_x))], 2)
        pasted = F.grid_sample(masks[i, None, None], grid[None], align_corners=False)[0, 0]
        out[i, ya:yb, xa:xb] = pasted >= threshold
    return out


def paste_masks_case(device):
    import nnlite
    import torch
    from nnlite.layers import paste_masks_in_image
    rng = np.random.default_rng(0)
    masks = rng.random((100, 28, 28)).astype(np.float32)
    centre = rng.uniform((0, 0), (1216, 800), (100, 2))
    half = rng.uniform(16, 200, (100, 2))
    boxes = np.clip(np.concatenate([centre - half, centre + half], 1), 0, (1216, 800, 1216, 800)).astype(np.float32)
    nm, nb = nnlite.tensor(masks, device=device), nnlite.tensor(boxes, device=device)
    tm, tb = torch.tensor(masks, device=device), torch.tensor(boxes, device=device)
    return (lambda: paste_masks_in_image(nm, nb, (800, 1216)),
            lambda: _torch_paste(torch, tm, tb, (800, 1216)))


BENCH_CASES = [
    Case("layers.paste_masks_in_image 100 masks 28x28 into 800x1216", paste_masks_case, bar=1.0, repeat=5),
]
