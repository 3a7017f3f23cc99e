"""The SSD's post-processing in numpy, for the classes a scan keeps: what the zoo graph's `Postprocessor`
does for all 90 COCO classes inside TensorArray while loops, step for step and in float32 as it does, so
that the boxes, scores and their order come out the same.

Per class: sigmoid scores above the score threshold, their boxes decoded from the anchors, clipped to
the image and dropped when empty, then greedy NMS (TensorFlow's NonMaxSuppressionV2: best first, ties
by anchor index, suppressed when IoU exceeds the threshold). All classes' survivors are then sorted by
score and cut to the graph's total; a kept class loses a box to that cut only when more than that many
boxes of every class together score above it, which `detections` checks before it decodes any other class.
"""
from __future__ import annotations

import dataclasses

import numpy as np

OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")


@dataclasses.dataclass(frozen=True)
class PostprocessSpec:
    """The post-processing constants of one SSD graph (models.ssd.graph_cut reads them from it).

    Args:
      score_threshold: a class score must exceed it to be a candidate.
      iou_threshold: NMS suppresses a box whose IoU with a kept one of its class exceeds it.
      max_per_class: NMS keeps at most this many boxes per class.
      max_total: the outputs hold at most this many boxes, best first, of all classes together.
      scale_factors: the box coder's divisors of ty, tx, th, tw.
      logit_scale: class logits are divided by it before the sigmoid.
      num_classes: classes without the background (COCO: 90); class k (1-based) is logit column k.
    """

    score_threshold: float = 0.3
    iou_threshold: float = 0.6
    max_per_class: int = 100
    max_total: int = 100
    scale_factors: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    logit_scale: float = 1.0
    num_classes: int = 90


def sigmoid(logits: np.ndarray, scale: float) -> np.ndarray:
    z = np.asarray(logits, np.float32) / np.float32(scale)
    with np.errstate(over="ignore"):  # exp overflows to inf for very negative logits: their score is 0
        return (np.float32(1) / (np.float32(1) + np.exp(-z))).astype(np.float32)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray, scale_factors) -> np.ndarray:
    """Box encodings (ty, tx, th, tw) relative to their anchors (ymin, xmin, ymax, xmax) -> boxes, as
    the OD-API's FasterRcnnBoxCoder decodes them (the graph's `Decode` scope, same operation order)."""
    encodings, anchors = np.asarray(encodings, np.float32), np.asarray(anchors, np.float32)
    two = np.float32(2)
    anchor_h, anchor_w = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    anchor_y, anchor_x = anchors[:, 0] + anchor_h / two, anchors[:, 1] + anchor_w / two
    ty, tx, th, tw = (encodings[:, i] / np.float32(s) for i, s in enumerate(scale_factors))
    w, h = np.exp(tw) * anchor_w, np.exp(th) * anchor_h
    y, x = ty * anchor_h + anchor_y, tx * anchor_w + anchor_x
    return np.stack([y - h / two, x - w / two, y + h / two, x + w / two], axis=1)


