"""Per-product scores, shared by both evaluators: precision, recall, exact counts and share-of-shelf error.

The products are the classifier's (`shelfscan.json` "products"; a one-product classifier's product is
`target`). A true bottle is the product its truth names (a models.synth brand, a COCO category name)
when the classifier knows that product, else `other`. Share of shelf is a product's share of all the
bottles of a photo, by count and by area; both are 0 in a photo without bottles, as the scan writes them.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from models.evaluation.metrics import DetectionCounts, match_greedy
from transforms.products import LEGACY_TARGET, OTHER


def truth_product(name: str | None, is_target: bool | None, products: Sequence[str]) -> str:
    """The product a true bottle counts as: its own name when the classifier knows it; `target` for a
    target bottle when the classifier's one product is `target`; else `other`."""
    if name in products:
        return name
    if is_target and LEGACY_TARGET in products:
        return LEGACY_TARGET
    return OTHER


def target_rule(products: Sequence[str], has_targets: bool) -> Callable[[str | None, bool | None], bool] | None:
    """Which true bottles are targets, given (product name, is_target): for a classifier of several
    products every bottle of one of them (a scan's targets are its product bottles); else the truth's
    own targets; None when the truth does not say."""
    if products and tuple(products) != (LEGACY_TARGET,):
        return lambda name, is_target: truth_product(name, is_target, products) != OTHER
    return (lambda name, is_target: bool(is_target)) if has_targets else None


def left_out(products: Sequence[str], has_targets: bool) -> str | None:
    """Why per-product scores of a classifier's `products` cannot be given, or None when they can."""
    if tuple(products) == (LEGACY_TARGET,) and not has_targets:
        return ("per-product metrics left out: the classifier's one product is 'target' and the truth does not "
                "say which bottles are targets")
    return None


class Bottle(NamedTuple):
    """One bottle of a photo, true or predicted: box [x0, y0, x1, y1] in original pixels, x1/y1 exclusive."""

    box: Sequence[float]
    product: str  # a product name or `other`
    area_px: float | None = None  # the mask's pixels; None where unknown
    score: float = 1.0  # ranks predictions when they are matched to the truth


class Share(NamedTuple):
    """What a photo's summary says of one product."""

    bottles: int
    share_count: float  # its bottles over all bottles
    share_area: float | None  # its area over all bottles' area; None where an area is unknown


def shares(bottles: Sequence[Bottle], products: Sequence[str]) -> dict[str, Share]:
    """Each product's count and share of shelf among `bottles` (every bottle of one photo)."""
    areas = [b.area_px for b in bottles]
    known = all(a is not None for a in areas)
    total_area = float(sum(areas)) if known else 0.0
    out = {}
    for product in products:
        mine = [b for b in bottles if b.product == product]
        share_area = (sum(b.area_px for b in mine) / total_area if total_area else 0.0) if known else None
        out[product] = Share(len(mine), len(mine) / len(bottles) if bottles else 0.0, share_area)
    return out


def shares_from_row(row: Mapping, products: Sequence[str]) -> dict[str, Share]:
    """A summary row's `products` entries as Shares; a product without an entry has no bottles."""
    entries = {e["product"]: e for e in row.get("products") or ()}
    return {p: Share(int(entries[p]["bottles"]), float(entries[p]["shelf_share_count"]),
                     float(entries[p]["shelf_share_area"])) if p in entries else Share(0, 0.0, 0.0)
            for p in products}


@dataclasses.dataclass
class _Tally:
    counts: DetectionCounts = DetectionCounts(0, 0, 0)
    exact: int = 0
    images: int = 0
    true_bottles: int = 0
    count_errors: list[float] = dataclasses.field(default_factory=list)
    area_errors: list[float] = dataclasses.field(default_factory=list)


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


class ProductScores:
    """Per-product scores summed over photos: `add` each photo, then `result()`."""

    def __init__(self, products: Sequence[str], iou: float = 0.5):
        self.products, self.iou = tuple(products), iou
        self._tallies = {p: _Tally() for p in self.products}

    def add(self, truth: Sequence[Bottle], predicted: Sequence[Bottle],
            summary: Mapping[str, Share] | None = None) -> None:
        """One photo: its true bottles (products from truth_product), the predicted ones, and what its
        summary says of each product (default: computed from `predicted`, whose areas must then be known)."""
        summary = shares(predicted, self.products) if summary is None else summary
        expected = shares(truth, self.products)
        for product, tally in self._tallies.items():
            mine = [b for b in predicted if b.product == product]
            true = [b for b in truth if b.product == product]
            boxes = np.asarray([b.box for b in mine], np.float64).reshape(-1, 4)
            matched = match_greedy(boxes, [b.score for b in mine],
                                   np.asarray([b.box for b in true], np.float64).reshape(-1, 4), self.iou)
            found = int((matched >= 0).sum())
            tally.counts += DetectionCounts(found, len(mine) - found, len(true) - found)
            said, due = summary[product], expected[product]
            tally.images += 1
            tally.true_bottles += len(true)
            tally.exact += int(said.bottles == due.bottles)
            tally.count_errors.append(abs(said.share_count - due.share_count))
            if said.share_area is not None and due.share_area is not None:
                tally.area_errors.append(abs(said.share_area - due.share_area))

    def result(self) -> dict[str, dict]:
        """Per product: precision, recall, tp/fp/fn, true bottles, exact-count rate over photos, and the
        mean absolute error of shelf_share_count and shelf_share_area (None where no area was known)."""
        return {p: {"precision": round(t.counts.precision, 4), "recall": round(t.counts.recall, 4),
                    "tp": t.counts.tp, "fp": t.counts.fp, "fn": t.counts.fn, "true_bottles": t.true_bottles,
                    "count_exact": round(t.exact / t.images, 4) if t.images else None,
                    "share_count_mae": _mean(t.count_errors), "share_area_mae": _mean(t.area_errors)}
                for p, t in self._tallies.items()}


COLUMNS = (("precision", "precision"), ("recall", "recall"), ("count_exact", "count exact"),
           ("share_count_mae", "share err (count)"), ("share_area_mae", "share err (area)"),
           ("true_bottles", "true bottles"))


def product_table(per_product: Mapping[str, Mapping]) -> str:
    """The per-product scores as an aligned text table, one product a line."""
    head = ["product", *(title for _, title in COLUMNS)]
    lines = [[p, *("-" if s[key] is None else str(s[key]) for key, _ in COLUMNS)] for p, s in per_product.items()]
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))) for row in [head, *lines])
