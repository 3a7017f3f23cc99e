"""Each product's bottles, areas and share of shelf over many photos (a folder, a scan), from summary rows.

Rows of scans made before classifiers knew several products carry only `target_*` columns: they read as
one product called `target`. Share of shelf over many photos is a ratio of sums, never a mean of each
photo's share: a product's bottles over all bottles, and its area over all bottles' area, where a product
bottle counts its measured `area_px` and any other bottle its `expected_area_px` (as the rows' own
`shelf_share_area`). A photo with many bottles weighs more, as it does on the shelf.
"""
from __future__ import annotations

import dataclasses

LEGACY = "target"  # the one product of a scan whose rows have no `products`
OTHER = "other"  # a bottle of none of the products


@dataclasses.dataclass(frozen=True)
class ProductInRow:
    """One product in one photo."""

    product: str
    bottles: int
    area_px: float
    area_ratio: float  # of the photo
    shelf_share_count: float
    shelf_share_area: float


def row_products(row: dict) -> list[ProductInRow]:
    """The row's products, in the classifier's order; a row without `products` is one product, `target`."""
    entries = row.get("products")
    if entries is None:
        area = row.get("target_area_px") or 0.0
        return [ProductInRow(LEGACY, row["target_bottles"], area, row["target_area_ratio"],
                             share(row["target_bottles"], row["bottles"]),
                             share(area, shelf_area(row.get("detections") or [])))]
    return [ProductInRow(e["product"], e["bottles"], e["area_px"], e["area_ratio"], e["shelf_share_count"],
                         e["shelf_share_area"]) for e in entries]


def detection_product(d: dict) -> tuple[str, float]:
    """A detection's product (or `other`) and that product's score; older rows have only is_target."""
    if d.get("product") is None:
        return (LEGACY if d["is_target"] else OTHER), d["target_score"]
    return d["product"], d.get("product_score", d["target_score"])


def shelf_area(detections: list[dict]) -> float:
    """The area the photo's bottles take on the shelf: measured for product bottles, expected for the rest."""
    return float(sum(d["area_px"] if d.get("area_px") is not None else d["expected_area_px"] for d in detections))


def share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


@dataclasses.dataclass
class ProductCount:
    """One product over many photos."""

    bottles: int = 0
    area_px: float = 0.0
    images: int = 0  # photos holding at least one
    area_ratio_sum: float = 0.0  # over those photos

    @property
    def mean_area_pct(self) -> float | None:
        """Its area in % of the photo, on average over the photos holding it."""
        return 100.0 * self.area_ratio_sum / self.images if self.images else None


@dataclasses.dataclass
class ProductMix:
    """Every product's count over many photos, and the shelf they share (all bottles, all their area)."""

    counts: dict[str, ProductCount] = dataclasses.field(default_factory=dict)  # the classifier's order
    bottles: int = 0
    area_px: float = 0.0

    def add(self, row: dict) -> None:
        self.add_photo(row_products(row), row["bottles"], shelf_area(row["detections"] or []))

    def add_photo(self, products: list[ProductInRow], bottles: int, area_px: float) -> None:
        self.bottles += bottles
        self.area_px += area_px
        for p in products:
            c = self.counts.setdefault(p.product, ProductCount())
            c.bottles += p.bottles
            c.area_px += p.area_px
            if p.bottles:
                c.images += 1
                c.area_ratio_sum += p.area_ratio

    def merge(self, other: "ProductMix") -> None:
        self.bottles += other.bottles
        self.area_px += other.area_px
        for name, o in other.counts.items():
            c = self.counts.setdefault(name, ProductCount())
            for f in dataclasses.fields(c):
                setattr(c, f.name, getattr(c, f.name) + getattr(o, f.name))

    @property
    def names(self) -> list[str]:
        return list(self.counts)

    def count(self, name: str) -> ProductCount:
        return self.counts.get(name) or ProductCount()

    def share_count(self, name: str) -> float:
        return share(self.count(name).bottles, self.bottles)

    def share_area(self, name: str) -> float:
        return share(self.count(name).area_px, self.area_px)

    def other(self) -> ProductCount:
        """The bottles of none of the products, with the area they take."""
        return ProductCount(self.bottles - sum(c.bottles for c in self.counts.values()),
                            max(self.area_px - sum(c.area_px for c in self.counts.values()), 0.0))


def several(names: list[str]) -> bool:
    """Whether a report shows products one by one: a scan of one product (the legacy `target` or a named
    one) reads as before, with its name where known."""
    return len(names) > 1
