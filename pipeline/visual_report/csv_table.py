"""The full per-image table, OUTPUT/reports/SCAN_ID.csv beside the report: one row per input, every one.

The page shows a capped table; this file is what a spreadsheet or a script reads. It is written while
the report's second pass streams the rows, so it costs no extra read and no memory per image.
"""
from __future__ import annotations

import csv
import io

from pipeline.visual_report.image_row import image_row, photo_link

COLUMNS = ("image_uri", "folder", "captured_at", "bottles", "targets", "target_area_pct",
           "mean_target_score", "max_target_score", "area_sources", "link", "problem")


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


class CsvTable:
    """A RowSink writing CSV text to a binary file object (any Beam filesystem's)."""

    def __init__(self, f):
        self._text = io.TextIOWrapper(f, encoding="utf-8", newline="", write_through=True)
        self._out = csv.writer(self._text)
        self._out.writerow(COLUMNS)
        self.rows = 0

    def summary(self, row: dict, root: list[str]) -> None:
        r = image_row(row, root)
        self._out.writerow((r.image_uri, r.folder, r.captured_at, r.bottles, r.targets, f"{r.area_pct:.3f}",
                            _score(r.mean_score), _score(r.max_score), r.area_sources, r.link, ""))
        self.rows += 1

    def failure(self, row: dict) -> None:
        problem = f"failed at {row['stage']} ({row['error_type']}): {row['message']}"
        self._out.writerow((row["image_uri"], "", "", "", "", "", "", "", "", photo_link(row["image_uri"]),
                            problem))
        self.rows += 1

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller closes the file itself
