"""The scene generator: reproducible bytes, and truth that agrees with the masks it writes."""
import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.synth import cli, generator
from models.synth.bottles import TARGET_BRAND
from models.synth.products import Labeling
from models.synth.truth import read_truth, write_coco


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return generator.generate(tmp_path_factory.mktemp("synth") / "a", 24, seed=3, crops=True, max_side=1400)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow  # starts a process or builds many scenes
def test_same_seed_same_bytes_other_seed_other_scenes(scenes, tmp_path):
    again = generator.generate(tmp_path / "b", 24, seed=3, crops=True, max_side=1400)
    assert _files(again) == _files(scenes)
    other = generator.generate(tmp_path / "c", 3, seed=4, max_side=1400)
    assert (other / "images" / "000001.jpg").read_bytes() != (scenes / "images" / "000001.jpg").read_bytes()


def _assert_truth_matches_masks(folder: Path) -> list[dict]:
    records = read_truth(folder)
    for record in records:
        image = Image.open(folder / record["image"])
        mask = np.asarray(Image.open(folder / record["mask"]))
        assert image.size == (record["width"], record["height"]) == mask.shape[::-1]
        assert mask.max() == len(record["bottles"])
        for k, bottle in enumerate(record["bottles"], start=1):
            ys, xs = np.nonzero(mask == k)
            assert bottle["area_px"] == len(ys) > 0
            assert bottle["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return records


def test_boxes_and_areas_agree_with_the_masks(scenes):
    _assert_truth_matches_masks(scenes)


@pytest.mark.slow  # starts a process or builds many scenes
def test_a_fixed_size_makes_every_scene_that_size_with_truth_in_its_pixels(tmp_path):
    phone = generator.generate(tmp_path / "phone", 1, seed=4242, size=(4032, 3024))
    (record,) = _assert_truth_matches_masks(phone)
    assert (record["width"], record["height"]) == (4032, 3024) and record["bottles"]
    assert max(b["box"][3] - b["box"][1] for b in record["bottles"]) > 1000  # bottles scale with the photo
    small = _assert_truth_matches_masks(generator.generate(tmp_path / "small", 4, seed=4, size=(300, 500)))
    assert {(r["width"], r["height"]) for r in small} == {(300, 500)}
    again = generator.generate(tmp_path / "again", 4, seed=4, size=(300, 500))
    assert _files(again) == _files(tmp_path / "small")


@pytest.mark.parametrize("text", ["4032", "4032x", "ax3", "200x3000", "4032x3024x2"])
def test_a_size_that_cannot_hold_a_shelf_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT|at least 240"):
        cli.parse_size(text)


@pytest.mark.slow  # starts a process or builds many scenes
def test_scenes_hold_the_target_its_decoys_and_empty_shelves(scenes):
    records = read_truth(scenes)
    brands = Counter(b["brand"] for r in records for b in r["bottles"])
    decoys = {"micellar_pure", "rose_tonic", "micellar_azure"}
    assert brands[TARGET_BRAND] > 0 and decoys <= set(brands)
    targets = [b["is_target"] for r in records for b in r["bottles"]]
    assert 0.1 < np.mean(targets) < 0.5
    assert all(b["is_target"] == (b["brand"] == TARGET_BRAND) for r in records for b in r["bottles"])
    counts = [len(r["bottles"]) for r in records]
    assert max(counts) <= 20 and max(counts) >= 8
    many = read_truth(generator.generate(scenes.parent / "many", 60, seed=11, max_side=500))
    assert 0 in [len(r["bottles"]) for r in many]


def test_crops_are_labeled_by_target_and_grouped_by_image(scenes):
    lines = [json.loads(line) for line in (scenes / "crops.jsonl").read_text().splitlines()]
    truth = {r["image"]: r for r in read_truth(scenes)}
    assert {line["label"] for line in lines} == {"target", "other"}
    for line in lines:
        assert (scenes / line["uri"]).is_file()
        assert line["uri"].startswith(f"crops/{line['label']}/")
        k = int(Path(line["uri"]).stem.split("_")[1])
        bottle = truth[line["group"]]["bottles"][k - 1]
        assert bottle["is_target"] == (line["label"] == "target") and bottle["brand"] == line["brand"]


def test_command_line(tmp_path):
    subprocess.run([sys.executable, "-m", "models.synth", "--out", str(tmp_path), "--count", "2", "--seed", "5",
                    "--max_side", "600"], check=True, capture_output=True)
    records = read_truth(tmp_path / "truth.jsonl")
    assert len(records) == 2 and max(r["width"] for r in records) <= 600
    subprocess.run([sys.executable, "-m", "models.synth", "--out", str(tmp_path / "fixed"), "--count", "2",
                    "--size", "640x480"], check=True, capture_output=True)
    assert {(r["width"], r["height"]) for r in read_truth(tmp_path / "fixed")} == {(640, 480)}
    both = subprocess.run([sys.executable, "-m", "models.synth", "--out", str(tmp_path / "x"), "--count", "1",
                           "--size", "640x480", "--max_side", "600"], capture_output=True, text=True)
    assert both.returncode == 2 and "not allowed with" in both.stderr


THREE = ("micellar_rose", "shampoo_leaf", "cola_dark")


def _crop_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "crops.jsonl").read_text().splitlines()]


