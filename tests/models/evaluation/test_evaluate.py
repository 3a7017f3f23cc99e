"""models.evaluation takes COCO instances.json as well as models.synth truth: same numbers on the same truth,
and on the real set what it cannot score is left out and said."""
import shutil

import pytest

import models.realset as realset
from models.evaluation.evaluate import run
from models.synth.bottles import TARGET_BRAND
from models.synth.truth import write_coco
from pipeline.options import SAMPLES

pytestmark = pytest.mark.slow


def _numbers(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("truth", "notes") and not k.endswith("_per_s")}


def test_coco_written_from_synth_truth_scores_the_same(tmp_path, capsys):
    scenes = tmp_path / "samples"
    shutil.copytree(SAMPLES, scenes)
    write_coco(scenes)
    from_jsonl = run(["--scenes", str(scenes), "--limit", "2", "--batch_size", "8"])
    from_coco = run(["--truth", str(scenes / "instances.json"), "--target_category", TARGET_BRAND, "--limit", "2",
                     "--batch_size", "8"])
    assert _numbers(from_coco) == _numbers(from_jsonl)
    assert from_coco["segmenter_crops"] == from_coco["bottles"] > 0 and from_coco["classifier_auc"] is not None


def test_on_the_real_set(tmp_path, capsys):
    truth = str(realset.assemble(tmp_path / "real"))
    result = run(["--truth", truth, "--batch_size", "8"])
    assert (result["images"], result["bottles"]) == (7, 4)
    assert result["detector_tp"] + result["detector_fn"] == 4 and "detector_recall_visible50" not in result
    assert "classifier_auc" not in result and result["segmenter_crops"] == 4
    assert any("classifier left out" in note for note in result["notes"])
    with_target = run(["--truth", truth, "--target_category", "micellar_rose", "--detector", "", "--segmenter", ""])
    assert with_target["classifier_targets"] == 0 and with_target["classifier_auc"] is None
    assert with_target["classifier_crops"] == 4
