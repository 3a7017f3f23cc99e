"""The bundled detectors converted to ONNX by tf2onnx (models.onnx.convert), loaded through the detector
slot as `--detector FILE.onnx` is, find the same bottles as under TensorFlow on the sample and real photos."""
import json
import re
from pathlib import Path

import pytest

from models.onnx.agreement import NONE, SCORE_MARGIN, agreement, photo_detections
from models.onnx.convert import ConvertError, convert
from models.realset import assemble
from models.slots import load_model
from transforms.image_file import load_image
from transforms.slicing import slice_size_for

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "pipeline" / "samples" / "images").glob("*.jpg"))


@pytest.mark.parametrize("name, out, cause", [
    ("yolo", "yolo.onnx", "'yolo' is not a built-in detector tf2onnx converts (coco, synthetic)"),
    ("coco", "coco.pb", "the file name must end in .onnx")])
def test_what_cannot_be_converted_is_refused_in_one_line(name, out, cause, tmp_path):
    with pytest.raises(ConvertError, match=re.escape(cause)) as refused:
        convert(name, tmp_path / out)
    assert "\n" not in str(refused.value)


def test_a_folder_holding_another_models_json_is_not_overwritten(tmp_path):
    (tmp_path / "shelfscan.json").write_text(json.dumps({"kind": "detector", "threshold": 0.5}))
    with pytest.raises(ConvertError, match="belongs to another model"):
        convert("coco", tmp_path / "coco.onnx")
    assert json.loads((tmp_path / "shelfscan.json").read_text()) == {"kind": "detector", "threshold": 0.5}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The bundled sample photos and the real set's, decoded as a scan decodes them."""
    real = assemble(tmp_path_factory.mktemp("realset")).parent / "images"
    return {"samples": [load_image(str(p)) for p in SAMPLES],
            "real": [load_image(str(p)) for p in sorted(real.iterdir())]}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coco", "synthetic"])
def test_a_bundled_detector_converted_to_onnx_finds_the_same_bottles(name, photos, tmp_path):
    onnx_file = convert(name, tmp_path / name / f"{name}.onnx")
    tf, onnx = load_model("detector", name), load_model("detector", str(onnx_file))
    fed = ("input_size", "resize", "threshold", "class_filter")
    assert [getattr(onnx.meta, k) for k in fed] == [getattr(tf.meta, k) for k in fed]
    assert slice_size_for(None, onnx.meta.extra) == slice_size_for(None, tf.meta.extra)
    assert onnx.meta.signature_style == "onnx_od_api" and onnx.meta.extra["converted_from"]["builtin"] == name
    floor = tf.meta.threshold - SCORE_MARGIN
    for kind, images in photos.items():
        total = NONE
        for image in images:
            same = agreement(photo_detections(tf, image, floor), photo_detections(onnx, image, floor),
                             tf.meta.threshold)
            assert same.same, f"{name} on {image.uri}: {same}"
            total += same
        assert total.matched >= 3, f"{name} found too few bottles on the {kind} photos to compare: {total}"
