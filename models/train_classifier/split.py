"""Grouped splits: every crop of one source image lands on the same side.

Validation and test each get about their share of the crops of every class (each product, and
other), so both see every class whenever the groups allow it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

TRAIN, VAL, TEST = "train", "val", "test"


def _strata(groups: np.ndarray, labels: np.ndarray, negative, rng: np.random.Generator) -> list[np.ndarray]:
    """Groups by the first (sorted) positive class they hold, then the groups holding none."""
    names = np.unique(groups)
    positives = [c for c in np.unique(labels) if c != negative]
    first = {}
    for g in names:
        held = set(labels[groups == g].tolist())
        first[g] = next((i for i, c in enumerate(positives) if c in held), len(positives))
    return [rng.permutation(names[np.array([first[g] == i for g in names], dtype=bool)])
            for i in range(len(positives) + 1)]


def split_groups(groups: Sequence[str], labels: Sequence, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, seed: int = 0) -> np.ndarray:
    """TRAIN/VAL/TEST per crop, whole groups at a time.

    labels: a class per crop (True/False for target or not, or product names). Groups are visited
    in a seeded random order and given to test, then validation, while they still need crops of
    some class to reach about the fraction of that class (at least one crop of each class where
    possible); training always keeps crops of every class. Everything else is TRAIN.
    """
    groups, labels = np.asarray(groups), np.asarray(labels)
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(f"need 0 <= val, test fractions and val + test < 1; got {val_fraction}, {test_fraction}")
    names = np.random.default_rng(seed).permutation(np.unique(groups))
    classes = np.unique(labels)
    counts = {g: np.array([int((labels[groups == g] == c).sum()) for c in classes]) for g in names}
    total = np.array([int((labels == c).sum()) for c in classes])
    left = total.copy()
    side = {g: TRAIN for g in names}
    for name, fraction in ((TEST, test_fraction), (VAL, val_fraction)):
        if fraction <= 0:
            continue
        need = np.maximum(1, np.round(fraction * total)).astype(int)
        got = np.zeros(len(classes), int)
        for g in names:
            held = counts[g]
            if side[g] != TRAIN or np.all(got >= need):
                continue
            useful = np.any((held > 0) & (got < need))
            if useful and np.all(left - held >= 1):
                side[g] = name
                got, left = got + held, left - held
    return np.array([side[g] for g in groups])


def kfold_groups(groups: Sequence[str], labels: Sequence, folds: int, seed: int = 0,
                 negative=False) -> np.ndarray:
    """A fold index in [0, folds) per crop; groups are dealt round-robin within each stratum
    (the first positive class a group holds; `negative` is the class that is no product)."""
    if folds < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {folds}")
    groups, labels = np.asarray(groups), np.asarray(labels)
    fold_of = {}
    for names in _strata(groups, labels, negative, np.random.default_rng(seed)):
        for i, name in enumerate(names):
            fold_of[name] = i % folds
    return np.array([fold_of[g] for g in groups])


def fold_split(fold: np.ndarray, k: int, folds: int) -> np.ndarray:
    """Round k of k-fold: fold k is TEST, fold k+1 is VAL (threshold, head tuning), the rest TRAIN."""
    return np.where(fold == k, TEST, np.where(fold == (k + 1) % folds, VAL, TRAIN))


def check_no_leak(groups: Sequence[str], sides: Sequence[str]) -> None:
    """Raise if any group has crops on two sides of the split."""
    seen: dict[str, str] = {}
    for g, s in zip(groups, sides):
        if seen.setdefault(g, s) != s:
            raise AssertionError(f"group {g!r} is in both {seen[g]} and {s}")
