"""Fit an image into a square model input keeping its aspect, and map coordinates back."""
from __future__ import annotations

import numpy as np
from PIL import Image

PAD_VALUE = 127  # (127 - 127) / 128 = 0 after the models' own normalization
CENTRED_PAD_VALUE = 114  # what Ultralytics detectors were trained to see around a letterboxed image
RESIZE_MODES = ("letterbox", "stretch", "letterbox_center")


def letterbox(pixels: np.ndarray, size: int, centred: bool = False) -> tuple[np.ndarray, float]:
    """Scale `pixels` (H x W x 3 uint8) to fit size x size, pad bottom/right; return (input, scale).

    A point (x, y) of the original lands at (x * scale, y * scale) in the input. `centred`: pad
    evenly around with CENTRED_PAD_VALUE instead (Ultralytics' LetterBox); the point then lands at
    (x * scale + left, y * scale + top), see `offset`.
    """
    height, width = pixels.shape[:2]
    scale = size / max(height, width)
    new_h, new_w = content_shape(height, width, size)
    resized = Image.fromarray(pixels).resize((new_w, new_h), Image.BILINEAR, reducing_gap=3.0)
    out = np.full((size, size, 3), CENTRED_PAD_VALUE if centred else PAD_VALUE, dtype=np.uint8)
    top, left = offset(height, width, size) if centred else (0, 0)
    out[top:top + new_h, left:left + new_w] = np.asarray(resized)
    return out, scale


def offset(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the content in a centred letterbox, rounded as Ultralytics rounds them."""
    new_h, new_w = content_shape(height, width, size)
    return round((size - new_h) / 2 - 0.1), round((size - new_w) / 2 - 0.1)


def content_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The (h, w) of the non-padded region that letterbox(pixels, size) fills."""
    scale = size / max(height, width)
    return max(1, min(size, round(height * scale))), max(1, min(size, round(width * scale)))


def stretch(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size ignoring aspect: a segmenter sees a tall bottle at full resolution."""
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR, reducing_gap=3.0))


def fit(pixels: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize by `mode` (RESIZE_MODES); returns the input and its content (h, w).

    "letterbox_center" places the content off the origin (`offset`); only the Detect stage reads it.
    """
    if mode == "stretch":
        return stretch(pixels, size), (size, size)
    if mode in ("letterbox", "letterbox_center"):
        return (letterbox(pixels, size, centred=mode == "letterbox_center")[0],
                content_shape(pixels.shape[0], pixels.shape[1], size))
    raise ValueError(f"unknown resize mode {mode!r}; expected one of {RESIZE_MODES}")
