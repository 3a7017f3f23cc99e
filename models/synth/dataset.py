"""Synthetic scenes (models.synth output) as arrays for training and evaluating the default models."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from models.synth.truth import read_truth


@dataclasses.dataclass(frozen=True)
class Scene:
    """One synthetic image with its truth: boxes [K,4] (x0, y0, x1, y1), labels, instance map."""

    name: str  # the image path relative to the scene dir; groups crops by source image
    pixels: np.ndarray  # H x W x 3 uint8
    instances: np.ndarray  # H x W uint8, k = bottle k (1-based), 0 = background
    boxes: np.ndarray  # [K, 4] float64, original pixels, x1/y1 exclusive
    is_target: np.ndarray  # [K] bool
    areas: np.ndarray  # [K] visible pixel counts
    visible: np.ndarray  # [K] visible share of each bottle's silhouette (1 = unoccluded)


def load_scene(scene_dir: str | Path, record: dict, with_mask: bool = True) -> Scene:
    """Decode one truth record's image (and instance map)."""
    root = Path(scene_dir)
    with Image.open(root / record["image"]) as im:
        pixels = np.asarray(im.convert("RGB"))
    instances = np.zeros(pixels.shape[:2], np.uint8)
    if with_mask:
        with Image.open(root / record["mask"]) as im:
            instances = np.asarray(im)
    bottles = record["bottles"]
    return Scene(
        name=record["image"], pixels=pixels, instances=instances,
        boxes=np.array([b["box"] for b in bottles], np.float64).reshape(-1, 4),
        is_target=np.array([bool(b["is_target"]) for b in bottles], bool),
        areas=np.array([b["area_px"] for b in bottles], np.float64),
        visible=np.array([b.get("visible_share", 1.0) for b in bottles], np.float64))


def iter_scenes(scene_dir: str | Path, with_mask: bool = True, limit: int | None = None) -> Iterator[Scene]:
    """Every scene of a directory, in truth.jsonl order."""
    for i, record in enumerate(read_truth(scene_dir)):
        if limit is not None and i >= limit:
            return
        yield load_scene(scene_dir, record, with_mask)


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


def colour_jitter(pixels: np.ndarray, rng: np.random.Generator, strength: float = 0.15) -> np.ndarray:
    """Random brightness, contrast and saturation change, as lighting varies between photos."""
    x = pixels.astype(np.float32)
    grey = x.mean(axis=-1, keepdims=True)
    x = grey + (x - grey) * (1 + rng.uniform(-strength, strength))  # saturation
    x = x.mean() + (x - x.mean()) * (1 + rng.uniform(-strength, strength))  # contrast
    x = x * (1 + rng.uniform(-strength, strength))  # brightness
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)
