"""Which product a bottle is, from the classifier's outputs, and each product's share of an image.

A classifier knows one or more products (its shelfscan.json `products`, default one called `target`) and a
threshold for each. A bottle is the product with the highest score among those at or above their
thresholds, or `other`. Summary rows carry one entry per known product, zeros included, so a query can
sum bottles and areas over folders and months without guessing which products a month lacked.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

import numpy as np

from transforms.records import BottleResult

OTHER = "other"
LEGACY_TARGET = "target"
RESERVED = (OTHER, "skip")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def name_problem(name: Any) -> str | None:
    """Why `name` cannot be a product, or None when it can."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return f"product name {name!r} must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
    if name.lower() in RESERVED:
        return f"product name {name!r} is reserved ({', '.join(RESERVED)} are labels, not products)"
    return None


@dataclasses.dataclass(frozen=True)
class ProductRule:
    """A classifier's products, in the order of its `product_scores` columns, and their thresholds."""

    names: tuple[str, ...] = (LEGACY_TARGET,)
    thresholds: tuple[float, ...] = (0.5,)

    def __post_init__(self) -> None:
        if not self.names or len(self.names) != len(self.thresholds):
            raise ValueError(f"{len(self.names)} products but {len(self.thresholds)} thresholds")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"products repeat a name: {list(self.names)}")
        for name in self.names:
            problem = name_problem(name)
            if problem:
                raise ValueError(problem)

    @property
    def lowest_threshold(self) -> float:
        return min(self.thresholds)

    def scores(self, outputs: Mapping[str, Any]) -> np.ndarray:
        """One crop's score per product: `product_scores` when the model has them, else its one `scores`."""
        if len(self.names) == 1 and "product_scores" not in outputs:
            return np.asarray(outputs["scores"], np.float64).reshape(-1)[:1]
        per = np.asarray(outputs["product_scores"], np.float64).reshape(-1)
        if per.size != len(self.names):
            raise ValueError(f"product_scores has {per.size} values for {len(self.names)} products")
        return per

    def decide(self, scores: np.ndarray) -> tuple[str, float, float]:
        """(product or `other`, its score, its threshold); for `other`, the highest-scoring product's score
        and threshold (how near it came)."""
        above = [i for i, (s, t) in enumerate(zip(scores, self.thresholds)) if s >= t]
        best = max(above, key=lambda i: scores[i]) if above else int(np.argmax(scores))
        return (self.names[best] if above else OTHER), float(scores[best]), float(self.thresholds[best])


def bottle_area(bottle: BottleResult) -> float:
    """The area a bottle adds to the shelf: its measured area for a product, its box's expected area else."""
    return float(bottle.area_px if bottle.area_px is not None else bottle.expected_area_px)


def product_entries(bottles: Sequence[BottleResult], products: Sequence[str], image_px: float) -> list[dict]:
    """The summary row's `products`: per known product its bottles, area, area ratio and share of shelf."""
    shelf_count = len(bottles)
    shelf_area = sum(bottle_area(b) for b in bottles)
    out = []
    for name in products:
        mine = [b for b in bottles if b.product == name]
        area = float(sum(b.area_px or 0.0 for b in mine))
        out.append({
            "product": name,
            "bottles": len(mine),
            "area_px": area,
            "area_ratio": area / image_px if image_px else 0.0,
            "shelf_share_count": len(mine) / shelf_count if shelf_count else 0.0,
            "shelf_share_area": area / shelf_area if shelf_area else 0.0,
        })
    return out
