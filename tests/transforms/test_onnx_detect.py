"""The real Detect stage on ONNX detectors of each layout: boxes come back in original pixels, sliced or not."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from models.handler import SlotModelHandler
from models.slots import load_model
from tests import onnx_models
from transforms.detect import Detect
from transforms.detection import detector_input
from transforms.records import DecodedImage
from transforms.slicing import SlicePlan

pytestmark = pytest.mark.slow

BUILDERS = {"ultralytics": onnx_models.ultralytics, "rtdetr": onnx_models.rtdetr, "od_api": onnx_models.od_api,
            "ultralytics_nms": onnx_models.ultralytics_rows,
            "ultralytics_rtdetr": lambda path, batch="batch": onnx_models.ultralytics_rows(path, batch, rtdetr=True)}
SLICE, OVERLAP = 400, 0.25
# one red bottle per photo (the test detectors box all red pixels they see as one); 1000 x 400 and 300 x 900
SCENES = {"straddling": ((400, 1000), (360, 120, 440, 300)), "wide": ((400, 1000), (240, 100, 480, 300)),
          "tall": ((900, 300), (40, 500, 120, 860))}


def _image(name):
    (height, width), (x0, y0, x1, y1) = SCENES[name]
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[y0:y1, x0:x1] = (255, 0, 0)
    return DecodedImage(f"mem://{name}.png", pixels)


def _matches(tolerance):
    def match(actual):
        for name, boxes in actual:
            truth = SCENES[name][1]
            if len(boxes) != 1 or not np.allclose(boxes[0], truth, atol=tolerance):
                raise BeamAssertException(f"{name}: found {boxes}, expected [{truth}]")
    return match


@pytest.mark.parametrize("layout, batch, slice_size", [
    ("ultralytics", "batch", SLICE), ("ultralytics", 1, SLICE), ("ultralytics", "batch", 0),
    ("rtdetr", "batch", SLICE), ("rtdetr", 1, 0), ("od_api", "batch", SLICE), ("od_api", 1, 0),
    ("ultralytics_nms", "batch", SLICE), ("ultralytics_nms", 1, 0), ("ultralytics_rtdetr", 1, SLICE)])
def test_onnx_detectors_find_the_bottle_in_original_pixels(layout, batch, slice_size, tmp_path):
    path = str(BUILDERS[layout](tmp_path / f"{layout}.onnx", batch=batch))
    meta = load_model("detector", path).meta
    handler = SlotModelHandler("detector", path, batch_size=4, version=meta.version)
    # one input pixel of the whole photo, in original pixels: what a 64-px model can see
    tolerance = max(max(hw) for hw, _ in SCENES.values()) / meta.input_size + 1
    p = TestPipeline()
    detected = (p | beam.Create([_image(name) for name in SCENES])
                | Detect(handler, meta.input_size, meta.threshold, meta.class_filter, meta.resize,
                         SlicePlan(slice_size, OVERLAP)))
    boxes = detected["detected"] | beam.Map(lambda d: (d.image.uri[6:-4], [det.box for det in d.detections]))
    assert_that(boxes, _matches(tolerance))
    assert_that(detected["failures"], equal_to([]), label="NoFailures")
    p.run().wait_until_finish()


def test_the_centred_letterbox_puts_the_photo_where_ultralytics_expects_it():
    task = detector_input(_image("wide"), 64, "letterbox_center")  # 1000 x 400 -> 64 x 26, 19 px above and below
    (view,), (model_input,) = task.views, task.model_inputs
    assert (view.left, view.top) == (0, 19)
    assert (model_input[:19] == 114).all() and (model_input[45:] == 114).all()
    assert (model_input[19:45] != 114).any(axis=-1).all()


@pytest.fixture(scope="module")
def converted_colour_detector(colour_box_detector, tmp_path_factory):
    """The TF colour-box detector converted by tf2onnx, its shelfscan.json beside the .onnx file."""
    import os
    import shutil
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("tf2onnx")
    shutil.copy(colour_box_detector / "shelfscan.json", folder / "shelfscan.json")
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(colour_box_detector),
                    "--output", str(folder / "colour.onnx"), "--opset", "17"], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return folder / "colour.onnx"


@pytest.mark.parametrize("input_size, resize", [(100, "letterbox"), (100, "stretch"), (None, "letterbox")])
def test_a_tf_detector_converted_by_tf2onnx_finds_what_the_savedmodel_finds(converted_colour_detector, input_size,
                                                                             resize):
    from tests.transforms.test_sliced_detect import SCENES as SLICED_SCENES
    from tests.transforms.test_sliced_detect import TRUTH, _detect

    meta = load_model("detector", str(converted_colour_detector)).meta
    assert (meta.signature_style, meta.class_filter, meta.input_size) == ("onnx_od_api", (1,), None)
    _detect(converted_colour_detector, list(SLICED_SCENES.values()), TRUTH, input_size, 4 if input_size else 1, resize)
