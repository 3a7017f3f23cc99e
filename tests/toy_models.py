"""Tiny SavedModels with exact, colour-driven behaviour, for testing the scan's wiring.

detector (input 64): box A [0.1, 0.1, 0.5, 0.3] scores mean(red)/255, box B [0.5, 0.5, 0.9, 0.7]
scores mean(green)/255 (normalized input frame). classifier (input 32): score = max(blue)/255,
so letterbox padding (127) alone stays below 0.5. segmenter (input 16, stretch): mask = any
channel > 200.
"""
from __future__ import annotations

import json
from pathlib import Path


def _save(module, fn, spec, out: Path, meta: dict) -> Path:
    import tensorflow as tf

    tf.saved_model.save(module, str(out), signatures={"serving_default": fn.get_concrete_function(spec)})
    (out / "shelfscan.json").write_text(json.dumps(meta))
    return out


def build_toy_models(root: Path) -> dict[str, Path]:
    import tensorflow as tf

    class Detector(tf.Module):
        @tf.function
        def detect(self, images):
            x = tf.cast(images, tf.float32) / 255.0
            red = tf.reduce_mean(x[..., 0], axis=[1, 2])
            green = tf.reduce_mean(x[..., 1], axis=[1, 2])
            n = tf.shape(images)[0]
            boxes = tf.tile(tf.constant([[[0.1, 0.1, 0.5, 0.3], [0.5, 0.5, 0.9, 0.7]]]), [n, 1, 1])
            scores = tf.stack([red, green], axis=1)
            order = tf.argsort(scores, axis=1, direction="DESCENDING")
            return {"detection_boxes": tf.gather(boxes, order, batch_dims=1),
                    "detection_scores": tf.gather(scores, order, batch_dims=1),
                    "detection_classes": tf.ones_like(scores),
                    "num_detections": tf.fill([n], 2.0)}

    class Classifier(tf.Module):
        @tf.function
        def classify(self, crops):
            return {"scores": tf.reduce_max(tf.cast(crops[..., 2], tf.float32), axis=[1, 2]) / 255.0}

    class Segmenter(tf.Module):
        @tf.function
        def segment(self, crops):
            return {"masks": tf.cast(tf.reduce_max(crops, axis=-1) > 200, tf.float32)}

    det, cls, seg = Detector(), Classifier(), Segmenter()
    spec = lambda s, name: tf.TensorSpec([None, s, s, 3], tf.uint8, name=name)  # noqa: E731
    base = {"resize": "letterbox", "signature": "serving_default", "backbone": "toy"}
    return {
        "detector": _save(det, det.detect, spec(64, "images"), root / "detector",
                          {**base, "kind": "detector", "input_size": 64, "threshold": 0.5, "class_filter": [1]}),
        "classifier": _save(cls, cls.classify, spec(32, "crops"), root / "classifier",
                            {**base, "kind": "classifier", "input_size": 32, "threshold": 0.5}),
        "segmenter": _save(seg, seg.segment, spec(16, "crops"), root / "segmenter",
                           {**base, "kind": "segmenter", "input_size": 16, "resize": "stretch"}),
    }
