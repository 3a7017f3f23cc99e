"""Labeled crops for the classifier: a folder of label subfolders or a crops.jsonl, local or gs://.

Every crop is identified by the sha256 of its bytes, so caches and the training-data hash follow
content, not file names.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from typing import Sequence

import numpy as np

from transforms.beam_files import read_text
from transforms.image_file import CloudError, Limits, decode_image, read_bytes

_LOG = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclasses.dataclass(frozen=True, eq=False)
class LabeledCrop:
    """One labeled crop, decoded.

    uri: where the bytes came from (absolute path or gs:// URI).
    label: True for the target product.
    group: the source image; crops sharing a group never straddle a split.
    brand: an optional finer category for per-brand metrics ("" when unknown).
    sha256: hex digest of the file bytes.
    pixels: H x W x 3 uint8 RGB.
    """

    uri: str
    label: bool
    group: str
    brand: str
    sha256: str
    pixels: np.ndarray


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


def _folder_entries(root: str, group_pattern: str | None) -> list[dict]:
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
        entries = _folder_entries(path.rstrip("/"), group_pattern)
    if not entries:
        raise CropDataError(f"no crops found in {path}: expected a crops.jsonl or a folder with "
                            "one subfolder per label (target/, other/) holding images")
    return entries


SKIP = "skip"


def unlabeled_text(count: int, path: str) -> str:
    return (f"{count} rows have no label: label them with `python -m models.label {path}` "
            "(T target, O other, S skip)")


def load_crops(path: str, positive: str = "target", group_pattern: str | None = None,
               limit: int | None = None) -> tuple[list[LabeledCrop], list[str]]:
    """Read and decode every labeled crop; returns (crops, skipped) where skipped says 'uri: cause'.

    positive: the label that means "target"; every other label is a negative, except "skip" (set on
    the labeling page for crops that show no usable bottle). Crops with an empty label (not labeled
    yet) or "skip" are left out, with a line in skipped saying how many.
    """
    entries = list_crops(path, group_pattern)
    unlabeled = [e for e in entries if not e["label"]]  # e.g. pipeline.run --crops_output rows nobody labeled yet
    passed = [e for e in entries if e["label"] == SKIP]
    entries = [e for e in entries if e["label"] and e["label"] != SKIP][:limit]
    crops, skipped = [], []
    if unlabeled:
        skipped.append(unlabeled_text(len(unlabeled), path))
    if passed:
        skipped.append(f"{len(passed)} crops in {path} are labeled '{SKIP}' and are not used")
    for e in entries:
        try:
            data, pixels = read_crop(e["uri"])
        except (OSError, ValueError, CloudError) as err:  # missing file, truncated or non-image bytes
            skipped.append(f"{e['uri']}: {type(err).__name__}: {err}")
            continue
        crops.append(LabeledCrop(uri=e["uri"], label=e["label"] == positive, group=str(e["group"]),
                                 brand=e.get("brand", ""), sha256=hashlib.sha256(data).hexdigest(),
                                 pixels=pixels))
    for line in skipped[:5]:
        _LOG.warning("not used: %s", line)
    labels = {c.label for c in crops}
    if labels != {True, False}:
        targets = sum(c.label for c in crops)
        found = (f"found {targets} '{positive}' and {len(crops) - targets} other labeled crops"
                 + (f"; {unlabeled_text(len(unlabeled), path)}" if unlabeled else ""))
        raise CropDataError(f"{path}: training needs both '{positive}' crops and other crops; {found}")
    return crops, skipped


def check_enough(crops: Sequence[LabeledCrop], positive: str, minimum: int, path: str) -> None:
    """CropDataError unless both the target and the other crops number at least `minimum`."""
    targets = sum(c.label for c in crops)
    short = [(name, have) for name, have in ((positive, targets), ("other", len(crops) - targets)) if have < minimum]
    if short:
        wanted = " and ".join(f"{minimum - have} more '{name}' (have {have})" for name, have in short)
        raise CropDataError(f"{path}: label at least {wanted} before training (python -m models.label "
                            f"{path}); --min_per_class {minimum} sets the minimum, 0 trains on anything")


def data_hash(crops: Sequence[LabeledCrop]) -> str:
    """A hash of the labeled set's content: image bytes, labels and groups, in any order."""
    lines = sorted(f"{c.sha256} {int(c.label)} {c.group}" for c in crops)
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
