"""Fit an image into a square model input keeping its aspect, and map coordinates back."""
from __future__ import annotations

import numpy as np
from PIL import Image

PAD_VALUE = 127  # (127 - 127) / 128 = 0 after the models' own normalization


def letterbox(pixels: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Scale `pixels` (H x W x 3 uint8) to fit size x size, pad bottom/right; return (input, scale).

    A point (x, y) of the original lands at (x * scale, y * scale) in the input.
    """
    height, width = pixels.shape[:2]
    scale = size / max(height, width)
    new_w = max(1, min(size, round(width * scale)))
    new_h = max(1, min(size, round(height * scale)))
    resized = Image.fromarray(pixels).resize((new_w, new_h), Image.BILINEAR, reducing_gap=3.0)
    out = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    out[:new_h, :new_w] = np.asarray(resized)
    return out, scale


def content_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The (h, w) of the non-padded region that letterbox(pixels, size) fills."""
    scale = size / max(height, width)
    return max(1, min(size, round(height * scale))), max(1, min(size, round(width * scale)))


def stretch(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size ignoring aspect: a segmenter sees a tall bottle at full resolution."""
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR, reducing_gap=3.0))


def fit(pixels: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize by `mode` ("letterbox" or "stretch"); returns the input and its content (h, w)."""
    if mode == "stretch":
        return stretch(pixels, size), (size, size)
    if mode == "letterbox":
        return letterbox(pixels, size)[0], content_shape(pixels.shape[0], pixels.shape[1], size)
    raise ValueError(f"unknown resize mode {mode!r}; expected 'letterbox' or 'stretch'")