def test_crops_labeled_by_brand_are_filed_under_their_brand(tmp_path):
    lines = _crop_lines(generator.generate(tmp_path, 8, seed=3, crops=True, max_side=700,
                                           labeling=Labeling("brand")))
    assert len({line["label"] for line in lines}) >= 4
    for line in lines:
        assert line["label"] == line["brand"] and line["uri"].startswith(f"crops/{line['brand']}/")
        assert (tmp_path / line["uri"]).is_file()


def test_brands_that_are_not_products_are_other(tmp_path):
    by_target = _crop_lines(generator.generate(tmp_path / "t", 8, seed=3, crops=True, max_side=700))
    three = _crop_lines(generator.generate(tmp_path / "p", 8, seed=3, crops=True, max_side=700,
                                           labeling=Labeling("brand", THREE)))
    assert [line["brand"] for line in three] == [line["brand"] for line in by_target]  # same bottles cropped
    assert {line["label"] for line in three} <= {*THREE, "other"} and "other" in {line["label"] for line in three}
    for line in three:
        assert line["label"] == (line["brand"] if line["brand"] in THREE else "other")
        assert line["uri"].startswith(f"crops/{line['label']}/") and (tmp_path / "p" / line["uri"]).is_file()
    assert {p.name for p in (tmp_path / "p" / "crops").iterdir()} == {line["label"] for line in three}


def test_coco_categories_follow_the_products(tmp_path):
    folder = generator.generate(tmp_path, 4, seed=5, max_side=600)
    doc = json.loads(write_coco(folder, brands=THREE[::-1]).read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert names == {44: "bottle", 1000: "cola_dark", 1001: "shampoo_leaf", 1002: "micellar_rose"}
    for annotation in doc["annotations"]:
        brand = annotation["attributes"]["brand"]
        assert names[annotation["category_id"]] == (brand if brand in THREE else "bottle")


@pytest.mark.parametrize("argv, says", [
    (["--out", "x", "--count", "1", "--products", "cola_dark"], "add --label_by brand"),
    (["--out", "x", "--count", "1", "--label_by", "brand"], "add --crops or --coco"),
    (["--out", "x", "--count", "1", "--crops", "--label_by", "brand", "--products", "cola_dark,pepsi"],
     "unknown brand 'pepsi'; choose from micellar_rose, "),
    (["--out", "x", "--count", "1", "--crops", "--label_by", "brand", "--products", "cola_dark,cola_dark"],
     "names a brand twice"),
    (["--out", "x", "--count", "0"], "at least 1"),
    (["--out", "x"], "--out needs --count N"),
    (["--references", "x", "--per_brand", "2", "--count", "3", "--crops"], "--count, --crops not allowed with"),
    (["--references", "x"], "--references needs --per_brand N"),
    (["--out", "x", "--count", "2", "--per_brand", "2"], "--per_brand not allowed with --out"),
    (["--out", "x", "--references", "y", "--per_brand", "2"], "not allowed with"),
])
def test_options_that_make_no_sense_together_stop_with_one_line(argv, says, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(tmp_path / a) if a in ("x", "y") else a for a in argv])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert stopped.value.code == 2 and says in error
    assert not (tmp_path / "x").exists()
