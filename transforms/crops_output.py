"""Write every classified crop, for people to label: JPEGs plus a crops.jsonl, least certain first.

The jsonl speaks the format `models.train_classifier --data` reads (uri relative to the file,
label, group = source image), with `label` empty until someone fills it in.
"""
from __future__ import annotations

import hashlib
import io
import json
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from transforms.records import ClassifiedCrop, CropKey

JPEG_QUALITY = 92


def crop_name(key: CropKey) -> str:
    """A stable file name per (image, detection): the same crop lands on the same file on a re-run."""
    digest = hashlib.sha1(key.uri.encode("utf-8")).hexdigest()[:16]
    return f"crops/{digest}_{key.index:03d}.jpg"


def crop_record(classified: ClassifiedCrop) -> dict:
    crop, score, threshold = classified.crop, classified.product_score, classified.threshold
    return {
        "uri": crop_name(crop.key), "label": "", "group": crop.key.uri, "image_uri": crop.key.uri,
        "index": crop.key.index, "box": [round(float(v), 2) for v in crop.box],
        "detection_score": round(float(crop.detection_score), 4),
        "target_score": round(classified.target_score, 4),
        "predicted": classified.product,
        "product": classified.product,
        "product_score": round(score, 4),
        "threshold": round(threshold, 4),  # so the labeling page can show the score against it
        # 1 at the threshold, 0 at a confident 0 or 1: label these first.
        "uncertainty": round(1 - abs(score - threshold) / max(threshold, 1 - threshold), 4),
    }


def least_certain_first(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (-r["uncertainty"], r["image_uri"], r["index"]))


class _WriteJpeg(beam.DoFn):
    def __init__(self, prefix: str):
        self._prefix = prefix
        self._written = beam.metrics.Metrics.counter("shelfscan", "crops_written")

    def process(self, classified: ClassifiedCrop) -> Iterable[dict]:
        record = crop_record(classified)
        buffer = io.BytesIO()
        Image.fromarray(classified.crop.pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
        with FileSystems.create(FileSystems.join(self._prefix, record["uri"])) as f:
            f.write(buffer.getvalue())
        self._written.inc()
        yield record


def _write_index(records: list[dict], prefix: str, products: tuple[str, ...]) -> None:
    with FileSystems.create(FileSystems.join(prefix, "crops.jsonl")) as f:
        for record in least_certain_first(records):
            f.write((json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
    # The labeling page's product list (models.label.products): the classifier's products keep its number
    # keys in the classifier's order, products the scan never predicted included.
    with FileSystems.create(FileSystems.join(prefix, "crops.products.json")) as f:
        f.write((json.dumps({"products": list(products)}, indent=1) + "\n").encode("utf-8"))


class WriteCrops(beam.PTransform):
    """ClassifiedCrop -> PREFIX/crops/*.jpg, PREFIX/crops.jsonl (one file, so the index is sorted) and
    PREFIX/crops.products.json (the classifier's products, for the labeling page).

    The index holds a small record per crop and is written by one worker: fine for the crops a
    person can label, not meant for a whole archive's worth of detections.
    """

    def __init__(self, prefix: str, products: tuple[str, ...]):
        super().__init__()
        self._prefix, self._products = prefix, products

    def expand(self, classified):
        records = classified | "WriteJpegs" >> beam.ParDo(_WriteJpeg(self._prefix))
        return (records
                | "Gather" >> beam.combiners.ToList()
                | "WriteIndex" >> beam.Map(_write_index, self._prefix, self._products))
