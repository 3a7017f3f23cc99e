"""Regroup bottles per image into one summary row, or one failure row if any stage failed."""
from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam

from transforms.records import ScanContext
from transforms.rows import failure_row, merge_failures, summary_row, utc_now

FAILURES = "failures"


class _Summarize(beam.DoFn):
    def __init__(self, ctx: ScanContext):
        self._ctx = ctx

    def process(self, grouped: tuple[str, dict[str, list]]) -> Iterable:
        uri, parts = grouped
        infos, bottles, failures = parts["image"], parts["bottle"], parts["failure"]
        if failures:
            failure = merge_failures(failures)
            yield beam.pvalue.TaggedOutput(FAILURES, failure_row(failure, self._ctx.scan_id, utc_now()))
            return
        (info,) = infos
        if len(bottles) != info.bottles:
            raise AssertionError(f"{uri}: {info.bottles} detections but {len(bottles)} measured")
        yield summary_row(info, bottles, self._ctx, utc_now())


class Summarize(beam.PTransform):
    """Join images, bottles and later-stage failures by URI into summary rows and failure rows."""

    def __init__(self, ctx: ScanContext):
        super().__init__()
        self._ctx = ctx

    def expand(self, parts: dict[str, Any]):
        grouped = parts | "GroupByImage" >> beam.CoGroupByKey()
        out = grouped | "Rows" >> beam.ParDo(_Summarize(self._ctx)).with_outputs(FAILURES, main="summaries")
        return {"summaries": out.summaries, FAILURES: out[FAILURES]}
