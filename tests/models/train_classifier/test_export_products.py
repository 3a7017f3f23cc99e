"""Several products and reference photos with the real backbone: the exported model has a column per
product, its shelfscan.json names products and thresholds, and the scan's slot loader reads it."""
import json

import numpy as np
import pytest

from models.train_classifier.cli import run
from tests.models.train_classifier.conftest import PRODUCTS

pytestmark = pytest.mark.slow


def test_several_products_export_a_column_each_that_the_scan_loads(brand_crops, tmp_path):
    from models.slots import load_model
    from models.train_classifier.data import load_crops
    from transforms.letterbox import letterbox
    from transforms.products import ProductRule

    out = tmp_path / "m"
    metrics = run(["--data", str(brand_crops), "--out", str(out), "--cache", str(tmp_path / "cache"),
                   "--min_per_class", "5"])
    meta = json.loads((out / "shelfscan.json").read_text())
    assert meta["products"] == list(PRODUCTS) and len(meta["thresholds"]) == 3 and "trained_from" not in meta
    assert meta["threshold"] == min(meta["thresholds"]) == metrics["threshold"]
    assert meta["thresholds"] == [metrics["thresholds"][p] for p in PRODUCTS]
    model = load_model("classifier", str(out))
    assert model.meta.products == PRODUCTS and model.meta.thresholds == tuple(meta["thresholds"])

    rows = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    tested = [r["uri"] for r in rows if r.get("side") == "test"]
    by_uri = {c.uri: c for c in load_crops(str(brand_crops))[0]}
    outputs = model(np.stack([letterbox(by_uri[u].pixels, 224)[0] for u in tested]))
    assert outputs["product_scores"].shape == (len(tested), 3)
    assert np.allclose(outputs["scores"], outputs["product_scores"].max(axis=1))
    rule = model.meta.product_rule()
    called = [rule.decide(row)[0] for row in outputs["product_scores"]]
    truth = [by_uri[u].product for u in tested]
    confusion = metrics["test"]["product_confusion"]
    classes = confusion["classes"]
    exported = [[sum(t == a and c == b for t, c in zip(truth, called)) for b in classes] for a in classes]
    flips = sum(abs(x - y) for r1, r2 in zip(exported, confusion["matrix"]) for x, y in zip(r1, r2))
    assert flips <= 2  # float16 weights may move one borderline crop from one cell to another
    assert isinstance(rule, ProductRule)
    report = (out / "report.html").read_text()
    assert "<h2>Per product</h2>" in report and "called shampoo_leaf" in report and 'id="trained-from"' not in report


def test_a_classifier_from_reference_photos_says_so_in_the_model_and_report(references, unlabeled, tmp_path, capsys):
    from models.slots import load_model

    out = tmp_path / "m"
    metrics = run(["--references", str(references), "--data", str(unlabeled), "--reference_detector", "synthetic",
                   "--reference_copies", "4", "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert metrics["references"]["cut"]["detector"] >= 9  # the synthetic detector boxes nearly every pack shot
    meta = json.loads((out / "shelfscan.json").read_text())
    assert meta["trained_from"] == "references" and meta["products"] == list(PRODUCTS)
    assert load_model("classifier", str(out)).meta.extra["trained_from"] == "references"
    report = (out / "report.html").read_text()
    assert 'id="trained-from">TRAINED FROM REFERENCE PHOTOS ONLY' in report
    assert "TRAINED FROM REFERENCE PHOTOS ONLY" in capsys.readouterr().out
