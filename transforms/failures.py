"""Turn exceptions into Failure records, the one dead-letter type every stage emits."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from transforms.records import Failure, describe


def batch_failures(
    failed: tuple[Any, BaseException], stage: str, uri_of: Callable[[Any], str]
) -> Iterable[Failure]:
    """RunInference's dead letter is (batch, exception): one Failure per image in the batch."""
    batch, error = failed
    counter = beam.metrics.Metrics.counter("shelfscan", f"{stage}_failed")
    seen = set()
    for element in batch:
        uri = uri_of(element)
        if uri in seen:
            continue
        seen.add(uri)
        counter.inc()
        yield Failure(uri, stage, "model_error",
                      f"the {_SLOT[stage]} failed on a batch holding this image ({describe(error)}); "
                      "re-run the scan on this image alone, or check the model with models.evaluation")


class InferOrFail(beam.PTransform):
    """Model inputs -> (PredictionResults, Failures): RunInference whose failed batches become one Failure
    per image they held, so a model error fails those images, never the job.

    Args:
      handler: the slot's ModelHandler.
      stage: "detect", "classify" or "segment" (names the failure and the slot in its message).
      uri_of: an input -> the image it belongs to.
    """

    def __init__(self, handler, stage: str, uri_of: Callable[[Any], str]):
        super().__init__()
        self._handler, self._stage, self._uri_of = handler, stage, uri_of

    def expand(self, inputs):
        results, errors = inputs | "RunInference" >> RunInference(self._handler).with_exception_handling()
        failed = errors.failed_inferences | "Failures" >> beam.FlatMap(batch_failures, self._stage, self._uri_of)
        return results, failed


_SLOT = {"detect": "detector", "classify": "classifier", "segment": "segmenter"}
