"""COCO box AP for the bottle detector, computed by pycocotools from boxes in original pixels.

The numbers a detector's model card quotes (AP, AP50, AP_small, AR@100), for one category, bottle, so
shelfscan's own detectors and any ONNX or TF Hub detector are compared on the same scale.
"""
from __future__ import annotations

import contextlib
import io
from typing import NamedTuple, Sequence

import numpy as np

AP_SCORE_FLOOR = 0.001  # AP integrates over every threshold, so predictions down to this one count


class ScoredImage(NamedTuple):
    """One image's truth and predictions; boxes [x0, y0, x1, y1] in original pixels, x1/y1 exclusive."""

    truth: np.ndarray  # [K, 4]
    areas: np.ndarray  # [K] mask pixel counts, COCO's own object size (NaN: the box's area)
    ignore: np.ndarray  # [M, 4] crowd regions: predictions on them count neither way
    boxes: np.ndarray  # [N, 4]
    scores: np.ndarray  # [N]


def box_ap(images: Sequence[ScoredImage], prefix: str = "detector") -> dict[str, float | None]:
    """{prefix}_ap (AP@[.5:.95]), {prefix}_ap50, {prefix}_ap_small (None without small bottles) and
    {prefix}_ar100, by pycocotools' COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = COCO()
    truth.dataset = {"images": [{"id": i} for i in range(1, len(images) + 1)],
                     "categories": [{"id": 1, "name": "bottle"}], "annotations": _annotations(images)}
    predictions = [{"image_id": i, "category_id": 1, "bbox": _xywh(box), "score": float(score)}
                   for i, image in enumerate(images, start=1) for box, score in zip(image.boxes, image.scores)]
    if not truth.dataset["annotations"] or not predictions:
        return {f"{prefix}_ap": 0.0, f"{prefix}_ap50": 0.0, f"{prefix}_ap_small": None, f"{prefix}_ar100": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and tables
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(predictions), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    ap, ap50, _, small, *_ = evaluation.stats
    ar100 = evaluation.stats[8]
    return {f"{prefix}_ap": round(float(ap), 4), f"{prefix}_ap50": round(float(ap50), 4),
            f"{prefix}_ap_small": round(float(small), 4) if small >= 0 else None,  # -1: no small bottles
            f"{prefix}_ar100": round(float(ar100), 4)}


def _annotations(images: Sequence[ScoredImage]) -> list[dict]:
    annotations = []
    for image_id, image in enumerate(images, start=1):
        for box, area in zip(image.truth, image.areas):
            box_area = float((box[2] - box[0]) * (box[3] - box[1]))
            annotations.append({"image_id": image_id, "category_id": 1, "bbox": _xywh(box), "iscrowd": 0,
                                "area": box_area if np.isnan(area) else float(area)})
        for box in image.ignore:
            annotations.append({"image_id": image_id, "category_id": 1, "bbox": _xywh(box), "iscrowd": 1,
                                "area": float((box[2] - box[0]) * (box[3] - box[1]))})
    for k, annotation in enumerate(annotations, start=1):
        annotation["id"] = k
    return annotations


def _xywh(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]
