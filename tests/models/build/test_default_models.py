"""The committed default models: they load through the slot contract, keep their signatures, and work."""
import json

import numpy as np
import pytest

from models.backbone import efficientnet
from models.builtin import DEFAULTS_DIR as DEFAULT_MODELS
from models.evaluation.evaluate import evaluate_classifier, evaluate_detector, evaluate_segmenter
from models.slots import load_model
from models.synth.dataset import iter_scenes
from pipeline.options import SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models():
    return {slot: load_model(slot, str(DEFAULT_MODELS / slot)) for slot in ("detector", "classifier", "segmenter")}


@pytest.fixture(scope="module")
def scenes():
    return list(iter_scenes(SAMPLES))


def test_metadata_says_how_to_feed_each_model(models):
    det, cls, seg = models["detector"].meta, models["classifier"].meta, models["segmenter"].meta
    assert (det.kind, det.input_size, det.resize, det.class_filter) == ("detector", 512, "letterbox", (1,))
    assert (cls.kind, cls.input_size, cls.resize) == ("classifier", 224, "letterbox")
    assert 0 < det.threshold < 1 and 0 < cls.threshold < 1
    assert seg.kind == "segmenter" and seg.resize == "stretch"
    fill = seg.extra["expected_fill"]
    assert len(fill["aspect"]) == len(fill["fill"]) > 3 and all(0.3 < f < 1 for f in fill["fill"])
    for meta in (det, cls, seg):
        assert meta.extra["backbone"] == efficientnet.BACKBONE_VERSION
        assert meta.version.startswith("sha256:")


def test_signatures(models):
    det = models["detector"](np.zeros((2, 512, 512, 3), np.uint8))
    assert det["detection_boxes"].shape[:2] == det["detection_scores"].shape == det["detection_classes"].shape
    assert det["detection_boxes"].shape[0] == 2 and det["detection_boxes"].shape[2] == 4
    scores = models["classifier"](np.zeros((3, 224, 224, 3), np.uint8))["scores"]
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    size = models["segmenter"].meta.input_size
    masks = models["segmenter"](np.zeros((2, size, size, 3), np.uint8))["masks"]
    assert masks.shape == (2, size, size)


def test_they_find_measure_and_recognise_the_sample_bottles(models, scenes):
    # The samples are a seed the models never saw; loose bounds, the held-out numbers are in docs/BENCHMARKS.md.
    det = evaluate_detector(models["detector"], scenes, batch_size=4)
    assert det["detector_recall"] > 0.7 and det["detector_precision"] > 0.7
    cls = evaluate_classifier(models["classifier"], scenes, batch_size=16)
    assert cls["classifier_auc"] > 0.85
    seg = evaluate_segmenter(models["segmenter"], scenes, batch_size=16)
    assert seg["segmenter_miou"] > 0.7


def test_the_exports_are_lean():
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for p in DEFAULT_MODELS.iterdir()}
    assert set(sizes) == {"detector", "classifier", "segmenter"}
    assert sum(sizes.values()) < 30e6, sizes
    for slot in sizes:
        assert json.loads((DEFAULT_MODELS / slot / "shelfscan.json").read_text())["kind"] == slot
