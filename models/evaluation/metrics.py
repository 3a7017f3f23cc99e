"""Detection and classification metrics in plain numpy, shared by the model and scan evaluators."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from transforms.slicing import box_area, box_iou, intersect

__all__ = ["box_iou"]  # evaluators and tests take it from here, beside the matching that uses it


def match_greedy(pred_boxes: np.ndarray, pred_scores: np.ndarray, true_boxes: np.ndarray,
                 iou_threshold: float = 0.5) -> np.ndarray:
    """Match predictions to truth, best score first, each to its highest-IoU free truth box.

    Returns, per prediction (in the given order), the index of its truth box or -1 (false positive).
    """
    pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    matched = np.full(len(pred_scores), -1, dtype=np.int64)
    if len(pred_scores) == 0 or len(np.asarray(true_boxes).reshape(-1, 4)) == 0:
        return matched
    ious = box_iou(pred_boxes, true_boxes)
    taken = np.zeros(ious.shape[1], dtype=bool)
    for i in np.argsort(-pred_scores, kind="stable"):
        candidates = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            matched[i] = j
            taken[j] = True
    return matched


class DetectionCounts(NamedTuple):
    """True positives, false positives and missed truth boxes, summed over images."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "DetectionCounts") -> "DetectionCounts":  # type: ignore[override]
        return DetectionCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def detection_counts(pred_boxes: np.ndarray, pred_scores: np.ndarray, true_boxes: np.ndarray,
                     iou_threshold: float = 0.5) -> DetectionCounts:
    """TP/FP/FN of one image's predictions (already thresholded) against its truth boxes."""
    matched = match_greedy(pred_boxes, pred_scores, true_boxes, iou_threshold)
    tp = int(np.count_nonzero(matched >= 0))
    return DetectionCounts(tp, len(matched) - tp, len(np.asarray(true_boxes).reshape(-1, 4)) - tp)


def drop_ignored(pred_boxes: np.ndarray, pred_scores: np.ndarray, true_boxes: np.ndarray,
                 ignore_boxes: np.ndarray, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The predictions left once those matching no truth box but lying in an ignored region are dropped.

    COCO's crowd regions: a detection inside one (its overlap over its own area >= iou_threshold)
    counts neither as found nor as wrong.
    """
    boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(pred_scores, np.float64).reshape(-1)
    ignore = np.asarray(ignore_boxes, np.float64).reshape(-1, 4)
    if not len(ignore) or not len(boxes):
        return boxes, scores
    unmatched = match_greedy(boxes, scores, true_boxes, iou_threshold) < 0
    inside = box_area(intersect(boxes[:, None], ignore[None, :])).max(axis=1) >= iou_threshold * np.maximum(
        box_area(boxes), 1e-12)
    keep = ~(unmatched & inside)
    return boxes[keep], scores[keep]


def best_detection_threshold(images: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                             iou_threshold: float = 0.5,
                             candidates: np.ndarray | None = None) -> tuple[float, DetectionCounts]:
    """The score threshold maximizing F1 over images given as (pred_boxes, pred_scores, true_boxes).

    Matching is greedy by score, so each image's matches at a threshold are the matches of its
    full prediction list restricted to predictions above it: match once, then sweep.
    """
    if candidates is None:
        candidates = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores, hits, n_true = [], [], 0
    for boxes, image_scores, truth in images:
        matched = match_greedy(boxes, image_scores, truth, iou_threshold)
        scores.append(np.asarray(image_scores, dtype=np.float64).reshape(-1))
        hits.append(matched >= 0)
        n_true += len(np.asarray(truth).reshape(-1, 4))
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    all_hits = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
    best = (float(candidates[0]), DetectionCounts(0, 0, n_true))
    best_f1 = -1.0
    for t in candidates:
        keep = all_scores >= t
        tp = int(np.count_nonzero(all_hits & keep))
        counts = DetectionCounts(tp, int(np.count_nonzero(keep)) - tp, n_true - tp)
        if counts.f1 > best_f1:
            best, best_f1 = (float(t), counts), counts.f1
    return best


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (probability a random positive outscores a random negative; ties 1/2)."""
    from scipy.stats import mannwhitneyu

    labels = np.asarray(labels).astype(bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes; got {n_pos} positives and {n_neg} negatives")
    # The Mann-Whitney U of the positives counts the pairs they win, ties as one half: AUC = U / pairs.
    u = mannwhitneyu(scores[labels], scores[~labels], method="asymptotic").statistic
    return float(u / (n_pos * n_neg))


class PRCurve(NamedTuple):
    """Precision and recall at each distinct score threshold (descending thresholds)."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> PRCurve:
    """Precision/recall of `score >= t` for every distinct score t."""
    labels = np.asarray(labels).astype(bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each tie group
    n_pos = max(int(labels.sum()), 1)
    return PRCurve(s[last], tp[last] / (tp[last] + fp[last]), tp[last] / n_pos)


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) of the score threshold with the best F1; midway to the next lower score."""
    curve = pr_curve(labels, scores)
    i = int(np.argmax(curve.f1))
    t = curve.thresholds[i]
    if i + 1 < len(curve.thresholds):  # a margin on both sides generalizes better than the edge
        t = 0.5 * (t + curve.thresholds[i + 1])
    return float(t), float(curve.f1[i])


def precision_recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """Precision and recall of `score >= threshold`."""
    labels = np.asarray(labels).astype(bool).reshape(-1)
    predicted = np.asarray(scores, dtype=np.float64).reshape(-1) >= threshold
    tp = int(np.count_nonzero(predicted & labels))
    n_pred, n_pos = int(predicted.sum()), int(labels.sum())
    return (tp / n_pred if n_pred else 1.0), (tp / n_pos if n_pos else 1.0)


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two boolean masks; two empty masks agree perfectly."""
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    union = int(np.count_nonzero(pred | truth))
    return float(np.count_nonzero(pred & truth)) / union if union else 1.0
