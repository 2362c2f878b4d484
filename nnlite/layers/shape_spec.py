"""ShapeSpec, as detectron2.layers.ShapeSpec: the (channels, height, width, stride) a module
produces or expects, for the shape inference that nn.Modules lack."""
from dataclasses import dataclass
from typing import Optional

__all__ = ["ShapeSpec"]


@dataclass
class ShapeSpec:
    """Every field is optional (None when unknown)."""

    channels: Optional[int] = None
    height: Optional[int] = None
    width: Optional[int] = None
    stride: Optional[int] = None
