"""Ground truth for both evaluators: a models.synth truth.jsonl or a COCO instances.json, read alike.

`read_truth(path)` gives a `Truth`: per image its bottles (box, target or not, visible area) and the
crowd regions to ignore. `iter_labeled(truth)` decodes the images and masks as arrays.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from models.evaluation import coco

Box = tuple[float, float, float, float]


class TruthError(ValueError):
    """Ground truth we cannot use: the message names the file, the cause and what to do."""


@dataclasses.dataclass(frozen=True)
class TruthBottle:
    """One true bottle: box [x0, y0, x1, y1] in original pixels (x1/y1 exclusive)."""

    box: Box
    is_target: bool | None  # None: the truth does not say which bottles are the user's product
    area_px: float | None  # visible pixels (the mask's); None without a mask
    visible_share: float | None = None  # visible part of the whole bottle (models.synth only)
    segmentation: Any = None  # COCO polygons or RLE; models.synth masks come from the instance map
    product: str | None = None  # what the bottle is: its models.synth brand or COCO category name


@dataclasses.dataclass(frozen=True)
class TruthImage:
    """One image's truth; `image` is its path relative to the truth's root folder."""

    image: str
    width: int
    height: int
    bottles: tuple[TruthBottle, ...]
    ignore: tuple[Box, ...] = ()  # COCO crowd regions: detections inside them count neither way
    mask: str | None = None  # models.synth instance map (value k = bottle k)

    @classmethod
    def from_record(cls, record: dict) -> "TruthImage":
        """From one truth.jsonl record (docs/CONTRACTS.md)."""
        bottles = tuple(TruthBottle(tuple(float(v) for v in b["box"]), bool(b["is_target"]),
                                    float(b["area_px"]) if b.get("area_px") is not None else None,
                                    b.get("visible_share", 1.0), product=b.get("brand"))
                        for b in record["bottles"])
        return cls(record["image"], int(record.get("width", 0)), int(record.get("height", 0)), bottles,
                   mask=record.get("mask"))


@dataclasses.dataclass(frozen=True)
class Truth:
    """A whole ground truth: where it came from, its images, and what it can score."""

    path: str
    root: Path  # the folder image paths are relative to
    images: tuple[TruthImage, ...]
    has_targets: bool  # False: target metrics are left out
    notes: tuple[str, ...] = ()  # said next to the numbers (categories used, what is left out)


def read_jsonl(path: str | Path) -> list[dict]:
    """The records of a models.synth truth.jsonl (or of DIR/truth.jsonl when given a directory)."""
    path = Path(path)
    folder = path.parent if path.name == "truth.jsonl" else path
    path = folder / "truth.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; generate scenes with `python -m models.synth --out "
                                f"{folder} --count N --seed S --crops`")
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def is_coco(path: str | Path) -> bool:
    """A .json file is COCO instances; truth.jsonl or a folder is models.synth truth."""
    return Path(path).suffix.lower() == ".json"


def read_truth(path: str | Path, bottle_categories: Sequence[str] = (), target_categories: Sequence[str] = (),
               images_dir: str | Path | None = None, products: Sequence[str] = ()) -> Truth:
    """Read truth.jsonl (or a models.synth folder) or a COCO instances.json.

    For COCO, bottles are the `bottle_categories` (names or ids; default: named "bottle" or under
    supercategory "bottle", else id 44) plus the `target_categories`, which are the user's product,
    plus the categories named after one of `products` (a classifier's). Without target categories,
    target metrics are left out. `images_dir` is the folder the file_names are relative to (default:
    found beside the file).
    """
    if not is_coco(path):
        if bottle_categories or target_categories:
            raise TruthError(f"{path}: --bottle_category and --target_category apply to COCO instances.json "
                             "only; models.synth truth already says which bottles are targets")
        try:
            records = read_jsonl(path)
        except FileNotFoundError as e:
            raise TruthError(str(e)) from None
        root = Path(path).parent if Path(path).name == "truth.jsonl" else Path(path)
        return Truth(str(path), Path(images_dir) if images_dir else root,
                     tuple(TruthImage.from_record(r) for r in records), True)
    try:
        return _from_coco(coco.read_coco(path), bottle_categories, target_categories, images_dir, products)
    except coco.CocoError as e:
        raise TruthError(str(e)) from None


def add_truth_options(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """--truth (and `aliases` of it) and the COCO category options, as both evaluators take them."""
    parser.add_argument("--truth", *aliases, dest="truth", required=True,
                        help="Ground truth: a models.synth truth.jsonl (or its folder), or a COCO instances.json.")
    parser.add_argument("--bottle_category", action="append", default=[], metavar="NAME_OR_ID",
                        help="COCO only: categories that are bottles (repeatable or comma-separated). "
                             "Default: those named 'bottle' or under supercategory 'bottle', else id 44.")
    parser.add_argument("--target_category", action="append", default=[], metavar="NAME_OR_ID",
                        help="COCO only: categories that are your product (they count as bottles too). "
                             "Without one, target metrics are left out.")


def truth_from_options(args: argparse.Namespace, images_dir: str | None = None, products: Sequence[str] = ()) -> Truth:
    """read_truth with the options of add_truth_options."""
    def split(values: list[str]) -> list[str]:
        return [part for value in values for part in value.split(",") if part.strip()]

    return read_truth(args.truth, split(args.bottle_category), split(args.target_category), images_dir, products)


def _names(found: coco.CocoFile, ids: set[int]) -> str:
    return ", ".join(f"{found.categories[i]} ({i})" for i in sorted(ids)) or "none"


def _default_bottles(found: coco.CocoFile, named: set[int]) -> set[int]:
    """The default bottle categories; none at all is fine when products already name some."""
    try:
        return coco.default_bottle_categories(found)
    except coco.CocoError:
        if named:
            return set()
        raise


def _from_coco(found: coco.CocoFile, bottle_categories: Sequence[str], target_categories: Sequence[str],
               images_dir: str | Path | None, products: Sequence[str] = ()) -> Truth:
    targets = coco.resolve_categories(found, target_categories, "--target_category")
    named = {cid for cid, name in found.categories.items() if name in products}
    bottles = (coco.resolve_categories(found, bottle_categories, "--bottle_category") if bottle_categories
               else _default_bottles(found, named)) | targets | named
    notes = [f"bottles: COCO categories {_names(found, bottles)}"]
    if targets:
        notes.append(f"targets: {_names(found, targets)}")
    else:
        notes.append("no target category given (--target_category NAME): target metrics left out")
    unnamed = [p for p in products if p not in found.categories.values() and not (p == "target" and targets)]
    if unnamed:
        notes.append(f"no category named after products {', '.join(unnamed)}: none of them in this truth")
    images = []
    for entry in found.images:
        kept = [o for o in entry.objects if o.category_id in bottles]
        images.append(TruthImage(
            entry.file_name, entry.width, entry.height,
            tuple(TruthBottle(o.box, (o.category_id in targets) if targets else None, o.area_px,
                              o.visible_share, o.segmentation, found.categories[o.category_id])
                  for o in kept if not o.iscrowd),
            ignore=tuple(o.box for o in kept if o.iscrowd)))
    path = Path(found.path)
    root = Path(images_dir) if images_dir else _image_root(path, [i.image for i in images])
    return Truth(found.path, root, tuple(images), bool(targets), tuple(notes))


def _image_root(path: Path, names: list[str]) -> Path:
    """The folder beside an instances.json that holds its images (CVAT puts them in ../images)."""
    candidates = [path.parent, path.parent / "images", path.parent.parent, path.parent.parent / "images"]
    for folder in candidates:
        if names and (folder / names[0]).is_file():
            return folder
    return path.parent


# ---------------------------------------------------------------- as arrays

@dataclasses.dataclass(frozen=True)
class LabeledImage:
    """One image with its truth as arrays, for training and evaluating models."""

    name: str  # the image path relative to the truth's root; groups crops by source image
    pixels: np.ndarray  # H x W x 3 uint8
    instances: np.ndarray  # H x W, k = bottle k (1-based), 0 = background (all 0 without masks)
    boxes: np.ndarray  # [K, 4] float64, original pixels, x1/y1 exclusive
    is_target: np.ndarray  # [K] bool (all False when the truth does not say)
    areas: np.ndarray  # [K] visible pixel counts (NaN where unknown)
    visible: np.ndarray  # [K] visible share of each bottle's silhouette (NaN where unknown)
    has_mask: np.ndarray  # [K] bool: the bottle's pixels are in `instances`
    ignore: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4)))  # [M, 4] crowd regions
    products: tuple[str | None, ...] = ()  # [K] each bottle's brand or category name (TruthBottle.product)


def _open_rgb(path: Path, truth_path: str) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise TruthError(f"{truth_path}: image {path} not found; pass --images DIR, the folder the "
                         "file names are relative to")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _instance_map(root: Path, image: TruthImage, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The instance map and which bottles have a mask; a later COCO mask wins where two overlap."""
    from PIL import Image

    if image.mask is not None:
        with Image.open(root / image.mask) as im:
            return np.asarray(im), np.ones(len(image.bottles), bool)
    instances = np.zeros(shape, np.int32)
    has_mask = np.zeros(len(image.bottles), bool)
    for k, bottle in enumerate(image.bottles, start=1):
        mask = coco.object_mask(bottle.segmentation, *shape)
        if mask is not None:
            instances[mask] = k
            has_mask[k - 1] = True
    return instances, has_mask


def load_labeled(truth_path: str, root: Path, image: TruthImage, with_mask: bool = True) -> LabeledImage:
    """Decode one image (and its masks) of a truth."""
    pixels = _open_rgb(root / image.image, truth_path)
    if with_mask:
        instances, has_mask = _instance_map(root, image, pixels.shape[:2])
    else:
        instances, has_mask = np.zeros(pixels.shape[:2], np.uint8), np.zeros(len(image.bottles), bool)

    def column(values) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], np.float64)

    bottles = image.bottles
    return LabeledImage(
        name=image.image, pixels=pixels, instances=instances,
        boxes=np.array([b.box for b in bottles], np.float64).reshape(-1, 4),
        is_target=np.array([bool(b.is_target) for b in bottles], bool),
        areas=column(b.area_px for b in bottles), visible=column(b.visible_share for b in bottles),
        has_mask=has_mask, ignore=np.array(image.ignore, np.float64).reshape(-1, 4),
        products=tuple(b.product for b in bottles))


def iter_labeled(truth: Truth, with_mask: bool = True, limit: int | None = None) -> Iterator[LabeledImage]:
    """Every image of a truth as arrays, in file order."""
    for i, image in enumerate(truth.images):
        if limit is not None and i >= limit:
            return
        yield load_labeled(truth.path, truth.root, image, with_mask)
