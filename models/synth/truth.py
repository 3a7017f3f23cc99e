"""The ground truth of a models.synth output: truth.jsonl, one record per image (docs/CONTRACTS.md),
and the same truth as COCO instances.json.

Read by models.truth, which also reads COCO instances.json for the evaluators.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from models.evaluation.coco import COCO_BOTTLE_ID, coco_document, mask_annotation
from models.evaluation.truth import read_jsonl as read_truth
from models.synth.bottles import TARGET_BRAND

TARGET_CATEGORY_ID = 1000  # our product; "bottle" keeps COCO's id for every other brand
CATEGORIES = [{"id": COCO_BOTTLE_ID, "name": "bottle", "supercategory": "bottle"},
              {"id": TARGET_CATEGORY_ID, "name": TARGET_BRAND, "supercategory": "bottle"}]

__all__ = ["read_truth", "write_coco"]


def write_coco(scene_dir: str | Path, compressed: bool = True) -> Path:
    """Write DIR/instances.json from DIR/truth.jsonl and the instance maps: one RLE mask per bottle.

    Target bottles get the category named after the target brand, the others "bottle" (id 44);
    both sit under supercategory "bottle". Each annotation keeps its brand and visible share as
    CVAT-style attributes.
    """
    root = Path(scene_dir)
    images, annotations = [], []
    for image_id, record in enumerate(read_truth(root), start=1):
        images.append({"id": image_id, "file_name": record["image"], "width": record["width"],
                       "height": record["height"]})
        with Image.open(root / record["mask"]) as im:
            instances = np.asarray(im)
        for k, bottle in enumerate(record["bottles"], start=1):
            category = TARGET_CATEGORY_ID if bottle["is_target"] else COCO_BOTTLE_ID
            annotations.append({**mask_annotation(image_id, category, instances == k, compressed),
                                "attributes": {"brand": bottle["brand"],
                                               "visible_share": bottle["visible_share"]}})
    out = root / "instances.json"
    out.write_text(json.dumps(coco_document(images, annotations, CATEGORIES, f"models.synth scenes {root.name}")))
    return out
