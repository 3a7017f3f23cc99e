"""What changed against an earlier scan of the same OUTPUT (`pipeline.report --compare ID`).

The earlier scan is held as sorted numpy arrays keyed by a 64-bit hash of each image URI (about 30 bytes
an image and 4 per product, so a million-image scan costs some 40 MB, not a dict of strings); the
current scan then streams past it once. Only summarized images count: an image that failed in one scan
and not in the other appears or disappears. Products are matched by name: a product one scan's
classifier does not know has no bottles there.
"""
from __future__ import annotations

import dataclasses
import hashlib
from array import array

import numpy as np

from pipeline.visual_report.collect import TopK, parquet_files, read_rows
from pipeline.visual_report.products import ProductMix, row_products, shelf_area

SHOWN = 200  # changed images listed on the page; the rest are counted
_COLUMNS = ["image_uri", "bottles", "target_bottles", "target_area_px", "target_area_ratio", "products",
            "detections.area_px", "detections.expected_area_px"]


def uri_key(uri: str) -> int:
    return int.from_bytes(hashlib.blake2b(uri.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


@dataclasses.dataclass(frozen=True)
class Totals:
    """A scan's headline counts, for the before/after tables."""

    images: int
    bottles: int
    targets: int
    with_target: int
    area_ratio_sum: float  # over images with a target
    products: ProductMix = dataclasses.field(default_factory=ProductMix)

    @property
    def mean_area_pct(self) -> float | None:
        return 100.0 * self.area_ratio_sum / self.with_target if self.with_target else None


@dataclasses.dataclass(frozen=True)
class Counts:
    """One image's bottles, and its bottles of each product (those with none left out)."""

    bottles: int
    products: tuple[tuple[str, int], ...]

    @property
    def targets(self) -> int:
        return sum(n for _, n in self.products)

    def of(self, name: str) -> int:
        return dict(self.products).get(name, 0)

    @staticmethod
    def of_row(row: dict) -> "Counts":
        return Counts(row["bottles"], tuple((p.product, p.bottles) for p in row_products(row) if p.bottles))


@dataclasses.dataclass(frozen=True)
class Change:
    """One image whose counts differ; before or after is None when it is in one scan only."""

    image_uri: str
    before: Counts | None
    after: Counts | None

    @property
    def size(self) -> int:
        """How much changed: product differences weigh more than bottle differences."""
        before, after = self.before or Counts(0, ()), self.after or Counts(0, ())
        names = {n for n, _ in before.products + after.products}
        return 1000 * sum(abs(after.of(n) - before.of(n)) for n in names) + abs(after.bottles - before.bottles)


class Comparison:
    """The earlier scan, compact, and the changes found as the current scan's rows are offered."""

    def __init__(self, output: str, scan_id: str):
        keys, bottles, ratios = [], [], []
        cells = (array("l"), array("l"), array("l"))  # (image, product, bottles) where bottles > 0
        index: dict[str, int] = {}  # product -> column, in the earlier classifier's order
        mix = ProductMix()
        for path in parquet_files(output, "summaries", scan_id):
            for row in read_rows(path, _COLUMNS):
                products = row_products(row)
                mix.add_photo(products, row["bottles"], shelf_area(row["detections"] or []))
                for p in products:
                    column = index.setdefault(p.product, len(index))
                    if p.bottles:
                        for cell, value in zip(cells, (len(keys), column, p.bottles)):
                            cell.append(value)
                keys.append(uri_key(row["image_uri"]))
                bottles.append(row["bottles"])
                ratios.append(row["target_area_ratio"])
        if not keys and not parquet_files(output, "failures", scan_id):
            raise FileNotFoundError(f"no Parquet files for the scan to compare with, {scan_id!r}, under "
                                    f"{output}; check --compare (a scan_id=... folder name)")
        self.names = list(index)
        counts = np.zeros((len(keys), len(index)), np.int32)
        counts[np.asarray(cells[0], np.intp), np.asarray(cells[1], np.intp)] = np.asarray(cells[2], np.int32)
        has = counts.sum(axis=1) > 0
        self.before = Totals(len(keys), int(np.sum(bottles)), int(counts.sum()), int(has.sum()),
                             float(np.asarray(ratios, np.float64)[has].sum()), mix)
        order = np.argsort(np.array(keys, np.uint64), kind="stable")
        self.output, self.scan_id = output, scan_id
        self._keys = np.array(keys, np.uint64)[order]
        self._bottles = np.array(bottles, np.int32)[order]
        self._products = counts[order]
        self._seen = np.zeros(len(keys), bool)
        self.changed = TopK(SHOWN)
        self.changed_count = 0
        self.appeared = 0
        self.disappeared = 0

    def _find(self, uri: str) -> int:
        key = np.uint64(uri_key(uri))
        i = int(np.searchsorted(self._keys, key))
        return i if i < len(self._keys) and self._keys[i] == key else -1

    def _counts(self, i: int) -> Counts:
        return Counts(int(self._bottles[i]), tuple((n, int(k)) for n, k in zip(self.names, self._products[i]) if k))

    def offer(self, row: dict) -> Change | None:
        """The row's change against the earlier scan (None when its counts are the same)."""
        i = self._find(row["image_uri"])
        after = Counts.of_row(row)
        before = None
        if i >= 0:
            self._seen[i] = True
            before = self._counts(i)
            if before.bottles == after.bottles and dict(before.products) == dict(after.products):
                return None
        else:
            self.appeared += 1
        change = Change(row["image_uri"], before, after)
        self.changed_count += 1
        self.changed.offer(change.size, change)
        return change

    def finish(self) -> None:
        """Second look at the earlier scan: the images the current one no longer has."""
        self.disappeared = int((~self._seen).sum())
        if not self.disappeared:
            return
        for path in parquet_files(self.output, "summaries", self.scan_id):
            for row in read_rows(path, ["image_uri"]):
                i = self._find(row["image_uri"])
                if i >= 0 and not self._seen[i]:
                    self._seen[i] = True  # a URI listed twice is gone once
                    change = Change(row["image_uri"], self._counts(i), None)
                    self.changed_count += 1
                    self.changed.offer(change.size, change)
