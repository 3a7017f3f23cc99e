"""How far test metrics can be trusted: 95 % intervals and, for a small test split, a warning in words.

Precision, recall and accuracy get Wilson score intervals (right near 0 and 1, where a small split
puts them); AUC and F1 get a bootstrap over source images, because crops of one image rise and fall
together.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.evaluation import metrics

MIN_CROPS, MIN_PER_CLASS, MIN_IMAGES = 200, 30, 20


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (scipy's); None when there are no trials."""
    from scipy.stats import binomtest

    if trials <= 0:
        return None
    ci = binomtest(successes, trials).proportion_ci(confidence_level=level, method="wilson")
    return round(float(ci.low), 4), round(float(ci.high), 4)


def bootstrap(labels: Sequence[bool], scores: Sequence[float], groups: Sequence[str], predicted: Sequence[bool],
              rounds: int = 1000, seed: int = 0) -> dict[str, tuple[float, float] | None]:
    """2.5 and 97.5 percentiles of AUC and F1 over source images drawn with replacement (None if undefined).

    predicted: what was called positive (scores >= threshold, or a rule over several products).
    """
    y, p, called_all = np.asarray(labels, bool), np.asarray(scores, float), np.asarray(predicted, bool)
    names, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    members = [np.nonzero(index == g)[0] for g in range(len(names))]
    if len(members) < 2 or y.all() or not y.any():
        return {"auc": None, "f1": None}
    rng = np.random.default_rng(seed)
    aucs, f1s = [], []
    for _ in range(rounds):
        pick = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        yy, called = y[pick], called_all[pick]
        if 0 < yy.sum() < len(pick):
            aucs.append(metrics.roc_auc(yy, p[pick]))
            f1s.append(2 * (yy & called).sum() / (yy.sum() + called.sum()))
    if len(aucs) < rounds // 2:  # most resamples held one class only: no honest interval
        return {"auc": None, "f1": None}
    return {name: tuple(round(float(v), 4) for v in np.percentile(values, [2.5, 97.5]))
            for name, values in (("auc", aucs), ("f1", f1s))}


def intervals(m: dict, labels, scores, groups, predicted, correct, seed: int = 0) -> dict:
    """95 % intervals for the accuracy, precision, recall, AUC and F1 of the metrics dict `m`
    (models.train_classifier.metrics); predicted: what `m` counted as called positive; correct:
    which crops it called right (with several products, a called product can be the wrong one)."""
    c = m["confusion"]
    return {"accuracy": wilson(int(np.sum(correct)), m["n"]), "precision": wilson(c["tp"], c["tp"] + c["fp"]),
            "recall": wilson(c["tp"], c["tp"] + c["fn"]),
            **bootstrap(labels, scores, groups, predicted, seed=seed)}


def small_split_warning(n: int, n_target: int, images: int) -> str | None:
    """Words for a test split too small to trust, or None."""
    other = n - n_target
    reasons = []
    if n < MIN_CROPS:
        reasons.append(f"{n} crops (fewer than {MIN_CROPS})")
    if min(n_target, other) < MIN_PER_CLASS:
        reasons.append(f"{n_target} target and {other} other (fewer than {MIN_PER_CLASS} of one class)")
    if images < MIN_IMAGES:
        reasons.append(f"from {images} source image{'s' if images != 1 else ''} (fewer than {MIN_IMAGES})")
    if not reasons:
        return None
    return ("SMALL TEST SPLIT: " + "; ".join(reasons) + ". These numbers can be far from what a scan will "
            "show: read the 95 % intervals, not the point values, and label more crops from more source "
            "images (python -m models.label) before trusting this classifier.")
