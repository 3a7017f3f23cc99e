"""Read one scan's Parquet rows in a streaming pass and keep only what the report shows.

Memory and report size stay bounded for any scan size: histograms have fixed bins, failure examples
and gallery candidates are capped (top-k heaps and a seeded reservoir sample).
"""
from __future__ import annotations

import dataclasses
import heapq
import random
from collections import Counter
from typing import Iterator

from transforms.commit_log import committed_files, recover

SCORE_BINS = 20  # [0, 1] in 0.05 steps
RATIO_STEP, RATIO_BINS = 0.025, 20  # target area ratio 0 .. 0.5, then one overflow bin
COUNT_CAP = 30  # bottles or targets per image: 0 .. 29, then "30+"
FAILURE_EXAMPLES = 5
GALLERY = 12  # images per gallery section


def _bin(value: float, step: float, bins: int) -> int:
    return min(max(int(value / step), 0), bins)


@dataclasses.dataclass
class TopK:
    """The k items with the largest keys seen so far (ties: first seen wins)."""

    k: int
    heap: list = dataclasses.field(default_factory=list)
    seen: int = 0

    def offer(self, key: float, item) -> None:
        self.seen += 1
        entry = (key, -self.seen, item)
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, entry)
        elif entry[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, entry)

    def items(self) -> list:
        return [item for _, _, item in sorted(self.heap, key=lambda e: e[:2], reverse=True)]


@dataclasses.dataclass
class Reservoir:
    """A uniform random sample of k items from a stream of unknown length (seeded)."""

    k: int
    seed: int = 0
    items: list = dataclasses.field(default_factory=list)
    seen: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def offer(self, item) -> None:
        self.seen += 1
        if len(self.items) < self.k:
            self.items.append(item)
        else:
            j = self._rng.randrange(self.seen)
            if j < self.k:
                self.items[j] = item


@dataclasses.dataclass
class ScanStats:
    """Everything the report shows, gathered in one pass over summaries and one over failures."""

    scan_id: str
    images: int = 0
    bottles: int = 0
    targets: int = 0
    images_with_targets: int = 0
    mask_areas: int = 0
    expected_areas: int = 0
    area_ratio_sum: float = 0.0
    bottles_per_image: Counter = dataclasses.field(default_factory=Counter)
    targets_per_image: Counter = dataclasses.field(default_factory=Counter)
    area_ratio_hist: Counter = dataclasses.field(default_factory=Counter)
    detection_score_hist: Counter = dataclasses.field(default_factory=Counter)
    target_score_hist: Counter = dataclasses.field(default_factory=Counter)
    min_target_score: float = 1.0  # the classifier's threshold is at or below this
    versions: set = dataclasses.field(default_factory=set)
    failures: int = 0
    failure_types: Counter = dataclasses.field(default_factory=Counter)  # (stage, error_type) -> n
    failure_examples: dict = dataclasses.field(default_factory=dict)  # (stage, error_type) -> [(uri, msg)]
    largest: TopK = dataclasses.field(default_factory=lambda: TopK(GALLERY))
    uncertain: TopK = dataclasses.field(default_factory=lambda: TopK(GALLERY))
    fallbacks: TopK = dataclasses.field(default_factory=lambda: TopK(GALLERY))
    sample: Reservoir = dataclasses.field(default_factory=lambda: Reservoir(GALLERY))

    def add_summary(self, row: dict) -> None:
        self.images += 1
        dets = row["detections"] or []
        self.bottles += row["bottles"]
        self.targets += row["target_bottles"]
        self.images_with_targets += row["target_bottles"] > 0
        self.bottles_per_image[min(row["bottles"], COUNT_CAP)] += 1
        self.targets_per_image[min(row["target_bottles"], COUNT_CAP)] += 1
        if row["target_bottles"]:
            self.area_ratio_sum += row["target_area_ratio"]
            self.area_ratio_hist[_bin(row["target_area_ratio"], RATIO_STEP, RATIO_BINS)] += 1
        self.versions.add((row["detector_version"], row["classifier_version"], row["segmenter_version"]))
        fallback = 0
        for d in dets:
            self.detection_score_hist[_bin(d["detection_score"], 1 / SCORE_BINS, SCORE_BINS - 1)] += 1
            self.target_score_hist[_bin(d["target_score"], 1 / SCORE_BINS, SCORE_BINS - 1)] += 1
            if d["is_target"]:
                self.min_target_score = min(self.min_target_score, d["target_score"])
            fallback += d.get("area_source") == "expected"
            self.mask_areas += d.get("area_source") == "mask"
        self.expected_areas += fallback
        if row["target_bottles"]:
            self.largest.offer(row["target_area_ratio"], row)
        if fallback:
            self.fallbacks.offer(fallback, row)
        self.sample.offer(row)

    def add_failure(self, row: dict) -> None:
        self.failures += 1
        kind = (row["stage"], row["error_type"])
        self.failure_types[kind] += 1
        examples = self.failure_examples.setdefault(kind, [])
        if len(examples) < FAILURE_EXAMPLES:
            examples.append((row["image_uri"], row["message"]))

    def offer_uncertain(self, row: dict, threshold: float) -> None:
        """Second pass: images holding the detection whose target score is closest to the threshold."""
        margins = [abs(d["target_score"] - threshold) for d in row["detections"] or []]
        if margins:
            self.uncertain.offer(-min(margins), row)

    @property
    def threshold(self) -> float:
        """The classifier threshold as far as the rows tell it: the lowest score called target."""
        return self.min_target_score if self.targets else 0.5


def parquet_files(output: str, table: str, scan_id: str) -> list[str]:
    """The scan's committed files of `table` (one run's, whatever a commit is doing meanwhile)."""
    return sorted(committed_files(output, table, scan_id))


def read_rows(path: str, columns: list[str] | None = None) -> Iterator[dict]:
    """Rows of one Parquet file (local or any Beam filesystem), a batch at a time."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type="uncompressed") as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=2048, columns=columns):
            yield from batch.to_pylist()


def collect(output: str, scan_id: str) -> ScanStats:
    """Read OUTPUT's summaries and failures of SCAN_ID; raises FileNotFoundError when neither exists."""
    recover(output, scan_id)  # a commit killed midway: bring the folders in line for other readers too
    summaries, failures = parquet_files(output, "summaries", scan_id), parquet_files(output, "failures", scan_id)
    if not summaries and not failures:
        raise FileNotFoundError(f"no Parquet files for scan {scan_id!r} under {output}/summaries or "
                                f"{output}/failures; check --scan_id (the scan_id=... folder name)")
    stats = ScanStats(scan_id)
    for path in summaries:
        for row in read_rows(path):
            stats.add_summary(row)
    for path in failures:
        for row in read_rows(path):
            stats.add_failure(row)
    threshold = stats.threshold
    for path in summaries:  # the threshold is known only after the first pass
        for row in read_rows(path):
            stats.offer_uncertain(row, threshold)
    return stats
