"""Grouped splits: every crop of one source image lands on the same side.

Validation and test each get about their share of target crops and of other crops, so both see both
classes whenever the groups allow it.
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
    """TRAIN/VAL/TEST per crop, whole groups at a time.

    Groups are visited in a seeded random order and given to test, then validation, while they still
    need target or other crops to reach about the fraction of each class (at least one crop of each
    class where possible); training always keeps crops of both classes. Everything else is TRAIN.
    """
    groups, labels = np.asarray(groups), np.asarray(labels, dtype=bool)
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(f"need 0 <= val, test fractions and val + test < 1; got {val_fraction}, {test_fraction}")
    names = np.random.default_rng(seed).permutation(np.unique(groups))
    counts = {g: (int(labels[groups == g].sum()), int((~labels[groups == g]).sum())) for g in names}
    left_t, left_o = int(labels.sum()), int((~labels).sum())
    side = {g: TRAIN for g in names}
    for name, fraction in ((TEST, test_fraction), (VAL, val_fraction)):
        if fraction <= 0:
            continue
        need_t, need_o = max(1, round(fraction * labels.sum())), max(1, round(fraction * (~labels).sum()))
        got_t = got_o = 0
        for g in names:
            t, o = counts[g]
            if side[g] != TRAIN or (got_t >= need_t and got_o >= need_o):
                continue
            useful = (t and got_t < need_t) or (o and got_o < need_o)
            if useful and left_t - t >= 1 and left_o - o >= 1:
                side[g] = name
                got_t, got_o, left_t, left_o = got_t + t, got_o + o, left_t - t, left_o - o
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
