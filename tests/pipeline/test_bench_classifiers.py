"""pipeline.bench_classifiers: its table and refusals, and a real run of two toy classifiers on crops."""
import json

import numpy as np
import pytest
from PIL import Image

from pipeline import bench_classifiers


def _crops(folder, colours):
    folder.mkdir()
    for i, colour in enumerate(colours):
        Image.fromarray(np.full((40, 20, 3), colour, np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def test_the_table_gives_each_classifier_its_ratio_to_the_first():
    result = {"crops": 10, "source": "c/*", "rounds": 1, "batch_size": 4, "classifiers": {
        "demo": {"products": ["target"], "model_ms_per_crop": 10.0, "decide_ms_per_crop": 0.0, "called_product": 2},
        "mine": {"products": ["a", "b", "c"], "model_ms_per_crop": 12.0, "decide_ms_per_crop": 0.5,
                 "called_product": 7}}}
    lines = bench_classifiers.table(result).splitlines()
    assert lines[3].split() == ["demo", "1", "10.000", "0.0000", "1.00x", "2"]
    assert lines[4].split() == ["mine", "3", "12.000", "0.5000", "1.25x", "7"]


@pytest.mark.parametrize("args, cause", [
    (["--classifier", "demo"], "two or more different --classifier"),
    (["--classifier", "demo", "--classifier", "demo"], "two or more different --classifier"),
    (["--classifier", "demo", "--classifier", "x", "--rounds", "0"], "of 1 or more")])
def test_what_cannot_be_compared_is_refused_in_one_line(tmp_path, args, cause):
    with pytest.raises(SystemExit, match=cause):
        bench_classifiers.main(["--crops", str(tmp_path), *args])


def test_crops_that_match_nothing_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="matches no file"):
        bench_classifiers.main(["--crops", str(tmp_path / "*.jpg"), "--classifier", "a", "--classifier", "b"])


def test_two_classifiers_run_side_by_side_on_the_same_crops(tmp_path, toy_models, product_classifier, capsys):
    crops = _crops(tmp_path / "crops", [(255, 0, 0), (0, 230, 0), (0, 0, 250), (90, 90, 90), (240, 10, 10)])
    (crops / "broken.jpg").write_bytes(b"not an image")  # left out, said on stderr
    result = bench_classifiers.main(["--crops", str(crops), "--classifier", str(toy_models["classifier"]),
                                     "--classifier", str(product_classifier), "--rounds", "2", "--batch_size", "2"])
    printed = capsys.readouterr()
    assert json.loads(printed.out[:printed.out.index("\n}\n") + 2]) == result
    assert "broken.jpg left out" in printed.err and result["crops"] == 5
    toy, products = result["classifiers"][str(toy_models["classifier"])], result["classifiers"][str(product_classifier)]
    assert products["products"] == ["red", "green", "blue"] and len(toy["products"]) == 1
    assert products["called_product"] == 4  # the grey crop is none of red, green, blue
    assert products["model_ms_per_crop"] > 0 and toy["model_ms_per_crop"] > 0
