"""The Detect stage with slicing, on a real SavedModel that boxes the red and green pixels it sees; the
slice options as --help shows them."""
import argparse

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from models.handler import SlotModelHandler
from models.slots import run_tasks
from transforms.detect import Detect
from transforms.detection import detector_input
from transforms.letterbox import letterbox
from transforms.records import DecodedImage
from transforms.slicing import (
    DEFAULT_BOTTLE_PX,
    DEFAULT_MIN_EDGES,
    DEFAULT_OVERLAP,
    MAX_SLICES_ACROSS,
    SlicePlan,
    slice_plan,
)

pytestmark = pytest.mark.slow

RED, GREEN = (255, 0, 0), (0, 255, 0)
# 1000 x 400 with --slice_size 400 --slice_overlap 0.25: the whole image, then x 0-400, 300-700, 600-1000.
# A 100-px detector input sees the whole image at 0.1 and each slice at 0.25 of original pixels.
SIDE, SLICE, OVERLAP = 100, 400, 0.25
EVERY_SLICE = SlicePlan(SLICE, OVERLAP, bottle_px=0, min_edges=0)  # SAHI's: the finest grid, nothing skipped
PIXEL = 1 / 0.25 + 0.5  # how far a slice's box may be off: one input pixel of a slice, in original pixels


def _scene(uri, *bottles):
    pixels = np.zeros((400, 1000, 3), np.uint8)
    for (x0, y0, x1, y1), colour in bottles:
        pixels[y0:y1, x0:x1] = colour
    return DecodedImage(uri, pixels)


SCENES = {
    # on the border of the first slice, inside the overlap: that slice sees its left half only
    "straddling": _scene("mem://straddling.png", ((360, 120, 440, 300), RED)),
    # wider than the overlap: no slice sees it whole, the first its left part, the second its right part
    "wide": _scene("mem://wide.png", ((240, 100, 480, 300), RED)),
    # two bottles touching at x 380, the right one cut by the first slice's edge at 400
    "touching": _scene("mem://touching.png", ((340, 120, 380, 300), RED), ((380, 120, 420, 300), GREEN)),
}
TRUTH = {"straddling": [(360, 120, 440, 300)], "wide": [(240, 100, 480, 300)],
         "touching": [(340, 120, 380, 300), (380, 120, 420, 300)]}


def _handler(detector, input_size, batch_size, resize="letterbox"):
    return SlotModelHandler("detector", str(detector), {"input_size": input_size, "resize": resize},
                            batch_size=batch_size)


def _boxes_close_to(truth, tolerance=PIXEL):
    """An assert_that matcher: per image, its boxes (sorted) each within `tolerance` of the truth's."""
    def match(actual):
        found = dict(actual)
        for name, boxes in truth.items():
            ok = len(found[name]) == len(boxes) and all(
                np.allclose(f, t, atol=tolerance) for f, t in zip(found[name], boxes))
            if not ok:
                raise BeamAssertException(f"{name}: found {found[name]}, expected {boxes}")
    return match


def _detect(detector, images, truth, input_size=SIDE, batch_size=4, resize="letterbox", slices=EVERY_SLICE,
            tolerance=PIXEL):
    """Run the real Detect stage, check each image's boxes against `truth`; returns the Beam metrics."""
    p = TestPipeline()
    detected = (p | beam.Create(images)
                | Detect(_handler(detector, input_size, batch_size, resize), input_size, 0.5, (1,), resize, slices))
    boxes = detected["detected"] | beam.Map(
        lambda d: (d.image.uri.split("/")[-1][:-4], sorted(det.box for det in d.detections)))
    assert_that(boxes, _boxes_close_to(truth, tolerance))
    assert_that(detected["failures"], equal_to([]), label="NoFailures")
    result = p.run()
    result.wait_until_finish()
    return result.metrics()


@pytest.mark.parametrize("input_size, resize", [(SIDE, "letterbox"), (SIDE, "stretch"), (None, "letterbox")])
def test_bottles_on_slice_borders_come_out_once_with_their_whole_box(colour_box_detector, input_size, resize):
    batch_size = 4 if input_size else 1  # inputs of any size cannot be stacked: one per call, as the scan does
    _detect(colour_box_detector, list(SCENES.values()), TRUTH, input_size, batch_size, resize)


