"""Test-split metrics of a crop classifier: one dict for metrics.json and a printed summary."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from models.evaluation import metrics
from models.train_classifier import confidence

MAX_PR_POINTS = 200


def _pr_points(y: np.ndarray, p: np.ndarray) -> list[dict]:
    curve = metrics.pr_curve(y, p)
    count = min(MAX_PR_POINTS, len(curve.thresholds))
    keep = np.unique(np.linspace(0, len(curve.thresholds) - 1, count).round().astype(int))
    return [{"threshold": round(float(curve.thresholds[i]), 6), "precision": round(float(curve.precision[i]), 5),
             "recall": round(float(curve.recall[i]), 5)} for i in keep]


def _breakdown(keys: Sequence[str], y: np.ndarray, p: np.ndarray, predicted: np.ndarray) -> dict[str, dict]:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        rows[k].append(i)
    out = {}
    for k, idx in sorted(rows.items()):
        idx = np.array(idx)
        n_target = int(y[idx].sum())
        errors = int((predicted[idx] != y[idx]).sum())
        out[k] = {"n": len(idx), "n_target": n_target, "errors": errors,
                  "accuracy": round(1 - errors / len(idx), 4),
                  "mean_score": round(float(p[idx].mean()), 4),
                  # for a brand that is all one label these are its recall or its false positive rate
                  "predicted_target_rate": round(float(predicted[idx].mean()), 4)}
    return out


def evaluate(labels: np.ndarray, scores: np.ndarray, threshold: float, brands: Sequence[str],
             groups: Sequence[str], worst_groups: int = 20) -> dict:
    """accuracy, auc, precision, recall, f1 at `threshold`, confusion, PR points and breakdowns."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(scores, dtype=np.float64)
    predicted = p >= threshold
    tp, fp = int((predicted & y).sum()), int((predicted & ~y).sum())
    fn, tn = int((~predicted & y).sum()), int((~predicted & ~y).sum())
    precision, recall = metrics.precision_recall_at(y, p, threshold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = 0 < y.sum() < len(y)
    out = {
        "n": len(y), "n_target": int(y.sum()),
        "accuracy": round((tp + tn) / max(len(y), 1), 5),
        "auc": round(metrics.roc_auc(y, p), 5) if both else None,
        "precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5),
        "threshold": float(threshold),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
                      "matrix": [[tn, fp], [fn, tp]], "rows": "true other, true target",
                      "columns": "predicted other, predicted target"},
        "pr_curve": _pr_points(y, p) if y.any() else [],
    }
    if any(brands):
        out["per_brand"] = _breakdown([b or "(none)" for b in brands], y, p, predicted)
    per_group = _breakdown(list(groups), y, p, predicted)
    worst = sorted(per_group.items(), key=lambda kv: (-kv[1]["errors"], kv[0]))
    out["intervals_95"] = confidence.intervals(out, y, p, list(groups))
    out["small_split"] = confidence.small_split_warning(len(y), int(y.sum()), len(per_group))
    out["per_group"] = {"groups": len(per_group),
                        "groups_with_errors": sum(1 for v in per_group.values() if v["errors"]),
                        "worst": [{"group": g, **v} for g, v in worst[:worst_groups] if v["errors"]]}
    return out


def interval_text(interval) -> str:
    """'0.571-1.000', or 'n/a' where the metric has no interval (no positives, one class)."""
    return f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else "n/a"


def _intervals(found: dict) -> str:
    return ", ".join(f"{k} {interval_text(found.get(k))}" for k in ("accuracy", "auc", "precision", "recall", "f1"))


def summary_text(m: dict, title: str = "test") -> str:
    """A few readable lines: headline numbers, confusion matrix, the weakest brands."""
    c = m["confusion"]
    auc = f"{m['auc']:.4f}" if m["auc"] is not None else "n/a"
    lines = [
        f"{title}: {m['n']} crops ({m['n_target']} target)  accuracy {m['accuracy']:.4f}  AUC {auc}  "
        f"precision {m['precision']:.4f}  recall {m['recall']:.4f}  F1 {m['f1']:.4f}  @ threshold {m['threshold']:.4f}",
        *([f"  95 % intervals: {_intervals(m['intervals_95'])}"] if m.get("intervals_95") else []),
        *([f"  {m['small_split']}"] if m.get("small_split") else []),
        "  confusion      predicted other  predicted target",
        f"  true other     {c['tn']:>15d}  {c['fp']:>16d}",
        f"  true target    {c['fn']:>15d}  {c['tp']:>16d}",
    ]
    brands = m.get("per_brand") or {}
    if brands:
        lines.append("  per brand (n, target, accuracy, predicted-target rate):")
        for name, b in sorted(brands.items(), key=lambda kv: (kv[1]["accuracy"], kv[0])):
            lines.append(f"    {name:<20s} {b['n']:>5d} {b['n_target']:>6d}  {b['accuracy']:.3f}  "
                         f"{b['predicted_target_rate']:.3f}")
    g = m["per_group"]
    lines.append(f"  source images with an error: {g['groups_with_errors']} of {g['groups']}")
    return "\n".join(lines)
