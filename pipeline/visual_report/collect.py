"""Read one scan's Parquet rows in two streaming passes and keep only what the report shows.

Memory and report size stay bounded for any scan size: histograms have fixed bins, failure examples,
table rows and photo candidates are capped (top-k heaps and a seeded reservoir sample). The second pass
needs what the first found (the classifier's threshold, the folders' common root) and hands every row
to a RowSink: the CSV beside the report, which has them all.
"""
from __future__ import annotations

import dataclasses
import heapq
import random
from collections import Counter
from typing import TYPE_CHECKING, Iterator, Protocol

from pipeline.visual_report.folders import Folders
from pipeline.visual_report.products import ProductMix
from transforms.commit_log import committed_files, recover

if TYPE_CHECKING:
    from pipeline.visual_report.compare import Comparison

SCORE_BINS = 20  # [0, 1] in 0.05 steps
RATIO_STEP, RATIO_BINS = 0.025, 20  # target area ratio 0 .. 0.5, then one overflow bin
COUNT_CAP = 30  # bottles or targets per image: 0 .. 29, then "30+"
FAILURE_EXAMPLES = 5
GALLERY = 12  # photo candidates of each kind (most targets, uncertain, ...)
TABLE_ROWS = 2000  # rows of the page's table; the CSV has every image


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
    folders: Folders = dataclasses.field(default_factory=Folders)
    products: ProductMix = dataclasses.field(default_factory=ProductMix)
    table: TopK = dataclasses.field(default_factory=lambda: TopK(TABLE_ROWS))  # of (row, Change | None)
    comparison: "Comparison | None" = None

    def add_summary(self, row: dict) -> None:
        self.images += 1
        self.folders.add(row)
        self.products.add(row)
        change = self.comparison.offer(row) if self.comparison else None
        # images with targets (or changes) first, up to the cap; then the others, in the order they come
        key = (bool(row["target_bottles"] or change), change.size if change else 0, row["target_bottles"],
               row["target_area_ratio"])
        self.table.offer(key, (row, change))
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


class RowSink(Protocol):
    """Takes every row in the second pass (the CSV writer), once it knows the scan's products."""

    def begin(self, products: list[str]) -> None: ...

    def summary(self, row: dict, root: list[str]) -> None: ...

    def failure(self, row: dict) -> None: ...


def parquet_files(output: str, table: str, scan_id: str) -> list[str]:
    """The scan's committed files of `table` (one run's, whatever a commit is doing meanwhile): every
    listing of a scan's files goes through here."""
    return sorted(committed_files(output, table, scan_id))


def _leaves(schema, columns: list[str]) -> list[str]:
    """Parquet column paths for the wanted columns; 'detections.area_px' is that field of every detection
    (read alone, the outlines beside it stay on disk). A column the file lacks (older scans) is left out."""
    paths = [schema.column(i).path for i in range(len(schema))]
    out = []
    for name in columns:
        top, _, leaf = name.partition(".")
        out += [p for p in paths if p.split(".")[0] == top and (not leaf or p.split(".")[-1] == leaf)]
    return list(dict.fromkeys(out))


def read_rows(path: str, columns: list[str] | None = None) -> Iterator[dict]:
    """Rows of one Parquet file (local or any Beam filesystem), a batch at a time; `columns` as `_leaves`."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type="uncompressed") as f:
        parquet = pq.ParquetFile(f)
        wanted = _leaves(parquet.schema, columns) if columns is not None else None
        for batch in parquet.iter_batches(batch_size=2048, columns=wanted):
            yield from batch.to_pylist()


def scan_files(output: str, scan_id: str) -> tuple[list[str], list[str]]:
    """The scan's summary and failure files; FileNotFoundError, naming the place, when it has neither."""
    recover(output, scan_id)  # a commit killed midway: bring the folders in line for other readers too
    summaries, failures = parquet_files(output, "summaries", scan_id), parquet_files(output, "failures", scan_id)
    if not summaries and not failures:
        raise FileNotFoundError(f"no Parquet files for scan {scan_id!r} under {output}/summaries or "
                                f"{output}/failures; check --scan_id (the scan_id=... folder name)")
    return summaries, failures


def collect(output: str, scan_id: str, comparison: "Comparison | None" = None,
            sink: RowSink | None = None) -> ScanStats:
    """Read OUTPUT's summaries and failures of SCAN_ID; raises FileNotFoundError when neither exists.

    comparison: an earlier scan; each row is checked against it. sink: gets every row in the second pass.
    """
    summaries, failures = scan_files(output, scan_id)
    stats = ScanStats(scan_id, comparison=comparison)
    for path in summaries:
        for row in read_rows(path):
            stats.add_summary(row)
    for path in failures:
        for row in read_rows(path):
            stats.add_failure(row)
    if comparison:
        comparison.finish()
    threshold, root = stats.threshold, stats.folders.root or []
    if sink:
        sink.begin(stats.products.names)
    for path in summaries:  # the threshold and the folders' root are known only after the first pass
        for row in read_rows(path):
            stats.offer_uncertain(row, threshold)
            if sink:
                sink.summary(row, root)
    for path in failures if sink else ():
        for row in read_rows(path):
            sink.failure(row)
    return stats