def test_the_detector_gets_full_batches_of_slices(colour_box_detector):
    metrics = _detect(colour_box_detector, list(SCENES.values()), TRUTH, batch_size=3)
    (calls,) = metrics.query(MetricsFilter().with_name("inputs_per_model_call"))["distributions"]
    assert calls.committed.sum == 3 * 4  # three images, four windows each
    assert calls.committed.max == 3  # several windows per call, across images


def test_slices_that_show_nothing_are_skipped_and_the_views_are_counted(colour_box_detector):
    # The default plan. The whole view's bottles (180 px long: 36 input pixels in a 500-px slice) are too
    # small for coarser slices, so the grid stays; the slice x 600-1000 shows nothing in any scene and is
    # skipped. The boxes, within a slice's pixel of the truth, come from the slices that saw them whole.
    metrics = _detect(colour_box_detector, list(SCENES.values()), TRUTH, slices=SlicePlan(SLICE, OVERLAP))
    (calls,) = metrics.query(MetricsFilter().with_name("inputs_per_model_call"))["distributions"]
    (views,) = metrics.query(MetricsFilter().with_name("detector_views_per_image"))["distributions"]
    assert calls.committed.sum == views.committed.sum <= 3 * 3 and views.committed.count == 3
    assert views.committed.min >= 2 and views.committed.max == 3  # the whole image, the slices with a bottle


def test_slicing_off_is_one_whole_image_pass_as_before(colour_box_detector):
    from models.slots import load_model

    image = SCENES["wide"]
    model = load_model("detector", str(colour_box_detector), input_size=SIDE)
    model_input, scale = letterbox(image.pixels, SIDE)  # what Detect did before slicing, by hand
    ymin, xmin, ymax, xmax = model(model_input[None])["detection_boxes"][0, 0] * SIDE / scale
    metrics = _detect(colour_box_detector, [image], {"wide": [(xmin, ymin, xmax, ymax)]}, slices=SlicePlan(0),
                      tolerance=1e-3)
    (calls,) = metrics.query(MetricsFilter().with_name("inputs_per_model_call"))["distributions"]
    assert calls.committed.sum == 1


def test_inputs_of_many_tasks_run_in_full_batches_and_come_back_to_their_task(colour_box_detector):
    model = _handler(colour_box_detector, SIDE, 5).load_model()
    tasks = [detector_input(image, SIDE, "letterbox", SLICE, OVERLAP) for image in SCENES.values()]
    outputs = run_tasks(model, tasks, 5)
    assert [len(out) for out in outputs] == [4, 4, 4]
    assert [o["inputs_in_call"] for out in outputs for o in out] == [5] * 10 + [2] * 2
    for task, out in zip(tasks, outputs):  # each window's own output: the same as running it alone
        for model_input, window_out in zip(task.model_inputs, out):
            alone = model(model_input[None])
            assert np.array_equal(window_out["detection_boxes"], alone["detection_boxes"][0])


def test_the_slice_options_show_their_defaults_in_help():
    from pipeline.help_format import DefaultsHelpFormatter
    from pipeline.options import add_scan_options

    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    add_scan_options(parser)
    text = " ".join(parser.format_help().split())
    slicing = text[text.index("slicing: small bottles in large photos"):text.index("output:")]
    for option, default in [("--slice_size", "coco: 300"), ("--slice_overlap", f"(default: {DEFAULT_OVERLAP})"),
                            ("--slice_max_across", f"(default: {MAX_SLICES_ACROSS})"),
                            ("--slice_bottle_px", f"(default: {DEFAULT_BOTTLE_PX})"),
                            ("--slice_min_edges", f"(default: {DEFAULT_MIN_EDGES})")]:
        block = slicing[slicing.index(option + " "):].split(" --slice_")[0]
        assert default in block, block
    plan = slice_plan(parser.parse_args(["--slice_max_across", "3", "--slice_min_edges", "0"]), {"slice_size": 300})
    assert plan == SlicePlan(300, DEFAULT_OVERLAP, 3, DEFAULT_BOTTLE_PX, 0.0)
