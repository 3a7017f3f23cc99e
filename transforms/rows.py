"""The Parquet/BigQuery rows of a scan (schema: transforms.schema): one summary per image, one failure
row per image that failed, and the folder an image's row names."""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Sequence

from transforms.products import product_entries
from transforms.records import STAGES, BottleResult, Failure, ImageInfo, ScanContext

_WILDCARDS = ("*", "?", "[")


def input_root(pattern: str) -> str:
    """The folder an --input pattern starts from: `/archive/**` and `/archive/*.jpg` -> `/archive`,
    `gs://b/photos/2026-*/x.jpg` -> `gs://b/photos`."""
    cut = min((pattern.index(c) for c in _WILDCARDS if c in pattern), default=len(pattern))
    prefix = pattern[:cut]
    return prefix.rstrip("/") if prefix.endswith("/") else prefix.rsplit("/", 1)[0]


def relative_folder(uri: str, roots: Sequence[str]) -> str | None:
    """The image's folder below the deepest input root holding it ('' directly in it, 'store12/2026-11'
    further down), so a query can group by store and month; None for an image under no root (listed in
    --input_list)."""
    for root in sorted(roots, key=len, reverse=True):
        if root and uri.startswith(root + "/"):
            rest = uri[len(root) + 1:]
            return rest.rsplit("/", 1)[0] if "/" in rest else ""
    return None


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def detection_row(bottle: BottleResult) -> dict[str, Any]:
    row = dataclasses.asdict(bottle)
    row["box"] = [float(v) for v in bottle.box]
    row["mask_polygon"] = [float(v) for v in bottle.mask_polygon]
    return row


def summary_row(info: ImageInfo, bottles: Sequence[BottleResult], ctx: ScanContext,
                processed_at: datetime.datetime) -> dict[str, Any]:
    """The Parquet/BigQuery row for one image (schema: transforms.schema.SUMMARY_FIELDS)."""
    bottles = sorted(bottles, key=lambda b: b.index)
    targets = [b for b in bottles if b.is_target]
    target_area = float(sum(b.area_px or 0.0 for b in targets))
    image_px = float(info.width * info.height)
    return {
        "image_uri": info.uri,
        "scan_id": ctx.scan_id,
        "processed_at": processed_at,
        "width": info.width,
        "height": info.height,
        "captured_at": info.captured_at,
        "folder": relative_folder(info.uri, ctx.input_roots),
        "bottles": len(bottles),
        "target_bottles": len(targets),
        "target_area_px": target_area,
        "target_area_ratio": target_area / image_px,
        "products": product_entries(bottles, ctx.products, image_px),
        "detections": [detection_row(b) for b in bottles],
        "detector_version": ctx.detector_version,
        "classifier_version": ctx.classifier_version,
        "segmenter_version": ctx.segmenter_version,
    }


def failure_row(failure: Failure, scan_id: str, processed_at: datetime.datetime) -> dict[str, Any]:
    """The Parquet/BigQuery row for one failure (schema: transforms.schema.FAILURE_FIELDS)."""
    return {"image_uri": failure.image_uri, "scan_id": scan_id, "processed_at": processed_at,
            "stage": failure.stage, "error_type": failure.error_type, "message": failure.message}


def merge_failures(failures: Sequence[Failure]) -> Failure:
    """Several crops of one image can fail; the image gets one row naming the first stage hit."""
    first = min(failures, key=lambda f: STAGES.index(f.stage))
    if len(failures) == 1:
        return first
    return dataclasses.replace(first, message=f"{first.message} (and {len(failures) - 1} more failures)")
