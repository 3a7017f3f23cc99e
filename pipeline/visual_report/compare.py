"""What changed against an earlier scan of the same OUTPUT (`pipeline.report --compare ID`).

The earlier scan is held as sorted numpy arrays keyed by a 64-bit hash of each image URI (about 30 bytes
an image, so a million-image scan costs some 30 MB, not a dict of strings); the current scan then
streams past it once. Only summarized images count: an image that failed in one scan and not in the
other appears or disappears.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from pipeline.visual_report.collect import TopK, parquet_files, read_rows

SHOWN = 200  # changed images listed on the page; the rest are counted
_COLUMNS = ["image_uri", "bottles", "target_bottles", "target_area_ratio"]


def uri_key(uri: str) -> int:
    return int.from_bytes(hashlib.blake2b(uri.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


@dataclasses.dataclass(frozen=True)
class Totals:
    """A scan's headline counts, for the before/after table."""

    images: int
    bottles: int
    targets: int
    with_target: int
    area_ratio_sum: float  # over images with a target

    @property
    def mean_area_pct(self) -> float | None:
        return 100.0 * self.area_ratio_sum / self.with_target if self.with_target else None


@dataclasses.dataclass(frozen=True)
class Change:
    """One image whose counts differ; before or after is None when it is in one scan only."""

    image_uri: str
    before: tuple[int, int] | None  # (bottles, targets)
    after: tuple[int, int] | None

    @property
    def size(self) -> int:
        """How much changed: target differences weigh more than bottle differences."""
        b0, t0 = self.before or (0, 0)
        b1, t1 = self.after or (0, 0)
        return 1000 * abs(t1 - t0) + abs(b1 - b0)


class Comparison:
    """The earlier scan, compact, and the changes found as the current scan's rows are offered."""

    def __init__(self, output: str, scan_id: str):
        keys, bottles, targets, ratios = [], [], [], []
        for path in parquet_files(output, "summaries", scan_id):
            for row in read_rows(path, _COLUMNS):
                keys.append(uri_key(row["image_uri"]))
                bottles.append(row["bottles"])
                targets.append(row["target_bottles"])
                ratios.append(row["target_area_ratio"])
        if not keys and not parquet_files(output, "failures", scan_id):
            raise FileNotFoundError(f"no Parquet files for the scan to compare with, {scan_id!r}, under "
                                    f"{output}; check --compare (a scan_id=... folder name)")
        order = np.argsort(np.array(keys, np.uint64), kind="stable")
        self.output, self.scan_id = output, scan_id
        self._keys = np.array(keys, np.uint64)[order]
        self._bottles = np.array(bottles, np.int32)[order]
        self._targets = np.array(targets, np.int32)[order]
        self._seen = np.zeros(len(keys), bool)
        ratio = np.array(ratios, np.float64)
        has = np.array(targets, np.int32) > 0
        self.before = Totals(len(keys), int(np.sum(bottles)), int(np.sum(targets)), int(has.sum()),
                             float(ratio[has].sum()))
        self.changed = TopK(SHOWN)
        self.changed_count = 0
        self.appeared = 0
        self.disappeared = 0

    def _find(self, uri: str) -> int:
        key = np.uint64(uri_key(uri))
        i = int(np.searchsorted(self._keys, key))
        return i if i < len(self._keys) and self._keys[i] == key else -1

    def offer(self, row: dict) -> Change | None:
        """The row's change against the earlier scan (None when its counts are the same)."""
        i = self._find(row["image_uri"])
        after = (row["bottles"], row["target_bottles"])
        before = None
        if i >= 0:
            self._seen[i] = True
            before = (int(self._bottles[i]), int(self._targets[i]))
            if before == after:
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
            for row in read_rows(path, _COLUMNS):
                i = self._find(row["image_uri"])
                if i >= 0 and not self._seen[i]:
                    self._seen[i] = True  # a URI listed twice is gone once
                    change = Change(row["image_uri"], (row["bottles"], row["target_bottles"]), None)
                    self.changed_count += 1
                    self.changed.offer(change.size, change)
