"""Cutting a bottle's pixels out of an image: the scan's crops, and training's and evaluation's too."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from transforms.records import Box, Crop, CropKey, DecodedImage, Detection

EPSILON = 1e-4


def crop_bounds(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """Integer (left, top, right, bottom) of the pixels `box` covers: inside the image, at least one
    pixel in each direction."""
    x0, y0, x1, y1 = box
    # Boxes mapped back from model inputs carry float dust (60.0000001): that is not another column.
    left = min(max(int(math.floor(x0 + EPSILON)), 0), width - 1)
    top = min(max(int(math.floor(y0 + EPSILON)), 0), height - 1)
    right = min(max(left + 1, int(math.ceil(x1 - EPSILON))), width)
    bottom = min(max(top + 1, int(math.ceil(y1 - EPSILON))), height)
    return left, top, right, bottom


def cut(pixels: np.ndarray, box: Box) -> np.ndarray:
    """The pixels (or mask values) inside `box`; training and evaluation cut crops with this too."""
    left, top, right, bottom = crop_bounds(box, *pixels.shape[:2])
    return np.ascontiguousarray(pixels[top:bottom, left:right])


def crop_pixels(image: DecodedImage, box: Box) -> np.ndarray:
    """The decoded pixels covered by `box` (original pixels), at least one pixel in each direction."""
    x0, y0, x1, y1 = box
    sx, sy = image.scale_x, image.scale_y
    return cut(image.pixels, (x0 * sx, y0 * sy, x1 * sx, y1 * sy))


def image_crops(image: DecodedImage, detections: Sequence[Detection]) -> list[Crop]:
    """One Crop per detection, keyed (uri, i) in detection order."""
    scale = (image.scale_x, image.scale_y)
    return [Crop(CropKey(image.uri, i), det.box, det.score, crop_pixels(image, det.box), scale)
            for i, det in enumerate(detections)]
