"""Training from reference photos (`--references DIR`): DIR/<product>/ holds 3-20 photos of each product.

Each photo is cut to its product (models.train_classifier.shelf_copies) and becomes a crop of that
product whose training copies are shelf-like composites. Photos, not copies, are what is split: a
product's held-out photos (their shelf copies) are its validation and test examples, so no copy of
a photo seen in training is ever scored as if it were new.

Negatives come from crops labeled "other" or, failing those, from a scan's unlabeled crops, which
hold the products too. `near_references` drops the unlabeled crops that look like a product by
the rule it documents, so that they are not taught as "other".
"""
from __future__ import annotations

import hashlib
import logging
from typing import Sequence

import numpy as np

from models.train_classifier.data import (
    CropDataError,
    LabeledCrop,
    folder_entries,
    read_crop,
)
from models.train_classifier.shelf_copies import SHELF_COPY_VERSION, CutOut, ShelfCopies, boxed, cut_out
from models.train_classifier.split import TEST, TRAIN, VAL
from transforms.image_file import CloudError
from transforms.products import name_problem

_LOG = logging.getLogger(__name__)

MIN_PHOTOS = 3
HELD_OUT_COPIES = 8  # shelf copies scored per held-out photo: one pack shot alone is not a shelf crop
NEAR_QUANTILE = 0.05  # see near_references
DROPPED = "dropped"  # the side of an unlabeled crop left out as too close to a product


def list_photos(root: str) -> list[dict]:
    """The photos under root/<product>/ ({uri, label: product, group}); CropDataError for a folder that is no
    product name or holds fewer than MIN_PHOTOS photos."""
    entries = folder_entries(root.rstrip("/"), None)
    by_product: dict[str, list[dict]] = {}
    for e in entries:
        by_product.setdefault(e["label"], []).append(e)
    if not by_product:
        raise CropDataError(f"--references {root}: no photos found; expected {root}/<product>/*.jpg, "
                            f"{MIN_PHOTOS}-20 photos of each product")
    for product, found in sorted(by_product.items()):
        problem = name_problem(product)
        if problem:
            raise CropDataError(f"--references {root}: folder {product!r} cannot name a product: {problem}; "
                                "rename it")
        if len(found) < MIN_PHOTOS:
            raise CropDataError(f"--references {root}/{product}: {len(found)} photo{'s' if len(found) != 1 else ''}"
                                f"; each product needs at least {MIN_PHOTOS} (its pack from several sides, any "
                                "background), so that some can be held out to check the classifier")
    return entries


def _decode(entries: list[dict]) -> None:
    for e in entries:
        try:
            e["data"], e["pixels"] = read_crop(e["uri"])
        except (OSError, ValueError, CloudError) as err:  # a reference is chosen by hand: fix it, do not skip it
            raise CropDataError(f"--references: {e['uri']} cannot be read as an image ({type(err).__name__}: "
                                f"{err}); replace or remove it") from err


def detector_boxes(photos: Sequence[np.ndarray], detector: str) -> list[tuple[int, int, int, int] | None]:
    """The best bottle box the detector finds in each photo at its own threshold (None: no bottle), as the scan
    would box it."""
    from models.slots import load_model, run_tasks
    from transforms.detection import detector_input, to_detections
    from transforms.records import DecodedImage

    model = load_model("detector", detector)
    meta = model.meta
    tasks = [detector_input(DecodedImage(f"reference {i}", p), meta.input_size, meta.resize)
             for i, p in enumerate(photos)]
    boxes = []
    for task, outputs in zip(tasks, run_tasks(model, tasks, 8 if meta.input_size else 1)):
        found = to_detections(task, outputs, meta.threshold, meta.class_filter)
        boxes.append(tuple(int(round(v)) for v in found[0].box) if found else None)
    return boxes


