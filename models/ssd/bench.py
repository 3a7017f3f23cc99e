"""Detectors side by side on the same photos: `python -m models.ssd.bench --truth T [--truth T2] [--detectors
coco,coco-fast,coco-int8] [--batch 1,4] [--limit N]`.

Each photo is cut into the views a scan feeds the detector (the whole image and its slices); every batch of
views goes to each detector in turn, so they share the machine's load alike. Printed per truth: seconds per
detector call at each batch size (median and mean), and per detector the bottles it finds against the truth
(recall and precision at IoU 0.5) and against the first detector's (matched at IoU >= 0.9, only in one of them,
and the widest score gap between matched bottles).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import NamedTuple, Sequence

import numpy as np

from models.evaluation import metrics
from models.evaluation.truth import TruthError, iter_labeled, read_truth
from models.slots import LoadedModel, ModelLoadError, load_model
from transforms.detection import detector_input, to_detections
from transforms.records import DecodedImage, DetectTask
from transforms.slicing import DEFAULT_OVERLAP, slice_size_for

SAME_BOX_IOU = 0.9  # two detectors found the same bottle when their boxes overlap this much
TRUTH_IOU = 0.5


class Agreement(NamedTuple):
    """Bottles two detectors both found (boxes at IoU >= SAME_BOX_IOU), those only one found, and the
    widest score gap between the matched ones."""

    matched: int = 0
    only_first: int = 0
    only_other: int = 0
    max_score_gap: float = 0.0

    def __add__(self, other: "Agreement") -> "Agreement":  # type: ignore[override]
        return Agreement(self.matched + other.matched, self.only_first + other.only_first,
                         self.only_other + other.only_other, max(self.max_score_gap, other.max_score_gap))


def agreement(first: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> Agreement:
    """How far two detectors' (boxes, scores) of one photo agree."""
    pair = metrics.match_greedy(*other, first[0], SAME_BOX_IOU)  # per bottle of `other`, its first's or -1
    matched = pair >= 0
    gaps = np.abs(other[1][matched] - first[1][pair[matched]])
    return Agreement(int(matched.sum()), len(first[1]) - int(matched.sum()), int((~matched).sum()),
                     float(gaps.max(initial=0.0)))


def found(model: LoadedModel, task: DetectTask, outputs) -> tuple[np.ndarray, np.ndarray]:
    meta = model.meta
    detections = to_detections(task, outputs, meta.threshold, meta.class_filter)
    return np.array([d.box for d in detections], np.float64).reshape(-1, 4), np.array([d.score for d in detections])


def timed_outputs(models: dict[str, LoadedModel], tasks: Sequence[DetectTask], batch: int,
                  seconds: dict[str, list[float]]) -> dict[str, list]:
    """Every detector's outputs for `tasks`, batches of `batch` views, the detectors interleaved batch by
    batch; each call's seconds appended to `seconds[name]`."""
    views = [(t, v) for t, task in enumerate(tasks) for v in range(len(task.model_inputs))]
    outputs: dict[str, list] = {name: [[None] * len(task.model_inputs) for task in tasks] for name in models}
    for start in range(0, len(views), batch):
        chunk = views[start:start + batch]
        stacked = np.stack([tasks[t].model_inputs[v] for t, v in chunk])
        for name, model in models.items():
            began = time.perf_counter()
            result = model(stacked)
            seconds[name].append(time.perf_counter() - began)
            for i, (t, v) in enumerate(chunk):
                outputs[name][t][v] = {key: value[i] for key, value in result.items()}
    return outputs


