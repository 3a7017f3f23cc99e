"""ONNX files in the model slots: each detector layout, fixed and dynamic batch, metadata, refusals, gs://."""
import json

import numpy as np
import pytest

from models.onnx.runtime import providers
from models.slots import ModelLoadError, files_version, load_model
from tests import onnx_models
from tests.onnx_models import SIDE

pytestmark = pytest.mark.slow  # builds and loads models

BUILDERS = {"ultralytics": onnx_models.ultralytics, "rtdetr": onnx_models.rtdetr, "od_api": onnx_models.od_api,
            "ultralytics_nms": onnx_models.ultralytics_rows,
            "ultralytics_rtdetr": lambda path, batch="batch": onnx_models.ultralytics_rows(path, batch, rtdetr=True)}


def _red(count: int) -> np.ndarray:
    images = np.zeros((count, SIDE, SIDE, 3), np.uint8)
    for i in range(count):
        images[i, 8 + i:24 + i, 16:40] = (255, 0, 0)  # each image its own box, so a mixed-up batch shows
    return images


@pytest.mark.parametrize("layout", BUILDERS)
def test_each_layout_gives_od_api_outputs_alike_for_fixed_and_dynamic_batch(layout, tmp_path):
    dynamic = load_model("detector", str(BUILDERS[layout](tmp_path / "dynamic.onnx")))
    fixed = load_model("detector", str(BUILDERS[layout](tmp_path / "one.onnx", batch=1)))
    images = _red(3)  # the batch-1 model runs them one at a time
    a, b = dynamic(images), fixed(images)
    assert a.keys() == b.keys() >= {"detection_boxes", "detection_scores", "detection_classes"}
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6)
    bottle = dynamic.meta.class_filter[0]
    for i in range(3):
        first = int(np.flatnonzero(a["detection_classes"][i] == bottle)[0])
        np.testing.assert_allclose(a["detection_boxes"][i, first] * SIDE, [8 + i, 16, 24 + i, 40], atol=1e-4)
    assert dynamic.meta.signature_style == f"onnx_{layout}"
    assert dynamic.meta.version == files_version([tmp_path / "dynamic.onnx"]) != fixed.meta.version


def test_ultralytics_names_and_imgsz_come_from_the_model_metadata(tmp_path):
    meta = load_model("detector", str(onnx_models.ultralytics(tmp_path / "yolo.onnx"))).meta
    assert (meta.input_size, meta.resize, meta.class_filter) == (SIDE, "letterbox_center", (39,))
    assert meta.extra["class_names"][39] == "bottle" and meta.extra["layout"] == "ultralytics"
    out = load_model("detector", str(tmp_path / "yolo.onnx"))(_red(1))
    assert out["num_detections"][0] == 2  # the red box, the other class; the red box 1/4 px off went to NMS


def test_shelfscan_json_beside_the_file_and_the_options_win(tmp_path):
    path = onnx_models.ultralytics(tmp_path / "yolo.onnx")
    (tmp_path / "shelfscan.json").write_text(json.dumps({"kind": "detector", "threshold": 0.6, "slice_size": 320}))
    meta = load_model("detector", str(path), class_filter=(0,)).meta
    assert (meta.threshold, meta.class_filter, meta.extra["slice_size"]) == (0.6, (0,), 320)


def test_a_detector_whose_classes_name_no_bottle_needs_a_class_filter(tmp_path):
    path = onnx_models.ultralytics(tmp_path / "things.onnx", names={i: f"thing{i}" for i in range(40)})
    with pytest.raises(ModelLoadError, match="40 class names include no 'bottle'; pass --detector_class_filter"):
        load_model("detector", str(path))
    assert load_model("detector", str(path), class_filter=(39,)).meta.class_filter == (39,)


def test_a_junk_file_is_refused_in_one_line(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelLoadError) as e:
        load_model("detector", str(junk))
    assert "\n" not in str(e.value)
    assert str(e.value).startswith(f"cannot load the detector model from {junk}: ONNX Runtime could not read")
    assert "expected an ONNX model file" in str(e.value)


def test_a_model_of_no_detector_layout_is_refused_in_one_line(tmp_path):
    path = onnx_models.no_layout(tmp_path / "identity.onnx")
    with pytest.raises(ModelLoadError) as e:
        load_model("detector", str(path))
    message = str(e.value)
    assert "\n" not in message and str(path) in message and "detector" in message
    assert "none of the detector layouts" in message and "expected an Ultralytics output0" in message


def test_a_missing_onnx_file_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model("detector", str(tmp_path / "absent.onnx"))


def test_a_classifier_slot_takes_an_onnx_file_with_a_scores_output(tmp_path):
    path = onnx_models.blue_classifier(tmp_path / "blue.onnx")
    (tmp_path / "shelfscan.json").write_text(json.dumps({"kind": "classifier", "threshold": 0.4}))
    model = load_model("classifier", str(path))
    assert (model.meta.input_size, model.meta.threshold) == (SIDE, 0.4)
    crops = np.zeros((2, SIDE, SIDE, 3), np.uint8)
    crops[1, 0, 0, 2] = 255
    np.testing.assert_allclose(model(crops)["scores"], [0.0, 1.0])
    (tmp_path / "shelfscan.json").unlink()
    with pytest.raises(ModelLoadError, match=r"a segmenter model needs outputs \['masks'\]"):
        load_model("segmenter", str(path))


def test_cuda_comes_first_where_onnxruntime_has_it():
    assert providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers(["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_a_gs_onnx_file_is_fetched_with_the_shelfscan_json_beside_it(gcs_emulator, tmp_path):
    local = tmp_path / "model"
    onnx_models.ultralytics(local / "yolo.onnx")
    (local / "shelfscan.json").write_text(json.dumps({"kind": "detector", "threshold": 0.7}))
    onnx_models.rtdetr(local / "other.onnx")  # beside it in the same folder: not fetched
    prefix = gcs_emulator.upload_dir(local, "onnx")
    cache = tmp_path / "cache"
    model = load_model("detector", f"{prefix}/yolo.onnx", cache_dir=cache)
    assert model.meta.threshold == 0.7 and model.meta.version == files_version([local / "yolo.onnx"])
    (copy,) = cache.iterdir()
    assert sorted(p.name for p in copy.iterdir()) == ["shelfscan.json", "yolo.onnx"]
    with pytest.raises(ModelLoadError, match="no such object"):
        load_model("detector", f"{prefix}/absent.onnx", cache_dir=cache)


def test_a_segmenter_slot_takes_an_onnx_file_with_a_masks_output(tmp_path):
    model = load_model("segmenter", str(onnx_models.red_segmenter(tmp_path / "red.onnx")))
    crops = np.zeros((2, SIDE, SIDE, 3), np.uint8)
    crops[1, :10, :20, 0] = 255
    masks = model(crops)["masks"]  # [B, 1, S, S] from the model, [B, S, S] as the slot contract has it
    assert masks.shape == (2, SIDE, SIDE) and masks[1].sum() == 200 and masks[0].sum() == 0


@pytest.mark.parametrize("location", ["/etc/hostname", "../../../../../../etc/hostname"])
def test_a_model_whose_weights_point_outside_its_folder_is_refused(location, tmp_path):
    path = onnx_models.reads_outside(tmp_path / "reads.onnx", location)
    with pytest.raises(ModelLoadError, match="ONNX Runtime could not read reads.onnx.*External data path") as e:
        load_model("detector", str(path))
    assert "\n" not in str(e.value)
