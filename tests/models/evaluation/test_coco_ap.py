"""COCO box AP by pycocotools on hand-made boxes whose AP is known."""
import numpy as np

from models.evaluation.coco_ap import ScoredImage, box_ap

NAN2 = np.full(2, np.nan)
TRUTH = np.array([[10, 10, 50, 110], [200, 10, 240, 110]], np.float64)  # 40 x 100: medium objects


def _image(boxes, scores, truth=TRUTH, areas=NAN2, ignore=None):
    ignore = np.zeros((0, 4)) if ignore is None else ignore
    return ScoredImage(truth, areas, ignore, np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores))


def test_exact_boxes_score_one_and_no_small_bottles_leave_ap_small_out():
    result = box_ap([_image(TRUTH, [0.9, 0.8])])
    assert result == {"detector_ap": 1.0, "detector_ap50": 1.0, "detector_ap_small": None, "detector_ar100": 1.0}


def test_loose_boxes_count_at_iou_50_but_not_at_the_strict_thresholds():
    loose = TRUTH + [0, 0, 0, 40]  # IoU 100/140 = 0.71 with its bottle
    result = box_ap([_image(loose, [0.9, 0.8])])
    assert result["detector_ap50"] == 1.0 and 0.2 < result["detector_ap"] < 0.6


def test_a_missed_bottle_halves_recall_and_crowd_regions_absorb_their_predictions():
    crowd = np.array([[400, 0, 500, 100]], np.float64)
    result = box_ap([_image([TRUTH[0], [410, 10, 450, 90]], [0.9, 0.95], ignore=crowd)])
    # precision 1 up to recall 0.5: 51 of COCO's 101 recall points; the crowd hit is no false positive
    assert result["detector_ar100"] == 0.5 and result["detector_ap50"] == 0.505


def test_mask_areas_decide_small_and_no_predictions_score_zero():
    areas = np.array([500.0, 4000.0])  # the first bottle's mask is small (< 32^2) though its box is not
    assert box_ap([_image(TRUTH, [0.9, 0.8], areas=areas)])["detector_ap_small"] == 1.0
    assert box_ap([_image([], [])])["detector_ap"] == 0.0
