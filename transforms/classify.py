"""Classify each bottle crop as one of the classifier's products, or `other`."""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult

from transforms.bottles import classified_crop, classifier_input
from transforms.failures import InferOrFail
from transforms.products import ProductRule

FAILURES = "failures"
OTHERS = "others"
PRODUCT_NAMESPACE = "shelfscan.products"  # one counter per product, its bottles: the closing table names them


class Classify(beam.PTransform):
    """Crop -> ClassifiedCrop of a product (`targets`, the main output), of `other` (`others`), failures.

    Args:
      handler: a SlotModelHandler for the classifier slot.
      input_size: the classifier's square input.
      resize: how crops become inputs ("letterbox" keeps the label's proportions).
      rule: the classifier's products and thresholds (its stored ones).
    """

    def __init__(self, handler, input_size: int, resize: str, rule: ProductRule):
        super().__init__()
        self._handler = handler
        self._input = (input_size, resize)
        self._rule = rule

    def expand(self, crops):
        tasks = crops | "MakeInputs" >> beam.Map(classifier_input, *self._input)
        results, failed = tasks | "RunClassifier" >> InferOrFail(
            self._handler, "classify", lambda task: task.crop.key.uri)
        split = results | "Split" >> beam.ParDo(_Split(self._rule)).with_outputs(OTHERS, main="targets")
        return {"targets": split.targets, OTHERS: split[OTHERS], FAILURES: failed}


class _Split(beam.DoFn):
    def __init__(self, rule: ProductRule):
        self._rule = rule
        self._targets = beam.metrics.Metrics.counter("shelfscan", "targets")
        self._batches = beam.metrics.Metrics.counter("shelfscan", "crops_classified")

    def process(self, result: PredictionResult) -> Iterable:
        classified = classified_crop(result.example, result.inference, self._rule)
        self._batches.inc()
        if classified.is_product:
            self._targets.inc()
            beam.metrics.Metrics.counter(PRODUCT_NAMESPACE, classified.product).inc()
            yield classified
        else:
            yield beam.pvalue.TaggedOutput(OTHERS, classified)
