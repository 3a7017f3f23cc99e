"""How far two runs of a detector agree on one photo: the same model under two runtimes (TensorFlow and
ONNX Runtime) should find the same bottles, boxes within IoU 0.9 and scores within a small margin.

A bottle one run keeps (score >= threshold) and the other scores just under it is still a match when the
gap is within the margin, so each run's detections are taken down to threshold - margin.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from models.evaluation.metrics import match_greedy
from models.slots import run_tasks
from transforms.detection import detector_input, to_detections
from transforms.records import DecodedImage, Detection
from transforms.slicing import DEFAULT_OVERLAP, slice_size_for

MATCH_IOU = 0.9
SCORE_MARGIN = 0.02


class Agreement(NamedTuple):
    """Kept bottles both runs found, those only one of them kept, and the widest score gap between pairs."""

    matched: int
    only_first: int
    only_second: int
    max_score_gap: float

    @property
    def same(self) -> bool:
        return not self.only_first and not self.only_second and self.max_score_gap <= SCORE_MARGIN

    def __add__(self, other: "Agreement") -> "Agreement":  # type: ignore[override]
        return Agreement(self.matched + other.matched, self.only_first + other.only_first,
                         self.only_second + other.only_second, max(self.max_score_gap, other.max_score_gap))


NONE = Agreement(0, 0, 0, 0.0)


def agreement(first: Sequence[Detection], second: Sequence[Detection], threshold: float,
              iou: float = MATCH_IOU) -> Agreement:
    """Compare two runs' detections of one photo, each down to `threshold` - SCORE_MARGIN."""
    boxes = [np.array([d.box for d in run], np.float64).reshape(-1, 4) for run in (first, second)]
    scores = [np.array([d.score for d in run], np.float64) for run in (first, second)]
    pair = match_greedy(boxes[0], scores[0], boxes[1], iou)  # per first detection, its second or -1
    matched = pair >= 0
    kept = [s >= threshold for s in scores]
    partner_kept = np.zeros(len(pair), bool)
    partner_kept[matched] = kept[1][pair[matched]]
    paired_second = np.zeros(len(scores[1]), bool)
    paired_second[pair[matched]] = True
    gaps = np.abs(scores[0][matched] - scores[1][pair[matched]])
    return Agreement(matched=int((matched & (kept[0] | partner_kept)).sum()),
                     only_first=int((~matched & kept[0]).sum()), only_second=int((~paired_second & kept[1]).sum()),
                     max_score_gap=float(gaps.max(initial=0.0)))


def photo_detections(model, image: DecodedImage, min_score: float, slice_size: int | None = None,
                     batch_size: int = 4) -> tuple[Detection, ...]:
    """The bottles `model` (a LoadedModel) finds in `image` as the Detect stage finds them, down to
    `min_score`; slices of `slice_size` (default: the detector's own, as a scan's)."""
    meta = model.meta
    size = slice_size_for(slice_size, meta.extra)
    task = detector_input(image, meta.input_size, meta.resize, size, DEFAULT_OVERLAP)
    (outputs,) = run_tasks(model, [task], batch_size if meta.input_size else 1)
    return to_detections(task, outputs, min_score, meta.class_filter)
