"""Detect | Crops | Classify | Segment | Summarize on toy models, with TestPipeline + assert_that."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from models.handler import SlotModelHandler
from transforms.bottles import other_bottle
from transforms.classify import Classify
from transforms.crops import IMAGES, FanOutCrops
from transforms.detect import Detect
from transforms.products import ProductRule
from transforms.records import DecodedImage, ScanContext
from transforms.segment import Segment
from transforms.summarize import Summarize

pytestmark = pytest.mark.slow

# 200 x 200 solid colours. Toy detector: box A when red, box B when green.
# Toy classifier: target when any blue. Box A is x 20..60, y 20..100; box B x 100..140, y 100..180.
COLOURS = {
    "red": (255, 0, 0),        # A, not target
    "magenta": (255, 0, 255),  # A, target
    "green": (0, 255, 0),      # B, not target
    "white": (255, 255, 255),  # A and B, both targets
    "black": (0, 0, 0),        # nothing: still one row
}
EXPECTED = {"red": (1, 0), "magenta": (1, 1), "green": (1, 0), "white": (2, 2), "black": (0, 0)}


def _images(side: int = 200):
    """The colours as decoded with `side` pixels a side: 200 is every pixel, fewer a reduced decode."""
    original = None if side == 200 else (200, 200)
    return [DecodedImage(f"mem://{name}.png", np.full((side, side, 3), rgb, np.uint8), original)
            for name, rgb in COLOURS.items()]


def _scan(p, toy_models, side: int = 200):
    handler = lambda slot, batch: SlotModelHandler(slot, str(toy_models[slot]), batch_size=batch)  # noqa: E731
    images = p | beam.Create(_images(side))
    detected = images | Detect(handler("detector", 4), 64, 0.5, (1,))
    crops = detected["detected"] | FanOutCrops()
    classified = crops["crops"] | Classify(handler("classifier", 3), 32, "letterbox", ProductRule())
    others = classified["others"] | beam.Map(other_bottle, (), ())
    segmented = classified["targets"] | Segment(handler("segmenter", 2), 16, "stretch", 1.5)
    bottles = (others, segmented["bottles"]) | beam.Flatten()
    no_failures = p | "NoFailures" >> beam.Create([])
    ctx = ScanContext("t1", "d", "c", "s")
    return {"image": crops[IMAGES], "bottle": bottles, "failure": no_failures} | Summarize(ctx)


def test_counts_per_image_including_zero_bottle_images(toy_models):
    with TestPipeline() as p:
        rows = _scan(p, toy_models)["summaries"]
        counts = rows | beam.Map(lambda r: (r["image_uri"], (r["bottles"], r["target_bottles"])))
        assert_that(counts, equal_to([(f"mem://{k}.png", v) for k, v in EXPECTED.items()]))


@pytest.mark.parametrize("side", [200, 100])  # decoded whole, and at half the pixels each way
def test_boxes_and_areas_are_in_original_pixels(toy_models, side):
    def magenta_target(row):
        if row["image_uri"].endswith("magenta.png"):
            (det,) = row["detections"]
            outline = det["mask_polygon"]
            yield (tuple(round(v) for v in det["box"]), det["area_source"], round(det["mask_area_px"]),
                   round(row["target_area_ratio"], 4),
                   (round(min(outline[0::2])), round(min(outline[1::2])), round(max(outline[0::2])),
                    round(max(outline[1::2]))))

    with TestPipeline() as p:
        rows = _scan(p, toy_models, side)["summaries"]
        sizes = rows | beam.Map(lambda r: (r["width"], r["height"])) | beam.Distinct()
        assert_that(sizes, equal_to([(200, 200)]), label="original size")
        # Box A maps to x 20..60, y 20..100. The toy mask covers the whole (solid) crop: 40 x 80 px,
        # within 1.5x of the expected 0.75 * 3200, so the mask area is used.
        assert_that(rows | beam.FlatMap(magenta_target),
                    equal_to([((20, 20, 60, 100), "mask", 3200, round(3200 / 40000, 4), (20, 20, 60, 100))]),
                    label="magenta")
