"""Intervals and the small-split warning."""
import numpy as np
import pytest

from models.train_classifier.cli import default_cache_dir
from models.train_classifier.confidence import bootstrap, small_split_warning, wilson


def test_wilson_matches_the_textbook_values():
    assert wilson(27, 27) == pytest.approx((0.8754, 1.0), abs=1e-4)  # 27 of 27 right: maybe only 87.5 %
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    lo, hi = wilson(900, 1000)
    assert lo == pytest.approx(0.8797, abs=1e-3) and hi == pytest.approx(0.9170, abs=1e-3)
    assert wilson(0, 0) is None


def test_bootstrap_is_wide_for_few_images_and_none_without_both_classes():
    rng = np.random.default_rng(0)
    y = np.array([1, 0] * 10, bool)
    p = np.where(y, 0.6, 0.4) + rng.normal(0, 0.15, len(y))
    few = bootstrap(y, p, [f"img{i % 3}" for i in range(len(y))], p >= 0.5)
    noisy = np.tile(p, 20) + rng.normal(0, 0.01, 400)
    many = bootstrap(np.tile(y, 20), noisy, [str(i) for i in range(400)], noisy >= 0.5)
    for name in ("auc", "f1"):
        assert few[name][1] - few[name][0] > many[name][1] - many[name][0]
    assert bootstrap(y, p, ["one"] * len(y), p >= 0.5) == {"auc": None, "f1": None}
    assert bootstrap(np.ones(5, bool), np.ones(5), list("abcde"), np.ones(5, bool)) == {"auc": None, "f1": None}


def test_small_split_words():
    text = small_split_warning(27, 5, 2)
    assert "27 crops" in text and "5 target and 22 other" in text and "from 2 source images" in text
    assert small_split_warning(1000, 300, 200) is None


def test_embedding_cache_lives_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "shelfscan" / "embeddings"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "shelfscan" / "embeddings"


@pytest.mark.slow  # starts a process or builds many scenes
def test_an_unlabeled_file_ends_in_advice_not_a_traceback(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((30, 20, 3), 80 * i, np.uint8)).save(tmp_path / f"c{i}.jpg")
    data = tmp_path / "crops.jsonl"
    data.write_text("".join(json.dumps({"uri": f"c{i}.jpg", "label": ""}) + "\n" for i in range(3)))
    done = subprocess.run([sys.executable, "-m", "models.train_classifier", "--data", str(data), "--out",
                           str(tmp_path / "m"), "--cache", ""], cwd=Path(__file__).resolve().parents[3],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"3 rows have no label: label them with `python -m models.label {data}`" in done.stderr
