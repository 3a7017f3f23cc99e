"""A bottle crop's classifier and segmenter inputs, and the BottleResult measured from their outputs:
the pure steps the Classify and Segment stages compose."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from transforms.areas import choose_area, expected_area_px, mask_area_px, mask_outline
from transforms.letterbox import fit
from transforms.products import ProductRule
from transforms.records import BottleResult, ClassifiedCrop, ClassifyTask, Crop, SegmentTask


def classifier_input(crop: Crop, input_size: int, resize: str = "letterbox") -> ClassifyTask:
    return ClassifyTask(crop, fit(crop.pixels, input_size, resize)[0])


def classified_crop(task: ClassifyTask, outputs: Mapping[str, Any], rule: ProductRule) -> ClassifiedCrop:
    """The crop with its product, read from the classifier's outputs for it."""
    scores = rule.scores(outputs)
    return ClassifiedCrop(task.crop, float(scores.max()), *rule.decide(scores))


def other_bottle(classified: ClassifiedCrop, aspect_bins: Sequence[float],
                 fills: Sequence[float]) -> tuple[str, BottleResult]:
    """A bottle of no known product is measured by its box only; segmenting it would measure nothing we report."""
    crop = classified.crop
    return crop.key.uri, BottleResult(
        index=crop.key.index, box=crop.box, detection_score=crop.detection_score,
        target_score=classified.target_score, is_target=False, product=classified.product,
        product_score=classified.product_score, expected_area_px=expected_area_px(crop.box, aspect_bins, fills))


def segmenter_input(classified: ClassifiedCrop, input_size: int, resize: str) -> SegmentTask:
    model_input, content_hw = fit(classified.crop.pixels, input_size, resize)
    return SegmentTask(classified, model_input, content_hw)


def measure_target(task: SegmentTask, mask: np.ndarray, tolerance: float,
                   aspect_bins: Sequence[float] = (), fills: Sequence[float] = ()) -> BottleResult:
    """A product bottle's BottleResult from its mask probabilities (input frame) and its box."""
    crop = task.classified.crop
    mask_area = mask_area_px(mask, task.content_hw, crop.original_hw)
    expected = expected_area_px(crop.box, aspect_bins, fills)
    area, source = choose_area(mask_area, expected, tolerance)
    outline = mask_outline(mask, task.content_hw, crop.original_hw, crop.box[:2])
    return BottleResult(
        index=crop.key.index, box=crop.box, detection_score=crop.detection_score,
        target_score=task.classified.target_score, is_target=True, product=task.classified.product,
        product_score=task.classified.product_score, expected_area_px=expected,
        mask_area_px=mask_area, area_px=area, area_source=source, mask_polygon=outline)
