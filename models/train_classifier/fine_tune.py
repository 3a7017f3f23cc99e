"""Fine-tune the last N EfficientNet-Lite0 blocks end to end on the (augmented) training crops.

The dense head starts from the logistic regression fitted on frozen embeddings, so epoch 0 is the
frozen model and fine-tuning can only move from there. BatchNorm layers stay frozen (inference
statistics): a few hundred crops cannot re-estimate them. Inputs are regenerated per batch from
their (image, copy) seeds, so memory does not grow with --augment.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from scipy.special import expit

from models.train_classifier.classifiers import FineTunedClassifier

_LOG = logging.getLogger(__name__)


def build_model(blocks: int, coef: np.ndarray | None, intercept: float, input_size: int = 224):
    """Backbone (ImageNet) -> pool -> dropout -> Dense(1) "logit"; last `blocks` blocks trainable."""
    import keras

    from models.backbone import efficientnet

    base = efficientnet.efficientnet_lite0(include_top=False, input_shape=(input_size, input_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    dropped = keras.layers.Dropout(0.2, name="head_dropout")(pooled)
    logit = keras.layers.Dense(1, name="logit")(dropped)
    model = keras.Model(base.input, logit, name="efficientnet_lite0_finetuned")
    names = efficientnet.block_names()
    if not 0 <= blocks <= len(names):
        raise ValueError(f"--fine_tune takes 0..{len(names)} blocks, got {blocks}")
    unfrozen = names[len(names) - blocks:] if blocks else []
    prefixes = tuple(f"{b}_" for b in unfrozen) + ("head_conv", "logit")
    for layer in model.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer.name.startswith(prefixes) and not is_bn
    if coef is not None:
        model.get_layer("logit").set_weights([coef.astype(np.float32)[:, None],
                                              np.array([intercept], np.float32)])
    return model, unfrozen


def _batches(n: int, batch_size: int, epoch_seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(epoch_seed).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def fine_tune(make_input: Callable[[int], np.ndarray], labels: np.ndarray, weights: np.ndarray,
              val_inputs: np.ndarray, val_labels: np.ndarray, blocks: int, coef: np.ndarray | None,
              intercept: float, epochs: int = 3, batch_size: int = 16, lr: float = 1e-4,
              mixup_alpha: float = 0.0, seed: int = 0, input_size: int = 224) -> FineTunedClassifier:
    """Train end to end; returns the classifier at the epoch with the lowest validation loss.

    make_input: training example index -> uint8 [S, S, 3] input. labels may be soft.
    mixup_alpha: > 0 mixes each batch with a shuffled copy of itself (Beta(alpha, alpha) weights).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model, unfrozen = build_model(blocks, coef, intercept, input_size)
    optimizer = keras.optimizers.Adam(lr)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    trainable = model.trainable_weights

    @tf.function(reduce_retracing=True)
    def step(x, y, w):
        with tf.GradientTape() as tape:
            loss = loss_fn(y[:, None], model(x, training=True), sample_weight=w)
        optimizer.apply_gradients(zip(tape.gradient(loss, trainable), trainable))
        return loss

    def val_loss() -> float:
        logits = np.concatenate([np.asarray(model(val_inputs[i:i + 32].astype(np.float32), training=False))[:, 0]
                                 for i in range(0, len(val_inputs), 32)])
        p = np.clip(expit(logits.astype(np.float64)), 1e-7, 1 - 1e-7)
        return float(-np.mean(val_labels * np.log(p) + (1 - val_labels) * np.log(1 - p)))

    best = (val_loss(), model.get_weights(), 0)
    _LOG.info("fine-tune %d blocks (%s): epoch 0 val loss %.4f", blocks, ", ".join(unfrozen), best[0])
    for epoch in range(1, epochs + 1):
        rng = np.random.default_rng([seed, epoch])
        losses = []
        for idx in _batches(len(labels), batch_size, seed * 1000 + epoch):
            x = np.stack([make_input(int(i)) for i in idx]).astype(np.float32)
            y, w = labels[idx].astype(np.float32), weights[idx].astype(np.float32)
            if mixup_alpha > 0:
                lam = rng.beta(mixup_alpha, mixup_alpha, len(idx)).astype(np.float32)
                perm = rng.permutation(len(idx))
                x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[perm]
                y = lam * y + (1 - lam) * y[perm]
            losses.append(float(step(tf.constant(x), tf.constant(y), tf.constant(w))))
        current = val_loss()
        _LOG.info("fine-tune epoch %d: train loss %.4f, val loss %.4f", epoch, np.mean(losses), current)
        if current < best[0]:
            best = (current, model.get_weights(), epoch)
    model.set_weights(best[1])
    tuned = FineTunedClassifier(model, unfrozen)
    tuned.info = {"fine_tune_blocks": blocks, "epochs": epochs, "best_epoch": best[2],
                  "val_log_loss": round(best[0], 4), "lr": lr, "batch_size": batch_size}
    return tuned

