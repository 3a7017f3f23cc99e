"""Score a scan's summaries against models.synth ground truth, end to end.

    python -m pipeline.evaluate --truth DIR/truth.jsonl --summaries OUT/summaries/scan_id=X/

Prints one JSON object, then a readable table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import numpy as np

from models.metrics import DetectionCounts, detection_counts, match_greedy
from models.synth.truth import read_truth


def read_summaries(path: str) -> list[dict[str, Any]]:
    """Summary rows from a Parquet file, a directory of them (recursively), or a glob.

    In a directory, staged files and Beam temp shards of a scan still running are left out.
    """
    import pyarrow.parquet as pq

    from transforms.write import is_result_file

    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*.parquet") if is_result_file(str(f.relative_to(p))))
    else:
        files = sorted(Path().glob(path)) or [p]
    rows: list[dict[str, Any]] = []
    for f in files:
        rows += pq.read_table(f).to_pylist()
    return rows


def pair_rows(truth: list[dict], rows: list[dict]) -> list[tuple[dict, dict | None]]:
    """Pair each truth image with the summary row whose URI ends with the truth's relative path."""
    by_suffix: dict[tuple[str, ...], dict] = {}
    for row in rows:
        parts = PurePosixPath(row["image_uri"].replace("\\", "/")).parts
        for k in (1, 2, 3):
            by_suffix.setdefault(tuple(parts[-k:]), row)
    paired = []
    for record in truth:
        rel = PurePosixPath(record["image"]).parts
        paired.append((record, by_suffix.get(tuple(rel))))
    return paired


def _boxes(items: Iterable[dict]) -> np.ndarray:
    return np.asarray([b["box"] for b in items], dtype=np.float64).reshape(-1, 4)


def score(truth: list[dict], rows: list[dict], iou: float = 0.5) -> dict[str, Any]:
    """Detection and target precision/recall, exact target counts, and area errors of matched targets."""
    det, tgt = DetectionCounts(0, 0, 0), DetectionCounts(0, 0, 0)
    exact, rel_errors, sources, missing = 0, [], {"mask": 0, "expected": 0}, 0
    scored = 0
    for record, row in pair_rows(truth, rows):
        if row is None:
            missing += 1
            continue
        scored += 1
        dets = row["detections"]
        det += detection_counts(_boxes(dets), [d["detection_score"] for d in dets], _boxes(record["bottles"]), iou)
        pred_t = [d for d in dets if d["is_target"]]
        true_t = [b for b in record["bottles"] if b["is_target"]]
        matched = match_greedy(_boxes(pred_t), [d["target_score"] for d in pred_t], _boxes(true_t), iou)
        tgt += DetectionCounts(int((matched >= 0).sum()), int((matched < 0).sum()),
                               len(true_t) - int((matched >= 0).sum()))
        exact += int(row["target_bottles"] == len(true_t))
        for d, j in zip(pred_t, matched):
            if j >= 0:
                truth_area = true_t[j]["area_px"]
                rel_errors.append(abs(d["area_px"] - truth_area) / max(truth_area, 1))
                sources[d["area_source"]] = sources.get(d["area_source"], 0) + 1
    errors = np.asarray(rel_errors)
    return {
        "images": scored,
        "images_without_summary": missing,
        "detection_precision": round(det.precision, 4),
        "detection_recall": round(det.recall, 4),
        "target_precision": round(tgt.precision, 4),
        "target_recall": round(tgt.recall, 4),
        "target_count_exact": round(exact / scored, 4) if scored else 0.0,
        "area_median_rel_error": round(float(np.median(errors)), 4) if len(errors) else None,
        "area_p90_rel_error": round(float(np.percentile(errors, 90)), 4) if len(errors) else None,
        "matched_targets": len(errors),
        "area_source_counts": sources,
    }


def table(result: dict[str, Any]) -> str:
    width = max(len(k) for k in result)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in result.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Score scan summaries against synthetic ground truth.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--truth", required=True, help="truth.jsonl written by models.synth")
    parser.add_argument("--summaries", required=True, help="Parquet file, directory or glob of summaries")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU for a detection to count as found")
    args = parser.parse_args(argv)
    result = score(read_truth(args.truth), read_summaries(args.summaries), args.iou)
    print(json.dumps(result))
    print()
    print(table(result))


if __name__ == "__main__":
    main()
