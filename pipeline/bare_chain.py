"""The scan's own functions and models in a plain Python loop, timed per stage: what pipeline.bench
sets beside the Beam scan, and what a hand-written loop over the same models would cost.

Same functions (decode_outcome, ViewChooser, to_detections, crop_pixels, classifier_input,
segmenter_input, measure_target, summary_row), same models loaded by the same SlotModelHandler, same
batch sizes and decode threads; batches fill across images as RunInference's do. Memory holds the
images decoded ahead, one detector batch and the crops waiting for a full classifier or segmenter batch.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
import time
from typing import Callable, Iterable, Iterator, Sequence

from pipeline.graph import ScanConfig
from transforms.bottles import classified_crop, classifier_input, measure_target, other_bottle, segmenter_input
from transforms.crop_geometry import image_crops
from transforms.decode import decode_outcome
from transforms.detection import ViewChooser, to_detections
from transforms.lookahead import Lookahead, auto_threads
from transforms.read import literal_entry, read_entry
from transforms.records import (
    BottleResult,
    ClassifiedCrop,
    ClassifyTask,
    Crop,
    DecodedImage,
    Failure,
    ImageInfo,
    SegmentTask,
)
from transforms.rows import summary_row, utc_now

# The rows pipeline.bench prints, in chain order; "model" rows are the pure model calls inside each stage.
# Read and decode run in decode threads (BUSY_STAGES, busy time there): the chain itself only waits for them.
STAGES = ("load models", "read", "decode", "waiting for images", "detector input", "detector model",
          "detector boxes", "crops", "classifier input", "classifier model", "classifier split", "segmenter input",
          "segmenter model", "segmenter measure", "summarize + write")
MODEL_STAGES = ("detector model", "classifier model", "segmenter model")
BUSY_STAGES = ("read", "decode")


class StageClock:
    """Seconds spent in each stage, summed over a run (time.perf_counter around each call), and calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)
        self._lock = threading.Lock()  # decode threads time their stages too

    @contextlib.contextmanager
    def time(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] += time.perf_counter() - start
                self.calls[stage] += 1


@dataclasses.dataclass
class ChainCounts:
    images: int = 0
    failures: int = 0
    bottles: int = 0
    targets: int = 0


