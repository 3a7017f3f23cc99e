"""Box IoU, greedy matching, AUC and PR curves on cases small enough to check by hand."""
import numpy as np
import pytest

from models.evaluation import metrics


def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    np.testing.assert_allclose(metrics.box_iou(a, b), [[1.0, 50 / 150, 0.0, 0.0]])


def test_match_greedy_best_score_claims_truth_first():
    truth = np.array([[0, 0, 10, 10], [100, 100, 110, 110]])
    preds = np.array([[1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]])
    scores = np.array([0.9, 0.8, 0.7])
    # The 0.9 box takes truth 0 though the 0.8 box fits it better; the 0.8 box is then a duplicate.
    np.testing.assert_array_equal(metrics.match_greedy(preds, scores, truth), [0, -1, -1])
    counts = metrics.detection_counts(preds, scores, truth)
    assert counts == metrics.DetectionCounts(tp=1, fp=2, fn=1)
    assert counts.precision == pytest.approx(1 / 3) and counts.recall == pytest.approx(0.5)


def test_match_greedy_respects_iou_threshold_and_empty_inputs():
    truth = np.array([[0, 0, 10, 10]])
    assert metrics.match_greedy([[5, 0, 15, 10]], [1.0], truth).tolist() == [-1]
    assert metrics.match_greedy(np.zeros((0, 4)), [], truth).tolist() == []
    assert metrics.detection_counts([[0, 0, 1, 1]], [0.5], np.zeros((0, 4))) == (0, 1, 0)


def test_best_detection_threshold_drops_low_scoring_false_positives():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]])
    preds = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 0, 60, 10]])
    threshold, counts = metrics.best_detection_threshold(
        [(preds, np.array([0.9, 0.6, 0.3]), truth)])
    assert 0.3 < threshold <= 0.6
    assert counts == (2, 0, 0)


def test_auc_known_cases():
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert metrics.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    # one inverted pair out of 2 x 2
    assert metrics.roc_auc([0, 1, 0, 1], [0.1, 0.3, 0.4, 0.9]) == 0.75
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_auc([1, 1], [0.2, 0.3])


def test_pr_curve_and_best_threshold():
    labels = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    curve = metrics.pr_curve(labels, scores)
    np.testing.assert_allclose(curve.thresholds, scores)
    np.testing.assert_allclose(curve.precision[:4], [1, 1, 2 / 3, 3 / 4])
    np.testing.assert_allclose(curve.recall[:4], [1 / 3, 2 / 3, 2 / 3, 1])
    threshold, f1 = metrics.best_f1_threshold(labels, scores)
    assert f1 == pytest.approx(2 * 0.75 / 1.75)
    assert 0.2 < threshold < 0.6
    assert metrics.precision_recall_at(labels, scores, threshold) == (0.75, 1.0)


def test_mask_iou():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert metrics.mask_iou(a, b) == 1.0
    a[:2] = True
    b[1:3] = True
    assert metrics.mask_iou(a, b) == pytest.approx(4 / 12)
