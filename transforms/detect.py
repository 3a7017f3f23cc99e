"""Detect bottles on whole images and map boxes back to original pixels."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import PredictionResult, RunInference

from transforms.failures import batch_failures
from transforms.letterbox import letterbox
from transforms.records import DecodedImage, Detection

FAILURES = "failures"


@dataclasses.dataclass(frozen=True, eq=False)
class DetectTask:
    """A decoded image and the detector input made from it."""

    image: DecodedImage
    model_input: np.ndarray
    scale_x: float  # input pixels per original pixel, horizontally
    scale_y: float


@dataclasses.dataclass(frozen=True, eq=False)
class DetectedImage:
    image: DecodedImage
    detections: tuple[Detection, ...]


def detector_input(image: DecodedImage, input_size: int | None) -> DetectTask:
    """Letterbox to the detector's fixed input; models taking any size get the image as is."""
    if input_size is None:
        return DetectTask(image, image.pixels, image.scale_x, image.scale_y)
    model_input, scale = letterbox(image.pixels, input_size)  # of the pixels as decoded, maybe reduced
    return DetectTask(image, model_input, scale * image.scale_x, scale * image.scale_y)


def to_detections(
    task: DetectTask,
    outputs: Mapping[str, np.ndarray],
    score_threshold: float,
    class_filter: tuple[int, ...],
) -> tuple[Detection, ...]:
    """Turn one image's OD-API outputs into boxes in original pixels, best first.

    Boxes come normalized to the model input frame; Beam's own example stops there, but our areas
    need original pixels, so undo the letterbox scale and clip to the image.
    """
    in_h, in_w = task.model_input.shape[:2]
    boxes = np.asarray(outputs["detection_boxes"], dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(outputs["detection_scores"], dtype=np.float64).reshape(-1)
    count = len(scores)
    if "num_detections" in outputs:
        count = min(count, int(np.asarray(outputs["num_detections"]).reshape(-1)[0]))
    keep = scores[:count] >= score_threshold
    if class_filter and "detection_classes" in outputs:
        classes = np.asarray(outputs["detection_classes"]).reshape(-1)[:count].astype(np.int64)
        keep &= np.isin(classes, class_filter)
    width, height = task.image.width, task.image.height
    found = []
    for (ymin, xmin, ymax, xmax), score in zip(boxes[:count][keep], scores[:count][keep]):
        x0 = float(np.clip(xmin * in_w / task.scale_x, 0, width))
        x1 = float(np.clip(xmax * in_w / task.scale_x, 0, width))
        y0 = float(np.clip(ymin * in_h / task.scale_y, 0, height))
        y1 = float(np.clip(ymax * in_h / task.scale_y, 0, height))
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            found.append(Detection((x0, y0, x1, y1), float(score)))
    found.sort(key=lambda d: -d.score)
    return tuple(found)


class Detect(beam.PTransform):
    """DecodedImage -> DetectedImage, with a `failures` output for images the detector failed on.

    Args:
      handler: a SlotModelHandler for the detector slot.
      input_size: the detector's square input (None: any size, one image per batch).
      score_threshold: boxes scoring below are dropped.
      class_filter: detector classes that mean "bottle" (empty: keep all).
    """

    def __init__(self, handler, input_size: int | None, score_threshold: float,
                 class_filter: tuple[int, ...]):
        super().__init__()
        self._handler = handler
        self._input_size = input_size
        self._score_threshold = score_threshold
        self._class_filter = tuple(class_filter)

    def expand(self, images):
        input_size, threshold, classes = self._input_size, self._score_threshold, self._class_filter
        tasks = images | "MakeInputs" >> beam.Map(detector_input, input_size)
        results, errors = tasks | "RunDetector" >> RunInference(self._handler).with_exception_handling()
        detected = results | "ToOriginalPixels" >> beam.ParDo(_ToDetections(threshold, classes))
        failed = errors.failed_inferences | "Failures" >> beam.FlatMap(
            batch_failures, "detect", lambda task: task.image.uri)
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
