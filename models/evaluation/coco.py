"""COCO instance annotations (`instances.json`): read, check, decode masks, write.

The format labeling tools export (CVAT, Label Studio, Roboflow): `images` (id, file_name, width,
height), `categories` (id, name), `annotations` (image_id, category_id, bbox [x, y, w, h],
segmentation as polygons or RLE, iscrowd). Masks are decoded here with numpy; pycocotools is not
needed. RLE is column-major run lengths starting with background, as pycocotools writes it; the
compressed string form is pycocotools' too.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

COCO_BOTTLE_ID = 44  # the id of "bottle" in COCO's own categories


class CocoError(ValueError):
    """An instances.json we cannot use: the message names the file, the cause and what to do."""


@dataclasses.dataclass(frozen=True)
class CocoObject:
    """One annotation: its box [x0, y0, x1, y1] (original pixels, x1/y1 exclusive) and raw segmentation."""

    id: int
    category_id: int
    box: tuple[float, float, float, float]
    segmentation: Any  # polygons [[x, y, ...], ...], an RLE dict, or None
    iscrowd: bool
    area_px: int | None  # pixels in the decoded mask; None without a segmentation
    visible_share: float | None = None  # from attributes.visible_share (CVAT-style), as models.synth writes it


@dataclasses.dataclass(frozen=True)
class CocoImage:
    """One image entry and its annotations, in file order."""

    id: int
    file_name: str
    width: int
    height: int
    objects: tuple[CocoObject, ...]


@dataclasses.dataclass(frozen=True)
class CocoFile:
    """A checked instances.json: images with their annotations, and category id -> name."""

    path: str
    images: tuple[CocoImage, ...]
    categories: dict[int, str]
    supercategories: dict[int, str]


# ---------------------------------------------------------------- masks

def polygon_mask(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """Pixels whose centre lies inside any of the polygons ([x0, y0, x1, y1, ...] in pixel-edge units).

    A polygon along a box's edges covers exactly the box's pixels. Each polygon is filled even-odd;
    the polygons of one annotation are united, as pycocotools does.
    """
    mask = np.zeros((height, width), bool)
    for polygon in polygons:
        xy = np.asarray(polygon, np.float64).reshape(-1, 2)
        x0, y0 = xy[:, 0], xy[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        first = max(0, int(np.floor(y0.min())))
        rows = np.arange(first, min(height, int(np.ceil(y0.max()))))
        yc = rows[:, None] + 0.5
        crosses = (y0 <= yc) != (y1 <= yc)  # the edge spans the row's centre line (half-open)
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = x0 + (yc - y0) * (x1 - x0) / (y1 - y0)
        part = np.zeros((len(rows), width), bool)
        for r in range(len(rows)):
            cuts = np.sort(xs[r][crosses[r]])
            for a, b in zip(cuts[0::2], cuts[1::2]):
                # columns c with a <= c + 0.5 < b
                part[r, max(0, int(np.ceil(a - 0.5))):max(0, min(width, int(np.ceil(b - 0.5))))] ^= True
        mask[first:first + len(rows)] |= part
    return mask


def rle_counts_from_string(text: str) -> list[int]:
    """pycocotools' compressed RLE string -> run lengths."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_string_from_counts(counts: Sequence[int]) -> str:
    """Run lengths -> pycocotools' compressed RLE string."""
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_mask(rle: dict, height: int, width: int) -> np.ndarray:
    """Decode an RLE dict ({"size": [h, w], "counts": [...] or "compressed"}) into an [h, w] bool mask."""
    h, w = (int(v) for v in rle["size"])
    if (h, w) != (height, width):
        raise ValueError(f"RLE size [{h}, {w}] differs from the image's [height, width] [{height}, {width}]")
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = rle_counts_from_string(counts)
    counts = np.asarray(counts, np.int64)
    if (counts < 0).any() or counts.sum() != h * w:
        raise ValueError(f"RLE counts add up to {int(counts.sum())}, not height x width = {h * w}")
    values = np.arange(len(counts)) % 2 == 1  # runs alternate background, object, background, ...
    return np.repeat(values, counts).reshape(w, h).T


def rle_encode(mask: np.ndarray, compressed: bool = True) -> dict:
    """An [h, w] bool mask -> an RLE dict; compressed counts are pycocotools' string form."""
    mask = np.asarray(mask, bool)
    flat = mask.T.reshape(-1)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.r_[0, edges, len(flat)]
    counts = np.diff(bounds).tolist()
    if len(flat) and flat[0]:
        counts = [0] + counts  # runs start with background
    size = [int(mask.shape[0]), int(mask.shape[1])]
    return {"size": size, "counts": rle_string_from_counts(counts) if compressed else counts}


def object_mask(segmentation: Any, height: int, width: int) -> np.ndarray | None:
    """The mask of a segmentation in any COCO form; None when the annotation has none."""
    if segmentation is None or (isinstance(segmentation, list) and not segmentation):
        return None
    if isinstance(segmentation, dict):
        return rle_mask(segmentation, height, width)
    if isinstance(segmentation, list) and all(isinstance(p, list) for p in segmentation):
        for polygon in segmentation:
            if len(polygon) < 6 or len(polygon) % 2:
                raise ValueError(f"a polygon needs x, y pairs of at least 3 points; got {len(polygon)} numbers")
        return polygon_mask(segmentation, height, width)
    raise ValueError("segmentation is neither a list of polygons nor an RLE dict")


# ---------------------------------------------------------------- reading

def _fail(path: str, cause: str, todo: str) -> CocoError:
    return CocoError(f"{path}: {cause}; {todo}")


