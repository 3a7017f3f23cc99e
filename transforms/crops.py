"""Fan a detected image out into one crop per bottle, keyed (uri, i)."""
from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Iterable, Sequence

import apache_beam as beam
import numpy as np

from transforms.detect import DetectedImage
from transforms.records import Box, CropKey, DecodedImage, Detection

IMAGES = "images"
EPSILON = 1e-4


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the summary needs of an image once its pixels are gone."""

    uri: str
    width: int
    height: int
    bottles: int
    captured_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Crop:
    """One detected bottle's pixels, cut from the decoded image."""

    key: CropKey
    box: Box  # original pixels
    detection_score: float
    pixels: np.ndarray  # h x w x 3 uint8, the box's pixels as decoded
    scale: tuple[float, float] = (1.0, 1.0)  # decoded pixels per original pixel (x, y), as DecodedImage's

    @property
    def original_hw(self) -> tuple[float, float]:
        """The (height, width) in original pixels that the crop's pixels cover."""
        return self.pixels.shape[0] / self.scale[1], self.pixels.shape[1] / self.scale[0]


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


def fan_out(detected: DetectedImage) -> Iterable:
    """Emit the image's info on `images` and one Crop per detection on the main output."""
    image = detected.image
    yield beam.pvalue.TaggedOutput(
        IMAGES, (image.uri, ImageInfo(image.uri, image.width, image.height, len(detected.detections),
                                        image.captured_at)))
    yield from image_crops(image, detected.detections)


class FanOutCrops(beam.PTransform):
    """DetectedImage -> Crop (main) and (uri, ImageInfo) on `images`, so zero-bottle images survive."""

    def expand(self, detected):
        out = detected | "FanOut" >> beam.FlatMap(fan_out).with_outputs(IMAGES, main="crops")
        return {"crops": out.crops, IMAGES: out[IMAGES]}