def read_references(entries: list[dict],
                    detector: str | None = None) -> tuple[list[LabeledCrop], dict[str, CutOut], dict]:
    """One crop per photo of `list_photos` (pixels = the product's box), the cut-outs by sha256, and how each
    photo was cut: by `detector`'s best bottle box (a built-in name, a folder or an .onnx file; None: no
    detector), else by its plain backdrop, else whole. CropDataError for a photo that cannot be read.
    """
    _decode(entries)
    boxes = detector_boxes([e["pixels"] for e in entries], detector) if detector else [None] * len(entries)
    crops, cuts, how = [], {}, {"detector": 0, "plain_backdrop": 0, "whole_photo": 0}
    for e, box in zip(entries, boxes):
        sha = hashlib.sha256(e["data"]).hexdigest()
        cut = boxed(e["pixels"], box) if box else cut_out(e["pixels"])
        how["detector" if box else "plain_backdrop" if cut.box else "whole_photo"] += 1
        cuts[sha] = cut
        crops.append(LabeledCrop(uri=e["uri"], product=e["label"], group=f"reference:{e['group']}",
                                 brand=e["label"], sha256=sha, pixels=cut.pixels, source="reference"))
    if how["whole_photo"]:
        _LOG.warning("%d of %d reference photos are used whole: %s", how["whole_photo"], len(entries),
                     "no bottle found in them and their backdrop is not plain" if detector else
                     "their backdrop is not plain; --reference_detector boxes the product in them")
    return crops, cuts, how


def split_photos(crops: Sequence[LabeledCrop], val_fraction: float, test_fraction: float,
                 seed: int) -> np.ndarray:
    """TRAIN/VAL/TEST per reference photo: per product about the fractions (at least one each,
    none for test at 0), the rest for training, in a seeded order."""
    sides = np.full(len(crops), TRAIN, dtype=object)
    rng = np.random.default_rng([seed, 20])
    for product in sorted({c.product for c in crops}):
        members = rng.permutation([i for i, c in enumerate(crops) if c.product == product])
        n_test = max(1, round(test_fraction * len(members))) if test_fraction > 0 else 0
        n_val = max(1, round(val_fraction * len(members)))
        n_test = min(n_test, len(members) - n_val - 1)  # training keeps one photo at least
        sides[members[:n_val]] = VAL
        sides[members[n_val:n_val + n_test]] = TEST
    return sides.astype(str)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def near_references(unlabeled: np.ndarray, train: np.ndarray, train_products: Sequence[str],
                    held_out: np.ndarray, held_out_products: Sequence[str],
                    quantile: float = NEAR_QUANTILE) -> tuple[np.ndarray, dict[str, float]]:
    """Which unlabeled crops are too close to a product to be taught as "other".

    Closeness is the cosine similarity to the nearest training copy of a product's photos, of
    embeddings centred on the unlabeled crops' mean: pooled CNN features are all positive, so
    uncentred every pair looks alike, while centred they compare what sets a crop apart from a
    typical shelf crop. A product's cut-off is how close its own unseen photos come: the
    `quantile` (5 %) of its held-out copies' similarities. An unlabeled crop at or above the
    cut-off of any product is dropped: it sits where 95 % of that product's new photos land. The
    cut-off is per product and measured, because how tight a product's copies cluster depends on
    the product and on the backbone; a low quantile because a bottle on a shelf lies further from
    its pack shots than their copies do, and a product taught as "other" hurts more than a dropped
    negative.

    unlabeled [U, D], train [T, D], held_out [V, D] embeddings; returns (drop [U] bool, cut-offs).
    """
    centre = unlabeled.mean(axis=0) if len(unlabeled) else 0.0
    train, unlabeled, held_out = _unit(train - centre), _unit(unlabeled - centre), _unit(held_out - centre)
    train_products, held_out_products = np.asarray(train_products), np.asarray(held_out_products)
    drop = np.zeros(len(unlabeled), bool)
    cutoffs = {}
    for product in sorted(set(train_products.tolist())):
        own = train[train_products == product]
        mine = held_out[held_out_products == product]
        if not len(mine):
            continue
        cutoffs[product] = round(float(np.quantile((mine @ own.T).max(axis=1), quantile)), 4)
        if len(unlabeled):
            drop |= (unlabeled @ own.T).max(axis=1) >= cutoffs[product]
    return drop, cutoffs


class ReferenceCopies:
    """Model inputs of reference photos: copy 0 is the cut-out itself, copy k >= 1 a shelf copy."""

    def __init__(self, shelf: ShelfCopies, cuts: dict[str, CutOut]):
        self.shelf, self.cuts = shelf, cuts

    def pixels(self, crop: LabeledCrop, copy: int) -> np.ndarray:
        return self.shelf.make(self.cuts[crop.sha256], crop.sha256, copy) if copy else crop.pixels

    def cache_id(self, crop: LabeledCrop, copy: int) -> str:
        """What an input's embedding is cached under: the photo, the copy, and what made the copy."""
        made_by = self.shelf.key if copy else f"cut-out|{SHELF_COPY_VERSION}"
        return hashlib.sha256(f"reference|{made_by}|{crop.sha256}|{copy}".encode()).hexdigest()
