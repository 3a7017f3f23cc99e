"""Which synthetic brands count as products, and the label each bottle gets in crops.jsonl and COCO.

`--label_by target` (the default) is the one-product setting: micellar_rose bottles are `target`, all
others `other`. `--label_by brand` labels every bottle by its brand, so a multi-product classifier learns
each brand; `--products a,b,c` narrows the products to those brands and labels the rest `other`, which is
how a shelf looks to an analyst tracking a few products among everyone else's.
"""
from __future__ import annotations

import argparse
import dataclasses

from models.synth.bottles import BRANDS, TARGET_BRAND

BRAND_NAMES = tuple(b.name for b in BRANDS)
LABEL_BY = ("target", "brand")
OTHER = "other"


@dataclasses.dataclass(frozen=True)
class Labeling:
    """How bottles are labeled: by target (`target`/`other`) or by brand, with optional product brands.

    products: the brands that are products when labeling by brand (None: every brand).
    """

    label_by: str = "target"
    products: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.label_by not in LABEL_BY:
            raise ValueError(f"label_by {self.label_by!r}: choose one of {', '.join(LABEL_BY)}")
        if self.products is not None and self.label_by != "brand":
            raise ValueError("products name brands to label by name; they need label_by 'brand'")

    @property
    def brands(self) -> tuple[str, ...]:
        """The brands that are products, in the order given (target mode: the target brand)."""
        if self.label_by == "target":
            return (TARGET_BRAND,)
        return self.products if self.products is not None else BRAND_NAMES

    def label(self, brand: str) -> str:
        """A bottle's crops.jsonl label (also its crop folder)."""
        if brand not in self.brands:
            return OTHER
        return "target" if self.label_by == "target" else brand


BY_TARGET = Labeling()  # the default: micellar_rose is the target, every other brand other


def parse_brands(text: str) -> tuple[str, ...]:
    """"a,b,c" -> ("a", "b", "c") of known brands; anything else is an argparse error naming the brands."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in BRAND_NAMES]
    if not names or unknown:
        cause = f"unknown brand {unknown[0]!r}" if unknown else "no brand named"
        raise argparse.ArgumentTypeError(f"{cause}; choose from {', '.join(BRAND_NAMES)} (comma-separated)")
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"{text!r} names a brand twice; name each once")
    return names
