"""Score the three models on labeled images, each on its own, without Beam.

    python -m models.evaluation --truth DIR [--detector URI] [--classifier URI] [--segmenter URI]
    python -m models.evaluation --truth instances.json [--target_category NAME] [--images DIR]

DIR is a `python -m models.synth --out DIR --count N --seed S --crops` output (a seed the models
were not trained on); instances.json is COCO ground truth, as labeling tools export it. Inputs are
made as the scan makes them (transforms.*), models are loaded through the slot contract. Prints
one JSON object on stdout, and the classifier's scores per product as a table on stderr: on the true
boxes, each product's precision, recall, exact counts and share-of-shelf error (areas from the truth),
a synthetic brand or a COCO category name being the product (models/evaluation/products.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from models import builtin
from models.evaluation import metrics
from models.evaluation.coco_ap import AP_SCORE_FLOOR, ScoredImage, box_ap
from models.evaluation.products import Bottle, ProductScores, product_table, target_rule, truth_product
from models.evaluation.truth import LabeledImage, TruthError, add_truth_options, iter_labeled, truth_from_options
from models.slots import run_tasks
from transforms.crop_geometry import cut
from transforms.detection import ViewChooser, to_detections
from transforms.letterbox import fit
from transforms.records import DecodedImage
from transforms.slicing import WHOLE_IMAGES_ONLY, SlicePlan, add_slice_options, slice_options_problem, slice_plan


def load(slot: str, uri: str, trust_model_code: bool = False):
    """The model in `slot` through the slot contract: LoadedModel(fn, meta)."""
    from models import slots

    return slots.load_model(slot, uri, trust_model_code=trust_model_code)


class _Timer:
    """Accumulates model-call time only (input preparation and metrics excluded)."""

    def __init__(self, fn: Callable):
        self.fn, self.seconds, self.items, self._warm = fn, 0.0, 0, False

    def __call__(self, batch: np.ndarray) -> dict:
        if not self._warm:  # the first call traces and allocates; it is not throughput
            self.fn(batch[:1])
            self._warm = True
        start = time.perf_counter()
        out = self.fn(batch)
        self.seconds += time.perf_counter() - start
        self.items += len(batch)
        return out

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def evaluate_detector(model, scenes: list[LabeledImage], batch_size: int, iou: float = 0.5,
                      slices: SlicePlan = WHOLE_IMAGES_ONLY) -> dict:
    """Precision/recall at the stored threshold, boxes mapped back to original pixels (and merged
    across slices) by the scan's code; COCO AP (models.evaluation.coco_ap) over the same outputs at any score."""
    meta, timer = model.meta, _Timer(model.fn)
    scored = []
    counts = metrics.DetectionCounts(0, 0, 0)
    found_visible = total_visible = 0  # recall on bottles at least half visible
    knows_visible = False
    size = batch_size if meta.input_size is not None else 1
    chooser, views = ViewChooser(meta.input_size, meta.resize, meta.threshold, meta.class_filter, slices), 0
    for chunk in _batches(scenes, 64):  # bounds the memory the scenes' slices take
        tasks = [chooser.whole(DecodedImage(s.name, s.pixels)) for s in chunk]
        for scene, (task, outputs) in zip(chunk, chooser.run(tasks, lambda ts: run_tasks(timer, ts, size))):
            views += len(task.views)
            found = to_detections(task, outputs, meta.threshold, meta.class_filter)
            every = to_detections(task, outputs, min(AP_SCORE_FLOOR, meta.threshold), meta.class_filter)
            scored.append(ScoredImage(scene.boxes, scene.areas, scene.ignore, np.array([d.box for d in every]),
                                      np.array([d.score for d in every])))
            boxes, scores = metrics.drop_ignored([d.box for d in found], [d.score for d in found], scene.boxes,
                                                 scene.ignore, iou)
            counts += metrics.detection_counts(boxes, scores, scene.boxes, iou)
            matched = set(metrics.match_greedy(boxes, scores, scene.boxes, iou).tolist())
            visible = np.flatnonzero(scene.visible >= 0.5)
            total_visible += len(visible)
            found_visible += sum(1 for k in visible if k in matched)
            knows_visible = knows_visible or not np.isnan(scene.visible).all()
    result = {"detector_precision": round(counts.precision, 4), "detector_recall": round(counts.recall, 4)}
    if knows_visible:  # models.synth truth says how much of each bottle is visible; COCO does not
        result["detector_recall_visible50"] = round(found_visible / total_visible, 4) if total_visible else 1.0
    return {**result, **box_ap(scored), "detector_f1": round(counts.f1, 4), "detector_tp": counts.tp,
            "detector_fp": counts.fp,
            "detector_fn": counts.fn, "detector_threshold": meta.threshold, **views_result(slices, views, len(scenes)),
            "detector_img_per_s": round(len(scenes) / timer.seconds, 2) if timer.seconds else 0.0}


