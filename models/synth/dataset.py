"""Synthetic scenes (models.synth output) as arrays for training and evaluating the default models."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from models.evaluation.truth import LabeledImage, iter_labeled, read_truth

Scene = LabeledImage  # one synthetic image with its truth as arrays (models/truth.py)


def iter_scenes(scene_dir: str | Path, with_mask: bool = True, limit: int | None = None) -> Iterator[Scene]:
    """Every scene of a directory, in truth.jsonl order."""
    return iter_labeled(read_truth(scene_dir), with_mask, limit)


def jitter_box(box, rng: np.random.Generator, amount: float, height: int, width: int) -> np.ndarray:
    """Move each edge by up to `amount` of the box's size, as an imperfect detector would."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    dx = rng.uniform(-amount, amount, 2) * w
    dy = rng.uniform(-amount, amount, 2) * h
    out = np.array([x0 + dx[0], y0 + dy[0], x1 + dx[1], y1 + dy[1]])
    out[[0, 2]] = np.clip(out[[0, 2]], 0, width)
    out[[1, 3]] = np.clip(out[[1, 3]], 0, height)
    if out[2] - out[0] < 2 or out[3] - out[1] < 2:
        return np.asarray(box, np.float64)
    return out

