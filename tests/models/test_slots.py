"""The slot contract: local dirs, gs:// (GCS emulator), TF Hub handles (directory and loopback HTTP)."""
import functools
import http.server
import re
import shutil
import tarfile
import threading

import numpy as np
import pytest

from models.slots import COCO_BOTTLE, ModelLoadError, load_model
from tests.gcs_emulator import free_port


def test_local_directory_with_its_metadata(toy_models):
    model = load_model("classifier", str(toy_models["classifier"]))
    meta = model.meta
    assert (meta.kind, meta.input_size, meta.resize, meta.threshold) == ("classifier", 32, "letterbox", 0.5)
    assert meta.signature_style == "shelfscan" and meta.version.startswith("sha256:")
    assert meta.extra["backbone"] == "toy"
    batch = np.zeros((3, 32, 32, 3), np.uint8)
    batch[1, ..., 2] = 255
    np.testing.assert_allclose(model(batch)["scores"], [0, 1, 0])


def test_overrides_win_and_versions_are_content_hashes(toy_models, tmp_path):
    meta = load_model("detector", str(toy_models["detector"]), threshold=0.3, class_filter=(1, 2)).meta
    assert meta.threshold == 0.3 and meta.class_filter == (1, 2)
    copy = shutil.copytree(toy_models["detector"], tmp_path / "copy")
    assert load_model("detector", str(copy)).meta.version == meta.version
    assert load_model("classifier", str(toy_models["classifier"])).meta.version != meta.version


def test_detector_signature(toy_models):
    model = load_model("detector", str(toy_models["detector"]))
    assert (model.meta.input_size, model.meta.class_filter, model.meta.signature_style) == (64, (1,), "shelfscan")
    batch = np.zeros((2, 64, 64, 3), np.uint8)
    batch[0, ..., 0] = 255
    out = model(batch)
    assert sorted(out) == ["detection_boxes", "detection_classes", "detection_scores", "num_detections"]
    assert out["detection_boxes"].shape == (2, 2, 4) and out["detection_scores"].shape == (2, 2)
    np.testing.assert_allclose(out["detection_scores"][0], [1, 0])
    np.testing.assert_allclose(out["detection_boxes"][0, 0], [0.1, 0.1, 0.5, 0.3])


def test_segmenter_signature(toy_models):
    model = load_model("segmenter", str(toy_models["segmenter"]))
    masks = model(np.full((2, 16, 16, 3), 255, np.uint8))["masks"]
    assert masks.shape == (2, 16, 16) and masks.min() == 1.0
    assert model.meta.resize == "stretch"


@pytest.mark.parametrize("mutate, slot, cause", [
    (lambda d: shutil.rmtree(d), "detector", "no such directory"),
    (lambda d: (d / "saved_model.pb").unlink(), "detector", "no saved_model.pb"),
    (lambda d: None, "segmenter", "it is a detector model"),
    (lambda d: (d / "shelfscan.json").write_text("{not json"), "detector", "not valid JSON"),
    (lambda d: (d / "variables" / "variables.data-00000-of-00001").write_bytes(b"junk"), "detector",
     "TensorFlow could not read the SavedModel"),
])
def test_errors_name_the_slot_the_uri_and_the_cause(toy_models, tmp_path, mutate, slot, cause):
    model_dir = shutil.copytree(toy_models["detector"], tmp_path / "model")
    mutate(model_dir)
    with pytest.raises(ModelLoadError) as error:
        load_model(slot, str(model_dir))
    message = str(error.value)
    assert slot in message and str(model_dir) in message and cause in message
    assert "saved with TF2 format" not in message


def _od_api_detector(path):
    """A stand-in with the TF Object Detection API signature and no shelfscan.json."""
    import tensorflow as tf

    class Detector(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
        def detect(self, input_tensor):
            return {"detection_boxes": tf.constant([[[0.1, 0.2, 0.5, 0.4]]]),
                    "detection_scores": tf.constant([[0.9]]),
                    "detection_classes": tf.constant([[float(COCO_BOTTLE)]]),
                    "num_detections": tf.constant([1.0])}

    module = Detector()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.detect})
    return path


