"""The bundle's demo classifier is trained by models.train_classifier, and lands as a slot model."""
import json
from pathlib import Path

import numpy as np
import pytest

from models.build import classifier
from models.train_classifier import cli


def test_the_bundle_trains_as_the_first_demo_did():
    args = cli.parse_args(classifier.train_args(Path("train"), Path("val"), Path("run"), Path("cache")))
    cfg = cli.round_config(args)
    assert (args.data, args.test_data) == (str(Path("train/crops.jsonl")), str(Path("val/crops.jsonl")))
    assert (cfg.augment, cfg.params.erase, cfg.params.hflip, cfg.mixup) == (2, 0.0, False, 0.0)
    assert (cfg.head, cfg.fine_tune, cfg.min_precision, cfg.seed) == ("logreg", 0, None, 0)  # best-F1 threshold
    assert (args.val_fraction, args.test_fraction) == (0.2, 0.0)


@pytest.mark.slow
def test_build_exports_only_the_slot_model(tmp_path):
    from models.slots import load_model
    from models.synth import generator

    train, val = tmp_path / "seed-3-n4", tmp_path / "seed-4-n2"
    generator.generate(train, 4, 3, crops=True, max_side=800)
    generator.generate(val, 2, 4, crops=True, max_side=800)
    trained_on = {"generator": "models.synth", "train_seed": 3, "train_scenes": 4, "val_seed": 4, "val_scenes": 2}
    out = tmp_path / "classifier"
    meta = classifier.build(train, val, out, trained_on)

    assert sorted(p.name for p in out.iterdir()) == ["fingerprint.pb", "saved_model.pb", "shelfscan.json", "variables"]
    assert json.loads((out / "shelfscan.json").read_text()) == meta
    assert meta["target_brand"] == "micellar_rose"
    assert meta["trained_on"]["train_seed"] == 3 and meta["trained_on"]["crops"].startswith("sha256:")
    assert meta["metrics"]["test"]["n"] == sum(1 for _ in open(val / "crops.jsonl"))
    model = load_model("classifier", str(out))
    assert (model.meta.kind, model.meta.input_size, model.meta.resize) == ("classifier", 224, "letterbox")
    assert model.meta.threshold == meta["threshold"]
    scores = model(np.zeros((2, 224, 224, 3), np.uint8))["scores"]
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    assert (tmp_path / "run" / "classifier" / "metrics.json").is_file()  # the trainer's whole output, kept aside
