"""pipeline.bench_views: the detector runs once per distinct view input, candidates are checked up front."""
import numpy as np
import pytest

from pipeline.bench_views import CachedDetector, parse_candidates


def _detector(batch):
    """A stand-in detector: one 'box' per input from its mean brightness; counts its inputs."""
    _detector.seen += len(batch)
    means = batch.reshape(len(batch), -1).mean(axis=1)
    return {"detection_scores": means[:, None] / 255, "num_detections": np.ones(len(batch), np.float32)}


def test_each_distinct_input_runs_once_and_the_cache_survives_a_restart(tmp_path):
    _detector.seen = 0
    inputs = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 10, 30)])
    cached = CachedDetector(_detector, tmp_path / "cache.npz")
    first = cached(inputs)
    assert _detector.seen == 3 and cached.runs == 3  # 10 twice
    assert np.allclose(first["detection_scores"][:, 0], [10 / 255, 20 / 255, 10 / 255, 30 / 255])
    cached.save()
    again = CachedDetector(_detector, tmp_path / "cache.npz")(inputs[::-1])
    assert _detector.seen == 3  # all from the file
    assert np.allclose(again["detection_scores"][:, 0], first["detection_scores"][::-1, 0])
    assert np.array_equal(again["num_detections"], np.ones(4))
    same_bytes = CachedDetector(_detector)
    same_bytes(np.zeros((1, 4, 8, 3), np.uint8))
    same_bytes(np.zeros((1, 8, 4, 3), np.uint8))  # the same bytes in another shape: another input
    assert _detector.seen == 5


def test_candidates_are_slicing_options_checked_before_anything_runs():
    named = parse_candidates(["coarse=--slice_max_across 3 --slice_min_edges 0", "--slice_overlap 0.1", "none="])
    assert named["coarse"].slice_max_across == 3 and named["coarse"].slice_min_edges == 0
    assert named["--slice_overlap 0.1"].slice_overlap == 0.1 and named["none"].slice_max_across == 4
    for bad, said in [("x=--slice_max_across 0", "must be between 2 and 64"), ("x=--frobnicate 1", "not a slicing"),
                      ("x=--slice_min_edges abc", "invalid float value")]:
        with pytest.raises(SystemExit, match=said):
            parse_candidates([bad])