def compare(models: dict[str, LoadedModel], truth_path: str, batches: Sequence[int], limit: int | None) -> dict:
    """One truth's photos through every detector: seconds per call per batch size, truth and agreement."""
    first = next(iter(models))
    meta = models[first].meta
    seconds = {b: {name: [] for name in models} for b in batches}
    counts = {name: metrics.DetectionCounts(0, 0, 0) for name in models}
    agreements = {name: Agreement() for name in models}
    views = photos = 0
    for scene in iter_labeled(read_truth(truth_path), with_mask=False, limit=limit):
        task = detector_input(DecodedImage(scene.name, scene.pixels), meta.input_size, meta.resize,
                              slice_size_for(None, meta.extra), DEFAULT_OVERLAP)
        photos, views = photos + 1, views + len(task.model_inputs)
        for batch in batches:
            outputs = timed_outputs(models, [task], batch, seconds[batch])
        boxes = {name: found(model, task, outputs[name][0]) for name, model in models.items()}
        for name in models:
            counts[name] += metrics.detection_counts(*boxes[name], scene.boxes, TRUTH_IOU)
            agreements[name] += agreement(boxes[first], boxes[name])
    return {"truth": truth_path, "photos": photos, "views": views,
            "s_per_call": {f"batch {b}": {name: {"median": round(float(np.median(s)), 4),
                                                  "mean": round(float(np.mean(s)), 4), "calls": len(s)}
                                           for name, s in by_name.items()} for b, by_name in seconds.items()},
            "detectors": {name: {"recall": round(counts[name].recall, 4), "precision": round(counts[name].precision, 4),
                                 "tp": counts[name].tp, "fp": counts[name].fp, "fn": counts[name].fn,
                                 f"vs_{first}": agreements[name]._asdict()} for name in models}}


def table(result: dict) -> str:
    """`compare`'s result as lines to read."""
    names = list(result["detectors"])
    first = names[0]
    lines = [f"{result['truth']}: {result['photos']} photos, {result['views']} views",
             "  s per call, median (mean): " + "  ".join(f"{name:>20}" for name in names)]
    for batch, by_name in result["s_per_call"].items():
        cells = [f"{t['median']:.4f} ({t['mean']:.4f})" for t in by_name.values()]
        speedups = ", ".join(f"{name} {by_name[first]['median'] / by_name[name]['median']:.2f}x" for name in names[1:]
                             if by_name[name]["median"])
        lines.append(f"  {batch:>26}: " + "  ".join(f"{c:>20}" for c in cells) + f"   faster than {first}: {speedups}")
    lines.append(f"  {'detector':>12} recall precision  tp  fp  fn  same as {first} (IoU>={SAME_BOX_IOU})  "
                 f"only {first}  only it  widest score gap")
    for name, d in result["detectors"].items():
        a = d[f"vs_{first}"]
        lines.append(f"  {name:>12} {d['recall']:6.4f} {d['precision']:9.4f} {d['tp']:3d} {d['fp']:3d} {d['fn']:3d}"
                     f"  {a['matched']:>21d}  {a['only_first']:>{5 + len(first)}d}  {a['only_other']:>7d}"
                     f"  {a['max_score_gap']:.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.ssd.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--truth", action="append", required=True,
                        help="A truth.jsonl, models.synth folder or COCO instances.json; repeatable.")
    parser.add_argument("--detectors", default="coco,coco-fast", help="Detectors to compare, the first the "
                                                                      "reference (default %(default)s).")
    parser.add_argument("--batch", default="1,4", help="Views per detector call, comma-separated (default "
                                                       "%(default)s; 4 is the scan's --detector_batch_size).")
    parser.add_argument("--limit", type=int, default=None, help="At most this many photos of each truth.")
    parser.add_argument("--json", action="store_true", help="Print each truth's result as JSON, not a table.")
    args = parser.parse_args(argv)
    try:
        batches = [int(b) for b in args.batch.split(",")]
    except ValueError:
        parser.error(f"--batch {args.batch!r}: give whole numbers such as 1,4")
    if min(batches) < 1:
        parser.error(f"--batch {args.batch!r}: a call takes at least 1 view")
    try:
        models = {name: load_model("detector", name) for name in args.detectors.split(",")}
        for truth in args.truth:
            result = compare(models, truth, batches, args.limit)
            print(json.dumps(result) if args.json else table(result), flush=True)
    except (ModelLoadError, TruthError) as e:
        sys.exit(f"models.ssd.bench: {e}")


if __name__ == "__main__":
    main()
