"""Which images the page holds: the table's capped rows, and the few photos embedded in the file.

The file must stay small enough to email for any scan size, so both are capped: at most
`collect.TABLE_ROWS` rows, and photos until `PHOTO_BYTES` are spent (the first `LARGE` of them at
`gallery.LARGE_SIDE`). Photos go to the images most worth a look, taken in turn from each kind.
"""
from __future__ import annotations

import dataclasses
import math

from pipeline.visual_report import gallery
from pipeline.visual_report.collect import GALLERY, TABLE_ROWS, ScanStats
from pipeline.visual_report.image_row import AREA_WORDS, image_row, percent
from pipeline.visual_report.product_sections import change_text
from pipeline.visual_report.products import detection_product, row_products

LARGE = 8  # photos embedded at the large size
PHOTO_BYTES = 2_500_000  # data URIs of all embedded photos together
MAX_VERTICES = 48  # an outline drawn on the page; more only adds bytes


@dataclasses.dataclass
class Picks:
    """groups: (title, image URIs) to look at first; rows: the table's (row, change) pairs."""

    groups: list[tuple[str, list[str]]]
    rows: list[tuple[dict, object]]


def choose(s: ScanStats) -> Picks:
    """The photo groups, and the table rows: every grouped image, then the table's own choice."""
    by_change = sorted(((r, c) for r, c in s.table.items() if c), key=lambda rc: -rc[1].size)
    groups = []
    if s.comparison:
        groups.append((f"Changed most since scan {s.comparison.scan_id}", [r for r, _ in by_change][:GALLERY]))
    groups += [
        ("Largest target areas", s.largest.items()),
        (f"Least certain: a classifier score closest to {s.threshold:.2f}", s.uncertain.items()),
        ("Target area from the box, because the outline looked wrong", s.fallbacks.items()),
        ("Random sample", s.sample.items),
    ]
    rows: dict[str, tuple] = {}
    changes = {r["image_uri"]: c for r, c in s.table.items()}
    for _, members in groups:
        for r in members:
            rows.setdefault(r["image_uri"], (r, changes.get(r["image_uri"])))
    for r, c in s.table.items():
        if len(rows) >= TABLE_ROWS:
            break
        rows.setdefault(r["image_uri"], (r, c))
    return Picks([(t, [r["image_uri"] for r in m]) for t, m in groups if m], list(rows.values())[:TABLE_ROWS])


def embed(groups: list[tuple[str, list[str]]]) -> dict[str, tuple[str | None, str | None]]:
    """uri -> (data URI, None) or (None, why unreadable), one group's image at a time, within budget."""
    order = []
    for i in range(max((len(m) for _, m in groups), default=0)):
        order += [m[i] for _, m in groups if i < len(m) and m[i] not in order]
    out, spent, side = {}, 0, gallery.LARGE_SIDE
    for uri in order:
        if len(out) >= LARGE:
            side = gallery.SMALL_SIDE
        data, why = gallery.photo(uri, side)
        if data and spent + len(data) > PHOTO_BYTES and side == gallery.LARGE_SIDE:
            side = gallery.SMALL_SIDE  # the budget's rest goes to more photos, smaller
            data, why = gallery.photo(uri, side)
        if data and spent + len(data) > PHOTO_BYTES:
            break
        out[uri] = (data, why)
        spent += len(data or "")
    return out


def _outline(polygon) -> list[int]:
    points = list(polygon or [])
    step = max(1, math.ceil(len(points) / 2 / MAX_VERTICES))
    return [round(v) for k in range(0, len(points) - 1, 2 * step) for v in points[k:k + 2]]


def _detection(d: dict, pixels: float, column: dict[str, int]) -> list:
    """[x0, y0, x1, y1, is_target, detector score, target score, area, area from, outline, product's column
    (-1: other), its score]."""
    area = d.get("area_px")
    product, score = detection_product(d)
    return [*(round(v) for v in d["box"]), int(d["is_target"]), round(d["detection_score"], 2),
            round(d["target_score"], 3), percent(100.0 * area / pixels) if area and pixels else "",
            AREA_WORDS.get(d.get("area_source") or "", ""), _outline(d.get("mask_polygon")),
            column.get(product, -1), round(score, 3)]


@dataclasses.dataclass(frozen=True)
class RowShape:
    """What every table row shows besides its own numbers: the scan's products (their columns on the
    page when there are several) and whether changes are told per product."""

    products: tuple[str, ...] = ()
    by_product: bool = False
    changes_by_product: bool = False


def row_data(row: dict, change, root: list[str], photo: int, shape: RowShape = RowShape()) -> dict:
    """One table row for the page's script (short keys: a 2,000-row table is most of the file)."""
    r = image_row(row, root)
    pixels = float(row["width"] * row["height"])
    column = {name: i for i, name in enumerate(shape.products)}
    out = {"u": r.image_uri, "f": r.folder, "c": r.captured_at, "b": r.bottles, "t": r.targets,
           "a": round(r.area_pct, 3), "m": None if r.mean_score is None else round(r.mean_score, 3),
           "x": None if r.max_score is None else round(r.max_score, 3), "s": r.area_sources, "l": r.link,
           "w": row["width"], "h": row["height"], "p": photo, "g": change_text(change, shape.changes_by_product),
           "k": change.size if change else 0,
           "d": [_detection(d, pixels, column) for d in row["detections"] or []]}
    if shape.by_product:  # each product's bottles, in the scan's order
        mine = {p.product: p.bottles for p in row_products(row)}
        out["q"] = [mine.get(name, 0) for name in shape.products]
    return out
