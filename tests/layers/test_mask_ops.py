"""paste_masks_in_image vs detectron2's algorithm written here in torch (its CPU path:
one mask at a time over the region around its box, grid_sample bilinear,
align_corners=False), CUDA against CPU, errors."""
import numpy as np
import pytest

import nnlite
from nnlite.layers import paste_masks_in_image
from tests.helpers import to_numpy


def _reference(torch, masks, boxes, image_shape, threshold):
    """detectron2.layers.paste_masks_in_image on the CPU, step by step."""
    F = torch.nn.functional
    n = len(masks)
    h, w = image_shape
    out = torch.zeros(n, h, w, dtype=torch.bool if threshold >= 0 else torch.uint8)
    if not masks.dtype.is_floating_point:
        masks = masks.float()
    for i in range(n):
        box = boxes[i:i + 1]
        x0_int, y0_int = torch.clamp(box.min(dim=0).values.floor()[:2] - 1, min=0).to(torch.int32)
        x1_int = torch.clamp(box[:, 2].max().ceil() + 1, max=w).to(torch.int32)
        y1_int = torch.clamp(box[:, 3].max().ceil() + 1, max=h).to(torch.int32)
        if x1_int <= x0_int or y1_int <= y0_int:
            continue  # a box wholly above or left of the image (detectron2's arange would raise)
        x0, y0, x1, y1 = torch.split(box, 1, dim=1)
        img_y = torch.arange(int(y0_int), int(y1_int), dtype=torch.float32) + 0.5
        img_x = torch.arange(int(x0_int), int(x1_int), dtype=torch.float32) + 0.5
        img_y = (img_y - y0) / (y1 - y0) * 2 - 1
        img_x = (img_x - x0) / (x1 - x0) * 2 - 1
        gx = img_x[:, None, :].expand(1, img_y.size(1), img_x.size(1))
        gy = img_y[:, :, None].expand(1, img_y.size(1), img_x.size(1))
        grid = torch.stack([gx, gy], dim=3)
        pasted = F.grid_sample(masks[i:i + 1, None], grid.to(masks.dtype), align_corners=False)[:, 0]
        pasted = pasted >= threshold if threshold >= 0 else (pasted * 255).to(torch.uint8)
        out[i:i + 1, int(y0_int):int(y1_int), int(x0_int):int(x1_int)] = pasted
    return out


def _inputs(n=6, m=14, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    masks = rng.random((n, m, m)).astype(dtype)
    x0 = rng.uniform(-20, 90, n)
    y0 = rng.uniform(-20, 60, n)
    boxes = np.stack([x0, y0, x0 + rng.uniform(0.5, 50, n), y0 + rng.uniform(0.5, 40, n)], 1)
    boxes[0] = [3.25, 4.5, 3.75, 9.0]          # thinner than a pixel
    boxes[1] = [95.0, 70.0, 140.0, 90.0]       # runs off the image's right and bottom edges
    return masks, boxes.astype(np.float32)


@pytest.mark.parametrize("threshold", [0.5, 0.2, -1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_pixels_as_detectron2(torch, threshold, dtype):
    masks, boxes = _inputs(dtype=dtype)
    got = paste_masks_in_image(nnlite.tensor(masks), nnlite.tensor(boxes), (80, 100), threshold)
    want = _reference(torch, torch.tensor(masks), torch.tensor(boxes), (80, 100), threshold)
    assert got.dtype == (nnlite.bool if threshold >= 0 else nnlite.uint8)
    assert got.shape == want.shape
    np.testing.assert_array_equal(to_numpy(got), want.numpy())
    assert to_numpy(got).any()


def test_float64_boxes_integer_masks_and_a_boxes_object(torch):
    masks, boxes = _inputs(seed=1)
    binary = (masks > 0.5).astype(np.uint8)

    class Boxes:  # detectron2's structures.Boxes keeps its (N, 4) tensor in .tensor
        def __init__(self, tensor):
            self.tensor = tensor
    got = paste_masks_in_image(nnlite.tensor(binary), Boxes(nnlite.tensor(boxes.astype(np.float64))), (80, 100))
    want = _reference(torch, torch.tensor(binary), torch.tensor(boxes.astype(np.float64)), (80, 100), 0.5)
    np.testing.assert_array_equal(to_numpy(got), want.numpy())


def test_cuda_pastes_the_cpu_pixels(device):
    masks, boxes = _inputs(n=3, m=6, seed=2)
    masks[:, 0, 0] = 0.5        # exactly at the threshold: inside (>=)
    cpu = paste_masks_in_image(nnlite.tensor(masks), nnlite.tensor(boxes), (24, 30), 0.5)
    got = paste_masks_in_image(nnlite.tensor(masks, device=device), nnlite.tensor(boxes, device=device), (24, 30))
    assert got.device.type == device
    np.testing.assert_array_equal(to_numpy(got), to_numpy(cpu))
    soft = paste_masks_in_image(nnlite.tensor(masks, device=device), nnlite.tensor(boxes, device=device), (24, 30),
                                -1)
    cpu_soft = to_numpy(paste_masks_in_image(nnlite.tensor(masks), nnlite.tensor(boxes), (24, 30), -1))
    # CUDA may fuse a multiply-add: a soft value can then truncate one step lower
    assert np.abs(to_numpy(soft).astype(int) - cpu_soft.astype(int)).max() <= 1
    assert cpu_soft.max() > 0


def test_no_masks_and_inputs_untouched():
    empty = paste_masks_in_image(nnlite.zeros(0, 28, 28), nnlite.zeros(0, 4), (5, 7))
    assert empty.dtype == nnlite.uint8 and tuple(empty.shape) == (0, 5, 7)
    masks, boxes = _inputs(n=2)
    m, b = nnlite.tensor(masks), nnlite.tensor(boxes)
    paste_masks_in_image(m, b, (20, 20))
    np.testing.assert_array_equal(to_numpy(m), masks)
    np.testing.assert_array_equal(to_numpy(b), boxes)


def test_errors():
    with pytest.raises(AssertionError, match=r"square mask.*got \(2, 4, 5\)"):
        paste_masks_in_image(nnlite.zeros(2, 4, 5), nnlite.zeros(2, 4), (8, 8))
    with pytest.raises(ValueError, match=r"boxes of shape \(2, 4\) for 2 masks, got \(3, 4\)"):
        paste_masks_in_image(nnlite.zeros(2, 4, 4), nnlite.zeros(3, 4), (8, 8))
    with pytest.raises(TypeError, match="masks must be a Tensor"):
        paste_masks_in_image(np.zeros((2, 4, 4)), nnlite.zeros(2, 4), (8, 8))
