"""The one training loop of the default models' heads: minibatches over cached backbone features."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

_LOG = logging.getLogger(__name__)


def fit_cached(model, inputs: Sequence[np.ndarray], targets: np.ndarray, loss_fn: Callable, *, epochs: int,
               batch_size: int, learning_rate: float, seed: int, name: str) -> list[float]:
    """Adam with cosine decay over shuffled minibatches; features are cached as float16 to fit in RAM.

    Returns the mean loss of each epoch.
    """
    import keras
    import tensorflow as tf

    steps = int(np.ceil(len(targets) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps, alpha=0.02)
    optimizer = keras.optimizers.Adam(schedule)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(targets))
        losses = []
        for i in range(0, len(order) - batch_size + 1, batch_size):
            idx = np.sort(order[i:i + batch_size])
            losses.append(float(step([level[idx].astype(np.float32) for level in inputs],
                                     targets[idx].astype(np.float32))))
        history.append(float(np.mean(losses)))
        _LOG.info("%s epoch %d/%d loss %.4f", name, epoch + 1, epochs, history[-1])
    return history