def test_tf_hub_module_directory_with_the_detection_api_signature(tmp_path):
    model = load_model("detector", str(_od_api_detector(tmp_path / "hub_module")))
    assert model.meta.signature_style == "tf_od_api"
    assert model.meta.input_size is None and model.meta.class_filter == (COCO_BOTTLE,)
    assert model(np.zeros((1, 37, 51, 3), np.uint8))["detection_scores"].tolist() == [[pytest.approx(0.9)]]


def test_a_detection_api_model_in_another_slot_is_refused(tmp_path):
    uri = str(_od_api_detector(tmp_path / "hub_module"))
    with pytest.raises(ModelLoadError, match="classifier.*hub_module.*it is an object detector"):
        load_model("classifier", uri)


def test_a_file_is_not_a_model_directory(toy_models, tmp_path):
    with pytest.raises(ModelLoadError, match="segmenter.*is a file, not a directory"):
        load_model("segmenter", str(toy_models["segmenter"] / "saved_model.pb"))


def test_a_classifier_without_metadata_says_what_to_add(toy_models, tmp_path):
    model_dir = shutil.copytree(toy_models["classifier"], tmp_path / "bare")
    (model_dir / "shelfscan.json").unlink()
    with pytest.raises(ModelLoadError, match="add one, for example"):
        load_model("classifier", str(model_dir))


@pytest.fixture
def http_server(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_compressed_tf_hub_module_over_http(toy_models, http_server, tmp_path_factory, monkeypatch):
    served, base = http_server
    with tarfile.open(served / "classifier.tar.gz", "w:gz") as tar:
        tar.add(toy_models["classifier"], arcname=".")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path_factory.mktemp("hub_cache")))
    model = load_model("classifier", f"{base}/classifier.tar.gz")
    assert model.meta.input_size == 32
    assert model.meta.version.startswith(f"{base}/classifier.tar.gz@sha256:")
    assert model(np.zeros((1, 32, 32, 3), np.uint8))["scores"].shape == (1,)


def test_unreachable_hub_handle(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    uri = f"http://127.0.0.1:{free_port()}/detector.tar.gz"
    with pytest.raises(ModelLoadError, match="detector.*TF Hub could not fetch it"):
        load_model("detector", uri)


def test_gs_model_is_cached_and_refetched_when_it_changes(toy_models, gcs_emulator, tmp_path):
    uri = gcs_emulator.upload_dir(toy_models["classifier"], "models/classifier")
    cache = tmp_path / "cache"
    first = load_model("classifier", uri, cache_dir=cache)
    assert first.meta.uri == uri and first.meta.input_size == 32
    assert len(list(cache.iterdir())) == 1
    load_model("classifier", uri, cache_dir=cache)
    assert len(list(cache.iterdir())) == 1, "an unchanged model is not copied again"
    blob = gcs_emulator.client().bucket(gcs_emulator.bucket).blob("models/classifier/shelfscan.json")
    blob.upload_from_string(blob.download_as_text().replace('"threshold": 0.5', '"threshold": 0.7'))
    changed = load_model("classifier", uri, cache_dir=cache)
    assert changed.meta.threshold == 0.7 and len(list(cache.iterdir())) == 2


def test_gs_prefix_without_a_model(gcs_emulator, tmp_path):
    with pytest.raises(ModelLoadError, match="segmenter.*no objects under that prefix"):
        load_model("segmenter", f"gs://{gcs_emulator.bucket}/nothing/here", cache_dir=tmp_path)


def test_beam_reaches_the_emulator_without_credential_probes(gcs_emulator, monkeypatch):
    """Every GcsIO call the scan makes (write, match, read, delete) stays on 127.0.0.1 and is quick:
    google-auth must not refresh the fake token nor probe the GCE metadata server."""
    import socket
    import time

    from apache_beam.io.filesystems import FileSystems

    real_connect = socket.socket.connect
    remote = []

    def loopback_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            remote.append(address)
            raise OSError(f"test blocked a connection to {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    prefix = f"gs://{gcs_emulator.bucket}/probe"
    start = time.monotonic()
    with FileSystems.create(f"{prefix}/a.txt") as f:
        f.write(b"hello")
    matched = FileSystems.match([f"{prefix}/*"])[0].metadata_list
    with FileSystems.open(f"{prefix}/a.txt") as f:
        assert f.read() == b"hello"
    FileSystems.delete([f"{prefix}/a.txt"])
    elapsed = time.monotonic() - start
    assert [m.path for m in matched] == [f"{prefix}/a.txt"] and matched[0].size_in_bytes == 5
    assert FileSystems.match([f"{prefix}/*"])[0].metadata_list == []
    assert not remote, f"connections left the machine: {remote}"
    assert elapsed < 2.0, f"write+match+read+delete took {elapsed:.1f}s (credential probing?)"


def test_a_model_with_wrong_output_shapes_is_refused_at_load(tmp_path):
    import json

    import tensorflow as tf

    class Classifier(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.uint8, name="crops")])
        def classify(self, crops):
            return {"scores": tf.reduce_max(tf.cast(crops, tf.float32), axis=[1, 2])}  # [B, 3], not [B]

    module = Classifier()
    tf.saved_model.save(module, str(tmp_path / "wide"), signatures={"serving_default": module.classify})
    (tmp_path / "wide" / "shelfscan.json").write_text(json.dumps({"kind": "classifier", "input_size": 32}))
    with pytest.raises(ModelLoadError, match=r"classifier model from .*wide: output 'scores' has shape \(2, 3\) "
                                             r"for a batch of 2, expected \(2,\)"):
        load_model("classifier", str(tmp_path / "wide"))


