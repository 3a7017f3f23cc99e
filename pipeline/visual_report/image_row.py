"""One image as the report's table and CSV show it: plain numbers, a folder, a link to the photo.

Beam-free. Summary rows from older scans lack `folder`, `captured_at` and `detections.mask_polygon`;
everything here reads them with `.get` so both kinds of rows work.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path
from urllib.parse import quote

# why an area was measured the way it was, in words (area_source -> table word, legend text)
AREA_WORDS = {"mask": "outline", "expected": "box"}
AREA_LEGEND = {"mask": "measured from the bottle's outline",
               "expected": "estimated from the box, because the outline looked wrong"}
TOP_FOLDER = "(top folder)"


@dataclasses.dataclass(frozen=True)
class ImageRow:
    """One summarized image, ready for a table cell or a CSV field.

    area_pct: the targets' area in % of the photo. mean_score: mean classifier score of the bottles
    counted as targets (None without targets). max_score: the highest classifier score of any bottle,
    how close the image came to holding a target (None without bottles). area_sources: "outline 2, box 1".
    """

    image_uri: str
    folder: str
    captured_at: str
    bottles: int
    targets: int
    area_pct: float
    mean_score: float | None
    max_score: float | None
    area_sources: str
    link: str


def photo_link(uri: str) -> str:
    """A link a browser opens: file:// for local paths, the Cloud console's URL for gs://."""
    if uri.startswith("gs://"):
        bucket, _, name = uri[len("gs://"):].partition("/")
        return f"https://storage.cloud.google.com/{bucket}/{quote(name)}"
    if "://" in uri:
        return uri
    return Path(os.path.abspath(uri)).as_uri()  # a relative path is taken from where the report is made


def parent_dir(uri: str) -> str:
    return uri.rsplit("/", 1)[0] if "/" in uri else ""


def common_dir(a: list[str] | None, parent: str) -> list[str]:
    """The common leading path parts of `a` (None: none seen yet) and `parent`."""
    parts = parent.split("/")
    if a is None:
        return parts
    n = 0
    while n < min(len(a), len(parts)) and a[n] == parts[n]:
        n += 1
    return a[:n]


def relative_folder(parent: str, root: list[str]) -> str:
    """`parent` relative to the common root of the scan's folders ("" is the root itself)."""
    return "/".join(parent.split("/")[len(root):])


def folder_of(row: dict, root: list[str]) -> str:
    """The row's folder: its `folder` column when the scan wrote one, else its directory below the root."""
    given = row.get("folder")
    return (given if given is not None else relative_folder(parent_dir(row["image_uri"]), root)) or TOP_FOLDER


def captured(value) -> str:
    """EXIF capture time as a sortable 'YYYY-MM-DD HH:MM', or "" when the photo has none."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    text = str(value)
    if len(text) >= 10 and text[4] == ":" and text[7] == ":":  # EXIF's own 'YYYY:MM:DD HH:MM:SS'
        text = f"{text[:4]}-{text[5:7]}-{text[8:]}"
    return text[:16].replace("T", " ")


def area_sources(detections: list[dict]) -> str:
    counts: dict[str, int] = {}
    for d in detections:
        if d["is_target"] and d.get("area_source"):
            word = AREA_WORDS.get(d["area_source"], d["area_source"])
            counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{word} {n}" for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def image_row(row: dict, root: list[str]) -> ImageRow:
    dets = row["detections"] or []
    target_scores = [d["target_score"] for d in dets if d["is_target"]]
    return ImageRow(
        image_uri=row["image_uri"], folder=folder_of(row, root), captured_at=captured(row.get("captured_at")),
        bottles=row["bottles"], targets=row["target_bottles"], area_pct=100.0 * row["target_area_ratio"],
        mean_score=sum(target_scores) / len(target_scores) if target_scores else None,
        max_score=max((d["target_score"] for d in dets), default=None),
        area_sources=area_sources(dets), link=photo_link(row["image_uri"]))


def percent(value: float) -> str:
    """4.7 %, 0.04 %, 0 %: enough digits to tell small areas apart, no raw fractions."""
    if value == 0:
        return "0 %"
    return f"{value:.1f} %" if value >= 1 else f"{value:.2g} %"
