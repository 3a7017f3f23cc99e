"""The ground truth of a models.synth output: truth.jsonl, one record per image (docs/CONTRACTS.md),
and the same truth as COCO instances.json.

Read by models.truth, which also reads COCO instances.json for the evaluators.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from models.evaluation.coco import COCO_BOTTLE_ID, coco_document, mask_annotation
from models.evaluation.truth import read_jsonl as read_truth
from models.synth.bottles import TARGET_BRAND

FIRST_PRODUCT_ID = 1000  # products get 1000, 1001, ...; "bottle" keeps COCO's id for every other brand

__all__ = ["read_truth", "write_coco"]


def write_coco(scene_dir: str | Path, compressed: bool = True, brands: Sequence[str] = (TARGET_BRAND,)) -> Path:
    """Write DIR/instances.json from DIR/truth.jsonl and the instance maps: one RLE mask per bottle.

    Bottles of `brands` (the products; default the target brand) get a category named after their
    brand (ids from 1000 in the order given), the others "bottle" (id 44); all sit under supercategory
    "bottle". Each annotation keeps its brand and visible share as CVAT-style attributes.
    """
    root = Path(scene_dir)
    ids = {brand: FIRST_PRODUCT_ID + i for i, brand in enumerate(brands)}
    categories = [{"id": COCO_BOTTLE_ID, "name": "bottle", "supercategory": "bottle"}] + [
        {"id": cid, "name": brand, "supercategory": "bottle"} for brand, cid in ids.items()]
    images, annotations = [], []
    for image_id, record in enumerate(read_truth(root), start=1):
        images.append({"id": image_id, "file_name": record["image"], "width": record["width"],
                       "height": record["height"]})
        with Image.open(root / record["mask"]) as im:
            instances = np.asarray(im)
        for k, bottle in enumerate(record["bottles"], start=1):
            category = ids.get(bottle["brand"], COCO_BOTTLE_ID)
            annotations.append({**mask_annotation(image_id, category, instances == k, compressed),
                                "attributes": {"brand": bottle["brand"],
                                               "visible_share": bottle["visible_share"]}})
    out = root / "instances.json"
    out.write_text(json.dumps(coco_document(images, annotations, categories, f"models.synth scenes {root.name}")))
    return out
