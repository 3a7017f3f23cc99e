"""Bottle segmenter: a small U-Net decoder on frozen EfficientNet-Lite0 stride-2..16 features.

Input is the bottle's box crop stretched to S x S (a tall bottle keeps its full resolution);
output is P(pixel belongs to this box's bottle) — other bottles in the crop are background.
Also fits the expected-fill table the scan uses when a mask looks implausible.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image

from models.build.fit import fit_cached
from models.evaluation import metrics
from models.synth.dataset import iter_scenes, jitter_box
from models.synth.truth import read_truth
from transforms.crop_geometry import cut
from transforms.letterbox import stretch

_LOG = logging.getLogger(__name__)

LEVELS = (16, 8, 4, 2)  # backbone strides the decoder climbs through


@dataclasses.dataclass(frozen=True)
class SegmenterConfig:
    """Training knobs; the defaults are what `python -m models.build` uses."""

    input_size: int = 160
    widths: tuple[int, ...] = (64, 48, 32, 24)  # decoder channels at strides 16, 8, 4, 2
    jittered_copies: int = 1  # per bottle, on top of the exact box
    box_jitter: float = 0.06
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3
    fill_bins: int = 10
    seed: int = 0


def feature_model(input_size: int):
    """The frozen backbone cut after its last stride-16 block: image -> [s2, s4, s8, s16]."""
    from models.backbone import efficientnet

    return efficientnet.frozen_features(input_size, sorted(LEVELS), "backbone_s16")


def decoder_model(input_size: int, channels: dict[int, int], widths: tuple[int, ...]):
    """[s2, s4, s8, s16] features -> mask logits [S, S]: upsample, concat the skip, separable conv."""
    import keras
    from keras import layers

    inputs = {s: keras.Input((input_size // s, input_size // s, channels[s]), name=f"s{s}")
              for s in sorted(LEVELS)}
    x = None
    for stride, width in zip(LEVELS, widths):
        skip = inputs[stride]
        x = skip if x is None else layers.Concatenate()([layers.UpSampling2D(2, interpolation="bilinear")(x), skip])
        x = layers.SeparableConv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.SeparableConv2D(widths[-1], 3, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    logits = layers.Conv2D(1, 1)(x)
    logits = layers.UpSampling2D(LEVELS[-1], interpolation="bilinear")(logits)
    return keras.Model([inputs[s] for s in sorted(LEVELS)], layers.Reshape((input_size, input_size))(logits),
                       name="unet_decoder")


def loss_fn(y_true, logits):
    """Binary cross-entropy plus soft Dice per crop: Dice keeps thin, small bottles from vanishing."""
    import tensorflow as tf

    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits))
    p = tf.sigmoid(logits)
    inter = tf.reduce_sum(p * y_true, axis=[1, 2])
    dice = 1 - (2 * inter + 1) / (tf.reduce_sum(p, axis=[1, 2]) + tf.reduce_sum(y_true, axis=[1, 2]) + 1)
    return bce + tf.reduce_mean(dice)


def crop_sample(pixels: np.ndarray, instances: np.ndarray, box, k: int, size: int):
    """(stretched crop uint8 [S,S,3], truth mask uint8 [S,S] of bottle k) for one box."""
    crop = stretch(cut(pixels, box), size)
    mask = (cut(instances, box) == k).astype(np.float32)
    mask = np.asarray(Image.fromarray(mask).resize((size, size), Image.BILINEAR)) >= 0.5
    return crop, mask.astype(np.uint8)


class _Cache:
    def __init__(self, features):
        self.features = features
        self.levels: list[list[np.ndarray]] = [[] for _ in LEVELS]
        self.masks: list[np.ndarray] = []
        self.meta: list[tuple] = []  # (scene index, k, box) for exact-crop IoU
        self._crops: list[np.ndarray] = []

    def add(self, crop: np.ndarray, mask: np.ndarray, meta: tuple) -> None:
        self._crops.append(crop)
        self.masks.append(mask)
        self.meta.append(meta)
        if len(self._crops) >= 32:
            self.flush()

    def flush(self) -> None:
        if not self._crops:
            return
        outs = self.features(np.stack(self._crops).astype(np.float32), training=False)
        for level, out in zip(self.levels, outs):
            level.append(np.asarray(out, np.float16))
        self._crops = []

    def arrays(self) -> tuple[list[np.ndarray], np.ndarray]:
        self.flush()
        return [np.concatenate(level) for level in self.levels], np.stack(self.masks)


def _cache(features, scenes_dir: Path, config: SegmenterConfig, augment: bool, rng) -> _Cache:
    cache = _Cache(features)
    for index, scene in enumerate(iter_scenes(scenes_dir)):
        height, width = scene.pixels.shape[:2]
        for k, box in enumerate(scene.boxes, start=1):
            boxes = [np.asarray(box)]
            if augment:
                boxes += [jitter_box(box, rng, config.box_jitter, height, width)
                          for _ in range(config.jittered_copies)]
            for b in boxes:
                crop, mask = crop_sample(scene.pixels, scene.instances, b, k, config.input_size)
                if augment and rng.integers(0, 2):
                    crop, mask = crop[:, ::-1], mask[:, ::-1]
                cache.add(np.ascontiguousarray(crop), np.ascontiguousarray(mask), (index, k))
    return cache


def _val_miou(decoder, levels: list[np.ndarray], masks: np.ndarray) -> float:
    """Mean IoU at model resolution (the evaluator measures at crop resolution)."""
    ious = []
    for i in range(0, len(masks), 64):
        logits = decoder([level[i:i + 64].astype(np.float32) for level in levels], training=False)
        pred = np.asarray(logits) >= 0.0
        ious += [metrics.mask_iou(p, t) for p, t in zip(pred, masks[i:i + 64])]
    return float(np.mean(ious))


def expected_fill(scenes_dir: Path, bins: int) -> dict[str, list[float]]:
    """Median fill (visible area / box area) per aspect (h/w) bin, bins holding equal bottle counts."""
    aspects, fills = [], []
    for record in read_truth(scenes_dir):
        for bottle in record["bottles"]:
            x0, y0, x1, y1 = bottle["box"]
            if x1 > x0 and y1 > y0:
                aspects.append((y1 - y0) / (x1 - x0))
                fills.append(bottle["area_px"] / ((x1 - x0) * (y1 - y0)))
    aspects, fills = np.array(aspects), np.array(fills)
    edges = np.quantile(aspects, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, aspects, side="right") - 1, 0, bins - 1)
    centres, medians = [], []
    for b in range(bins):
        if np.any(which == b):
            centres.append(round(float(np.median(aspects[which == b])), 4))
            medians.append(round(float(np.median(fills[which == b])), 4))
    return {"aspect": centres, "fill": medians}


def serving_fn(features, decoder):
    """crops uint8 [B,S,S,3] -> {"masks": P(this bottle) [B,S,S]}."""
    import tensorflow as tf

    def serve(crops):
        levels = features(tf.cast(crops, tf.float32), training=False)
        return {"masks": tf.sigmoid(decoder(levels, training=False))}

    return serve


def build(train_dir: Path, val_dir: Path, out_dir: Path, trained_on: dict,
          config: SegmenterConfig = SegmenterConfig()) -> dict:
    """Train, export to `out_dir` with shelfscan.json (incl. expected_fill); returns the metadata."""
    import keras
    import tensorflow as tf

    from models.backbone import efficientnet
    from models.export import save_serving

    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    features = feature_model(config.input_size)
    start = time.perf_counter()
    train_levels, train_masks = _cache(features, train_dir, config, True, rng).arrays()
    val_levels, val_masks = _cache(features, val_dir, config, False, rng).arrays()
    _LOG.info("segmenter features: %d train, %d val crops in %.0fs", len(train_masks), len(val_masks),
              time.perf_counter() - start)
    channels = {s: level.shape[-1] for s, level in zip(sorted(LEVELS), train_levels)}
    decoder = decoder_model(config.input_size, channels, config.widths)
    history = fit_cached(decoder, train_levels, train_masks, loss_fn, epochs=config.epochs,
                         batch_size=config.batch_size, learning_rate=config.learning_rate, seed=config.seed,
                         name="segmenter")
    summary = {"val_miou_model_res": round(_val_miou(decoder, val_levels, val_masks), 4),
               "train_crops": len(train_masks), "val_crops": len(val_masks),
               "final_loss": round(history[-1], 4)}
    meta = {
        "kind": "segmenter", "input_size": config.input_size, "resize": "stretch",
        "signature": "serving_default", "threshold": 0.5,
        "backbone": efficientnet.BACKBONE_VERSION, "trained_on": trained_on, "metrics": summary,
        "expected_fill": expected_fill(train_dir, config.fill_bins),
        "architecture": "U-Net-like separable-conv decoder on frozen EfficientNet-Lite0 stride "
                        "2/4/8/16 features; crop stretched to input_size",
    }
    spec = tf.TensorSpec([None, config.input_size, config.input_size, 3], tf.uint8, name="crops")
    save_serving(serving_fn(features, decoder), spec, out_dir, meta)
    return meta
