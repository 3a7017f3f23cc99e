"""Fan a detected image out into one crop per bottle, keyed (uri, i)."""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam

from transforms.crop_geometry import image_crops
from transforms.records import DetectedImage, ImageInfo

IMAGES = "images"


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
