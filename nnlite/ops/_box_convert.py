"""Box format conversions behind box_convert, as torchvision.ops._box_convert.

Axis-aligned formats: xyxy (corners), xywh (top-left + size), cxcywh (centre + size).
Rotated formats (angle r in degrees, counter-clockwise): xywhr, cxcywhr, and the
four corners xyxyxyxy. Each conversion is a composition of differentiable ops.
"""
import math

import nnlite

from ..functional.atan import atan2


def _box_cxcywh_to_xyxy(boxes):
    cx, cy, w, h = boxes.unbind(-1)
    return nnlite.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def _box_xyxy_to_cxcywh(boxes):
    x1, y1, x2, y2 = boxes.unbind(-1)
    return nnlite.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def _box_xywh_to_xyxy(boxes):
    x, y, w, h = boxes.unbind(-1)
    return nnlite.stack((x, y, x + w, y + h), dim=-1)


def _box_xyxy_to_xywh(boxes):
    x1, y1, x2, y2 = boxes.unbind(-1)
    return nnlite.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)


def _cos_sin_degrees(r):
    r_rad = r * math.pi / 180.0
    return nnlite.cos(r_rad), nnlite.sin(r_rad)


def _box_cxcywhr_to_xywhr(boxes):
    cx, cy, w, h, r = boxes.unbind(-1)
    cos, sin = _cos_sin_degrees(r)
    x1 = cx - w / 2 * cos - h / 2 * sin
    y1 = cy - h / 2 * cos + w / 2 * sin
    return nnlite.stack((x1, y1, w, h, r), dim=-1)


def _box_xywhr_to_cxcywhr(boxes):
    x1, y1, w, h, r = boxes.unbind(-1)
    cos, sin = _cos_sin_degrees(r)
    cx = x1 + w / 2 * cos + h / 2 * sin
    cy = y1 - w / 2 * sin + h / 2 * cos
    return nnlite.stack((cx, cy, w, h, r), dim=-1)


def _box_xywhr_to_xyxyxyxy(boxes):
    x1, y1, w, h, r = boxes.unbind(-1)
    cos, sin = _cos_sin_degrees(r)
    x3 = x1 + w * cos
    y3 = y1 - w * sin
    x2 = x3 + h * sin
    y2 = y3 + h * cos
    x4 = x1 + h * sin
    y4 = y1 + h * cos
    return nnlite.stack((x1, y1, x3, y3, x2, y2, x4, y4), dim=-1)


def _box_xyxyxyxy_to_xywhr(boxes):
    x1, y1, x3, y3, x2, y2, x4, y4 = boxes.unbind(-1)
    r = atan2(y1 - y3, x3 - x1) * 180 / math.pi
    w = ((x3 - x1) ** 2 + (y1 - y3) ** 2).sqrt()
    h = ((x3 - x2) ** 2 + (y3 - y2) ** 2).sqrt()
    return nnlite.stack((x1, y1, w, h, r), dim=-1)


def _box_cxcywhr_to_xyxyxyxy(boxes):
    # torchvision casts the intermediate back to the input dtype (integer boxes truncate)
    return _box_xywhr_to_xyxyxyxy(_box_cxcywhr_to_xywhr(boxes).to(boxes.dtype))


def _box_xyxyxyxy_to_cxcywhr(boxes):
    return _box_xywhr_to_cxcywhr(_box_xyxyxyxy_to_xywhr(boxes).to(boxes.dtype))


# (in_fmt, out_fmt) -> the chain of conversions that gets there, as torchvision composes them
CONVERSIONS = {
    ("xywh", "xyxy"): (_box_xywh_to_xyxy,),
    ("cxcywh", "xyxy"): (_box_cxcywh_to_xyxy,),
    ("xyxy", "xywh"): (_box_xyxy_to_xywh,),
    ("xyxy", "cxcywh"): (_box_xyxy_to_cxcywh,),
    ("xywh", "cxcywh"): (_box_xywh_to_xyxy, _box_xyxy_to_cxcywh),
    ("cxcywh", "xywh"): (_box_cxcywh_to_xyxy, _box_xyxy_to_xywh),
    ("cxcywhr", "xywhr"): (_box_cxcywhr_to_xywhr,),
    ("xywhr", "cxcywhr"): (_box_xywhr_to_cxcywhr,),
    ("cxcywhr", "xyxyxyxy"): (_box_cxcywhr_to_xyxyxyxy,),
    ("xyxyxyxy", "cxcywhr"): (_box_xyxyxyxy_to_cxcywhr,),
    ("xywhr", "xyxyxyxy"): (_box_xywhr_to_xyxyxyxy,),
    ("xyxyxyxy", "xywhr"): (_box_xyxyxyxy_to_xywhr,),
}

FORMAT_WIDTH = {"xyxy": 4, "xywh": 4, "cxcywh": 4, "xywhr": 5, "cxcywhr": 5, "xyxyxyxy": 8}
