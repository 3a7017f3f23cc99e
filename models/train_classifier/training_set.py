"""What a run learns from and is tested on: labeled crops, reference photos and negatives, their
products, and how they split.

Labeled crops come from --data; reference photos from --references; when references come without
crops labeled "other", the negatives are the unlabeled crops of --data (a scan's --crops_output),
less those too close to a product (models.train_classifier.references.near_references).
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from models.train_classifier import references as refs
from models.train_classifier import split
from models.train_classifier.data import (
    OTHER,
    CropDataError,
    CropFile,
    LabeledCrop,
    check_classes,
    check_enough,
    class_counts,
    decode_entries,
    read_crops,
    warn_skipped,
)
from models.train_classifier.shelf_copies import ShelfCopies

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingSet:
    """crops: labeled crops, then reference photos, then unlabeled crops taken as other.
    test_crops: the --test_data crops, or `crops` itself (then the test split is a side of it)."""

    crops: list[LabeledCrop]
    products: tuple[str, ...]
    test_crops: list[LabeledCrop]
    skipped: list[str]
    trained_from: str  # "labels", "references" or "references+labels"
    cuts: dict  # reference cut-outs by photo hash
    cut_how: dict  # how many photos were boxed by the detector, cut from a plain backdrop, used whole
    where: str  # what to name in messages: the --data path, or --references DIR

    def indices(self, source: str) -> np.ndarray:
        return np.array([i for i, c in enumerate(self.crops) if c.source == source], dtype=int)


def _no_negatives(args) -> CropDataError:
    found = f"{args.data} has no crops labeled '{OTHER}' and no unlabeled crops" if args.data else "no --data"
    return CropDataError(f"--references needs negatives, crops of other bottles, and there are none ({found}): "
                         "pass --data with a scan's crops (pipeline.run --crops_output DIR writes DIR/crops.jsonl; "
                         f"unlabeled crops are taken as '{OTHER}' unless they look like a product) or crops "
                         f"labeled '{OTHER}'")


def _negatives(found: CropFile | None, args) -> list[LabeledCrop]:
    """Labeled crops plus, with references and no crop labeled other, the unlabeled ones as other."""
    if found is None:
        raise _no_negatives(args)
    crops = list(found.crops)
    if any(not c.label for c in crops):
        return crops
    if not found.unlabeled:
        raise _no_negatives(args)
    entries = found.unlabeled[:args.limit]
    unlabeled = decode_entries(entries, found.skipped, source="unlabeled", product_of=lambda e: OTHER)
    found.skipped[:] = [line for line in found.skipped if "rows have no label" not in line]  # they are used
    _LOG.info("%d unlabeled crops of %s are negatives unless they look like a product", len(unlabeled), found.path)
    return crops + unlabeled


def gather(args) -> TrainingSet:
    """Read --data, --references and --test_data; check there is enough of every class."""
    found = read_crops(args.data, args.positive, args.group_pattern, args.limit) if args.data else None
    if not args.references:
        check_classes(found, args.positive)
        crops, photos, cuts, cut_how = found.crops, [], {}, {}
    else:
        listed = refs.list_photos(args.references)
        crops = _negatives(found, args)  # before the photos are read: no detector loads for a run that cannot train
        detector = None if args.reference_detector in ("", "none") else args.reference_detector
        photos, cuts, cut_how = refs.read_references(listed, detector)
    labeled = [c for c in crops if c.source == "label"]
    products = tuple(sorted({c.product for c in [*labeled, *photos]} - {OTHER}))
    if args.positive and photos and set(products) != {args.positive}:
        raise CropDataError(f"--positive {args.positive} trains one product, but --references {args.references} "
                            f"holds {', '.join(sorted({c.product for c in photos}))}: drop --positive")
    where = args.data or f"--references {args.references}"
    counts = class_counts(labeled, products)
    counts[OTHER] = sum(1 for c in crops if not c.label)
    check_enough({name: n for name, n in counts.items() if name == OTHER or not any(
        c.product == name for c in photos)}, args.min_per_class, where)
    test_crops, test_skipped = [], []
    if args.test_data:
        test_found = read_crops(args.test_data, args.positive, args.group_pattern)
        check_classes(test_found, args.positive)
        test_crops, test_skipped = test_found.crops, test_found.skipped
        unknown = sorted({c.product for c in test_crops} - {*products, OTHER})
        if unknown:
            raise CropDataError(f"--test_data {args.test_data} labels {', '.join(unknown)}, which the training "
                                f"data does not show: the classifier cannot name them; relabel them '{OTHER}'")
    trained_from = "references+labels" if photos and labeled else "references" if photos else "labels"
    skipped = (found.skipped if found else []) + test_skipped
    warn_skipped(skipped)
    everything = [*crops, *photos]
    return TrainingSet(everything, products, test_crops if args.test_data else everything, skipped, trained_from,
                       cuts, cut_how, where)


def split_sides(data: TrainingSet, args, k: int = 0, folds_of: np.ndarray | None = None) -> np.ndarray:
    """TRAIN/VAL/TEST per crop: source images of crops, whole reference photos."""
    test_fraction = 0.0 if args.test_data else args.test_fraction
    crops = data.crops
    sides = np.full(len(crops), split.TRAIN, dtype=object)
    photos, others = data.indices("reference"), np.array([i for i, c in enumerate(crops) if c.source != "reference"],
                                                          dtype=int)
    if len(others):
        groups, labels = [crops[i].group for i in others], [crops[i].product for i in others]
        sides[others] = (split.fold_split(folds_of, k, args.folds) if args.folds
                         else split.split_groups(groups, labels, args.val_fraction, test_fraction, args.seed))
    if len(photos):
        sides[photos] = refs.split_photos([crops[i] for i in photos], args.val_fraction, test_fraction, args.seed)
    return sides.astype(str)


def reference_copies(data: TrainingSet, sides: np.ndarray, cfg) -> refs.ReferenceCopies | None:
    """How reference photos become inputs; shelf copies are pasted onto the training side's negatives."""
    if not data.cuts:
        return None
    backgrounds = [c for c, side in zip(data.crops, sides) if not c.label and side == split.TRAIN]
    shelf = ShelfCopies([c.pixels for c in backgrounds], [c.sha256 for c in backgrounds], cfg.params, cfg.seed)
    return refs.ReferenceCopies(shelf, data.cuts)