@pytest.mark.parametrize("name", ["../outside.txt", "variables/../../outside.txt", "/etc/passwd", "", "."])
def test_gs_object_names_cannot_escape_the_model_cache(tmp_path, name):
    """The GCS emulator drops requests for names holding ../, so the check is tested on the names alone."""
    from models.fetch import _inside

    with pytest.raises(ModelLoadError, match="classifier.*leads outside the model directory"):
        _inside("classifier", "gs://b/m", tmp_path / "copy", name)
    assert _inside("classifier", "gs://b/m", tmp_path / "copy", "variables/v.index") == (
        tmp_path / "copy" / "variables" / "v.index").resolve()


def test_a_hub_archive_over_the_cap_is_refused_and_not_cached(toy_models, http_server, tmp_path_factory, monkeypatch):
    from models import fetch

    served, base = http_server
    with tarfile.open(served / "big.tar.gz", "w:gz") as tar:
        tar.add(toy_models["classifier"], arcname=".")
    hub_cache = tmp_path_factory.mktemp("hub_cap")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
    monkeypatch.setattr(fetch, "MAX_HUB_ARCHIVE_BYTES", 1000)
    with pytest.raises(ModelLoadError, match="classifier.*big.tar.gz: the archive is over 1000 bytes"):
        load_model("classifier", f"{base}/big.tar.gz")
    assert list(hub_cache.iterdir()) == []


def test_a_hub_module_that_fails_to_load_is_fetched_again(toy_models, http_server, tmp_path_factory, monkeypatch):
    served, base = http_server
    broken = shutil.copytree(toy_models["classifier"], served / "broken_src")
    (broken / "variables" / "variables.data-00000-of-00001").write_bytes(b"junk")
    for source in (broken, toy_models["classifier"]):  # first broken, then fixed at the same URL
        with tarfile.open(served / "module.tar.gz", "w:gz") as tar:
            tar.add(source, arcname=".")
        if source is broken:
            hub_cache = tmp_path_factory.mktemp("hub_broken")
            monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
            with pytest.raises(ModelLoadError, match="TensorFlow could not read the SavedModel"):
                load_model("classifier", f"{base}/module.tar.gz")
            assert list(hub_cache.iterdir()) == [], "a module that does not load is not kept"
    assert load_model("classifier", f"{base}/module.tar.gz").meta.input_size == 32


