"""Detect bottles on whole images, and on overlapping slices of large ones, in original pixels."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import PredictionResult

from transforms.failures import InferOrFail
from transforms.letterbox import fit, offset
from transforms.records import DecodedImage, Detection
from transforms.slicing import View, Window, WindowBoxes, merge, to_original, windows

FAILURES = "failures"


@dataclasses.dataclass(frozen=True, eq=False)
class DetectTask:
    """A decoded image and the detector inputs made from it: the whole image first, then any slices.

    The detector runs every input of a batch of tasks in full model batches (models.handler), so the
    slices never travel apart from their image.
    """

    image: DecodedImage
    views: tuple[View, ...]
    model_inputs: tuple[np.ndarray, ...]  # one per view


@dataclasses.dataclass(frozen=True, eq=False)
class DetectedImage:
    image: DecodedImage
    detections: tuple[Detection, ...]


def fit_window(pixels: np.ndarray, input_size: int | None, resize: str
               ) -> tuple[np.ndarray, float, float, int, int]:
    """The model input for `pixels`, its input pixels per pixel of `pixels` across and down, and the
    input pixel (left, top) where `pixels` begin.

    Models taking any size get the pixels as they are; "stretch" scales x and y each to the input side;
    "letterbox_center" pads evenly around.
    """
    if input_size is None:
        return np.ascontiguousarray(pixels), 1.0, 1.0, 0, 0
    model_input, _ = fit(pixels, input_size, resize)
    height, width = pixels.shape[:2]
    if resize == "stretch":
        return model_input, input_size / width, input_size / height, 0, 0
    scale = input_size / max(height, width)  # letterbox's own scale
    top, left = offset(height, width, input_size) if resize == "letterbox_center" else (0, 0)
    return model_input, scale, scale, left, top


def detector_input(image: DecodedImage, input_size: int | None, resize: str = "letterbox",
                   slice_size: int = 0, slice_overlap: float = 0.0) -> DetectTask:
    """The detector's inputs for `image`: the whole image, plus slices when it is larger than one."""
    views, inputs = [], []
    for window in windows(image.height, image.width, slice_size, slice_overlap):
        model_input, scale_x, scale_y, left, top = fit_window(window_pixels(image, window), input_size, resize)
        views.append(View(window, scale_x * image.scale_x, scale_y * image.scale_y, left, top))  # per original pixel
        inputs.append(model_input)
    return DetectTask(image, tuple(views), tuple(inputs))


def window_pixels(image: DecodedImage, window: Window) -> np.ndarray:
    """The pixels as decoded (maybe fewer than the original's) that show `window` (original pixels)."""
    x0, x1 = round(window.x0 * image.scale_x), round(window.x1 * image.scale_x)
    y0, y1 = round(window.y0 * image.scale_y), round(window.y1 * image.scale_y)
    return image.pixels[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]


def window_boxes(view: View, input_hw: tuple[int, int], outputs: Mapping[str, np.ndarray],
                 score_threshold: float, class_filter: tuple[int, ...]) -> WindowBoxes:
    """One view's OD-API outputs -> its bottle boxes in original pixels.

    Boxes come normalized to the model input frame; Beam's own example stops there, but our areas
    need original pixels, so undo the resize and the slice offset.
    """
    scores = np.asarray(outputs["detection_scores"], dtype=np.float64).reshape(-1)
    count = len(scores)
    if "num_detections" in outputs:
        count = min(count, int(np.asarray(outputs["num_detections"]).reshape(-1)[0]))
    keep = scores[:count] >= score_threshold
    if class_filter and "detection_classes" in outputs:
        classes = np.asarray(outputs["detection_classes"]).reshape(-1)[:count].astype(np.int64)
        keep &= np.isin(classes, class_filter)
    boxes = to_original(np.asarray(outputs["detection_boxes"]).reshape(-1, 4)[:count][keep], view, input_hw)
    big_enough = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
    return WindowBoxes(view, boxes[big_enough], scores[:count][keep][big_enough])


def to_detections(
    task: DetectTask,
    outputs: Sequence[Mapping[str, np.ndarray]],
    score_threshold: float,
    class_filter: tuple[int, ...],
) -> tuple[Detection, ...]:
    """Turn one image's OD-API outputs, one per view, into one box per bottle in original pixels,
    best first."""
    found = [window_boxes(view, model_input.shape[:2], out, score_threshold, class_filter)
             for view, model_input, out in zip(task.views, task.model_inputs, outputs)]
    return tuple(Detection(box, score) for box, score in merge(found, task.image.height, task.image.width))


class Detect(beam.PTransform):
    """DecodedImage -> DetectedImage, with a `failures` output for images the detector failed on.

    Args:
      handler: a SlotModelHandler for the detector slot.
      input_size: the detector's square input (None: any size, one input per model call).
      score_threshold: boxes scoring below are dropped.
      class_filter: detector classes that mean "bottle" (empty: keep all).
      resize: how an image or slice becomes the detector's input, "letterbox" or "stretch".
      slice_size: also look at overlapping slices of about this many original pixels (0: whole
        images only); images not larger than a slice are not sliced.
      slice_overlap: the share of a slice its neighbour also sees.
    """

    def __init__(self, handler, input_size: int | None, score_threshold: float,
                 class_filter: tuple[int, ...], resize: str = "letterbox", slice_size: int = 0,
                 slice_overlap: float = 0.0):
        super().__init__()
        self._handler = handler
        self._input = (input_size, resize, slice_size, slice_overlap)
        self._score_threshold = score_threshold
        self._class_filter = tuple(class_filter)

    def expand(self, images):
        threshold, classes = self._score_threshold, self._class_filter
        tasks = images | "MakeInputs" >> beam.Map(detector_input, *self._input)
        results, failed = tasks | "RunDetector" >> InferOrFail(self._handler, "detect", lambda task: task.image.uri)
        detected = results | "ToOriginalPixels" >> beam.ParDo(_ToDetections(threshold, classes))
        return {"detected": detected, FAILURES: failed}


class _ToDetections(beam.DoFn):
    def __init__(self, score_threshold: float, class_filter: tuple[int, ...]):
        self._threshold = score_threshold
        self._classes = class_filter
        self._bottles = beam.metrics.Metrics.counter("shelfscan", "bottles_detected")
        self._hist = beam.metrics.Metrics.distribution("shelfscan", "bottles_per_image")

    def process(self, result: PredictionResult) -> Iterable[Any]:
        task: DetectTask = result.example
        detections = to_detections(task, result.inference, self._threshold, self._classes)
        self._bottles.inc(len(detections))
        self._hist.update(len(detections))
        yield DetectedImage(task.image, detections)
