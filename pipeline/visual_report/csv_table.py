"""The full per-image table, OUTPUT/reports/SCAN_ID.csv beside the report: one row per input, every one.

The page shows a capped table; this file is what a spreadsheet or a script reads. It is written while
the report's second pass streams the rows, so it costs no extra read and no memory per image. A scan of
several products adds four columns per product after the fixed ones, named PRODUCT:bottles,
PRODUCT:area_pct (of the photo), PRODUCT:shelf_share_count_pct and PRODUCT:shelf_share_area_pct (of the
photo's bottles and of their area); `targets` and `target_area_pct` are then their sums.
"""
from __future__ import annotations

import csv
import io

from pipeline.visual_report.image_row import image_row, photo_link
from pipeline.visual_report.products import row_products, several

COLUMNS = ("image_uri", "folder", "captured_at", "bottles", "targets", "target_area_pct",
           "mean_target_score", "max_target_score", "area_sources", "link", "problem")
PER_PRODUCT = ("bottles", "area_pct", "shelf_share_count_pct", "shelf_share_area_pct")


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


class CsvTable:
    """A RowSink writing CSV text to a binary file object (any Beam filesystem's)."""

    def __init__(self, f):
        self._text = io.TextIOWrapper(f, encoding="utf-8", newline="", write_through=True)
        self._out = csv.writer(self._text)
        self._products: list[str] = []
        self.rows = 0

    def begin(self, products: list[str]) -> None:
        """The header, once the scan's products are known (columns of their own when there are several)."""
        self._products = products if several(products) else []
        self._out.writerow(COLUMNS + tuple(f"{p}:{c}" for p in self._products for c in PER_PRODUCT))

    def _per_product(self, row: dict) -> list[str]:
        mine = {p.product: p for p in row_products(row)}
        out = []
        for name in self._products:
            p = mine.get(name)
            out += ([str(p.bottles), f"{100 * p.area_ratio:.3f}", f"{100 * p.shelf_share_count:.3f}",
                     f"{100 * p.shelf_share_area:.3f}"] if p else ["0", "0.000", "0.000", "0.000"])
        return out

    def summary(self, row: dict, root: list[str]) -> None:
        r = image_row(row, root)
        self._out.writerow((r.image_uri, r.folder, r.captured_at, r.bottles, r.targets, f"{r.area_pct:.3f}",
                            _score(r.mean_score), _score(r.max_score), r.area_sources, r.link, "",
                            *self._per_product(row)))
        self.rows += 1

    def failure(self, row: dict) -> None:
        problem = f"failed at {row['stage']} ({row['error_type']}): {row['message']}"
        self._out.writerow((row["image_uri"], "", "", "", "", "", "", "", "", photo_link(row["image_uri"]),
                            problem, *[""] * (len(self._products) * len(PER_PRODUCT))))
        self.rows += 1

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller closes the file itself
