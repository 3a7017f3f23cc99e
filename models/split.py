"""Grouped splits: every crop of one source image lands on the same side.

Groups are shuffled within two strata (groups holding any target crop, groups holding none) so that
validation and test both see both classes when there are enough groups.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

TRAIN, VAL, TEST = "train", "val", "test"


def _strata(groups: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    names = np.unique(groups)
    has_target = np.array([labels[groups == g].any() for g in names])
    return [rng.permutation(names[has_target]), rng.permutation(names[~has_target])]


def split_groups(groups: Sequence[str], labels: Sequence[bool], val_fraction: float = 0.15,
                 test_fraction: float = 0.15, seed: int = 0) -> np.ndarray:
    """TRAIN/VAL/TEST per crop, holding out about the given fractions of groups (at least one each
    when a stratum has three or more groups)."""
    groups, labels = np.asarray(groups), np.asarray(labels, dtype=bool)
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(f"need 0 <= val, test fractions and val + test < 1; got {val_fraction}, {test_fraction}")
    side = {}
    for names in _strata(groups, labels, np.random.default_rng(seed)):
        n = len(names)
        n_test = int(round(test_fraction * n))
        n_val = int(round(val_fraction * n))
        if n >= 3:
            n_test = max(n_test, 1 if test_fraction > 0 else 0)
            n_val = max(n_val, 1 if val_fraction > 0 else 0)
        for i, name in enumerate(names):
            side[name] = TEST if i < n_test else VAL if i < n_test + n_val else TRAIN
    return np.array([side[g] for g in groups])


def kfold_groups(groups: Sequence[str], labels: Sequence[bool], folds: int, seed: int = 0) -> np.ndarray:
    """A fold index in [0, folds) per crop; groups are dealt round-robin within each stratum."""
    if folds < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {folds}")
    groups, labels = np.asarray(groups), np.asarray(labels, dtype=bool)
    fold_of = {}
    for names in _strata(groups, labels, np.random.default_rng(seed)):
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
