"""Segment target crops and settle each target's area: mask, or box-derived when implausible."""
from __future__ import annotations

from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult

from transforms.bottles import measure_target, segmenter_input
from transforms.failures import InferOrFail
from transforms.records import SegmentTask

FAILURES = "failures"


class Segment(beam.PTransform):
    """ClassifiedCrop (targets) -> (uri, BottleResult), with a `failures` output.

    Args:
      handler: a SlotModelHandler for the segmenter slot.
      input_size: the segmenter's square input.
      resize: how crops become inputs, "stretch" or "letterbox" (the model's metadata says).
      tolerance: mask/expected ratio beyond which (either way) the expected area is used.
      aspect_bins, fills: the expected-fill table from the segmenter's metadata.
    """

    def __init__(self, handler, input_size: int, resize: str, tolerance: float,
                 aspect_bins: Sequence[float] = (), fills: Sequence[float] = ()):
        super().__init__()
        self._handler = handler
        self._input = (input_size, resize)
        self._args = (tolerance, tuple(aspect_bins), tuple(fills))

    def expand(self, targets):
        tasks = targets | "MakeInputs" >> beam.Map(segmenter_input, *self._input)
        results, failed = tasks | "RunSegmenter" >> InferOrFail(
            self._handler, "segment", lambda task: task.classified.crop.key.uri)
        measured = results | "Measure" >> beam.ParDo(_Measure(*self._args))
        return {"bottles": measured, FAILURES: failed}


class _Measure(beam.DoFn):
    def __init__(self, tolerance: float, aspect_bins: tuple, fills: tuple):
        self._args = (tolerance, aspect_bins, fills)
        self._fallbacks = beam.metrics.Metrics.counter("shelfscan", "area_expected_fallbacks")

    def process(self, result: PredictionResult) -> Iterable:
        task: SegmentTask = result.example
        bottle = measure_target(task, result.inference["masks"], *self._args)
        if bottle.area_source == "expected":
            self._fallbacks.inc()
        yield task.classified.crop.key.uri, bottle
