"""Offline, seeded augmentation of training crops, and mixup.

Copy k of an image is a pure function of (image bytes hash, k, seed, params), so augmented images
are made once, their embeddings cached, and a re-run reproduces them bit for bit. Augmentation runs
on the raw crop (geometry fills by reflection, as a slightly moved detector box would show more of
the shelf), then the crop is letterboxed exactly as the scan does it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from transforms.letterbox import letterbox

AUGMENT_VERSION = 1  # bump when the code below changes what an (image, copy, params) produces
WORK_SIDE = 448  # crops are shrunk to this long side before augmenting: letterbox shrinks them anyway


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Ranges of the random changes; each copy draws uniformly within them.

    rotation: degrees either way. zoom: scale in [1 - zoom, 1 + zoom]. shift: share of the crop
    size. shear: radians. colour: per-channel gain and saturation change. brightness: share of 255.
    contrast: factor in [1 - c, 1 + c]. noise: max Gaussian sigma as a share of 255. blur: max
    Gaussian radius (px at WORK_SIDE), applied to a third of copies. erase: probability of a random
    erasing rectangle (2-25 % of the crop, filled with noise). hflip: mirror half the copies; off by
    default because label text does not survive a mirror.
    """

    rotation: float = 10.0
    zoom: float = 0.15
    shift: float = 0.08
    shear: float = 0.1
    colour: float = 0.1
    brightness: float = 0.15
    contrast: float = 0.2
    noise: float = 0.03
    blur: float = 1.5
    erase: float = 0.5
    hflip: bool = False

    def key(self, seed: int) -> str:
        """A short stable id of (code version, params, seed) for cache keys."""
        text = json.dumps({"v": AUGMENT_VERSION, "seed": seed, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def copy_rng(seed: int, image_sha256: str, copy: int) -> np.random.Generator:
    """The generator for copy `copy` of an image: independent of order and of other images."""
    return np.random.default_rng([seed, int(image_sha256[:16], 16), int(image_sha256[16:32], 16), copy])


def _shrink(pixels: np.ndarray) -> np.ndarray:
    from PIL import Image

    h, w = pixels.shape[:2]
    if max(h, w) <= WORK_SIDE:
        return pixels
    s = WORK_SIDE / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR, reducing_gap=3.0))


def _affine(x: np.ndarray, p: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    h, w = x.shape[:2]
    angle = np.deg2rad(rng.uniform(-p.rotation, p.rotation))
    scale = rng.uniform(1 - p.zoom, 1 + p.zoom)
    shear = rng.uniform(-p.shear, p.shear)
    shift = rng.uniform(-p.shift, p.shift, 2) * (h, w)
    # forward map in (row, col): rotate * scale * shear about the centre, then shift
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rot @ np.array([[1.0, 0.0], [np.tan(shear), 1.0]]) * scale
    inverse = np.linalg.inv(forward)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = inverse
    offset = np.zeros(3)
    offset[:2] = centre - inverse @ (centre + shift)
    out = ndimage.affine_transform(x.astype(np.float32), matrix, offset, order=1, mode="reflect")
    return out


def _photometric(x: np.ndarray, p: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(1 - p.colour, 1 + p.colour, 3)
    x = x * gain
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(1 - 2 * p.colour, 1 + 2 * p.colour)  # saturation
    x = x + 255.0 * rng.uniform(-p.brightness, p.brightness)
    mean = x.mean()
    x = mean + (x - mean) * rng.uniform(1 - p.contrast, 1 + p.contrast)
    sigma = 255.0 * rng.uniform(0, p.noise)
    return x + rng.normal(0.0, 1.0, x.shape).astype(np.float32) * sigma


def _blur(x: np.ndarray, p: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    if rng.uniform() >= 1 / 3 or p.blur <= 0:
        rng.uniform()  # keep the draw count fixed so later draws do not depend on this branch
        return x
    radius = rng.uniform(0, p.blur)
    return ndimage.gaussian_filter(x, sigma=(radius, radius, 0))


def _erase(x: np.ndarray, p: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[:2]
    do, area, log_aspect, fy, fx = rng.uniform(size=5)
    if do >= p.erase:
        return x
    area = (0.02 + 0.23 * area) * h * w
    aspect = np.exp(np.log(0.3) + log_aspect * (np.log(3.3) - np.log(0.3)))
    eh = int(min(h, max(1, round(np.sqrt(area * aspect)))))
    ew = int(min(w, max(1, round(np.sqrt(area / aspect)))))
    y0, x0 = int(fy * (h - eh)), int(fx * (w - ew))
    x = x.copy()
    x[y0:y0 + eh, x0:x0 + ew] = rng.uniform(0, 255, (eh, ew, 3))
    return x


def augment(pixels: np.ndarray, params: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    """One augmented version of a raw crop (H x W x 3 uint8), same aspect, uint8."""
    x = _shrink(pixels)
    if params.hflip and rng.uniform() < 0.5:
        x = x[:, ::-1]
    x = _affine(x, params, rng)
    x = _photometric(x, params, rng)
    x = _blur(x, params, rng)
    x = _erase(x, params, rng)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def model_input(pixels: np.ndarray, image_sha256: str, copy: int, params: AugmentParams, seed: int,
                input_size: int = 224) -> np.ndarray:
    """The letterboxed classifier input of copy `copy` of a crop; copy 0 is the crop itself."""
    if copy > 0:
        pixels = augment(pixels, params, copy_rng(seed, image_sha256, copy))
    return letterbox(pixels, input_size)[0]


def mixup_pairs(n: int, count: int, alpha: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` mixup draws over n examples: (first index, second index, weight of the first)."""
    i = rng.integers(0, n, count)
    j = rng.integers(0, n, count)
    lam = rng.beta(alpha, alpha, count)
    return i, j, lam


def mix_images(a: np.ndarray, b: np.ndarray, lam: float) -> np.ndarray:
    """lam * a + (1 - lam) * b for two uint8 inputs of one shape."""
    return np.clip(np.rint(lam * a.astype(np.float32) + (1 - lam) * b.astype(np.float32)), 0, 255).astype(np.uint8)
