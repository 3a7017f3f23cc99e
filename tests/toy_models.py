"""Tiny SavedModels with exact, colour-driven behaviour, for testing the scan's wiring.

detector (input 64): box A [0.1, 0.1, 0.5, 0.3] scores mean(red)/255, box B [0.5, 0.5, 0.9, 0.7]
scores mean(green)/255 (normalized input frame). classifier (input 32): score = max(blue)/255,
so letterbox padding (127) alone stays below 0.5. segmenter (input 16, stretch): mask = any
channel > 200. product classifier (input 32): products red, green, blue, each scoring max(its channel)/255,
thresholds 0.5, 0.9, 0.5.
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


PRODUCTS = ("red", "green", "blue")
PRODUCT_THRESHOLDS = (0.5, 0.9, 0.5)


def build_product_classifier(out: Path) -> Path:
    """A classifier of three products (red, green, blue): each scores the crop's brightest value of its channel."""
    import tensorflow as tf

    class Classifier(tf.Module):
        @tf.function
        def classify(self, crops):
            per = tf.reduce_max(tf.cast(crops, tf.float32), axis=[1, 2]) / 255.0
            return {"scores": tf.reduce_max(per, axis=1), "product_scores": per}

    cls = Classifier()
    return _save(cls, cls.classify, tf.TensorSpec([None, 32, 32, 3], tf.uint8, name="crops"), out,
                 {"kind": "classifier", "input_size": 32, "resize": "letterbox", "signature": "serving_default",
                  "threshold": min(PRODUCT_THRESHOLDS), "products": list(PRODUCTS),
                  "thresholds": list(PRODUCT_THRESHOLDS)})


def build_colour_box_detector(out: Path) -> Path:
    """A detector taking inputs of any size that 'sees' a red and a green rectangle.

    For each colour it returns the box around that colour's pixels in whatever input it gets (so a
    slice shows only the visible part), normalized to the input; the more input pixels, the higher
    the score (0.6 to 0.99), and fewer than 16 pixels are too small to see (score 0), as a real
    detector is surer of what it sees larger. `inputs_in_call` echoes the batch size it was run with.
    """
    import tensorflow as tf

    class ColourBoxes(tf.Module):
        @tf.function
        def detect(self, images):
            x = tf.cast(images, tf.float32)
            r, g, b = x[..., 0], x[..., 1], x[..., 2]
            masks = [(r > 200) & (g < 80) & (b < 80), (g > 200) & (r < 80) & (b < 80)]
            height, width = tf.cast(tf.shape(x)[1], tf.float32), tf.cast(tf.shape(x)[2], tf.float32)
            boxes, scores = [], []
            for mask in masks:
                rows, cols = tf.reduce_any(mask, axis=2), tf.reduce_any(mask, axis=1)
                first = lambda m: tf.cast(tf.argmax(tf.cast(m, tf.int32), axis=1), tf.float32)  # noqa: E731
                y0, x0 = first(rows), first(cols)
                y1, x1 = height - first(tf.reverse(rows, [1])), width - first(tf.reverse(cols, [1]))
                boxes.append(tf.stack([y0 / height, x0 / width, y1 / height, x1 / width], axis=1))
                count = tf.reduce_sum(tf.cast(mask, tf.float32), axis=[1, 2])
                scores.append(tf.where(count >= 16, 0.6 + 0.39 * (1 - tf.exp(-count / 500)), 0.0))
            n = tf.shape(images)[0]
            return {"detection_boxes": tf.stack(boxes, axis=1), "detection_scores": tf.stack(scores, axis=1),
                    "detection_classes": tf.ones([n, 2]), "num_detections": tf.fill([n], 2.0),
                    "inputs_in_call": tf.fill([n], tf.cast(n, tf.float32))}

    model = ColourBoxes()
    spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")
    return _save(model, model.detect, spec, out, {"kind": "detector", "input_size": None, "resize": "letterbox",
                                                  "signature": "serving_default", "threshold": 0.5,
                                                  "class_filter": [1], "backbone": "toy"})


def build_file_copying_classifier(out: Path, source: Path, target: Path) -> Path:
    """The toy classifier (input 32) whose signature first copies `source` to `target` with TF's own file
    ops, as a hostile model file would: any call, the load-time blank batch included, makes the copy."""
    import tensorflow as tf

    class Copier(tf.Module):
        @tf.function
        def classify(self, crops):
            tf.io.write_file(str(target), tf.io.read_file(str(source)))
            return {"scores": tf.reduce_max(tf.cast(crops[..., 2], tf.float32), axis=[1, 2]) / 255.0}

    model = Copier()
    return _save(model, model.classify, tf.TensorSpec([None, 32, 32, 3], tf.uint8, name="crops"), out,
                 {"kind": "classifier", "input_size": 32, "resize": "letterbox", "signature": "serving_default",
                  "threshold": 0.5, "backbone": "toy"})
