"""The SSD post-processing in numpy: box decoding, clipping, TensorFlow's NMS rules and the graph's total cut,
checked on hand-made raw outputs (the whole graph's own results: tests/models/ssd/test_detector.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.ssd.postprocess import (
    PostprocessSpec,
    clip_to_window,
    decode_boxes,
    detections,
    image_detections,
    iou_with,
    nms,
    sigmoid,
)

SPEC = PostprocessSpec()
BOTTLE = 44


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_a_zero_encoding_decodes_to_its_anchor_and_ty_moves_by_anchor_heights():
    anchors = np.array([[0.2, 0.3, 0.4, 0.7]], np.float32)  # 0.2 high, 0.4 wide
    np.testing.assert_allclose(decode_boxes(np.zeros((1, 4)), anchors, SPEC.scale_factors), anchors, atol=1e-7)
    shifted = decode_boxes(np.array([[10.0, -5.0, 0.0, 0.0]]), anchors, SPEC.scale_factors)  # ty 1, tx -0.5
    np.testing.assert_allclose(shifted, [[0.4, 0.1, 0.6, 0.5]], atol=1e-6)
    doubled = decode_boxes(np.array([[0.0, 0.0, 5 * np.log(2), 0.0]]), anchors, SPEC.scale_factors)  # th: 2x high
    np.testing.assert_allclose(doubled, [[0.1, 0.3, 0.5, 0.7]], atol=1e-6)


def test_clipping_keeps_boxes_with_an_area_inside_the_image():
    boxes = np.array([[-0.1, 0.2, 0.5, 1.3], [1.1, 0.1, 1.4, 0.3], [0.2, 0.2, 0.2, 0.6]], np.float32)
    clipped, kept = clip_to_window(boxes)
    assert kept.tolist() == [0]  # the second lies below the image, the third has no height
    np.testing.assert_allclose(clipped, [[0.0, 0.2, 0.5, 1.0]])


def test_iou_reads_flipped_corners_and_gives_no_overlap_to_empty_boxes():
    one = np.array([0.0, 0.0, 1.0, 1.0], np.float32)
    boxes = np.array([[1.0, 1.0, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(iou_with(boxes, one), [0.5, 0.0])


def test_nms_suppresses_only_above_the_threshold_and_breaks_ties_by_index():
    base = [0.0, 0.0, 1.0, 1.0]
    at_threshold = [0.0, 0.0, 1.0, 0.6]  # IoU exactly 0.6 with base: kept, as TF keeps it
    above = [0.0, 0.0, 1.0, 0.7]  # IoU 0.7: suppressed
    boxes = np.array([above, base, at_threshold, base], np.float32)
    scores = np.array([0.5, 0.9, 0.4, 0.9], np.float32)
    assert nms(boxes, scores, 0.6, 10).tolist() == [1, 2]  # box 3 ties box 1, comes later, overlaps it fully
    assert nms(boxes, scores, 0.6, 1).tolist() == [1]


def test_nms_agrees_with_tensorflow_on_random_boxes():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 1, (300, 2, 2)).astype(np.float32)
    boxes = np.concatenate([corners.min(1), corners.max(1)], axis=1)
    scores = rng.choice(np.linspace(0.3, 1, 50), 300).astype(np.float32)  # many ties
    for iou, most in ((0.6, 100), (0.3, 20), (0.9, 300)):
        want = tf.raw_ops.NonMaxSuppressionV2(boxes=boxes, scores=scores, max_output_size=most,
                                               iou_threshold=iou).numpy()
        assert nms(boxes, scores, iou, most).tolist() == want.tolist()


def _raw(anchors: int = 6, classes: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchors side by side along x, encodings of zero, every class score far below the threshold."""
    x0 = np.arange(anchors, dtype=np.float32) / anchors
    boxes = np.stack([np.full(anchors, 0.1), x0, np.full(anchors, 0.9), x0 + 0.5 / anchors], axis=1)
    return (np.zeros((anchors, 4), np.float32), np.full((anchors, 1 + classes), -9.0, np.float32),
            boxes.astype(np.float32))


def test_only_the_kept_classes_come_out_best_first():
    encodings, logits, anchors = _raw()
    logits[0, BOTTLE], logits[1, BOTTLE], logits[2, 1] = _logit(0.5), _logit(0.8), _logit(0.95)
    logits[3, BOTTLE] = _logit(0.29)  # under the threshold
    boxes, scores, classes = image_detections(encodings, logits, anchors, SPEC, (BOTTLE,))
    np.testing.assert_allclose(scores, [0.8, 0.5], atol=1e-6)
    np.testing.assert_allclose(boxes, anchors[[1, 0]])
    assert classes.tolist() == [BOTTLE, BOTTLE]
    _, _, every = image_detections(encodings, logits, anchors, SPEC, ())
    assert every.tolist() == [1, BOTTLE, BOTTLE]  # no classes asked: all of them, as the whole graph


def test_the_total_cut_drops_a_kept_box_only_when_other_classes_outrank_it():
    encodings, logits, anchors = _raw()
    spec = dataclasses.replace(SPEC, max_total=3)
    logits[0, BOTTLE] = _logit(0.6)
    for anchor, label in ((1, 1), (2, 2), (3, 3)):
        logits[anchor, label] = _logit(0.7)  # three better boxes of other classes
    assert len(image_detections(encodings, logits, anchors, spec, (BOTTLE,))[1]) == 0
    logits[3, 3] = _logit(0.5)  # now the bottle is third of four
    _, scores, _ = image_detections(encodings, logits, anchors, spec, (BOTTLE,))
    np.testing.assert_allclose(scores, [0.6], atol=1e-6)


@pytest.mark.parametrize("max_total", [2, 5, 100])
def test_kept_classes_come_out_as_from_all_classes_filtered(max_total):
    rng = np.random.default_rng(max_total)
    encodings = rng.normal(0, 1, (200, 4)).astype(np.float32)
    logits = rng.normal(-3, 2, (200, 91)).astype(np.float32)
    corners = rng.uniform(0, 1, (200, 2, 2)).astype(np.float32)
    anchors = np.concatenate([corners.min(1), corners.max(1)], axis=1)
    spec = dataclasses.replace(SPEC, max_total=max_total)
    kept = (BOTTLE, 1)
    boxes, scores, classes = image_detections(encodings, logits, anchors, spec, kept)
    all_boxes, all_scores, all_classes = image_detections(encodings, logits, anchors, spec, ())
    mine = np.isin(all_classes, kept)
    np.testing.assert_array_equal(boxes, all_boxes[mine])
    np.testing.assert_array_equal(scores, all_scores[mine])
    np.testing.assert_array_equal(classes, all_classes[mine])
    assert len(all_scores) == max_total


def test_a_batch_comes_out_padded_as_the_graph_pads():
    encodings, logits, anchors = _raw()
    logits[4, BOTTLE] = _logit(0.9)
    out = detections(np.stack([encodings, encodings]), np.stack([logits, np.full_like(logits, -9)]), anchors,
                     SPEC, (BOTTLE,))
    assert out["detection_boxes"].shape == (2, SPEC.max_total, 4)
    assert out["num_detections"].tolist() == [1, 0]
    assert out["detection_classes"][0, :2].tolist() == [BOTTLE, 0]
    assert out["detection_scores"][1].max() == 0


def test_sigmoid_of_very_negative_logits_is_zero_without_warnings():
    with np.errstate(all="raise"):
        assert sigmoid(np.array([-200.0, 0.0]), 1.0).tolist() == [0.0, 0.5]