@pytest.mark.slow
def test_a_hub_module_reading_files_is_refused_and_kept_for_trusting(http_server, tmp_path_factory, monkeypatch):
    """TF Hub modules are checked once unpacked, as local ones; a refusal keeps the download."""
    import tensorflow as tf

    from models.slots import UntrustedModelError
    from tests.toy_models import _save

    served, base = http_server
    secret = served / "secret.txt"
    secret.write_text("token")

    class Leaky(tf.Module):
        @tf.function
        def classify(self, crops):
            leaked = tf.cast(tf.equal(tf.io.read_file(str(secret)), "token"), tf.float32)
            return {"scores": tf.reduce_max(tf.cast(crops[..., 2], tf.float32), axis=[1, 2]) / 255.0 + 0 * leaked}

    module = Leaky()
    source = _save(module, module.classify, tf.TensorSpec([None, 32, 32, 3], tf.uint8, name="crops"),
                   tmp_path_factory.mktemp("leaky") / "module", {"kind": "classifier", "input_size": 32})
    with tarfile.open(served / "leaky.tar.gz", "w:gz") as tar:
        tar.add(source, arcname=".")
    hub_cache = tmp_path_factory.mktemp("hub_untrusted")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
    with pytest.raises(UntrustedModelError, match=r"classifier model from http://.*/leaky.tar.gz: its graph runs "
                                                  r"ReadFile, which reads or writes files;"):
        load_model("classifier", f"{base}/leaky.tar.gz")
    assert len(list(hub_cache.iterdir())) == 1, "the refused download is kept"
    (served / "leaky.tar.gz").unlink()  # trusting it now loads the kept copy
    assert load_model("classifier", f"{base}/leaky.tar.gz", trust_model_code=True).meta.input_size == 32


def test_a_classifier_of_several_products_loads_its_names_and_thresholds(product_classifier):
    from tests.toy_models import PRODUCT_THRESHOLDS, PRODUCTS

    model = load_model("classifier", str(product_classifier))
    assert (model.meta.products, model.meta.thresholds) == (PRODUCTS, PRODUCT_THRESHOLDS)
    assert model(np.zeros((1, 32, 32, 3), np.uint8))["product_scores"].shape == (1, 3)
    everyone = load_model("classifier", str(product_classifier), threshold=0.7).meta  # --classifier_threshold
    assert everyone.thresholds == (0.7, 0.7, 0.7)
    assert load_model("classifier", "demo").meta.products == ("target",)  # one product, named as before


@pytest.mark.parametrize("meta, cause", [
    ({"products": ["red", "other"]}, "reserved"),
    ({"products": ["red", "red", "blue"]}, "distinct"),
    ({"products": ["../red", "green", "blue"]}, "must be 1-64 letters"),
    ({"thresholds": [0.5, 0.5]}, "one number in [0, 1] per product (3)"),
    ({"thresholds": [0.5, "high", 0.5]}, "one number in [0, 1] per product"),
    ({"products": ["red", "green"], "thresholds": [0.5, 0.5]}, "output 'product_scores' has shape (2, 3)"),
    ({"products": "red"}, "must be a list"),
])
def test_product_metadata_that_cannot_hold_is_refused_at_load(product_classifier, tmp_path, meta, cause):
    import json

    model_dir = shutil.copytree(product_classifier, tmp_path / "model")
    stored = json.loads((model_dir / "shelfscan.json").read_text())
    (model_dir / "shelfscan.json").write_text(json.dumps({**stored, **meta}))
    with pytest.raises(ModelLoadError, match=re.escape(cause)):
        load_model("classifier", str(model_dir))


def test_a_model_naming_products_without_product_scores_is_refused(toy_models, tmp_path):
    import json

    model_dir = shutil.copytree(toy_models["classifier"], tmp_path / "model")
    stored = json.loads((model_dir / "shelfscan.json").read_text())
    (model_dir / "shelfscan.json").write_text(json.dumps({**stored, "products": ["a", "b"]}))
    with pytest.raises(ModelLoadError, match="no output 'product_scores'"):
        load_model("classifier", str(model_dir))
