"""`python -m models.train_classifier` end to end with the real backbone: it trains, evaluates,
reports and exports a classifier the scan's slot loader accepts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crops_jsonl(tmp_path_factory):
    from models.synth import generator

    out = tmp_path_factory.mktemp("crops")
    generator.generate(out, 4, 3, crops=True, max_side=800)  # 35 crops
    return out / "crops.jsonl"


def _train(crops_jsonl, out: Path, *extra) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "models.train_classifier", "--data", str(crops_jsonl), "--out", str(out),
           "--cache", str(out.parent / "cache"), *extra]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _uint8_batch():
    return np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)


def test_one_command_trains_evaluates_reports_and_exports(crops_jsonl, tmp_path):
    import tensorflow as tf

    from models.backbone.efficientnet import BACKBONE_VERSION
    from models.slots import load_model
    from models.train_classifier.data import data_hash, load_crops
    from transforms.letterbox import letterbox

    out = tmp_path / "model"
    done = _train(crops_jsonl, out, "--augment", "2", "--seed", "1")
    assert "AUC" in done.stdout and "embedding cache" in done.stdout
    for name in ("saved_model.pb", "shelfscan.json", "metrics.json", "report.html", "examples.jsonl"):
        assert (out / name).is_file(), name

    meta = json.loads((out / "shelfscan.json").read_text())
    crops, _ = load_crops(str(crops_jsonl))
    assert meta["kind"] == "classifier" and meta["input_size"] == 224 and meta["resize"] == "letterbox"
    assert meta["signature"] == "serving_default" and meta["backbone"] == BACKBONE_VERSION
    assert meta["trained_on"] == data_hash(crops)
    assert "--augment 2" in meta["command"] and 0 < meta["threshold"] < 1
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    for key in ("accuracy", "auc", "precision", "recall", "threshold", "confusion", "pr_curve", "per_brand",
                "per_group"):
        assert key in test, key
    assert sum(test["confusion"][k] for k in ("tp", "fp", "fn", "tn")) == test["n"]
    assert metrics["threshold"] == meta["threshold"]
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 2 and "src=\"http" not in report
    # 35 crops from 4 scenes: the test split is small, and both the summary and the report say so
    assert "SMALL TEST SPLIT" in done.stdout and "95 % intervals: accuracy " in done.stdout
    assert 'class="warn">SMALL TEST SPLIT' in report and "95 % interval" in report
    use = f"python -m pipeline.run --classifier {out}"
    assert done.stdout.rstrip().splitlines()[-1].strip().startswith(use)
    assert report.rindex(use) > report.rindex("<h2>")  # the report ends with the command that uses the model

    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    scores = serve(crops=tf.constant(_uint8_batch()))["scores"].numpy()
    assert scores.shape == (3,) and scores.dtype == np.float32 and np.all((scores >= 0) & (scores <= 1))

    # the exported model reproduces the test scores from the crops letterboxed as the scan does it
    examples = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    test_uris = [e["uri"] for e in examples if e.get("side") == "test"]
    by_uri = {c.uri: c for c in crops}
    batch = np.stack([letterbox(by_uri[u].pixels, 224)[0] for u in test_uris])
    exported = serve(crops=tf.constant(batch))["scores"].numpy()
    labels = np.array([by_uri[u].label for u in test_uris])
    accuracy = np.mean((exported >= meta["threshold"]) == labels)
    assert abs(accuracy - test["accuracy"]) <= 1 / len(labels) + 1e-9  # float16 weights may flip a borderline crop
    loaded = load_model("classifier", str(out))
    assert loaded.meta.threshold == meta["threshold"] and loaded.meta.input_size == 224


def test_fine_tune_one_epoch_exports_a_working_model(crops_jsonl, tmp_path):
    import tensorflow as tf

    out = tmp_path / "tuned"
    _train(crops_jsonl, out, "--fine_tune", "1", "--epochs", "1", "--mixup", "0.2", "--no_report")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["fine_tune"]["fine_tune_blocks"] == 1
    assert "block7_1" in json.loads((out / "shelfscan.json").read_text())["architecture"]
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    scores = serve(crops=tf.constant(_uint8_batch()))["scores"].numpy()
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_a_missing_data_file_is_one_line_before_tensorflow_loads(tmp_path):
    done = subprocess.run([sys.executable, "-m", "models.train_classifier", "--data", str(tmp_path / "nope.jsonl"),
                           "--out", str(tmp_path / "m")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0
    assert "--data" in done.stderr and "nope.jsonl does not exist" in done.stderr
    assert "cuda" not in done.stderr.lower() and "oneDNN" not in done.stderr
