"""Count inputs and finished rows: Beam counters for the closing table, and a progress board for local runs.

The board is a local directory where every counting DoFn instance keeps one small file with its
count, replaced atomically. The launcher sums the files for its progress line, so the line is right
whether the rows are counted in one process or in several (--direct_running_mode=multi_processing).
Beam counters stay the job-wide truth; they are read once the job is done.
"""
from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from typing import Any, Sequence

import apache_beam as beam

KINDS = ("inputs", "detected", "summaries", "failures", "listed")  # listed: the inputs' total, once known
FAILURE_NAMESPACE = "shelfscan.failures"  # one counter per "stage/error_type"
_COUNTER = {"inputs": "inputs_matched", "detected": "images_past_detection", "summaries": "summaries_written",
            "failures": "failures_written"}


def read_board(board: str) -> Counter:
    """kind -> total count over every file on the board (files being replaced are skipped)."""
    totals: Counter = Counter()
    for name in os.listdir(board):
        kind = name.split("-", 1)[0]
        if kind not in KINDS or name.endswith(".tmp"):
            continue
        try:
            with open(os.path.join(board, name)) as f:
                totals[kind] += int(f.read() or 0)
        except (FileNotFoundError, ValueError):
            continue
    return totals


def write_count(board: str, name: str, count: int) -> None:
    path = os.path.join(board, name)
    with open(path + ".tmp", "w") as f:
        f.write(str(count))
    os.replace(path + ".tmp", path)


class _Count(beam.DoFn):
    """Counts elements of one kind; failures also by type."""

    WRITE_EVERY_S = 0.5

    def __init__(self, kind: str, board: str | None):
        self._kind, self._board = kind, board
        self._counter = beam.metrics.Metrics.counter("shelfscan", _COUNTER[kind])

    def setup(self) -> None:
        self._name = f"{self._kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._count, self._written_at = 0, 0.0

    def process(self, element: Any):
        self._count += 1
        self._counter.inc()
        if self._kind == "failures":
            beam.metrics.Metrics.counter(FAILURE_NAMESPACE, f"{element['stage']}/{element['error_type']}").inc()
        if self._board and time.monotonic() - self._written_at >= self.WRITE_EVERY_S:
            self._flush()

    def finish_bundle(self) -> None:
        if self._board:
            self._flush()

    def _flush(self) -> None:
        write_count(self._board, self._name, self._count)
        self._written_at = time.monotonic()


class _Total(beam.DoFn):
    """Writes the one total it receives (every input, once all are listed) to the board."""

    def __init__(self, board: str | None):
        self._board = board

    def process(self, total: int):
        if self._board:
            write_count(self._board, f"listed-{uuid.uuid4().hex[:8]}", total)


class CountRows(beam.PTransform):
    """Counts rows into `shelfscan` counters `inputs_matched`, `images_past_detection`,
    `summaries_written`, `failures_written` and `shelfscan.failures:STAGE/TYPE`; with a board
    directory, also there for a progress line. Apply to the pipeline: `p | CountRows(board, ...)`.

    Each kind takes the PCollections that feed it, counted one by one rather than flattened first:
    a runner may hold a Flatten's output until all its inputs are done, and the line would stand still.

    listed: a PCollection of one int, every input the scan will see, made once listing is complete:
    the progress line's total, fixed before it shows an ETA.
    inputs: every input entering the scan (an image read, or a read failure such as a pattern that
    matched nothing); each ends as exactly one summary or failure row.
    detected: images through detection, or failed before it. Summary rows only appear once the scan
    groups each image with its bottles, at the very end, so this is what progress is measured by.
    """

    def __init__(self, board: str | None, inputs: Sequence, detected: Sequence, summaries: Sequence,
                 failures: Sequence, listed=None):
        super().__init__()
        self._board = board
        self._pcolls = {"inputs": inputs, "detected": detected, "summaries": summaries, "failures": failures}
        self._listed = listed

    def expand(self, pbegin):
        for kind, pcolls in self._pcolls.items():
            for i, pcoll in enumerate(pcolls):
                pcoll | f"{kind.capitalize()}{i}" >> beam.ParDo(_Count(kind, self._board))
        if self._listed is not None:
            self._listed | "Listed" >> beam.ParDo(_Total(self._board))
        return pbegin
