"""Several products: one head and threshold each, metrics per product and a confusion matrix that adds up,
the scan's decision rule, and the two-class case as before. A cheap stand-in embedder keeps these fast."""
import json

import numpy as np
import pytest

from models.train_classifier import split
from models.train_classifier.cli import run
from models.train_classifier.data import CropDataError
from models.train_classifier.products import called, one_hot
from tests.models.train_classifier.conftest import PRODUCTS, TinyEmbedder, relabel


def _run(data, out, *extra):
    argv = ["--data", str(data), "--out", str(out), "--cache", "", "--no_export", "--no_report", *extra]
    return run(argv, embedder=TinyEmbedder())


def test_the_scan_rule_picks_the_highest_product_past_its_threshold():
    scores = np.array([[0.9, 0.8, 0.1], [0.3, 0.6, 0.7], [0.1, 0.1, 0.1], [0.5, 0.55, 0.0]])
    assert called(scores, ("a", "b", "c"), (0.5, 0.7, 0.6)) == ["a", "c", "other", "a"]  # b's 0.55 is below its 0.7
    assert one_hot("b", ("a", "b")).tolist() == [0, 1] and one_hot("other", ("a", "b")).tolist() == [0, 0]


def test_split_gives_every_side_every_product():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 60, 500).astype(str)
    labels = rng.choice(["other", "a", "b", "c"], 500, p=[0.6, 0.2, 0.12, 0.08])
    sides = split.split_groups(groups, labels, 0.15, 0.15, seed=2)
    split.check_no_leak(groups, sides)
    for side in (split.TRAIN, split.VAL, split.TEST):
        assert set(labels[sides == side]) == {"other", "a", "b", "c"}, side


def test_several_products_get_a_head_a_threshold_and_metrics_each(brand_crops, tmp_path):
    out = _run(brand_crops, tmp_path / "m", "--min_per_class", "5", "--augment", "1", "--mixup", "0.3")
    assert out["products"] == list(PRODUCTS) and list(out["thresholds"]) == list(PRODUCTS)
    assert out["threshold"] == min(out["thresholds"].values())
    assert list(out["model"]["head"]["per_product"]) == list(PRODUCTS)
    test = out["test"]
    rows = [json.loads(line) for line in (tmp_path / "m" / "examples.jsonl").read_text().splitlines()]
    tested = [r["product"] for r in rows if r.get("side") == "test"]
    confusion = test["product_confusion"]
    assert confusion["classes"] == [*PRODUCTS, "other"]
    for name, row in zip(confusion["classes"], confusion["matrix"]):
        assert sum(row) == tested.count(name) > 0, name  # rows are the true classes
    assert sum(map(sum, confusion["matrix"])) == test["n"] == len(tested)
    diagonal = sum(confusion["matrix"][i][i] for i in range(4))
    assert test["accuracy"] == pytest.approx(diagonal / test["n"], abs=1e-5)
    for k, product in enumerate(PRODUCTS):
        m = test["per_product"][product]
        assert m["n_target"] == tested.count(product) and m["threshold"] == out["thresholds"][product]
        called_it = sum(row[k] for row in confusion["matrix"])
        assert m["precision"] == pytest.approx(confusion["matrix"][k][k] / called_it if called_it else 1.0, abs=1e-5)
        assert m["recall"] == pytest.approx(confusion["matrix"][k][k] / tested.count(product), abs=1e-5)
        lo, hi = m["intervals_95"]["recall"]
        assert lo <= m["recall"] <= hi
    assert set(out["validation"]["per_product"]) == set(PRODUCTS)
    assert out["data"]["split"]["val"]["per_product"]["shampoo_leaf"] >= 1


def test_one_product_against_other_keeps_the_two_class_metrics(synth_crops, brand_crops, tmp_path):
    legacy = _run(synth_crops / "crops.jsonl", tmp_path / "target")
    named = _run(brand_crops, tmp_path / "rose", "--positive", "micellar_rose")
    assert named["products"] == ["micellar_rose"] and legacy["products"] == ["target"]
    assert set(named["test"]) == set(legacy["test"]) and "per_product" not in named["test"]
    assert set(named["validation"]) == set(legacy["validation"])
    # the same crops are the product either way (synth's target brand), so the same model comes out
    assert named["test"]["auc"] == legacy["test"]["auc"] and named["threshold"] == legacy["threshold"]


def test_labels_that_cannot_name_a_product_and_fine_tuning_several_are_refused(brand_crops, tmp_path):
    rows = [json.loads(line) for line in brand_crops.read_text().splitlines()]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({**r, "label": "cola dark" if r["label"] == "cola_dark" else r["label"]}) + "\n"
                           for r in rows))
    with pytest.raises(CropDataError, match=r"label 'cola dark' \(14 crops\) cannot be a product: product name"):
        _run(bad, tmp_path / "m")
    with pytest.raises(CropDataError, match=r"--fine_tune trains one product against other, and .* names 3 "):
        _run(brand_crops, tmp_path / "m", "--fine_tune", "1", "--min_per_class", "5")
    assert not (tmp_path / "m").exists()


def test_test_data_naming_a_product_the_training_lacks_is_refused(synth_crops, brand_crops, tmp_path):
    two = relabel(synth_crops / "crops.jsonl", tmp_path / "two.jsonl", products=("micellar_rose", "cola_dark"))
    with pytest.raises(CropDataError, match="labels shampoo_leaf, which the training data does not show"):
        _run(two, tmp_path / "m", "--test_data", str(brand_crops), "--min_per_class", "5")
