"""Exported SavedModels serve the same function, at about half the size with float16 weights."""
import json

import numpy as np

from models.export import directory_bytes, save_serving


def _model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def _export(tmp_path, name, float16):
    import tensorflow as tf

    model = _model()

    def serve(crops):
        return {"scores": tf.reduce_mean(model(tf.cast(crops, tf.float32) / 255.0), axis=-1)}

    spec = tf.TensorSpec([None, 16, 16, 3], tf.uint8, name="crops")
    out = save_serving(serve, spec, tmp_path / name, {"kind": "classifier", "input_size": 16}, float16=float16)
    return model, out


def test_float16_export_serves_the_same_scores_at_half_the_size(tmp_path):
    import tensorflow as tf

    model, full = _export(tmp_path, "full", float16=False)
    _, half = _export(tmp_path, "half", float16=True)
    batch = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    expected = np.mean(model(batch.astype(np.float32) / 255.0), axis=-1)
    for path, tolerance in ((full, 1e-6), (half, 2e-3)):
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        assert list(serve.structured_input_signature[1]) == ["crops"]
        scores = serve(crops=tf.constant(batch))["scores"].numpy()
        np.testing.assert_allclose(scores, expected, atol=tolerance)
    assert directory_bytes(half) < 0.7 * directory_bytes(full)
    assert json.loads((half / "shelfscan.json").read_text())["kind"] == "classifier"
