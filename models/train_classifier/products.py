"""Products as the classifier sees them: label vectors for training and the scan's decision rule.

A classifier knows products P_1..P_n and "other" (which is no column). Training labels are one-hot
rows over the products (an "other" crop is all zeros), so each product's head is one-vs-rest.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.train_classifier.data import OTHER

LEGACY_PRODUCTS = ("target",)  # what a shelfscan.json without "products" means


def one_hot(product: str, products: Sequence[str]) -> np.ndarray:
    """[P] float: 1 in the product's column, zeros for "other"."""
    row = np.zeros(len(products))
    if product != OTHER:
        row[list(products).index(product)] = 1.0
    return row


def decide(product_scores: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """The scan's rule per row: among products at or above their threshold the highest score wins;
    none passing is -1 ("other"). product_scores: [N, P]; returns [N] column indices."""
    scores = np.asarray(product_scores, dtype=np.float64)
    passing = np.where(scores >= np.asarray(thresholds, dtype=np.float64)[None, :], scores, -np.inf)
    best = passing.argmax(axis=1) if scores.shape[1] else np.zeros(len(scores), int)
    return np.where(np.isfinite(passing.max(axis=1, initial=-np.inf)), best, -1)


def names(decided: np.ndarray, products: Sequence[str]) -> list[str]:
    """Column indices from `decide` as product names ("other" for -1)."""
    return [products[i] if i >= 0 else OTHER for i in decided]