def _load_json(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise _fail(path, "not found" if not p.exists() else "not a file",
                    "give the instances.json your labeling tool exported (COCO format)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(path, f"not JSON ({e})", "export the annotations again as COCO instances.json") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise _fail(path, f"not COCO instances: no {', '.join(missing)}",
                    "export as 'COCO' (instances.json with images, annotations and categories)")
    return doc


def _image(path: str, entry: dict) -> tuple[int, str, int, int]:
    try:
        return int(entry["id"]), str(entry["file_name"]), int(entry["width"]), int(entry["height"])
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(path, f"image entry {entry!r:.80} lacks a usable {e}",
                    "each image needs id, file_name, width and height") from None


def _object(path: str, entry: dict, image: tuple[int, str, int, int]) -> CocoObject:
    where = f"annotation {entry.get('id', '?')} (image {image[1]})"
    try:
        x, y, w, h = (float(v) for v in entry["bbox"])
        category = int(entry["category_id"])
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(path, f"{where}: no usable bbox [x, y, w, h] or category_id ({e})",
                    "each annotation needs bbox and category_id") from None
    if w < 0 or h < 0:
        raise _fail(path, f"{where}: bbox {entry['bbox']} has a negative width or height",
                    "bbox is [x, y, width, height], not corner coordinates")
    segmentation = entry.get("segmentation")
    try:
        mask = object_mask(segmentation, image[3], image[2])
    except (ValueError, KeyError, TypeError) as e:
        raise _fail(path, f"{where}: unusable segmentation ({e})",
                    "export polygons [[x, y, ...]] or RLE {size, counts} for this image's size") from None
    share = (entry.get("attributes") or {}).get("visible_share")
    return CocoObject(int(entry.get("id", 0)), category, (x, y, x + w, y + h), segmentation,
                      bool(entry.get("iscrowd", 0)), None if mask is None else int(np.count_nonzero(mask)),
                      float(share) if isinstance(share, (int, float)) else None)


def read_coco(path: str | Path) -> CocoFile:
    """Read and check an instances.json; raises CocoError naming the file, the cause and what to do."""
    path = str(path)
    doc = _load_json(path)
    images = {}
    for entry in doc["images"]:
        image = _image(path, entry)
        if image[0] in images:
            raise _fail(path, f"image id {image[0]} appears twice", "give every image its own id")
        images[image[0]] = image
    objects: dict[int, list[CocoObject]] = {i: [] for i in images}
    for entry in doc["annotations"]:
        image_id = entry.get("image_id")
        if image_id not in images:
            raise _fail(path, f"annotation {entry.get('id', '?')} names image_id {image_id!r}, which is not "
                        "in images", "export images and annotations together")
        objects[image_id].append(_object(path, entry, images[image_id]))
    categories = {int(c["id"]): str(c.get("name", c["id"])) for c in doc["categories"]}
    unknown = sorted({o.category_id for found in objects.values() for o in found} - set(categories))
    if unknown:
        raise _fail(path, f"annotations use category ids {unknown} that categories does not list",
                    "export the categories with the annotations")
    return CocoFile(path, tuple(CocoImage(i, f, w, h, tuple(objects[i])) for i, f, w, h in images.values()),
                    categories, {int(c["id"]): str(c.get("supercategory", "")) for c in doc["categories"]})


def resolve_categories(coco: CocoFile, wanted: Iterable[str], option: str) -> set[int]:
    """Category ids for names or ids as a user types them; unknown ones raise CocoError listing the choices."""
    by_name = {name.lower(): cid for cid, name in coco.categories.items()}
    ids = set()
    for word in wanted:
        word = word.strip()
        if word.lower() in by_name:
            ids.add(by_name[word.lower()])
        elif word.isdigit() and int(word) in coco.categories:
            ids.add(int(word))
        else:
            choices = ", ".join(f"{name} ({cid})" for cid, name in sorted(coco.categories.items()))
            raise _fail(coco.path, f"{option} {word!r} is no category of this file",
                        f"choose from {choices}")
    return ids


def default_bottle_categories(coco: CocoFile) -> set[int]:
    """Categories named "bottle" or under supercategory "bottle"; else COCO's id 44; else CocoError."""
    ids = {cid for cid, name in coco.categories.items()
           if name.lower() == "bottle" or coco.supercategories.get(cid, "").lower() == "bottle"}
    if ids:
        return ids
    if COCO_BOTTLE_ID in coco.categories:
        return {COCO_BOTTLE_ID}
    choices = ", ".join(f"{name} ({cid})" for cid, name in sorted(coco.categories.items()))
    raise _fail(coco.path, "no category is named 'bottle' and none has id 44",
                f"say which are bottles with --bottle_category NAME (categories: {choices})")


# ---------------------------------------------------------------- writing

def coco_document(images: Sequence[dict], annotations: Sequence[dict], categories: Sequence[dict],
                  description: str = "") -> dict:
    """An instances.json document; annotation ids are numbered from 1 when absent."""
    numbered = [{"id": i, **a} if "id" not in a else a for i, a in enumerate(annotations, start=1)]
    return {"info": {"description": description}, "images": list(images), "annotations": numbered,
            "categories": list(categories)}


def mask_annotation(image_id: int, category_id: int, mask: np.ndarray, compressed: bool = True) -> dict:
    """One annotation for a bool mask: tight bbox, pixel-count area, RLE segmentation."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    x0, y0, x1, y1 = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1) if len(xs) else (0, 0, 0, 0)
    return {"image_id": image_id, "category_id": category_id, "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": int(np.count_nonzero(mask)), "segmentation": rle_encode(mask, compressed), "iscrowd": 0}
