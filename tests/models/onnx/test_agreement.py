"""Comparing two runs' detections of one photo: boxes at IoU 0.9, scores within the margin."""
from models.onnx.agreement import SCORE_MARGIN, Agreement, agreement
from transforms.records import Detection

BOTTLE, OTHER = (10.0, 10.0, 40.0, 110.0), (200.0, 10.0, 230.0, 110.0)


def test_the_same_boxes_and_scores_agree():
    found = [Detection(BOTTLE, 0.8), Detection(OTHER, 0.5)]
    assert agreement(found, list(reversed(found)), 0.3) == Agreement(2, 0, 0, 0.0)


def test_a_box_moved_past_iou_09_is_a_bottle_each_run_found_alone():
    moved = (14.0, 10.0, 44.0, 110.0)  # IoU 26/34 = 0.76 with BOTTLE
    result = agreement([Detection(BOTTLE, 0.8)], [Detection(moved, 0.8)], 0.3)
    assert (result.matched, result.only_first, result.only_second, result.same) == (0, 1, 1, False)


def test_a_score_just_under_the_threshold_matches_but_a_wide_gap_disagrees():
    near = agreement([Detection(BOTTLE, 0.305)], [Detection(BOTTLE, 0.295)], 0.3)
    assert near == Agreement(1, 0, 0, near.max_score_gap) and near.same
    wide = agreement([Detection(BOTTLE, 0.8)], [Detection(BOTTLE, 0.8 - 2 * SCORE_MARGIN)], 0.3)
    assert wide.matched == 1 and not wide.same


def test_detections_under_the_threshold_that_only_one_run_has_do_not_count():
    result = agreement([Detection(BOTTLE, 0.8), Detection(OTHER, 0.29)], [Detection(BOTTLE, 0.8)], 0.3)
    assert result == Agreement(1, 0, 0, 0.0)
    assert agreement([], [Detection(OTHER, 0.9)], 0.3) == Agreement(0, 0, 1, 0.0)
