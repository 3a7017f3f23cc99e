"""Classify each bottle crop as the target product or not."""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import PredictionResult

from transforms.bottles import classifier_input
from transforms.failures import InferOrFail
from transforms.records import ClassifiedCrop

FAILURES = "failures"
OTHERS = "others"


class Classify(beam.PTransform):
    """Crop -> ClassifiedCrop for targets (main), ClassifiedCrop for the rest (`others`), failures.

    Args:
      handler: a SlotModelHandler for the classifier slot.
      input_size: the classifier's square input.
      resize: how crops become inputs ("letterbox" keeps the label's proportions).
      threshold: target_score at or above which a crop is the target (the model's stored one).
    """

    def __init__(self, handler, input_size: int, resize: str, threshold: float):
        super().__init__()
        self._handler = handler
        self._input = (input_size, resize)
        self._threshold = threshold

    def expand(self, crops):
        tasks = crops | "MakeInputs" >> beam.Map(classifier_input, *self._input)
        results, failed = tasks | "RunClassifier" >> InferOrFail(
            self._handler, "classify", lambda task: task.crop.key.uri)
        split = results | "Split" >> beam.ParDo(_Split(self._threshold)).with_outputs(OTHERS, main="targets")
        return {"targets": split.targets, OTHERS: split[OTHERS], FAILURES: failed}


class _Split(beam.DoFn):
    def __init__(self, threshold: float):
        self._threshold = threshold
        self._targets = beam.metrics.Metrics.counter("shelfscan", "targets")
        self._batches = beam.metrics.Metrics.counter("shelfscan", "crops_classified")

    def process(self, result: PredictionResult) -> Iterable:
        score = float(np.asarray(result.inference["scores"]).reshape(-1)[0])
        classified = ClassifiedCrop(result.example.crop, score)
        self._batches.inc()
        if score >= self._threshold:
            self._targets.inc()
            yield classified
        else:
            yield beam.pvalue.TaggedOutput(OTHERS, classified)
