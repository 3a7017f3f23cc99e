"""The breakdown by folder (store, month, ...): counts per folder, gathered while the scan streams by.

A row's folder is its `folder` column when the scan wrote one; otherwise its directory relative to the
common directory of every image in the scan, which is known only at the end, so counts are kept per
directory and named at the end. Memory grows with the number of folders, not of images.
"""
from __future__ import annotations

import dataclasses

from pipeline.visual_report.image_row import TOP_FOLDER, common_dir, parent_dir, relative_folder
from pipeline.visual_report.products import ProductMix

SHOWN = 100  # folders on the page, most images first; the rest are summed in one line


@dataclasses.dataclass
class FolderCounts:
    images: int = 0
    bottles: int = 0
    targets: int = 0
    with_target: int = 0
    area_ratio_sum: float = 0.0  # over images with a target
    products: ProductMix = dataclasses.field(default_factory=ProductMix)

    def add(self, other: "FolderCounts") -> None:
        for f in dataclasses.fields(self):
            if f.name != "products":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.products.merge(other.products)

    @property
    def with_target_pct(self) -> float:
        return 100.0 * self.with_target / self.images if self.images else 0.0

    @property
    def mean_area_pct(self) -> float | None:
        return 100.0 * self.area_ratio_sum / self.with_target if self.with_target else None


@dataclasses.dataclass
class Folders:
    """Counts per folder; `root` is the common directory of the rows without a `folder` column."""

    counts: dict = dataclasses.field(default_factory=dict)  # (given folder or None, directory) -> counts
    root: list | None = None

    def add(self, row: dict) -> None:
        given = row.get("folder")
        if given is None:
            key = (None, parent_dir(row["image_uri"]))
            self.root = common_dir(self.root, key[1])
        else:
            key = (given, "")
        c = self.counts.setdefault(key, FolderCounts())
        c.images += 1
        c.bottles += row["bottles"]
        c.targets += row["target_bottles"]
        c.products.add(row)
        if row["target_bottles"]:
            c.with_target += 1
            c.area_ratio_sum += row["target_area_ratio"]

    def named(self) -> list[tuple[str, FolderCounts]]:
        """(folder name, counts), most images first; a folder given by both kinds of rows counts once."""
        merged: dict[str, FolderCounts] = {}
        for (given, directory), c in self.counts.items():
            name = given if given is not None else relative_folder(directory, self.root or [])
            merged.setdefault(name or TOP_FOLDER, FolderCounts()).add(c)
        return sorted(merged.items(), key=lambda kv: (-kv[1].images, kv[0]))
