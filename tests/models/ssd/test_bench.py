"""python -m models.ssd.bench: agreement between two detectors' bottles, the table, and a real comparison."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.ssd.bench import Agreement, agreement

REPO = Path(__file__).resolve().parents[3]


def test_bottles_match_only_when_their_boxes_overlap_at_0_9():
    first = (np.array([[0, 0, 100, 100], [200, 0, 300, 100]], float), np.array([0.9, 0.5]))
    other = (np.array([[0, 0, 100, 104], [200, 0, 300, 130], [400, 0, 500, 100]], float), np.array([0.8, 0.5, 0.4]))
    # the first pair overlaps at IoU 0.96, the second at 0.77 (a different box), the third is new
    assert agreement(first, other) == Agreement(matched=1, only_first=1, only_other=2, max_score_gap=pytest.approx(0.1))
    assert agreement(first, first) == Agreement(2, 0, 0, 0.0)
    assert agreement(first, (np.zeros((0, 4)), np.zeros(0))) == Agreement(0, 2, 0, 0.0)


def test_a_bad_batch_list_is_refused_before_any_model_loads():
    done = subprocess.run([sys.executable, "-m", "models.ssd.bench", "--truth", "x.json", "--batch", "1,four"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--batch '1,four': give whole numbers such as 1,4" in done.stderr


@pytest.mark.slow  # loads two detectors and runs them on every view of the samples
def test_coco_fast_beside_coco_on_the_samples_agrees_bottle_for_bottle():
    done = subprocess.run([sys.executable, "-m", "models.ssd.bench", "--truth", "pipeline/samples/truth.jsonl",
                           "--detectors", "coco,coco-fast", "--batch", "4"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.strip().startswith("coco")}
    assert rows["coco"][1:6] == rows["coco-fast"][1:6]  # recall, precision, tp, fp, fn
    matched, only_coco, only_fast = (int(v) for v in rows["coco-fast"][6:9])
    assert matched == int(rows["coco"][3]) + int(rows["coco"][4]) > 10 and only_coco == only_fast == 0  # tp + fp
    assert "batch 4:" in done.stdout and "faster than coco: coco-fast" in done.stdout
