"""Detect bottles on whole images, and on the slices of large ones worth a look, in original pixels.

The Beam stage only; the detector's inputs, the views it gets and its outputs' mapping back are
transforms/detection.py."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.detection import ViewChooser, to_detections
from transforms.failures import InferOrFail
from transforms.records import DetectedImage, DetectTask
from transforms.slicing import WHOLE_IMAGES_ONLY, SlicePlan

FAILURES = "failures"


class Detect(beam.PTransform):
    """DecodedImage -> DetectedImage, with a `failures` output for images the detector failed on.

    Args:
      handler: a SlotModelHandler for the detector slot.
      input_size: the detector's square input (None: any size, one input per model call).
      score_threshold: boxes scoring below are dropped.
      class_filter: detector classes that mean "bottle" (empty: keep all).
      resize: how an image or slice becomes the detector's input, "letterbox" or "stretch".
      slices: which slices the detector also looks at (the default: none, whole images only).
    """

    def __init__(self, handler, input_size: int | None, score_threshold: float,
                 class_filter: tuple[int, ...], resize: str = "letterbox", slices: SlicePlan = WHOLE_IMAGES_ONLY):
        super().__init__()
        self._handler = handler
        self._chooser = ViewChooser(input_size, resize, score_threshold, tuple(class_filter), slices)

    def expand(self, images):
        chooser = self._chooser
        tasks = images | "WholeImage" >> beam.Map(chooser.whole)
        results, failed = tasks | "RunDetector" >> InferOrFail(_TwoPasses(self._handler, chooser), "detect",
                                                               lambda task: task.image.uri)
        detected = results | "ToOriginalPixels" >> beam.ParDo(_ToDetections(chooser.threshold, chooser.class_filter))
        return {"detected": detected, FAILURES: failed}


class _TwoPasses(ModelHandler):
    """The detector's handler running both passes of a ViewChooser on each batch of whole-image tasks, so
    the slices chosen from a whole view reach the model the same worker loaded (once) for it. Everything
    else is the wrapped handler's, as Beam's own handler wrappers do."""

    def __init__(self, base: ModelHandler, chooser: ViewChooser):
        self._base = base
        self._chooser = chooser
        self._env_vars = getattr(base, "_env_vars", {})

    def load_model(self):
        return self._base.load_model()

    def run_inference(self, batch: Sequence[DetectTask], model, inference_args=None) -> Iterable[PredictionResult]:
        def run(tasks):
            return [result.inference for result in self._base.run_inference(tasks, model, inference_args)]

        return [PredictionResult(task, outputs) for task, outputs in self._chooser.run(batch, run)]

    def get_num_bytes(self, batch: Sequence[DetectTask]) -> int:
        return self._base.get_num_bytes(batch)

    def get_metrics_namespace(self) -> str:
        return self._base.get_metrics_namespace()

    def get_resource_hints(self):
        return self._base.get_resource_hints()

    def batch_elements_kwargs(self):
        return self._base.batch_elements_kwargs()

    def validate_inference_args(self, inference_args):
        return self._base.validate_inference_args(inference_args)

    def update_model_path(self, model_path=None):
        return self._base.update_model_path(model_path=model_path)

    def should_skip_batching(self) -> bool:
        return self._base.should_skip_batching()

    def share_model_across_processes(self) -> bool:
        return self._base.share_model_across_processes()

    def model_copies(self) -> int:
        return self._base.model_copies()


class _ToDetections(beam.DoFn):
    def __init__(self, score_threshold: float, class_filter: tuple[int, ...]):
        self._threshold = score_threshold
        self._classes = class_filter
        self._bottles = beam.metrics.Metrics.counter("shelfscan", "bottles_detected")
        self._hist = beam.metrics.Metrics.distribution("shelfscan", "bottles_per_image")
        self._views = beam.metrics.Metrics.distribution("shelfscan", "detector_views_per_image")

    def process(self, result: PredictionResult) -> Iterable[Any]:
        task: DetectTask = result.example
        detections = to_detections(task, result.inference, self._threshold, self._classes)
        self._bottles.inc(len(detections))
        self._hist.update(len(detections))
        self._views.update(len(task.views))
        yield DetectedImage(task.image, detections)
