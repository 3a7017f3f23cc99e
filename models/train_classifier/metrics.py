"""Test-split metrics of a crop classifier: one dict for metrics.json and a printed summary."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from models.evaluation import metrics
from models.train_classifier import confidence
from models.train_classifier.products import called as called_by_rule
from transforms.products import OTHER

MAX_PR_POINTS = 200


def _pr_points(y: np.ndarray, p: np.ndarray) -> list[dict]:
    curve = metrics.pr_curve(y, p)
    count = min(MAX_PR_POINTS, len(curve.thresholds))
    keep = np.unique(np.linspace(0, len(curve.thresholds) - 1, count).round().astype(int))
    return [{"threshold": round(float(curve.thresholds[i]), 6), "precision": round(float(curve.precision[i]), 5),
             "recall": round(float(curve.recall[i]), 5)} for i in keep]


def _breakdown(keys: Sequence[str], y: np.ndarray, p: np.ndarray, predicted: np.ndarray,
               correct: np.ndarray) -> dict[str, dict]:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        rows[k].append(i)
    out = {}
    for k, idx in sorted(rows.items()):
        idx = np.array(idx)
        n_target = int(y[idx].sum())
        errors = int((~correct[idx]).sum())
        out[k] = {"n": len(idx), "n_target": n_target, "errors": errors,
                  "accuracy": round(1 - errors / len(idx), 4),
                  "mean_score": round(float(p[idx].mean()), 4),
                  # for a brand that is all one label these are its recall or its false positive rate
                  "predicted_target_rate": round(float(predicted[idx].mean()), 4)}
    return out


def evaluate(labels: np.ndarray, scores: np.ndarray, threshold: float, brands: Sequence[str],
             groups: Sequence[str], worst_groups: int = 20, predicted: np.ndarray | None = None,
             correct: np.ndarray | None = None) -> dict:
    """accuracy, auc, precision, recall, f1 at `threshold`, confusion, PR points and breakdowns.

    predicted: what was called a product (default scores >= threshold); correct: which crops were
    called right (default predicted == labels; with several products, the right product).
    """
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(scores, dtype=np.float64)
    predicted = p >= threshold if predicted is None else np.asarray(predicted, dtype=bool)
    correct = predicted == y if correct is None else np.asarray(correct, dtype=bool)
    tp, fp = int((predicted & y).sum()), int((predicted & ~y).sum())
    fn, tn = int((~predicted & y).sum()), int((~predicted & ~y).sum())
    precision, recall = (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = 0 < y.sum() < len(y)
    out = {
        "n": len(y), "n_target": int(y.sum()),
        "accuracy": round(float(correct.mean()) if len(y) else 0.0, 5),
        "auc": round(metrics.roc_auc(y, p), 5) if both else None,
        "precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5),
        "threshold": float(threshold),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
                      "matrix": [[tn, fp], [fn, tp]], "rows": "true other, true target",
                      "columns": "predicted other, predicted target"},
        "pr_curve": _pr_points(y, p) if y.any() else [],
    }
    if any(brands):
        out["per_brand"] = _breakdown([b or "(none)" for b in brands], y, p, predicted, correct)
    per_group = _breakdown(list(groups), y, p, predicted, correct)
    worst = sorted(per_group.items(), key=lambda kv: (-kv[1]["errors"], kv[0]))
    out["intervals_95"] = confidence.intervals(out, y, p, list(groups), predicted, correct)
    out["small_split"] = confidence.small_split_warning(len(y), int(y.sum()), len(per_group))
    out["per_group"] = {"groups": len(per_group),
                        "groups_with_errors": sum(1 for v in per_group.values() if v["errors"]),
                        "worst": [{"group": g, **v} for g, v in worst[:worst_groups] if v["errors"]]}
    return out


PRODUCT_KEYS = ("n", "n_target", "auc", "precision", "recall", "f1", "threshold", "intervals_95", "pr_curve")


def evaluate_products(truth: Sequence[str], product_scores: np.ndarray, thresholds: Sequence[float],
                      products: Sequence[str], brands: Sequence[str], groups: Sequence[str]) -> dict:
    """`evaluate` of "any product or other" under the scan's rule (the highest passing product wins),
    plus per product (that product against everything else, at its threshold) and a confusion
    matrix over the products and other (rows true, columns predicted)."""
    truth = np.asarray(truth, dtype=str)
    scores = np.asarray(product_scores, dtype=np.float64).reshape(len(truth), len(products))
    called = np.asarray(called_by_rule(scores, products, thresholds), dtype=str)
    out = evaluate(truth != OTHER, scores.max(axis=1, initial=0.0), min(thresholds), brands, groups,
                   predicted=called != OTHER, correct=called == truth)
    out["per_product"] = {}
    for k, product in enumerate(products):
        m = evaluate(truth == product, scores[:, k], thresholds[k], [""] * len(truth), groups,
                     predicted=called == product)
        out["per_product"][product] = {key: m[key] for key in PRODUCT_KEYS}
    classes = [*products, OTHER]
    out["product_confusion"] = {"classes": classes, "rows": "true", "columns": "predicted (the scan's rule)",
                                "matrix": [[int(((truth == a) & (called == b)).sum()) for b in classes]
                                           for a in classes]}
    return out


def interval_text(interval) -> str:
    """'0.571-1.000', or 'n/a' where the metric has no interval (no positives, one class)."""
    return f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else "n/a"


def _intervals(found: dict) -> str:
    return ", ".join(f"{k} {interval_text(found.get(k))}" for k in ("accuracy", "auc", "precision", "recall", "f1"))


def evaluate_examples(products: Sequence[str], truth: Sequence[str], scores: np.ndarray,
                      thresholds: Sequence[float], brands: Sequence[str], groups: Sequence[str]) -> dict:
    """`evaluate` for one product (its scores against its threshold), `evaluate_products` for several."""
    if len(products) == 1:
        return evaluate(np.asarray(truth) != OTHER, np.asarray(scores).reshape(len(truth), 1)[:, 0], thresholds[0],
                        brands, groups)
    return evaluate_products(truth, scores, thresholds, products, brands, groups)


def summary_text(m: dict, title: str = "test") -> str:
    """A few readable lines: headline numbers, confusion matrix, per product, the weakest brands."""
    c = m["confusion"]
    auc = f"{m['auc']:.4f}" if m["auc"] is not None else "n/a"
    several = "per_product" in m
    lines = [
        f"{title}: {m['n']} crops ({m['n_target']} {'of a product' if several else 'target'})  accuracy "
        f"{m['accuracy']:.4f}  AUC {auc}  precision {m['precision']:.4f}  recall {m['recall']:.4f}  F1 {m['f1']:.4f}"
        f"  @ threshold {m['threshold']:.4f}{' (the lowest)' if several else ''}",
        *([f"  95 % intervals: {_intervals(m['intervals_95'])}"] if m.get("intervals_95") else []),
        *([f"  {m['small_split']}"] if m.get("small_split") else []),
        "  confusion      predicted other  predicted target",
        f"  true other     {c['tn']:>15d}  {c['fp']:>16d}",
        f"  true target    {c['fn']:>15d}  {c['tp']:>16d}",
    ]
    if several:
        lines += products_text(m)
    brands = m.get("per_brand") or {}
    if brands:
        lines.append("  per brand (n, target, accuracy, predicted-target rate):")
        for name, b in sorted(brands.items(), key=lambda kv: (kv[1]["accuracy"], kv[0])):
            lines.append(f"    {name:<20s} {b['n']:>5d} {b['n_target']:>6d}  {b['accuracy']:.3f}  "
                         f"{b['predicted_target_rate']:.3f}")
    g = m["per_group"]
    lines.append(f"  source images with an error: {g['groups_with_errors']} of {g['groups']}")
    return "\n".join(lines)


def products_text(m: dict) -> list[str]:
    """Per product at its threshold with 95 % intervals, and the confusion matrix over products and other."""
    width = max(len(name) for name in m["product_confusion"]["classes"]) + 2
    lines = ["  per product, at its threshold (a crop goes to the highest product past its threshold):",
             f"    {'product':<{width}s}{'n':>5s}  precision (95 %)      recall (95 %)         F1      AUC     "
             "threshold"]
    for name, p in m["per_product"].items():
        found, auc = p["intervals_95"], f"{p['auc']:.4f}" if p["auc"] is not None else "n/a   "
        lines.append(f"    {name:<{width}s}{p['n_target']:>5d}  {p['precision']:.3f} "
                     f"({interval_text(found['precision'])})  {p['recall']:.3f} ({interval_text(found['recall'])})"
                     f"  {p['f1']:.4f}  {auc}  {p['threshold']:.4f}")
    confusion = m["product_confusion"]
    lines.append("  confusion over products (rows true, columns predicted):")
    lines.append(" " * (4 + width) + "".join(f"{name:>{width}s}" for name in confusion["classes"]))
    for name, row in zip(confusion["classes"], confusion["matrix"]):
        lines.append(f"    {name:<{width}s}" + "".join(f"{v:>{width}d}" for v in row))
    return lines
