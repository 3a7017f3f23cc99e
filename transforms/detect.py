"""Detect bottles on whole images, and on overlapping slices of large ones, in original pixels.

The Beam stage only; the detector's inputs and its outputs' mapping back are transforms/detection.py."""
from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult

from transforms.detection import detector_input, to_detections
from transforms.failures import InferOrFail
from transforms.records import DetectedImage, DetectTask

FAILURES = "failures"


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
