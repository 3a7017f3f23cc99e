"""pipeline.evaluate end to end: a scan with the bundled models, scored against COCO and truth.jsonl alike."""
import json
import shutil

import pytest

from models.synth.bottles import TARGET_BRAND
from models.synth.truth import write_coco
from pipeline.evaluate import main
from pipeline.options import SAMPLES
from pipeline.run import run

pytestmark = pytest.mark.slow


def test_a_scan_scored_against_coco_truth(tmp_path, capsys):
    scenes = tmp_path / "samples"
    shutil.copytree(SAMPLES, scenes)
    for extra in ("000003", "000004", "000005"):  # two images keep the scan quick
        (scenes / "images" / f"{extra}.jpg").unlink()
    write_coco(scenes)
    run(["--input", str(scenes / "images" / "*.jpg"), "--output", str(tmp_path / "out"), "--scan_id", "e",
         "--no_progress"])
    capsys.readouterr()
    summaries = str(tmp_path / "out" / "summaries" / "scan_id=e")

    def evaluate(*truth_args):
        main([*truth_args, "--summaries", summaries])
        return json.loads(capsys.readouterr().out.splitlines()[0])

    from_jsonl = evaluate("--truth", str(scenes / "truth.jsonl"))
    from_coco = evaluate("--truth", str(scenes / "instances.json"), "--target_category", TARGET_BRAND)
    from_coco.pop("notes")
    assert from_coco == from_jsonl
    assert from_coco["images"] == 2 and from_coco["images_without_summary"] == 3
    assert from_coco["detection_recall"] > 0.5
