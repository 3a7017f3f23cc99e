"""`coco-int8`: built from the bundled coco graph into a folder (python -m models.ssd.build), loaded through the
detector slot, and finding the bottles `coco-fast` finds on the sample photos' views."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models import builtin
from models.evaluation.metrics import match_greedy
from models.slots import ModelLoadError, builtin_version, files_version, load_model
from models.ssd import build
from transforms.detection import detector_input
from transforms.records import DecodedImage
from transforms.slicing import DEFAULT_OVERLAP

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # the build calibrates on about 250 views: a minute or two


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build.build(tmp_path_factory.mktemp("int8") / "coco-int8")


@pytest.fixture
def int8_here(built, monkeypatch) -> builtin.Builtin:
    """The coco-int8 built-in pointed at the test's build."""
    named = dataclasses.replace(builtin.lookup("detector", "coco-int8"), built=built)
    monkeypatch.setattr(builtin, "BUILTINS", tuple(named if b.name == named.name else b for b in builtin.BUILTINS))
    return named


def _bottles(model, views: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    out = model(views)
    per_view = []
    for i, n in enumerate(out["num_detections"].astype(int)):
        keep = (out["detection_classes"][i][:n] == 44) & (out["detection_scores"][i][:n] >= 0.3)
        per_view.append((out["detection_boxes"][i][:n][keep], out["detection_scores"][i][:n][keep]))
    return per_view


def test_the_build_writes_the_model_its_anchors_and_how_it_was_made(built):
    stored = json.loads((built / "postprocess.json").read_text())
    assert stored["input_side"] == 300 and stored["outputs"] == ["Squeeze", "concat_1"]
    assert stored["built_from"]["version"] == files_version([builtin.lookup("detector", "coco").graph_path()])
    assert stored["calibration"]["views"] > 200
    assert np.load(built / "anchors.npy").shape == (1917, 4)
    assert (built / "detector.tflite").stat().st_size < 20e6  # int8: a quarter of the 67 MB fp32 weights


def test_coco_int8_loads_by_name_and_finds_the_bottles_coco_fast_finds(int8_here):
    int8 = load_model("detector", "coco-int8")
    assert int8.meta.version == builtin_version(int8_here) != load_model("detector", "coco-fast").meta.version
    assert (int8.meta.input_size, int8.meta.class_filter, int8.meta.threshold) == (300, (44,), 0.3)
    views = []
    for path in sorted((REPO / "pipeline" / "samples" / "images").glob("*.jpg")):
        with Image.open(path) as im:
            task = detector_input(DecodedImage(str(path), np.asarray(im.convert("RGB"))), 300, "stretch", 300,
                                  DEFAULT_OVERLAP)
        views += task.model_inputs
    views = np.stack(views)
    matched = total = 0
    for (fast_boxes, _), (boxes, scores) in zip(_bottles(load_model("detector", "coco-fast"), views),
                                                _bottles(int8, views)):
        matched += int((match_greedy(boxes, scores, fast_boxes, 0.9) >= 0).sum())
        total += len(fast_boxes)
    assert total >= 10 and matched >= 0.8 * total, f"{matched} of {total} bottles at IoU >= 0.9"


def test_a_missing_build_names_the_command_that_makes_it(tmp_path):
    named = dataclasses.replace(builtin.lookup("detector", "coco-int8"), built=tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"none lacks detector.tflite, anchors.npy, postprocess.json: build "
                                                 r"coco-int8 .* with python -m models.ssd.build"):
        named.model_files()
    assert builtin_version(named) is None


def test_loading_an_unbuilt_int8_is_one_line(tmp_path, monkeypatch):
    named = dataclasses.replace(builtin.lookup("detector", "coco-int8"), built=tmp_path / "none")
    monkeypatch.setattr(builtin, "BUILTINS", tuple(named if b.name == named.name else b for b in builtin.BUILTINS))
    with pytest.raises(ModelLoadError) as raised:
        load_model("detector", "coco-int8")
    assert "\n" not in str(raised.value) and "python -m models.ssd.build" in str(raised.value)


@pytest.mark.parametrize("broken, content", [("detector.tflite", b"not a flatbuffer"), ("anchors.npy", b"\x93NUMPY"),
                                             ("postprocess.json", b"{"), ("postprocess.json", b"{}")])
def test_a_damaged_build_is_a_one_line_load_error_saying_to_build_again(built, tmp_path, monkeypatch, broken, content):
    import shutil

    damaged = tmp_path / "coco-int8"
    shutil.copytree(built, damaged)
    (damaged / broken).write_bytes(content)
    named = dataclasses.replace(builtin.lookup("detector", "coco-int8"), built=damaged)
    monkeypatch.setattr(builtin, "BUILTINS", tuple(named if b.name == named.name else b for b in builtin.BUILTINS))
    with pytest.raises(ModelLoadError) as raised:
        load_model("detector", "coco-int8")
    message = str(raised.value)
    assert "\n" not in message and broken in message and "build it again" in message, message