def drop_near_references(data: TrainingSet, sides: np.ndarray, embed_sides, cfg,
                         min_per_class: int) -> tuple[np.ndarray, dict]:
    """Sides with every unlabeled crop too close to a product marked DROPPED, and what was done.

    embed_sides(side) -> (embeddings, products) of the reference examples on that side;
    embed_sides("unlabeled") -> embeddings of the unlabeled crops in `data.indices("unlabeled")` order.
    """
    unlabeled = data.indices("unlabeled")
    if not len(unlabeled):
        return sides, {}
    train, train_products = embed_sides(split.TRAIN)
    held_out, held_out_products = embed_sides(split.VAL)
    drop, cutoffs = refs.near_references(embed_sides("unlabeled")[0], train, train_products, held_out,
                                         held_out_products)
    sides = sides.astype(f"<U{max(len(refs.DROPPED), sides.dtype.itemsize // 4)}")  # room for the longer name
    sides[unlabeled[drop]] = refs.DROPPED
    kept = int((~drop).sum())
    info = {"unlabeled": len(unlabeled), "dropped_as_near_a_product": int(drop.sum()), "kept_as_other": kept,
            "rule": f"cosine similarity to a product's nearest training copy >= the {refs.NEAR_QUANTILE:.0%} "
                    "quantile of its held-out photos' copies", "cutoffs": cutoffs}
    negatives = sum(1 for c, side in zip(data.crops, sides) if not c.label and side != refs.DROPPED)
    if negatives < min_per_class:
        raise CropDataError(f"{data.where}: {negatives} negatives are left once {int(drop.sum())} of "
                            f"{len(unlabeled)} unlabeled crops that look like a product are set aside; need "
                            f"{min_per_class} (--min_per_class): pass more crops of other bottles, or label some "
                            f"'{OTHER}'")
    _LOG.info("%d of %d unlabeled crops look like a product and are not used as other", int(drop.sum()),
              len(unlabeled))
    return sides, info