class _Chain:
    """Holds the models, the half-filled crop batches and each image's bottles until it is complete."""

    def __init__(self, cfg: ScanConfig, clock: StageClock):
        self.cfg, self.clock = cfg, clock
        share = (False, None)
        self.handlers = [s.handler(*share) for s in (cfg.detector, cfg.classifier, cfg.segmenter)]
        with clock.time("load models"):
            self.models = [h.load_model() for h in self.handlers]
        fill = cfg.segmenter.meta.extra.get("expected_fill", {})
        self.fill = (tuple(fill.get("aspect", ())), tuple(fill.get("fill", ())))
        self.crops: list[Crop] = []
        self.targets: list[ClassifiedCrop] = []
        self.rule = cfg.classifier.meta.product_rule()
        self.infos: dict[str, ImageInfo] = {}
        self.bottles: dict[str, list[BottleResult]] = collections.defaultdict(list)
        self.rows: list[dict] = []
        self.counts = ChainCounts()

    def batch_size(self, slot: int) -> int:
        return self.handlers[slot].batch_elements_kwargs()["max_batch_size"]

    def _infer(self, slot: int, tasks: Sequence, stage: str) -> list[dict]:
        with self.clock.time(stage):
            return [r.inference for r in self.handlers[slot].run_inference(tasks, self.models[slot])]

    def detect(self, images: Sequence[DecodedImage]) -> None:
        meta = self.cfg.detector.meta
        chooser = ViewChooser(meta.input_size, meta.resize, meta.threshold, meta.class_filter, self.cfg.slices)
        with self.clock.time("detector input"):  # the whole images', then the slices chosen from them
            tasks = [chooser.whole(image) for image in images]
        first = self._infer(0, tasks, "detector model")
        with self.clock.time("detector input"):
            more = [chooser.slices(task, outputs[0]) for task, outputs in zip(tasks, first)]
        sliced = [task for task in more if task.views]
        seen = chooser.join(tasks, first, more, self._infer(0, sliced, "detector model") if sliced else [])
        with self.clock.time("detector boxes"):
            found = [to_detections(t, o, meta.threshold, meta.class_filter) for t, o in seen]
        with self.clock.time("crops"):
            for image, detections in zip(images, found):
                self.infos[image.uri] = ImageInfo(image.uri, image.width, image.height, len(detections),
                                                   image.captured_at)
                self.crops += image_crops(image, detections)
                self.counts.bottles += len(detections)
        self.classify(full_only=True)

    @staticmethod
    def _batches(queue: list, size: int, full_only: bool) -> Iterator[list]:
        """Full batches off the front of `queue`; the rest too unless more is coming (full_only)."""
        while len(queue) >= size or (queue and not full_only):
            batch = queue[:size]
            del queue[:size]
            yield batch

    def _crop_model(self, slot: int, queue: list, full_only: bool, make_input: Callable, use_output: Callable,
                    after: str) -> None:
        """Classifier or segmenter: full batches off `queue`, each timed as input, model and `after`."""
        name = self.handlers[slot].slot
        for batch in self._batches(queue, self.batch_size(slot), full_only):
            with self.clock.time(f"{name} input"):
                tasks = [make_input(item) for item in batch]
            outputs = self._infer(slot, tasks, f"{name} model")
            with self.clock.time(f"{name} {after}"):
                for task, out in zip(tasks, outputs):
                    use_output(task, out)

    def classify(self, full_only: bool) -> None:
        meta = self.cfg.classifier.meta
        self._crop_model(1, self.crops, full_only, lambda crop: classifier_input(crop, meta.input_size, meta.resize),
                         self._split, "split")
        self.segment(full_only)

    def _split(self, task: ClassifyTask, out: dict) -> None:
        classified = classified_crop(task, out, self.rule)
        if classified.is_product:
            self.targets.append(classified)
        else:
            self.bottles[task.crop.key.uri].append(other_bottle(classified, *self.fill)[1])

    def segment(self, full_only: bool) -> None:
        meta = self.cfg.segmenter.meta
        self._crop_model(2, self.targets, full_only, lambda t: segmenter_input(t, meta.input_size, meta.resize),
                         self._measure, "measure")
        self.summarize()

    def _measure(self, task: SegmentTask, out: dict) -> None:
        bottle = measure_target(task, out["masks"], self.cfg.area_ratio_tolerance, *self.fill)
        self.bottles[task.classified.crop.key.uri].append(bottle)
        self.counts.targets += 1

    def summarize(self) -> None:
        """Rows for the images whose every bottle is measured, as Summarize emits them."""
        with self.clock.time("summarize + write"):
            done = [uri for uri, info in self.infos.items() if len(self.bottles.get(uri, ())) == info.bottles]
            for uri in done:
                self.rows.append(summary_row(self.infos.pop(uri), self.bottles.pop(uri, []), self.cfg.context(),
                                             utc_now()))


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _read_and_decode(uri: str, cfg: ScanConfig, clock: StageClock) -> DecodedImage | Failure:
    with clock.time("read"):
        (entry,) = literal_entry(uri)
        data = read_entry(entry, cfg.max_image_bytes)
    if isinstance(data, Failure):
        return data
    with clock.time("decode"):
        outcome, _, _ = decode_outcome((uri, data), cfg.max_image_pixels, cfg.pixel_need())
    return outcome


def decoded_images(uris: Sequence[str], cfg: ScanConfig, clock: StageClock,
                   failed: list[Failure]) -> Iterator[DecodedImage]:
    """Each input read and decoded, in order, with the scan's decode threads working ahead; what cannot
    be read or decoded goes to `failed`. "waiting for images" is the time the chain stood still for them."""
    ahead = Lookahead(lambda uri: _read_and_decode(uri, cfg, clock), auto_threads(cfg.decode_threads))
    try:
        for uri in uris:
            with clock.time("waiting for images"):
                due = ahead.put(uri)
            yield from _images(due, failed)
        with clock.time("waiting for images"):
            due = ahead.drain()
        yield from _images(due, failed)
    finally:
        ahead.close()


def _images(due: list[tuple], failed: list[Failure]) -> Iterator[DecodedImage]:
    for _, outcome in due:
        if isinstance(outcome, Failure):
            failed.append(outcome)
        else:
            yield outcome


def write_parquet(rows: list[dict], path: str) -> None:
    """The summary rows, in the scan's own Parquet schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.schema import SUMMARY_FIELDS, arrow_schema, parquet_fields

    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(parquet_fields(SUMMARY_FIELDS))), path)


def run_chain(uris: Sequence[str], cfg: ScanConfig, output_path: str, clock: StageClock) -> ChainCounts:
    """Scan `uris` with the bare chain; summary rows go to the Parquet file `output_path`."""
    chain = _Chain(cfg, clock)
    failed: list[Failure] = []
    for images in _chunks(decoded_images(uris, cfg, clock, failed), chain.batch_size(0)):
        chain.detect(images)
    chain.classify(full_only=False)
    with clock.time("summarize + write"):
        write_parquet(chain.rows, output_path)
    chain.counts.images = len(chain.rows) + len(failed)
    chain.counts.failures = len(failed)
    return chain.counts
