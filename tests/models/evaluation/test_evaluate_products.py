"""models.evaluation with a classifier of three products (tests/toy_models.py: red, green, blue by the crop's
brightest channel, thresholds 0.5, 0.9, 0.5) on photos of coloured boxes whose answers are worked out by hand."""
import json

import numpy as np
import pytest
from PIL import Image

from models.evaluation.evaluate import run

BOXES = {  # photo -> (box, colour, the truth's brand); a brand the classifier does not know is other
    "a.png": [((10, 10, 30, 50), (255, 0, 0), "red"), ((40, 10, 60, 50), (0, 240, 0), "green"),
              ((70, 10, 90, 50), (100, 100, 100), "grey")],
    "b.png": [((10, 10, 30, 50), (0, 200, 0), "green"),  # too dim for green's 0.9: taken for other
              ((40, 10, 60, 50), (0, 0, 255), "blue"),
              ((70, 10, 90, 50), (0, 0, 250), "navy")],  # another brand, taken for blue
}


@pytest.fixture()
def truth(tmp_path):
    lines = []
    for name, boxes in BOXES.items():
        pixels = np.zeros((60, 100, 3), np.uint8)
        for (x0, y0, x1, y1), colour, _ in boxes:
            pixels[y0:y1, x0:x1] = colour
        Image.fromarray(pixels).save(tmp_path / name)
        lines.append(json.dumps({"image": name, "width": 100, "height": 60, "bottles": [
            {"box": list(box), "brand": brand, "is_target": False, "area_px": (box[2] - box[0]) * (box[3] - box[1])}
            for box, _, brand in boxes]}))
    (tmp_path / "truth.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "truth.jsonl"


def test_a_classifier_of_three_products_is_scored_per_product(truth, product_classifier, capsys):
    result = run(["--truth", str(truth), "--detector", "", "--segmenter", "", "--classifier", str(product_classifier)])
    per = result["classifier_products"]
    assert list(per) == ["red", "green", "blue"]
    third = 0.1667  # one bottle of three off in one photo of two, by count and (equal areas) by area
    assert per["red"] == {"precision": 1.0, "recall": 1.0, "tp": 1, "fp": 0, "fn": 0, "true_bottles": 1,
                          "count_exact": 1.0, "share_count_mae": 0.0, "share_area_mae": 0.0}
    assert per["green"] == {"precision": 1.0, "recall": 0.5, "tp": 1, "fp": 0, "fn": 1, "true_bottles": 2,
                            "count_exact": 0.5, "share_count_mae": third, "share_area_mae": third}
    assert per["blue"] == {"precision": 0.5, "recall": 1.0, "tp": 1, "fp": 1, "fn": 0, "true_bottles": 1,
                           "count_exact": 0.5, "share_count_mae": third, "share_area_mae": third}
    # the binary view: a target is a bottle of any product; `scores` (the best product's) at the lowest threshold
    assert (result["classifier_crops"], result["classifier_targets"]) == (6, 4)
    assert (result["classifier_precision"], result["classifier_recall"]) == (0.8, 1.0)
    table = capsys.readouterr().err.split("classifier per product, on the true boxes:\n")[1].splitlines()
    assert [line.split()[0] for line in table] == ["product", "red", "green", "blue"]
