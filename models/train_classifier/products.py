"""Products as the classifier sees them: label vectors for training and the scan's decision rule.

A classifier knows products P_1..P_n and "other" (which is no column). Training labels are one-hot
rows over the products (an "other" crop is all zeros), so each product's head is one-vs-rest. What a
row of scores is called is the scan's own rule (transforms.products), so metrics count what a scan counts.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from transforms.products import LEGACY_TARGET, OTHER, ProductRule

LEGACY_PRODUCTS = (LEGACY_TARGET,)  # what a shelfscan.json without "products" means


def one_hot(product: str, products: Sequence[str]) -> np.ndarray:
    """[P] float: 1 in the product's column, zeros for "other"."""
    row = np.zeros(len(products))
    if product != OTHER:
        row[list(products).index(product)] = 1.0
    return row


def called(product_scores: np.ndarray, products: Sequence[str], thresholds: Sequence[float]) -> list[str]:
    """What the scan calls each row of [N, P] scores (transforms.products.ProductRule): among products at or
    above their threshold the highest score wins; none passing is "other"."""
    rule = ProductRule(tuple(products), tuple(float(t) for t in thresholds))
    return [rule.decide(row)[0] for row in np.asarray(product_scores, dtype=np.float64)]
