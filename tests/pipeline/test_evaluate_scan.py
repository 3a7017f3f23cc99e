"""pipeline.evaluate end to end: a scan with the bundled models, scored against COCO and truth.jsonl alike."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

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
         "--detector", "synthetic", "--no_progress"])  # the detector of these scenes: many matches to score
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


def _photo(path, rects):
    pixels = np.full((200, 200, 3), 40, np.uint8)
    for (x0, y0, x1, y1), rgb, _ in rects:
        pixels[y0:y1, x0:x1] = rgb
    Image.fromarray(pixels).save(path)


SHELF = {  # photo -> (box, colour, brand): the toy detector finds the red and the green box
    "a.png": [((20, 30, 60, 130), (255, 0, 0), "red"), ((100, 50, 120, 100), (0, 255, 0), "green")],
    "b.png": [((10, 10, 30, 30), (255, 0, 0), "red"),
              ((100, 100, 140, 180), (0, 210, 0), "green")],  # under green's 0.9 threshold: scanned as other
    "c.png": [],
}


def test_a_scan_of_three_products_scored_per_product(tmp_path, capsys, colour_box_detector, product_classifier,
                                                     toy_models):
    photos = tmp_path / "in"
    photos.mkdir()
    lines = []
    for name, rects in SHELF.items():
        _photo(photos / name, rects)
        lines.append(json.dumps({"image": name, "width": 200, "height": 200, "bottles": [
            {"box": list(box), "brand": brand, "is_target": False, "area_px": (box[2] - box[0]) * (box[3] - box[1])}
            for box, _, brand in rects]}))
    (photos / "truth.jsonl").write_text("\n".join(lines) + "\n")
    run(["--input", str(photos / "*.png"), "--output", str(tmp_path / "out"), "--scan_id", "p", "--no_progress",
         "--detector", str(colour_box_detector), "--classifier", str(product_classifier),
         "--segmenter", str(toy_models["segmenter"])])
    capsys.readouterr()
    main(["--truth", str(photos / "truth.jsonl"), "--summaries", str(tmp_path / "out" / "summaries" / "scan_id=p")])
    out = capsys.readouterr().out
    per = json.loads(out.splitlines()[0])["products"]
    assert [line.split()[0] for line in out.split("\n\n")[-1].splitlines()] == ["product", "red", "green", "blue"]

    assert {k: per["red"][k] for k in ("tp", "fp", "fn", "count_exact", "share_count_mae")} == {
        "tp": 2, "fp": 0, "fn": 0, "count_exact": 1.0, "share_count_mae": 0.0}
    assert per["red"]["share_area_mae"] < 0.05  # the scan's other bottle counts its expected area, not its mask
    # green: found in a, scanned as other in b, where it was half the shelf
    assert (per["green"]["tp"], per["green"]["fn"], per["green"]["recall"]) == (1, 1, 0.5)
    assert per["green"]["count_exact"] == pytest.approx(2 / 3, abs=1e-4)
    assert per["green"]["share_count_mae"] == pytest.approx(0.5 / 3, abs=1e-4)
    assert per["blue"] == {"precision": 1.0, "recall": 1.0, "tp": 0, "fp": 0, "fn": 0, "true_bottles": 0,
                           "count_exact": 1.0, "share_count_mae": 0.0, "share_area_mae": 0.0}
