"""Score a scan's summaries against ground truth, end to end.

    python -m pipeline.evaluate --truth DIR/truth.jsonl --summaries OUT/summaries/scan_id=X/
    python -m pipeline.evaluate --truth instances.json [--target_category NAME] --summaries ...

The truth is a models.synth truth.jsonl or a COCO instances.json (as labeling tools export).
Prints one JSON object, then a readable table and, for a scan whose rows name products, a table per
product (models/evaluation/products.py: a synthetic brand or a COCO category name is the product).
detection_ap* are COCO box AP of the boxes the scan kept, those scoring at least the detector's threshold;
`python -m models.evaluation` scores the detector at every score, so its AP is the detector's own.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from models.evaluation.coco_ap import ScoredImage, box_ap
from models.evaluation.metrics import DetectionCounts, detection_counts, drop_ignored, match_greedy
from models.evaluation.products import (
    Bottle,
    ProductScores,
    left_out,
    product_table,
    shares_from_row,
    target_rule,
    truth_product,
)
from models.evaluation.truth import Truth, TruthError, TruthImage, add_truth_options, truth_from_options
from pipeline.help_format import DefaultsHelpFormatter


class SummariesError(ValueError):
    """--summaries names nothing readable; the message is one line."""


def read_summaries(path: str) -> list[dict[str, Any]]:
    """Summary rows from a Parquet file, a directory of them (recursively), or a glob.

    A scan's folder (OUTPUT/summaries/scan_id=X) or a table's (OUTPUT/summaries) is read as its commit
    log says: the committed run's files only. Elsewhere in a directory, staged files and Beam temp
    shards of a scan still running are left out.
    """
    import pyarrow.parquet as pq

    from transforms.commit_log import committed_in_folder, is_result_file

    p = Path(path)
    committed = committed_in_folder(path) if p.is_dir() else None
    if committed is not None:
        files = [Path(f) for f in committed]
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*.parquet") if is_result_file(str(f.relative_to(p))))
    else:
        files = [Path(f) for f in sorted(glob.glob(path))]
    if not files and not p.is_dir():  # a folder without summaries is a scan whose every input failed
        raise SummariesError(f"--summaries {path}: no Parquet summaries there; pass a scan's folder "
                             "(OUTPUT/summaries/scan_id=X), a file or a glob")
    rows: list[dict[str, Any]] = []
    for f in files:
        try:
            rows += pq.read_table(f).to_pylist()
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise SummariesError(f"--summaries {f}: not readable as Parquet ({str(e).splitlines()[0][:200]}); "
                                 "pass the summaries a scan wrote") from None
    return rows


def pair_rows(truth: Sequence[TruthImage], rows: list[dict]) -> list[tuple[TruthImage, dict | None]]:
    """Pair each truth image with the summary row whose URI ends with the truth's relative path.

    The longest matching tail of up to three path parts wins (COCO file names may carry more folders).
    """
    by_suffix: dict[tuple[str, ...], dict] = {}
    for row in rows:
        parts = PurePosixPath(row["image_uri"].replace("\\", "/")).parts
        for k in (1, 2, 3):
            by_suffix.setdefault(tuple(parts[-k:]), row)
    paired = []
    for image in truth:
        rel = PurePosixPath(image.image.replace("\\", "/")).parts
        found = (by_suffix.get(tuple(rel[-k:])) for k in range(min(3, len(rel)), 0, -1))
        paired.append((image, next((row for row in found if row is not None), None)))
    return paired


def _boxes(items: Iterable) -> np.ndarray:
    return np.asarray([b["box"] if isinstance(b, dict) else b.box for b in items],
                      dtype=np.float64).reshape(-1, 4)


def _as_truth(truth: Truth | Sequence[TruthImage | dict]) -> Truth:
    """A Truth from read_truth, or images given directly (TruthImage or truth.jsonl records)."""
    if isinstance(truth, Truth):
        return truth
    images = tuple(t if isinstance(t, TruthImage) else TruthImage.from_record(t) for t in truth)
    return Truth("", Path("."), images, has_targets=True)


def _detections(image: TruthImage, dets: list[dict], iou: float) -> DetectionCounts:
    boxes, scores = drop_ignored(_boxes(dets), [d["detection_score"] for d in dets], _boxes(image.bottles),
                                 image.ignore, iou)
    return detection_counts(boxes, scores, _boxes(image.bottles), iou)


def _for_ap(image: TruthImage, dets: list[dict]) -> ScoredImage:
    areas = [np.nan if b.area_px is None else b.area_px for b in image.bottles]
    return ScoredImage(_boxes(image.bottles), np.asarray(areas, np.float64),
                       np.asarray(image.ignore, np.float64).reshape(-1, 4), _boxes(dets),
                       np.asarray([d["detection_score"] for d in dets], np.float64))


def row_products(rows: Iterable[dict]) -> tuple[str, ...]:
    """The products the scan's classifier knows, in its order, from the rows' `products` entries."""
    found: dict[str, None] = {}
    for row in rows:
        found.update((entry["product"], None) for entry in row.get("products") or ())
    return tuple(found)


def _per_product(paired: list[tuple[TruthImage, dict]], products: tuple[str, ...], iou: float) -> dict[str, dict]:
    scores = ProductScores(products, iou)
    for image, row in paired:
        scores.add([Bottle(b.box, truth_product(b.product, b.is_target, products), b.area_px)
                    for b in image.bottles],
                   [Bottle(d["box"], d["product"], d["area_px"], d["product_score"]) for d in row["detections"]],
                   shares_from_row(row, products))
    return scores.result()


def _targets(paired: list[tuple[TruthImage, dict]], is_target: Callable, iou: float) -> dict[str, Any]:
    """Target precision/recall, exact target counts and area errors of matched targets."""
    tgt, exact, rel_errors, sources = DetectionCounts(0, 0, 0), 0, [], {"mask": 0, "expected": 0}
    for image, row in paired:
        pred_t = [d for d in row["detections"] if d["is_target"]]
        true_t = [b for b in image.bottles if is_target(b.product, b.is_target)]
        matched = match_greedy(_boxes(pred_t), [d["target_score"] for d in pred_t], _boxes(true_t), iou)
        tgt += DetectionCounts(int((matched >= 0).sum()), int((matched < 0).sum()),
                               len(true_t) - int((matched >= 0).sum()))
        exact += int(row["target_bottles"] == len(true_t))
        for d, j in zip(pred_t, matched):
            if j >= 0 and true_t[j].area_px is not None:
                truth_area = true_t[j].area_px
                rel_errors.append(abs(d["area_px"] - truth_area) / max(truth_area, 1))
                sources[d["area_source"]] = sources.get(d["area_source"], 0) + 1
    errors = np.asarray(rel_errors)
    return {
        "target_precision": round(tgt.precision, 4),
        "target_recall": round(tgt.recall, 4),
        "target_tp": tgt.tp, "target_fp": tgt.fp, "target_fn": tgt.fn,
        "target_count_exact": round(exact / len(paired), 4) if paired else 0.0,
        "area_median_rel_error": round(float(np.median(errors)), 4) if len(errors) else None,
        "area_p90_rel_error": round(float(np.percentile(errors, 90)), 4) if len(errors) else None,
        "matched_targets": len(errors),
        "area_source_counts": sources,
    }


def score(truth: Truth | Sequence[TruthImage | dict], rows: list[dict], iou: float = 0.5) -> dict[str, Any]:
    """Detection and target precision/recall, exact target counts, area errors of matched targets, and
    per product (when the rows name products) precision, recall, exact counts and share-of-shelf error.

    A scan of several products counts every product bottle as a target, in the truth too. Target
    metrics need a truth that says which bottles are targets (or products); without one they are left
    out and `notes` says so.
    """
    truth = _as_truth(truth)
    products = row_products(rows)
    det, missing, for_ap, paired = DetectionCounts(0, 0, 0), 0, [], []
    for image, row in pair_rows(truth.images, rows):
        if row is None:
            missing += 1
            continue
        paired.append((image, row))
        det += _detections(image, row["detections"], iou)
        for_ap.append(_for_ap(image, row["detections"]))
    result: dict[str, Any] = {
        "images": len(paired),
        "images_without_summary": missing,
        "detection_precision": round(det.precision, 4),
        "detection_recall": round(det.recall, 4),
        "detection_tp": det.tp, "detection_fp": det.fp, "detection_fn": det.fn,
        **box_ap(for_ap, "detection"),
    }
    is_target = target_rule(products, truth.has_targets)
    if is_target is not None:
        result.update(_targets(paired, is_target, iou))
    notes = list(truth.notes)
    if not products:
        notes.append("per-product metrics left out: the rows name no products (a scan from before products)")
    elif reason := left_out(products, truth.has_targets):
        notes.append(reason)
    else:
        named = [(image, row) for image, row in paired if row.get("products")]
        result["products"] = _per_product(named, products, iou)
        if len(named) < len(paired):
            notes.append(f"per-product metrics over the {len(named)} of {len(paired)} images whose rows name "
                         "products (the others come from a scan before products)")
    if notes:
        result["notes"] = notes
    return result


def table(result: dict[str, Any]) -> str:
    """The result as `name  value` lines, then the per-product table when there is one."""
    lines = {k: v for k, v in result.items() if k != "products"}
    width = max(len(k) for k in lines)
    text = "\n".join(f"{k.ljust(width)}  {'; '.join(v) if k == 'notes' else v}" for k, v in lines.items())
    return text + (f"\n\n{product_table(result['products'])}" if "products" in result else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate",
                                     description="Score scan summaries against ground truth.",
                                     formatter_class=DefaultsHelpFormatter)
    add_truth_options(parser)
    parser.add_argument("--summaries", required=True, help="Parquet file, directory or glob of summaries")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU for a detection to count as found")
    args = parser.parse_args(argv)
    try:
        rows = read_summaries(args.summaries)
    except SummariesError as e:
        sys.exit(f"pipeline.evaluate: {e}")
    try:
        truth = truth_from_options(args, products=row_products(rows))  # COCO categories named after products
    except TruthError as e:
        sys.exit(f"pipeline.evaluate: {e}")
    result = score(truth, rows, args.iou)
    print(json.dumps(result))
    print()
    print(table(result))


if __name__ == "__main__":
    main()
