"""Target-brand classifier: logistic regression on frozen EfficientNet-Lite0 crop embeddings.

Crops are cut from synthetic scenes at their truth boxes and letterboxed as the scan does; a few
jittered re-crops with colour changes per bottle stand in for imperfect detector boxes and lighting.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from models.evaluation import metrics
from models.train_classifier import logreg
from models.synth.dataset import colour_jitter, iter_scenes, jitter_box
from transforms.crop_geometry import cut
from transforms.letterbox import letterbox

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Training knobs; the defaults are what `python -m models.build` uses."""

    input_size: int = 224
    augment_copies: int = 2  # jittered re-crops per bottle, on top of the exact crop
    box_jitter: float = 0.08  # each edge moves up to this share of the box size
    colour_strength: float = 0.15
    l2_grid: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    val_fraction: float = 0.2  # of source images, held out to pick l2 and the threshold
    seed: int = 0


@dataclasses.dataclass
class CropSet:
    """Embeddings of crops with their labels, source images and whether they are augmented."""

    x: np.ndarray  # [N, 1280] float32
    y: np.ndarray  # [N] bool, target brand
    group: np.ndarray  # [N] source image name
    augmented: np.ndarray  # [N] bool


def crop_input(crop: np.ndarray, input_size: int) -> np.ndarray:
    """The classifier input for a crop, as transforms.classify makes it (letterbox, pad 127)."""
    return letterbox(crop, input_size)[0]


def embed_crops(scenes_dir: Path, extractor, config: ClassifierConfig, augment: bool,
                rng: np.random.Generator) -> CropSet:
    """Embed every truth crop of a scene dir (plus jittered copies when `augment`)."""
    xs, ys, groups, aug, batch = [], [], [], [], []

    def flush():
        if batch:
            xs.append(np.asarray(extractor(np.stack(batch).astype(np.float32), training=False)))
            batch.clear()

    for scene in iter_scenes(scenes_dir, with_mask=False):
        height, width = scene.pixels.shape[:2]
        for box, label in zip(scene.boxes, scene.is_target):
            versions = [(cut(scene.pixels, box), False)]
            for _ in range(config.augment_copies if augment else 0):
                moved = jitter_box(box, rng, config.box_jitter, height, width)
                versions.append((colour_jitter(cut(scene.pixels, moved), rng, config.colour_strength), True))
            for pixels, is_aug in versions:
                batch.append(crop_input(pixels, config.input_size))
                ys.append(bool(label))
                groups.append(scene.name)
                aug.append(is_aug)
            if len(batch) >= 32:
                flush()
    flush()
    return CropSet(np.concatenate(xs), np.array(ys), np.array(groups), np.array(aug))


def _split_by_image(groups: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean validation mask holding out `fraction` of the source images, whole."""
    names = np.unique(groups)
    held = rng.choice(names, size=max(1, int(round(fraction * len(names)))), replace=False)
    return np.isin(groups, held)


def fit_head(crops: CropSet, config: ClassifierConfig, rng: np.random.Generator):
    """Pick l2 on an image-grouped validation split (log loss), then the F1-best threshold there."""
    val = _split_by_image(crops.group, config.val_fraction, rng)
    train = ~val
    val_exact = val & ~crops.augmented  # the scan sees one crop per bottle, so score those
    y_val = crops.y[val_exact]
    best = None
    for l2 in config.l2_grid:
        weights = logreg.fit(crops.x[train], crops.y[train], l2=l2,
                             sample_weight=logreg.balanced_weights(crops.y[train]))
        p = np.clip(logreg.predict_proba(weights, crops.x[val_exact]), 1e-7, 1 - 1e-7)
        log_loss = float(-np.mean(np.where(y_val, np.log(p), np.log(1 - p))))
        auc = metrics.roc_auc(y_val, p)
        _LOG.info("classifier l2=%g: val AUC %.5f, log loss %.4f", l2, auc, log_loss)
        if best is None or log_loss < best[0]:
            best = (log_loss, l2, weights, p, auc)
    log_loss, l2, weights, p, auc = best
    threshold, f1 = metrics.best_f1_threshold(y_val, p)
    precision, recall = metrics.precision_recall_at(y_val, p, threshold)
    summary = {"val_auc": round(auc, 5), "val_log_loss": round(log_loss, 4), "val_f1": round(f1, 4),
               "val_precision": round(precision, 4), "val_recall": round(recall, 4), "l2": l2,
               "train_crops": int(train.sum()), "val_crops": int(val_exact.sum())}
    return weights, threshold, summary


def serving_fn(extractor, weights: logreg.LogRegWeights):
    """crops uint8 [B,S,S,3] -> {"scores": P(target) [B]}."""
    import tensorflow as tf

    coef = tf.constant(weights.coef.astype(np.float32)[:, None])
    intercept = tf.constant(np.float32(weights.intercept))

    def serve(crops):
        embedding = extractor(tf.cast(crops, tf.float32), training=False)
        return {"scores": tf.sigmoid(tf.matmul(embedding, coef)[:, 0] + intercept)}

    return serve


def build(train_dir: Path, out_dir: Path, trained_on: dict,
          config: ClassifierConfig = ClassifierConfig()) -> dict:
    """Embed, fit, export to `out_dir` with shelfscan.json; returns the metadata written."""
    import keras
    import tensorflow as tf

    from models.backbone import efficientnet
    from models.export import save_serving

    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    extractor = efficientnet.feature_extractor(config.input_size)
    start = time.perf_counter()
    crops = embed_crops(train_dir, extractor, config, augment=True, rng=rng)
    _LOG.info("classifier: %d crop embeddings in %.0fs", len(crops.y), time.perf_counter() - start)
    weights, threshold, summary = fit_head(crops, config, rng)
    meta = {
        "kind": "classifier", "input_size": config.input_size, "resize": "letterbox",
        "signature": "serving_default", "threshold": threshold,
        "backbone": efficientnet.BACKBONE_VERSION, "trained_on": trained_on, "metrics": summary,
        "architecture": "L2 logistic regression (numpy Newton) on frozen EfficientNet-Lite0 "
                        f"global-average-pooled 1280-d embeddings at {config.input_size}",
    }
    spec = tf.TensorSpec([None, config.input_size, config.input_size, 3], tf.uint8, name="crops")
    save_serving(serving_fn(extractor, weights), spec, out_dir, meta)
    return meta