def clip_to_window(boxes: np.ndarray, window=(0.0, 0.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Boxes clipped to `window` (ymin, xmin, ymax, xmax), and the indices of those left with an area."""
    y0, x0, y1, x1 = (np.float32(v) for v in window)
    clipped = np.stack([np.maximum(np.minimum(boxes[:, 0], y1), y0), np.maximum(np.minimum(boxes[:, 1], x1), x0),
                        np.maximum(np.minimum(boxes[:, 2], y1), y0), np.maximum(np.minimum(boxes[:, 3], x1), x0)],
                       axis=1)
    area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = np.flatnonzero(area > 0)
    return clipped[keep], keep


def iou_with(boxes: np.ndarray, one: np.ndarray) -> np.ndarray:
    """IoU of each of `boxes` with `one`, in float32 as TensorFlow's NMS kernel computes it (a box of
    no area overlaps nothing)."""
    ymin, xmin = np.minimum(boxes[:, 0], boxes[:, 2]), np.minimum(boxes[:, 1], boxes[:, 3])
    ymax, xmax = np.maximum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 1], boxes[:, 3])
    oy0, ox0, oy1, ox1 = min(one[0], one[2]), min(one[1], one[3]), max(one[0], one[2]), max(one[1], one[3])
    area, area_one = (ymax - ymin) * (xmax - xmin), (oy1 - oy0) * (ox1 - ox0)
    zero = np.float32(0)
    inter = (np.maximum(np.minimum(ymax, oy1) - np.maximum(ymin, oy0), zero)
             * np.maximum(np.minimum(xmax, ox1) - np.maximum(xmin, ox0), zero))
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area + area_one - inter)
    return np.where((area <= 0) | (area_one <= 0), zero, iou).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_out: int) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, best first: TensorFlow's NonMaxSuppressionV2."""
    order = np.argsort(-scores, kind="stable")  # ties: the lower index first, as TF's priority queue
    suppressed = np.zeros(len(boxes), bool)
    kept: list[int] = []
    threshold = np.float32(iou_threshold)
    for rank, i in enumerate(order):
        if len(kept) >= max_out:
            break
        if suppressed[rank]:
            continue
        kept.append(i)
        rest = order[rank + 1:]
        suppressed[rank + 1:] |= iou_with(boxes[rest], boxes[i]) > threshold
    return np.asarray(kept, np.int64)


def class_detections(encodings: np.ndarray, scores: np.ndarray, anchors: np.ndarray,
                     spec: PostprocessSpec) -> tuple[np.ndarray, np.ndarray]:
    """One class's boxes and scores in one image, NMS applied, best first; `scores` per anchor."""
    candidates = np.flatnonzero(scores > np.float32(spec.score_threshold))
    boxes = decode_boxes(encodings[candidates], anchors[candidates], spec.scale_factors)
    boxes, inside = clip_to_window(boxes)
    kept_scores = scores[candidates][inside]
    kept = nms(boxes, kept_scores, spec.iou_threshold, min(spec.max_per_class, len(boxes)))
    return boxes[kept], kept_scores[kept]


def image_detections(encodings: np.ndarray, logits: np.ndarray, anchors: np.ndarray, spec: PostprocessSpec,
                     classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boxes, scores and classes of `classes` (1-based; none: all) the whole graph outputs for one image,
    best first: `encodings` [anchors, 4], `logits` [anchors, 1 + num_classes]."""
    wanted = sorted(set(classes)) or list(range(1, spec.num_classes + 1))
    if _may_be_cut(logits, spec, wanted):
        decoded = range(1, spec.num_classes + 1)  # the total cut may drop some of ours: rank among all
    else:
        decoded = wanted
    found = [(*class_detections(encodings, sigmoid(logits[:, k], spec.logit_scale), anchors, spec), k)
             for k in decoded]
    boxes = np.concatenate([b for b, _, _ in found]) if found else np.zeros((0, 4), np.float32)
    scores = np.concatenate([s for _, s, _ in found]) if found else np.zeros(0, np.float32)
    labels = np.concatenate([np.full(len(s), k, np.float32) for _, s, k in found]) if found else np.zeros(0)
    order = np.argsort(-scores, kind="stable")[:spec.max_total]  # TopKV2 over the classes in order
    keep = order[np.isin(labels[order], wanted)]
    return boxes[keep], scores[keep], labels[keep].astype(np.float32)


def _may_be_cut(logits: np.ndarray, spec: PostprocessSpec, wanted: list[int]) -> bool:
    """Whether more than max_total candidates of all classes together pass the score threshold: only
    then can the graph's total cut drop a box of the wanted classes."""
    logit_threshold = np.log(spec.score_threshold / (1 - spec.score_threshold)) * spec.logit_scale
    margin = 1e-3  # candidates a hair under the threshold count too: a bound, never an undercount
    return int((logits[:, 1:spec.num_classes + 1] > logit_threshold - margin).sum()) > spec.max_total


def detections(encodings: np.ndarray, logits: np.ndarray, anchors: np.ndarray, spec: PostprocessSpec,
               classes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A batch's raw SSD outputs -> the OD-API outputs of `classes` only, padded to max_total as the
    graph pads: `encodings` [B, anchors, 4], `logits` [B, anchors, 1 + num_classes]."""
    batch = len(encodings)
    out = {"detection_boxes": np.zeros((batch, spec.max_total, 4), np.float32),
           "detection_scores": np.zeros((batch, spec.max_total), np.float32),
           "detection_classes": np.zeros((batch, spec.max_total), np.float32),
           "num_detections": np.zeros(batch, np.float32)}
    for i in range(batch):
        boxes, scores, labels = image_detections(encodings[i], logits[i], anchors, spec, classes)
        n = len(scores)
        out["detection_boxes"][i, :n], out["detection_scores"][i, :n] = boxes, scores
        out["detection_classes"][i, :n], out["num_detections"][i] = labels, n
    return out