def views_result(slices: SlicePlan, views: int, images: int) -> dict:
    """What the detector was shown: views per image (the whole image and its slices), and the --slice_*
    settings that chose them, so settings can be traded against recall."""
    return {"detector_views_per_image": round(views / images, 2) if images else 0.0,
            **{f"detector_slice_{name}": value for name, value in dataclasses.asdict(slices).items()}}


def _classifier_scores(labels: np.ndarray, scores: np.ndarray, threshold: float, prefix: str) -> dict:
    precision, recall = metrics.precision_recall_at(labels, scores, threshold)
    accuracy = float(np.mean((scores >= threshold) == labels)) if len(labels) else 0.0
    both = 0 < labels.sum() < len(labels)  # AUC needs targets and others
    return {f"{prefix}_auc": round(metrics.roc_auc(labels, scores), 5) if both else None,
            f"{prefix}_precision": round(precision, 4),
            f"{prefix}_recall": round(recall, 4), f"{prefix}_accuracy": round(accuracy, 4),
            f"{prefix}_crops": len(labels), f"{prefix}_targets": int(labels.sum())}


def _per_crop(outputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """A batch's outputs, one dict per crop."""
    return [{name: values[i] for name, values in outputs.items()} for i in range(len(outputs["scores"]))]


def _products(scenes: list[LabeledImage], decided: list[str], products: tuple[str, ...]) -> dict[str, dict]:
    """Per-product scores of the classifier's decisions on the true boxes, areas from the truth."""
    scores, crops = ProductScores(products), iter(decided)
    for scene in scenes:
        areas = [None if np.isnan(a) else float(a) for a in scene.areas]
        truth = [Bottle(box, truth_product(name, is_target, products), area)
                 for box, name, is_target, area in zip(scene.boxes, scene.products, scene.is_target, areas)]
        scores.add(truth, [b._replace(product=next(crops)) for b in truth])
    return scores.result()


def evaluate_classifier(model, scenes: list[LabeledImage], batch_size: int, min_visible: float = 0.5,
                        has_targets: bool = True) -> dict:
    """AUC and precision/recall of `scores` at the stored threshold over every truth crop, and over the crops
    of bottles at least `min_visible` visible (the ones `models.synth --crops` writes for labeling); then per
    product, its bottles decided as the scan decides them (`meta.product_rule()`).

    For a classifier of several products a target is a bottle of any of them; `has_targets`: whether the
    truth says which bottles are targets (it must, for a classifier whose one product is `target`)."""
    meta, timer, rule = model.meta, _Timer(model.fn), model.meta.product_rule()
    is_target = target_rule(meta.products, has_targets)
    inputs, labels, shares = [], [], []
    for scene in scenes:
        for box, name, target, share in zip(scene.boxes, scene.products, scene.is_target, scene.visible):
            inputs.append(fit(cut(scene.pixels, box), meta.input_size, meta.resize)[0])
            labels.append(is_target(name, target))
            shares.append(share)
    outputs = [crop for b in _batches(inputs, batch_size) for crop in _per_crop(timer(np.stack(b)))]
    scores = np.array([float(np.asarray(out["scores"]).reshape(-1)[0]) for out in outputs])
    labels, shares = np.array(labels, bool), np.array(shares, np.float64)
    result = _classifier_scores(labels, scores, meta.threshold, "classifier")
    if not np.isnan(shares).all():  # COCO truth has no visible shares
        visible = shares >= min_visible
        result.update(_classifier_scores(labels[visible], scores[visible], meta.threshold, "classifier_visible50"))
    decided = [rule.decide(rule.scores(out))[0] for out in outputs]
    return {**result, "classifier_threshold": meta.threshold, "classifier_crops_per_s": round(timer.rate, 2),
            "classifier_products": _products(scenes, decided, meta.products)}


def _mask_on_crop(prob: np.ndarray, content_hw: tuple[int, int], crop_hw: tuple[int, int]) -> np.ndarray:
    """The model-frame probability map's content region, resized onto the crop's pixels, >= 0.5."""
    from PIL import Image

    h, w = content_hw
    content = np.asarray(prob, np.float32)[:h, :w]
    resized = Image.fromarray(content).resize((crop_hw[1], crop_hw[0]), Image.BILINEAR)
    return np.asarray(resized) >= 0.5


def evaluate_segmenter(model, scenes: list[LabeledImage], batch_size: int) -> dict:
    """Mean IoU, at crop resolution, of mask >= 0.5 vs the bottle's own pixels, on every truth box with a mask."""
    meta, timer = model.meta, _Timer(model.fn)
    jobs = []  # (model input, content hw, truth mask)
    for scene in scenes:
        for k, box in enumerate(scene.boxes, start=1):
            if not scene.has_mask[k - 1]:
                continue
            crop = cut(scene.pixels, box)
            model_input, content_hw = fit(crop, meta.input_size, meta.resize)
            jobs.append((model_input, content_hw, cut(scene.instances, box) == k))
    ious = []
    for chunk in _batches(jobs, batch_size):
        masks = np.asarray(timer(np.stack([j[0] for j in chunk]))["masks"])
        ious += [metrics.mask_iou(_mask_on_crop(m, hw, truth.shape), truth)
                 for m, (_, hw, truth) in zip(masks, chunk)]
    ious = np.array(ious)
    return {"segmenter_miou": round(float(ious.mean()), 4),
            "segmenter_iou_p10": round(float(np.quantile(ious, 0.1)), 4),
            "segmenter_crops": len(ious), "segmenter_crops_per_s": round(timer.rate, 2)}


def run(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.evaluation", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_truth_options(parser, "--scenes")
    parser.add_argument("--images", default=None,
                        help="COCO only: the folder the file names are relative to (default: found beside it).")
    for slot in ("detector", "classifier", "segmenter"):
        parser.add_argument(f"--{slot}", default=builtin.DEFAULTS[slot],
                            help=f"The {slot}: built-in name ({', '.join(builtin.names(slot))}), local dir, "
                                 "gs:// URI, TF Hub handle or .onnx file ('' skips it).")
    parser.add_argument("--trust_model_code", action="store_true",
                        help="Load model files even if their graphs run ops that touch files or the network "
                             "or are not known to be harmless (refused otherwise).")
    parser.add_argument("--limit", type=int, default=None, help="Score only the first N images.")
    parser.add_argument("--batch_size", type=int, default=16, help="Images, slices or crops per model call.")
    add_slice_options(parser.add_argument)
    args = parser.parse_args(argv)
    if problem := slice_options_problem(args):
        sys.exit(f"models.evaluation: {problem}")
    # the classifier first: a COCO truth counts the categories named after its products as bottles
    classifier = load("classifier", args.classifier, args.trust_model_code) if args.classifier else None
    products = classifier.meta.products if classifier else ()
    try:
        truth = truth_from_options(args, args.images, products)
        scenes = list(iter_labeled(truth, with_mask=True, limit=args.limit))
    except TruthError as e:
        sys.exit(f"models.evaluation: {e}")
    result: dict = {"truth": args.truth, "images": len(scenes), "bottles": int(sum(len(s.boxes) for s in scenes))}
    notes = list(truth.notes)
    evaluators = {"detector": evaluate_detector, "classifier": evaluate_classifier,
                  "segmenter": evaluate_segmenter}
    options = {"detector": {}, "classifier": {"has_targets": truth.has_targets}}
    for slot, evaluate in evaluators.items():
        uri = getattr(args, slot)
        if not uri:
            continue
        if slot == "classifier" and target_rule(products, truth.has_targets) is None:
            notes.append("classifier left out: the truth does not say which bottles are targets")
            continue
        if slot == "segmenter" and not any(s.has_mask.any() for s in scenes):
            notes.append("segmenter left out: the truth has no masks")
            continue
        result[f"{slot}_uri"] = uri
        model = classifier if slot == "classifier" else load(slot, uri, args.trust_model_code)
        if slot == "detector":
            options["detector"]["slices"] = slice_plan(args, model.meta.extra)
        result.update(evaluate(model, scenes, args.batch_size, **options.get(slot, {})))
    if notes:
        result["notes"] = notes
    print(json.dumps(result))
    if "classifier_products" in result:
        print(f"classifier per product, on the true boxes:\n{product_table(result['classifier_products'])}",
              file=sys.stderr)
    return result


if __name__ == "__main__":
    run()
