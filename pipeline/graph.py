"""The scan graph: Read | Decode | Detect | Crops | Classify | Segment | Summarize | Write."""
from __future__ import annotations

import dataclasses
from typing import Any

import apache_beam as beam

from models.handler import SlotModelHandler
from pipeline.inputs import input_roots
from transforms.bottles import other_bottle
from transforms.classify import Classify
from transforms.crops import IMAGES, FanOutCrops
from transforms.crops_output import WriteCrops
from transforms.decode import DecodeImages, PixelNeed
from transforms.detect import Detect
from transforms.incremental import ScannedUris
from transforms.progress import CountRows
from transforms.read import LISTED, ReadImages
from transforms.records import ScanContext
from transforms.rows import failure_row, utc_now
from transforms.segment import Segment
from transforms.slicing import SlicePlan
from transforms.summarize import Summarize


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """One slot's model as the scan uses it: where it is, what it is, how to batch it."""

    slot: str
    uri: str
    overrides: dict
    meta: Any  # models.slots.ModelMeta, read once on the launcher
    batch_size: int
    trust_model_code: bool = False  # the user vouched for it (--trust_model_code); workers load it as is
    loaded: Any = dataclasses.field(default=None, compare=False, repr=False)  # the launcher's LoadedModel

    def handler(self, large_model: bool, model_copies: int | None) -> SlotModelHandler:
        batch = self.batch_size if self.meta.input_size else 1  # any-size inputs cannot be stacked
        return SlotModelHandler(self.slot, self.uri, self.overrides, batch, large_model, model_copies,
                                self.meta.version, self.trust_model_code, self.loaded)


@dataclasses.dataclass(frozen=True)
class ScanConfig:
    patterns: tuple[str, ...]
    input_list: str | None
    scan_id: str
    detector: ModelSettings
    classifier: ModelSettings
    segmenter: ModelSettings
    slices: SlicePlan  # slices.size 0: the detector sees whole images only
    area_ratio_tolerance: float = 1.5
    max_image_pixels: int = 50_000_000
    max_image_bytes: int = 200_000_000
    large_model: bool = False
    model_copies: int | None = None
    progress_board: str | None = None  # local directory the progress line reads (transforms.progress)
    crops_output: str | None = None
    modified_after: float | None = None  # epoch seconds
    skip_scanned_in: str | None = None  # an output whose summarized images are left out
    decode_bottle_share: float = 0.125  # see PixelNeed.bottle_share; 0 decodes every pixel
    decode_threads: int | None = None  # per DoFn instance; None: half the worker's CPUs

    def pixel_need(self) -> PixelNeed:
        """The pixels decode keeps: the detector's input over each slice (or the whole image), and every
        bottle of at least decode_bottle_share of the long side at the crop models' input size. A
        detector taking any size sees its slices at their own pixels, so slicing one keeps them all."""
        crop_sides = (self.classifier.meta.input_size, self.segmenter.meta.input_size)
        span = self.slices.size or None
        return PixelNeed(self.detector.meta.input_size or span, None if None in crop_sides else max(crop_sides),
                         self.decode_bottle_share, detector_span=span, slices_across=self.slices.max_across)

    def context(self) -> ScanContext:
        return ScanContext(self.scan_id, self.detector.meta.version, self.classifier.meta.version,
                           self.segmenter.meta.version, input_roots(self.patterns), self.classifier.meta.products)


def early_failure_rows(failures, scan_id: str, label: str):
    return failures | f"{label}Rows" >> beam.Map(lambda f: failure_row(f, scan_id, utc_now()))


def build_scan(p: beam.Pipeline, cfg: ScanConfig) -> dict[str, beam.PCollection]:
    """Add the scan to `p`; returns the `summaries` and `failures` row PCollections."""
    det, cls, seg = cfg.detector, cfg.classifier, cfg.segmenter
    share = (cfg.large_model, cfg.model_copies)
    fill = seg.meta.extra.get("expected_fill", {})
    bins, fills = fill.get("aspect", ()), fill.get("fill", ())

    scanned = p | "AlreadyScanned" >> ScannedUris(cfg.skip_scanned_in, cfg.scan_id) if cfg.skip_scanned_in else None
    # Read spreads the files' metadata over workers and reads each after that shuffle; a shuffle of the
    # bytes here would hold every file in memory at once on DirectRunner.
    read = p | "Read" >> ReadImages(list(cfg.patterns), cfg.input_list, cfg.modified_after, scanned,
                                    cfg.max_image_bytes)
    decoded = read["images"] | "Decode" >> DecodeImages(cfg.max_image_pixels, cfg.pixel_need(),
                                                        cfg.decode_threads)
    detected = decoded["images"] | "Detect" >> Detect(
        det.handler(*share), det.meta.input_size, det.meta.threshold, det.meta.class_filter,
        det.meta.resize, cfg.slices)
    crops = detected["detected"] | "Crops" >> FanOutCrops()
    classified = crops["crops"] | "Classify" >> Classify(
        cls.handler(*share), cls.meta.input_size, cls.meta.resize, cls.meta.product_rule())
    others = classified["others"] | "MeasureOthers" >> beam.Map(other_bottle, bins, fills)
    segmented = classified["targets"] | "Segment" >> Segment(
        seg.handler(*share), seg.meta.input_size, seg.meta.resize, cfg.area_ratio_tolerance, bins, fills)

    if cfg.crops_output:
        ((classified["targets"], classified["others"]) | "AllCrops" >> beam.Flatten()
         | "WriteCrops" >> WriteCrops(cfg.crops_output, cls.meta.products))

    bottles = (others, segmented["bottles"]) | "AllBottles" >> beam.Flatten()
    late_failures = ((classified["failures"], segmented["failures"]) | "LateFailures" >> beam.Flatten()
                     | "KeyFailures" >> beam.Map(lambda f: (f.image_uri, f)))
    summary = {"image": crops[IMAGES], "bottle": bottles, "failure": late_failures} | "Summarize" >> Summarize(
        cfg.context())

    early = [early_failure_rows(pc, cfg.scan_id, name) for name, pc in (
        ("Read", read["failures"]), ("Decode", decoded["failures"]), ("Detect", detected["failures"]))]
    failures = (*early, summary["failures"]) | "AllFailures" >> beam.Flatten()
    summaries = summary["summaries"]
    p | "Count" >> CountRows(cfg.progress_board, inputs=(read["images"], read["failures"]),
                             detected=(crops[IMAGES], *early), summaries=(summaries,),
                             failures=(*early, summary["failures"]), listed=read[LISTED])
    return {"summaries": summaries, "failures": failures}
