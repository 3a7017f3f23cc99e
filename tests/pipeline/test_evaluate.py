"""pipeline.evaluate on hand-made truth and summaries with known answers."""
import pytest

from pipeline.evaluate import pair_rows, score


def _det(box, target, area=None, score=0.9):
    return {"box": box, "detection_score": score, "target_score": 0.9 if target else 0.1,
            "is_target": target, "area_px": area, "area_source": "mask" if target else None}


TRUTH = [
    {"image": "images/000001.jpg", "bottles": [
        {"box": [0, 0, 10, 40], "is_target": True, "area_px": 300},
        {"box": [20, 0, 30, 40], "is_target": False, "area_px": 300}]},
    {"image": "images/000002.jpg", "bottles": [
        {"box": [0, 0, 10, 40], "is_target": True, "area_px": 200}]},
    {"image": "images/000003.jpg", "bottles": []},
]
ROWS = [
    {"image_uri": "gs://b/scenes/images/000001.jpg", "target_bottles": 1, "detections": [
        _det([0, 0, 10, 40], True, 330.0), _det([20, 0, 30, 40], False)]},
    # a missed target, and a false positive far from it
    {"image_uri": "gs://b/scenes/images/000002.jpg", "target_bottles": 1, "detections": [
        _det([50, 50, 60, 90], True, 100.0)]},
    {"image_uri": "gs://b/scenes/images/000003.jpg", "target_bottles": 0, "detections": []},
]


def test_pairs_by_relative_path_suffix():
    pairs = pair_rows(TRUTH, ROWS[:2])
    assert [row["image_uri"] if row else None for _, row in pairs] == [
        "gs://b/scenes/images/000001.jpg", "gs://b/scenes/images/000002.jpg", None]


def test_scores():
    result = score(TRUTH, ROWS)
    assert result["images"] == 3
    assert result["detection_precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["detection_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["target_precision"] == pytest.approx(0.5)
    assert result["target_recall"] == pytest.approx(0.5)
    assert result["target_count_exact"] == pytest.approx(1.0)  # counts right, for the wrong reason on image 2
    assert result["area_median_rel_error"] == pytest.approx(0.1)
    assert result["matched_targets"] == 1
