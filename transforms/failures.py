"""Turn exceptions into Failure records, the one dead-letter type every stage emits."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import apache_beam as beam

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
                      "re-run the scan on this image alone, or check the model with models.evaluate")


_SLOT = {"detect": "detector", "classify": "classifier", "segment": "segmenter"}
