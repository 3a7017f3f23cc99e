"""Built-in model names, and the COCO detector that ships inside a pip package as a TF1 frozen graph."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models import builtin
from models.slots import ModelLoadError, files_version, load_model

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the COCO graph takes seconds to parse


@pytest.fixture(scope="module")
def coco():
    return load_model("detector", "coco")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.coffee()).resize((300, 300)))


def _frozen_graph_outputs(batch: np.ndarray) -> dict[str, np.ndarray]:
    """The graph run the TF1 way, straight from the file: what the zoo's own notebooks do."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(builtin.lookup("detector", "coco").graph_path().read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    names = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
    with tf.compat.v1.Session(graph=graph) as session:
        values = session.run([f"{n}:0" for n in names], {"image_tensor:0": batch})
    return dict(zip(names, values))


def test_the_coco_slot_returns_what_the_frozen_graph_returns(coco, photo):
    batch = np.stack([photo, photo[::-1]])
    got, want = coco(batch), _frozen_graph_outputs(batch)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)
    assert want["num_detections"][0] > 0  # a real photo gives real detections (cup, spoon...)


def test_the_coco_slot_carries_its_feeding_and_its_version(coco):
    meta = coco.meta
    assert (meta.uri, meta.kind, meta.signature_style) == ("coco", "detector", "tf_od_api")
    assert (meta.input_size, meta.resize, meta.class_filter) == (300, "stretch", (44,))
    assert meta.version == files_version([builtin.lookup("detector", "coco").graph_path()])
    assert meta.version.startswith("sha256:") and len(meta.version) == 23


def test_overrides_win_over_the_builtin_feeding():
    meta = load_model("detector", "coco", threshold=0.25, class_filter=(44, 46)).meta
    assert (meta.threshold, meta.class_filter) == (0.25, (44, 46))


@pytest.mark.parametrize("slot, name, directory", [
    ("detector", "synthetic", "detector"), ("classifier", "demo", "classifier"),
    ("segmenter", "synthetic", "segmenter")])
def test_project_models_load_by_name_and_equal_their_directory(slot, name, directory):
    by_name = load_model(slot, name)
    by_path = load_model(slot, str(builtin.DEFAULTS_DIR / directory))
    assert by_name.meta.version == by_path.meta.version
    assert by_name.meta.uri == name


def test_a_name_of_another_slot_is_no_builtin_and_the_error_lists_the_names():
    with pytest.raises(ModelLoadError) as raised:
        load_model("detector", "demo")
    assert str(raised.value) == ("cannot load the detector model from demo: no such directory, and not a "
                                 "built-in detector name (coco, coco-fast, coco-int8, synthetic)")


def test_a_directory_sharing_a_name_is_reached_by_its_path(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(builtin.DEFAULTS_DIR / "classifier", tmp_path / "coco")
    monkeypatch.chdir(tmp_path)
    assert load_model("classifier", "./coco").meta.kind == "classifier"


def test_a_missing_package_names_what_to_install():
    missing = builtin.Builtin("detector", "gone", "test", package="no_such_shelfscan_package", file="x.pb")
    with pytest.raises(FileNotFoundError, match="pip package no_such_shelfscan_package is not installed"):
        missing.graph_path()


def test_a_file_that_is_not_a_detection_graph_is_refused(tmp_path):
    from models.frozen_graph import read_graph_def

    junk = tmp_path / "frozen_inference_graph.pb"
    junk.write_bytes(b"\x00not a graph" * 10)
    with pytest.raises(ValueError, match="not a TensorFlow GraphDef|not a TF Object Detection API graph"):
        read_graph_def(junk)


def test_the_coco_graph_runs_only_allowed_ops():
    from models import model_ops
    from models.frozen_graph import read_graph_def

    ops = model_ops.graph_def_ops(read_graph_def(builtin.lookup("detector", "coco").graph_path()))
    assert model_ops.refusal(ops) is None
    assert {"NonMaxSuppressionV2", "TensorArrayV3", "Enter", "DepthwiseConv2dNative"} <= ops, "the whole graph is read"


def test_help_lists_every_builtin_name():
    shown = subprocess.run([sys.executable, "-m", "pipeline.run", "--help"], cwd=REPO, capture_output=True,
                           text=True, timeout=120, check=True).stdout
    flat = " ".join(shown.split())
    for b in builtin.BUILTINS:
        assert f"{b.name} ({' '.join(b.about.split())}" in flat, b.name
    assert "--detector DETECTOR" in shown and "(default: coco-fast)" in flat


def test_a_report_names_the_default_twin_for_the_version_coco_and_coco_fast_share():
    from models.slots import builtin_named, builtin_version

    version = builtin_version(builtin.lookup("detector", "coco"))
    assert version == builtin_version(builtin.lookup("detector", "coco-fast"))  # the same file, the same bottles
    assert builtin_named("detector", version) == builtin.DEFAULTS["detector"] == "coco-fast"
    assert builtin_named("classifier", builtin_version(builtin.lookup("classifier", "demo"))) == "demo"
    assert builtin_named("detector", "sha256:0000000000000000") is None
