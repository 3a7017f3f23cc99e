"""Labeled crops for the classifier: a folder of label subfolders or a crops.jsonl, local or gs://.

Every crop is identified by the sha256 of its bytes, so caches and the training-data hash follow
content, not file names.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import re
from typing import Sequence

import numpy as np

from transforms.beam_files import read_text
from transforms.image_file import CloudError, Limits, decode_image, read_bytes
from transforms.products import OTHER, name_problem

_LOG = logging.getLogger(__name__)

SKIP = "skip"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclasses.dataclass(frozen=True, eq=False)
class LabeledCrop:
    """One labeled crop, decoded.

    uri: where the bytes came from (absolute path or gs:// URI).
    product: the product it shows, or "other".
    group: the source image; crops sharing a group never straddle a split.
    brand: an optional finer category for per-brand metrics ("" when unknown).
    sha256: hex digest of the file bytes.
    pixels: H x W x 3 uint8 RGB.
    source: "label" (labeled by someone), "reference" (a reference photo cropped to its product) or
      "unlabeled" (a scan's crop nobody labeled, taken as other).
    """

    uri: str
    product: str
    group: str
    brand: str
    sha256: str
    pixels: np.ndarray
    source: str = "label"

    @property
    def label(self) -> bool:
        """True for any product, False for other."""
        return self.product != OTHER


class CropDataError(ValueError):
    """The labeled set cannot be used; the message names the path and what to fix."""


def _join(base: str, relative: str) -> str:
    from transforms.beam_files import FileSystems

    if "://" in relative or relative.startswith("/"):
        return relative
    return FileSystems.join(base, relative)


def _dirname(path: str) -> str:
    from transforms.beam_files import FileSystems

    return FileSystems.split(path)[0]


def read_crop(uri: str) -> tuple[bytes, np.ndarray]:
    """A crop's bytes and its upright RGB pixels, read by the scan's guarded reader."""
    limits = Limits()
    data = read_bytes(uri, limits.max_bytes)
    return data, decode_image(uri, data, limits.max_pixels).pixels


def folder_entries(root: str, group_pattern: str | None) -> list[dict]:
    from transforms.beam_files import FileSystems

    pattern = re.compile(group_pattern) if group_pattern else None
    entries = []
    for match in FileSystems.match([FileSystems.join(root, "*", "*")])[0].metadata_list:
        path = match.path
        if not path.lower().endswith(IMAGE_SUFFIXES):
            continue
        label_dir, name = FileSystems.split(path)
        label = FileSystems.split(label_dir)[1]
        stem = name.rsplit(".", 1)[0]
        found = pattern.search(stem) if pattern else None
        group = found.group(1) if found else stem  # without a pattern each crop is its own group
        entries.append({"uri": path, "label": label, "group": f"{label}/{group}" if not found else group})
    return sorted(entries, key=lambda e: e["uri"])


def _jsonl_entries(path: str) -> list[dict]:
    base = _dirname(path)
    entries = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            uri, label = record["uri"], record["label"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CropDataError(f"{path}:{n}: expected a JSON object with 'uri' and 'label' ({e!r})") from e
        entries.append({"uri": _join(base, uri), "label": label or "", "group": record.get("group") or uri,
                        "brand": record.get("brand") or ""})
    return entries


def list_crops(path: str, group_pattern: str | None = None) -> list[dict]:
    """The {uri, label, group[, brand]} entries of a crops.jsonl or a folder of label subfolders.

    group_pattern: for folders, a regex whose first group, searched in the file stem, names the
    source image (e.g. r"^(\\d+)_\\d+$" for synth's 000001_03.jpg); otherwise each crop is its own group.
    """
    if path.endswith(".jsonl"):
        entries = _jsonl_entries(path)
    else:
        entries = folder_entries(path.rstrip("/"), group_pattern)
    if not entries:
        raise CropDataError(f"no crops found in {path}: expected a crops.jsonl or a folder with "
                            "one subfolder per label (target/, other/) holding images")
    return entries


def unlabeled_text(count: int, path: str) -> str:
    return (f"{count} rows have no label: label them with `python -m models.label {path}` "
            "(T target, O other, S skip)")


@dataclasses.dataclass
class CropFile:
    """What one crops.jsonl or label folder holds: labeled crops (decoded), unlabeled entries, notes."""

    path: str
    crops: list[LabeledCrop]
    unlabeled: list[dict]  # {uri, label: "", group, brand} rows nobody labeled yet, not decoded
    skipped: list[str]  # "uri: cause" and counts of rows left out


def _product_of(label: str, positive: str | None, path: str, count: int) -> str:
    if positive is not None:  # one product against everything else, whatever the other labels say
        return positive if label == positive else OTHER
    problem = None if label == OTHER else name_problem(label)
    if problem:
        raise CropDataError(f"{path}: label {label!r} ({count} crops) cannot be a product: {problem}; fix those "
                            "rows, or pass --positive NAME to train one product against every other label")
    return label


def decode_entries(entries: Sequence[dict], skipped: list[str], source: str = "label",
                   product_of=lambda e: e["label"]) -> list[LabeledCrop]:
    """Read and decode each entry's crop; an unreadable one becomes a 'uri: cause' line in `skipped`."""
    crops = []
    for e in entries:
        try:
            data, pixels = read_crop(e["uri"])
        except (OSError, ValueError, CloudError) as err:  # missing file, truncated or non-image bytes
            skipped.append(f"{e['uri']}: {type(err).__name__}: {err}")
            continue
        crops.append(LabeledCrop(uri=e["uri"], product=product_of(e), group=str(e["group"]),
                                 brand=e.get("brand", ""), sha256=hashlib.sha256(data).hexdigest(),
                                 pixels=pixels, source=source))
    return crops


def read_crops(path: str, positive: str | None = None, group_pattern: str | None = None,
               limit: int | None = None) -> CropFile:
    """Decode every labeled crop of a crops.jsonl or label folder; unlabeled rows are listed, not decoded.

    positive: None: every label but "other" and "skip" is a product ("target" is the legacy single
    product); a name: that label is the one product and every other label is "other". "skip" (set on
    the labeling page for crops that show no usable bottle) and empty labels are left out, with a
    line in skipped saying how many.
    """
    entries = list_crops(path, group_pattern)
    unlabeled = [e for e in entries if not e["label"]]  # e.g. pipeline.run --crops_output rows nobody labeled yet
    passed = [e for e in entries if e["label"] == SKIP]
    entries = [e for e in entries if e["label"] and e["label"] != SKIP][:limit]
    counts = collections.Counter(e["label"] for e in entries)
    products = {label: _product_of(label, positive, path, n) for label, n in counts.items()}
    skipped = []
    if unlabeled:
        skipped.append(unlabeled_text(len(unlabeled), path))
    if passed:
        skipped.append(f"{len(passed)} crops in {path} are labeled '{SKIP}' and are not used")
    crops = decode_entries(entries, skipped, product_of=lambda e: products[e["label"]])
    return CropFile(path, crops, unlabeled, skipped)


def warn_skipped(skipped: Sequence[str]) -> None:
    """Say what was left out (the first few lines)."""
    for line in skipped[:5]:
        _LOG.warning("not used: %s", line)


def products_of(crops: Sequence[LabeledCrop]) -> tuple[str, ...]:
    """The product names the crops show, sorted; "other" is not one."""
    return tuple(sorted({c.product for c in crops} - {OTHER}))


def check_classes(found: CropFile, positive: str | None) -> None:
    """CropDataError unless the labeled crops show at least one product and some other crops."""
    crops = found.crops
    targets = sum(c.label for c in crops)
    if targets and targets < len(crops):
        return
    wanted = f"'{positive}' crops" if positive else "crops of at least one product"
    shown = f"'{positive}'" if positive else "product"
    what = (f"found {targets} {shown} and {len(crops) - targets} other labeled crops"
            + (f"; {unlabeled_text(len(found.unlabeled), found.path)}" if found.unlabeled else ""))
    raise CropDataError(f"{found.path}: training needs {wanted} and other crops; {what}")


def load_crops(path: str, positive: str | None = None, group_pattern: str | None = None,
               limit: int | None = None) -> tuple[list[LabeledCrop], list[str]]:
    """The labeled crops of `path` (see read_crops) and the skipped lines; both products and other needed."""
    found = read_crops(path, positive, group_pattern, limit)
    warn_skipped(found.skipped)
    check_classes(found, positive)
    return found.crops, found.skipped


def check_enough(counts: dict[str, int], minimum: int, path: str) -> None:
    """CropDataError unless every class (each product, and "other") has at least `minimum` crops."""
    short = [(name, have) for name, have in counts.items() if have < minimum]
    if short:
        wanted = " and ".join(f"{minimum - have} more '{name}' (have {have})" for name, have in short)
        raise CropDataError(f"{path}: label at least {wanted} before training (python -m models.label "
                            f"{path}); --min_per_class {minimum} sets the minimum, 0 trains on anything")


def class_counts(crops: Sequence[LabeledCrop], products: Sequence[str]) -> dict[str, int]:
    """Crops per product, in the products' order, then "other"."""
    counts = collections.Counter(c.product for c in crops)
    return {name: counts[name] for name in (*products, OTHER)}


def data_hash(crops: Sequence[LabeledCrop]) -> str:
    """A hash of the labeled set's content: image bytes, labels and groups, in any order.

    One product against other hashes its labels as 1/0, as before products had names, so a
    two-class set keeps its hash.
    """
    named = len(products_of(crops)) > 1
    lines = sorted(f"{c.sha256} {c.product if named else int(c.label)} {c.group}" for c in crops)
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
