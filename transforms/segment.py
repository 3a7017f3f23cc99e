"""Segment target crops and settle each target's area: mask, or box-derived when implausible."""
from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import PredictionResult

from transforms.areas import choose_area, expected_area_px, mask_area_px, mask_outline
from transforms.classify import ClassifiedCrop
from transforms.failures import InferOrFail
from transforms.letterbox import fit
from transforms.records import BottleResult

FAILURES = "failures"


@dataclasses.dataclass(frozen=True, eq=False)
class SegmentTask:
    classified: ClassifiedCrop
    model_input: np.ndarray
    content_hw: tuple[int, int]  # the part of model_input that holds the crop


def segmenter_input(classified: ClassifiedCrop, input_size: int, resize: str) -> SegmentTask:
    model_input, content_hw = fit(classified.crop.pixels, input_size, resize)
    return SegmentTask(classified, model_input, content_hw)


def measure_target(task: SegmentTask, mask: np.ndarray, tolerance: float,
                   aspect_bins: Sequence[float] = (), fills: Sequence[float] = ()) -> BottleResult:
    """The target's BottleResult from its mask probabilities (input frame) and its box."""
    crop = task.classified.crop
    mask_area = mask_area_px(mask, task.content_hw, crop.original_hw)
    expected = expected_area_px(crop.box, aspect_bins, fills)
    area, source = choose_area(mask_area, expected, tolerance)
    outline = mask_outline(mask, task.content_hw, crop.original_hw, crop.box[:2])
    return BottleResult(
        index=crop.key.index, box=crop.box, detection_score=crop.detection_score,
        target_score=task.classified.target_score, is_target=True, expected_area_px=expected,
        mask_area_px=mask_area, area_px=area, area_source=source, mask_polygon=outline)


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
