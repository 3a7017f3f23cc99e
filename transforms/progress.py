"""Count finished rows and, locally, show a progress line while the scan runs."""
from __future__ import annotations

import sys
import time
from typing import Any

import apache_beam as beam


class _Progress(beam.DoFn):
    """Per-worker progress on stderr; the counters are the job-wide truth."""

    INTERVAL_S = 2.0

    def __init__(self, counter: str, show: bool):
        self._name, self._show = counter, show
        self._counter = beam.metrics.Metrics.counter("shelfscan", counter)

    def setup(self) -> None:
        self._start = time.monotonic()
        self._last = 0.0
        self._count = 0

    def process(self, row: dict[str, Any]):
        self._count += 1
        self._counter.inc()
        now = time.monotonic()
        if self._show and now - self._last >= self.INTERVAL_S:
            self._last = now
            rate = self._count / max(now - self._start, 1e-9)
            print(f"\r[shelfscan] {self._name}: {self._count} ({rate:.1f}/s)", end="", file=sys.stderr,
                  flush=True)

    def teardown(self) -> None:
        if self._show and self._count:
            print(file=sys.stderr, flush=True)


class CountRows(beam.PTransform):
    """(summaries, failures) -> counters `summaries_written`, `failures_written`; progress lines if asked."""

    def __init__(self, show_progress: bool = True):
        super().__init__()
        self._show = show_progress

    def expand(self, pcolls):
        summaries, failures = pcolls
        summaries | "Summaries" >> beam.ParDo(_Progress("summaries_written", self._show))
        failures | "Failures" >> beam.ParDo(_Progress("failures_written", self._show))
        return None
