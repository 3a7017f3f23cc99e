"""Heads on frozen 1280-d embeddings: logistic regression (default) or a small MLP.

Labels may be soft (mixup); both heads minimize cross-entropy against them. Each head also gives a
TensorFlow logit function for export and CAM.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from models.evaluation import metrics
from models.train_classifier import logreg

_LOG = logging.getLogger(__name__)

L2_GRID = (1.0, 10.0, 100.0, 1000.0)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def class_weights(y: np.ndarray) -> np.ndarray:
    """Balanced sample weights by hard label (soft labels count by their rounded value)."""
    return logreg.balanced_weights(np.asarray(y) >= 0.5)


class LogRegHead:
    """L2 logistic regression; the penalty is picked from L2_GRID by validation log loss."""

    name = "logreg"

    def __init__(self, l2_grid: tuple[float, ...] = L2_GRID):
        self.l2_grid = l2_grid
        self.weights: logreg.LogRegWeights | None = None
        self.info: dict = {}

    def fit(self, x, y, x_val, y_val, seed: int = 0) -> "LogRegHead":
        best = None
        for l2 in self.l2_grid:
            w = logreg.fit(x, y, l2=l2, sample_weight=class_weights(y))
            loss = log_loss(y_val, logreg.predict_proba(w, x_val))
            _LOG.info("logreg l2=%g: val log loss %.4f", l2, loss)
            if best is None or loss < best[0]:
                best = (loss, l2, w)
        self.weights = best[2]
        self.info = {"head": self.name, "l2": best[1], "val_log_loss": round(best[0], 4)}
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return logreg.predict_proba(self.weights, x)

    def logit_tf(self, embedding):
        import tensorflow as tf

        coef = tf.constant(self.weights.coef.astype(np.float32)[:, None])
        return tf.matmul(embedding, coef)[:, 0] + np.float32(self.weights.intercept)

    def cam(self, features: np.ndarray) -> np.ndarray:
        """Exact class activation map of [B, h, w, C] head features: sum_c w_c A_c + b/(h w).

        Its mean over positions is the logit, because the embedding is the mean of A over positions.
        """
        h, w = features.shape[1:3]
        return features @ self.weights.coef + self.weights.intercept / (h * w)


class MLPHead:
    """Standardize -> dropout -> Dense(hidden, relu) -> dropout -> Dense(1); Adam, early stopping
    on validation loss (best weights kept)."""

    name = "mlp"

    def __init__(self, hidden: int = 128, epochs: int = 80, batch_size: int = 64, lr: float = 1e-3):
        self.hidden, self.epochs, self.batch_size, self.lr = hidden, epochs, batch_size, lr
        self.model: Any = None
        self.info: dict = {}

    def fit(self, x, y, x_val, y_val, seed: int = 0) -> "MLPHead":
        import keras

        keras.utils.set_random_seed(seed)
        norm = keras.layers.Normalization(name="standardize")
        norm.adapt(np.asarray(x, np.float32))
        inputs = keras.Input((x.shape[1],), name="embedding")
        h = keras.layers.Dropout(0.2)(norm(inputs))
        h = keras.layers.Dense(self.hidden, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))(h)
        h = keras.layers.Dropout(0.3)(h)
        logit = keras.layers.Dense(1, name="logit")(h)
        model = keras.Model(inputs, logit, name="mlp_head")
        model.compile(keras.optimizers.Adam(self.lr), keras.losses.BinaryCrossentropy(from_logits=True))
        stop = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
        history = model.fit(np.asarray(x, np.float32), np.asarray(y, np.float32), sample_weight=class_weights(y),
                            validation_data=(np.asarray(x_val, np.float32), np.asarray(y_val, np.float32)),
                            epochs=self.epochs, batch_size=self.batch_size, callbacks=[stop], verbose=0)
        self.model = model
        self.info = {"head": self.name, "hidden": self.hidden, "epochs_run": len(history.history["loss"]),
                     "val_log_loss": round(min(history.history["val_loss"]), 4)}
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = np.asarray(self.model(np.asarray(x, np.float32), training=False))[:, 0]
        return 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))  # no overflow

    def logit_tf(self, embedding):
        return self.model(embedding, training=False)[:, 0]


def make_head(name: str):
    if name == "logreg":
        return LogRegHead()
    if name == "mlp":
        return MLPHead()
    raise ValueError(f"unknown head {name!r}; expected 'logreg' or 'mlp'")


class ProductHeads:
    """One binary head per product, each fitted one-vs-rest (that product against everything else).

    One-vs-rest rather than a softmax: each product's probability stays calibrated on its own, so
    each gets its own threshold, and a bottle of none of the products is low on every column
    instead of being spread over them. With one product this is exactly that product's head.
    """

    def __init__(self, name: str, products: tuple[str, ...]):
        self.name, self.products = name, products
        self.heads = [make_head(name) for _ in products]
        self.info: dict = {}

    def fit(self, x, y, x_val, y_val, seed: int = 0) -> "ProductHeads":
        """y, y_val: [N, P] (soft) one-hot rows; an all-zero row is "other"."""
        for k, head in enumerate(self.heads):
            head.fit(x, y[:, k], x_val, y_val[:, k], seed=seed)
        self.info = self.heads[0].info if len(self.heads) == 1 else {
            "head": self.name, "per_product": {p: h.info for p, h in zip(self.products, self.heads)}}
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """[N, P] one probability per product."""
        return np.stack([h.predict_proba(x) for h in self.heads], axis=1) if len(x) else np.zeros((0, len(self.heads)))

    def logits_tf(self, embedding):
        """[B, P] logits in TensorFlow."""
        import tensorflow as tf

        return tf.stack([h.logit_tf(embedding) for h in self.heads], axis=1)


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray, min_precision: float | None = None,
                     low: bool = False) -> tuple[float, str]:
    """The decision threshold on validation scores: best F1, or the lowest threshold reaching
    `min_precision` (most recall at that precision). Returns (threshold, how it was chosen).

    low: place a best-F1 threshold just above the highest score it rejects instead of midway down to
    it; for validation positives that score higher than the crops the model will meet (shelf copies of
    reference photos against a scan's crops).
    """
    y_val = np.asarray(y_val) >= 0.5
    if min_precision is None and low:
        curve = metrics.pr_curve(y_val, p_val)
        i = int(np.argmax(curve.f1))
        below = curve.thresholds[i + 1] if i + 1 < len(curve.thresholds) else curve.thresholds[i]
        t = float(np.nextafter(below, np.inf)) if i + 1 < len(curve.thresholds) else float(below)
        return t, f"best validation F1 ({curve.f1[i]:.4f}), at its low edge (validated on reference photos)"
    if min_precision is None:
        t, f1 = metrics.best_f1_threshold(y_val, p_val)
        return t, f"best validation F1 ({f1:.4f})"
    curve = metrics.pr_curve(y_val, p_val)
    ok = np.nonzero(curve.precision >= min_precision)[0]
    if len(ok) == 0:
        t = float(np.nextafter(curve.thresholds[0], np.inf))
        return t, f"no validation threshold reaches precision {min_precision}; nothing passes"
    i = int(ok[-1])  # thresholds descend, so the last qualifying index has the most recall
    return float(curve.thresholds[i]), (f"lowest validation threshold with precision >= {min_precision} "
                                        f"(precision {curve.precision[i]:.4f}, recall {curve.recall[i]:.4f})")
