"""The `demo` classifier: `models.train_classifier` run on the bundle's synthetic crops.

There is one way to train a classifier; the bundle calls it as a user would. It trains on the crops
of the training scenes (`models.synth --crops`), with a validation split of their source images for
the L2 penalty and the best-F1 threshold, and is tested on the crops of the validation scenes (another
seed). Only the SavedModel and its shelfscan.json go into the bundle.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from models.synth.bottles import TARGET_BRAND

_LOG = logging.getLogger(__name__)

# What the first demo classifier did by hand: two extra copies of each training crop (it moved the
# box edges and changed colour; the trainer's augmentation shifts, zooms and changes colour, and
# erases nothing), a fifth of the source images for validation, seed 0.
TRAIN_ARGS = ("--augment", "2", "--erase", "0", "--val_fraction", "0.2", "--test_fraction", "0",
              "--seed", "0", "--no_report")
SAVED_MODEL_FILES = ("saved_model.pb", "fingerprint.pb", "variables")


def train_args(train_dir: Path, val_dir: Path, run_dir: Path, cache: Path) -> list[str]:
    """The `python -m models.train_classifier` arguments the bundle trains the demo with."""
    return ["--data", str(train_dir / "crops.jsonl"), "--test_data", str(val_dir / "crops.jsonl"),
            "--out", str(run_dir), "--cache", str(cache), *TRAIN_ARGS]


def build(train_dir: Path, val_dir: Path, out_dir: Path, trained_on: dict) -> dict:
    """Train with models.train_classifier, copy its SavedModel to `out_dir`; returns the metadata written.

    The trainer's whole output (metrics.json, examples.jsonl) stays in `run/classifier` beside the
    scene cache.
    """
    from models.train_classifier import cli

    run_dir = train_dir.parent / "run" / "classifier"
    shutil.rmtree(run_dir, ignore_errors=True)
    report = cli.run(train_args(train_dir, val_dir, run_dir, train_dir.parent / "embeddings"))
    trained = json.loads((run_dir / "shelfscan.json").read_text())
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for name in SAVED_MODEL_FILES:
        source = run_dir / name
        if source.is_dir():
            shutil.copytree(source, out_dir / name)
        elif source.is_file():
            shutil.copy2(source, out_dir / name)
    meta = {**trained, "target_brand": TARGET_BRAND,
            "trained_on": {**trained_on, "crops": report["data"]["trained_on"]},
            "metrics": {"test": _headline(report["test"]), "validation": report["validation"],
                        "threshold_rule": report["threshold_rule"], **report["model"]["head"],
                        "train_crops": report["model"]["train_crops"],
                        "train_examples": report["model"]["train_examples"]}}
    (out_dir / "shelfscan.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _headline(test: dict) -> dict:
    return {k: test[k] for k in ("n", "n_target", "auc", "accuracy", "precision", "recall", "f1")}
