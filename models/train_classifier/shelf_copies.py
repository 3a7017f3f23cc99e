"""Shelf-like training copies of a reference photo: the product, warped, pasted onto a shelf background.

A reference is a pack shot, a web image or a phone photo; a scan's crop is a bottle cut from a
shelf by a detector box, with its neighbours' edges and the shelf behind it. Copy k of a reference
is that gap closed by chance, a pure function of (photo hash, k, seed, background pool): the product
is cropped from its photo (`cut_out`), warped in perspective and scaled, pasted onto a background
(a crop taken as "other", a synthetic shelf texture, or its own plain background) in a box as loose
or tight as a detector's, brought down to a random resolution, then rotated, recoloured, blurred and
partly erased by the labeled crops' augmentation (models.train_classifier.augment).
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Sequence

import numpy as np
from PIL import Image

from models.train_classifier import augment as aug

SHELF_COPY_VERSION = 1  # bump when the code below changes what a (photo, copy, pool) produces
BORDER_TOLERANCE = 20  # a backdrop is plain when 90 % of its border is this close to a colour gradient (max channel)
MIN_PRODUCT_SHARE = 0.02  # a foreground smaller than this share of the photo is noise: keep the photo
MARGIN = 0.05  # around the cut-out product, as models.synth's crops and a detector's box leave
BACKGROUND_SIDE = 256  # backgrounds are kept this small: they are mostly covered


@dataclasses.dataclass(frozen=True, eq=False)
class CutOut:
    """A product cut from its photo: the pixels of its box (with MARGIN) and, on a plain
    background, which of them are the product (None: the photo's background is busy, keep it all)."""

    pixels: np.ndarray  # H x W x 3 uint8
    mask: np.ndarray | None  # H x W bool
    box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in the photo; None: the whole photo


def _border(pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).astype(np.float64)


def _backdrop(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo's backdrop as a colour gradient fitted to its border, and how far the border strays from it
    (the 90th percentile of the border pixels' largest channel difference).

    A studio backdrop falls off with the light, so a plane per channel (a + b x + c y) fits it where one
    colour would not; it is refitted on the pixels it explains, as a bottle may touch the border.
    """
    h, w = pixels.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    coords = np.stack([np.ones((h, w)), xs / w, ys / h], axis=-1)
    border_coords, border = _border(coords), _border(pixels)
    fits = np.ones(len(border), bool)
    for _ in range(3):
        plane = np.linalg.lstsq(border_coords[fits], border[fits], rcond=None)[0]
        residual = np.abs(border - border_coords @ plane).max(axis=1)
        fits = residual <= max(BORDER_TOLERANCE, np.quantile(residual, 0.5))
    return coords @ plane, float(np.quantile(residual, 0.9))


def _touches_opposite_sides(region: np.ndarray) -> bool:
    """A shelf board, a wall or a table edge crosses the photo; a product stands inside it."""
    return bool((region[:, 0].any() and region[:, -1].any()) or (region[0].any() and region[-1].any()))


def cut_out(pixels: np.ndarray) -> CutOut:
    """The largest region that differs from the backdrop (the border's colours) and does not cross the photo,
    boxed with a margin; the whole photo when the backdrop is not plain or nothing stands out from it."""
    from scipy import ndimage

    backdrop, stray = _backdrop(pixels)
    if stray > BORDER_TOLERANCE:  # a shelf, a room, a texture: no colour to tell the product by
        return CutOut(pixels, None)
    foreground = np.abs(pixels - backdrop).max(axis=2) > BORDER_TOLERANCE + 2 * stray
    foreground = ndimage.binary_opening(foreground, iterations=2)  # JPEG ringing and dust are not products
    regions, count = ndimage.label(foreground)
    sizes = np.bincount(regions.ravel(), minlength=count + 1)[1:]
    largest = None
    for k in np.argsort(-sizes)[:8]:
        region = regions == k + 1
        if not _touches_opposite_sides(region):
            largest = region
            break
    if largest is None or largest.sum() < MIN_PRODUCT_SHARE * largest.size:
        return CutOut(pixels, None)
    rows, cols = np.nonzero(largest.any(axis=1))[0], np.nonzero(largest.any(axis=0))[0]
    h, w = largest.shape
    my, mx = int(MARGIN * (rows[-1] - rows[0] + 1)), int(MARGIN * (cols[-1] - cols[0] + 1))
    y0, y1 = max(0, rows[0] - my), min(h, rows[-1] + 1 + my)
    x0, x1 = max(0, cols[0] - mx), min(w, cols[-1] + 1 + mx)
    mask = ndimage.binary_fill_holes(largest[y0:y1, x0:x1])  # a white label on white paper is product too
    return CutOut(np.ascontiguousarray(pixels[y0:y1, x0:x1]), mask, (int(x0), int(y0), int(x1), int(y1)))


def boxed(pixels: np.ndarray, box: tuple[int, int, int, int]) -> CutOut:
    """The product in a detector's box (x0, y0, x1, y1), with MARGIN around it; its shape is unknown."""
    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = int(MARGIN * (x1 - x0)), int(MARGIN * (y1 - y0))
    x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    return CutOut(np.ascontiguousarray(pixels[y0:y1, x0:x1]), None, (x0, y0, x1, y1))


def _shrink(pixels: np.ndarray, side: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    if max(h, w) <= side:
        return pixels
    s = side / max(h, w)
    return np.asarray(Image.fromarray(pixels).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR))


def pool_key(shas: Sequence[str]) -> str:
    """A short id of a background pool, for cache keys: copies change when the pool does."""
    return hashlib.sha256("\n".join(sorted(shas)).encode()).hexdigest()[:16]


class ShelfCopies:
    """Makes copy k of reference cut-outs onto backgrounds drawn from `backgrounds` (may be empty)."""

    def __init__(self, backgrounds: Sequence[np.ndarray], background_shas: Sequence[str],
                 params: aug.AugmentParams, seed: int):
        order = np.argsort(np.asarray(background_shas, dtype=str)) if len(background_shas) else []
        self.backgrounds = [_shrink(backgrounds[i], BACKGROUND_SIDE) for i in order]  # sorted: order-free
        self.params, self.seed = params, seed
        text = f"shelf-copy|{SHELF_COPY_VERSION}|{params.key(seed)}|{pool_key(background_shas)}"
        self.key = hashlib.sha256(text.encode()).hexdigest()[:16]

    def make(self, cut: CutOut, image_sha256: str, copy: int) -> np.ndarray:
        """Copy `copy` (>= 1) of a cut-out product as a shelf crop, H x W x 3 uint8."""
        rng = np.random.default_rng([self.seed, int(image_sha256[:16], 16), copy, SHELF_COPY_VERSION])
        product, alpha = _warp(cut, rng)
        canvas, (x, y) = self._canvas(product.shape[:2], cut, rng)
        h, w = product.shape[:2]
        region = canvas[y:y + h, x:x + w]
        region[...] = np.where(alpha[..., None], product, region)
        canvas = _low_resolution(canvas, rng)
        return aug.augment(canvas, self.params, rng)

    def _canvas(self, size: tuple[int, int], cut: CutOut, rng: np.random.Generator):
        """A background for a product of `size` and where the product goes: a detector-like box
        around it, 0-12 % loose on each side (sometimes 4 % tight on one side)."""
        h, w = size
        left, right, top, bottom = rng.uniform(-0.04, 0.12, 4) * (w, w, h, h)
        ch, cw = max(h, int(h + top + bottom)), max(w, int(w + left + right))
        y, x = min(ch - h, max(0, int(top))), min(cw - w, max(0, int(left)))
        kind = rng.uniform()
        if kind < 0.5 and self.backgrounds:  # another bottle's crop: what a shelf puts behind and beside
            picked = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            if rng.uniform() < 0.5:
                picked = picked[:, ::-1]
            background = np.asarray(Image.fromarray(np.ascontiguousarray(picked)).resize((cw, ch), Image.BILINEAR))
        elif kind < 0.85 or cut.mask is None:
            background = shelf_texture(ch, cw, rng)
        else:  # its own plain background, as the photo shows it
            background = np.broadcast_to(np.median(_border(cut.pixels), axis=0).astype(np.uint8), (ch, cw, 3))
        return np.array(background, dtype=np.uint8), (x, y)


def _warp(cut: CutOut, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The product seen from a little aside (its corners moved up to 8 %) and stretched +-10 %, with its mask."""
    h, w = cut.pixels.shape[:2]
    mask = cut.mask if cut.mask is not None else np.ones((h, w), bool)
    image = Image.fromarray(np.dstack([cut.pixels, mask.astype(np.uint8) * 255]), "RGBA")
    # QUAD maps this quadrilateral of the input (upper left, lower left, lower right, upper right) onto the output
    corners = np.array([[0, 0], [0, h], [w, h], [w, 0]], np.float64)
    quad = corners + rng.uniform(-0.08, 0.08, (4, 2)) * (w, h)
    stretch = rng.uniform(0.9, 1.1)
    out = np.asarray(image.transform((max(1, round(w * stretch)), h), Image.QUAD, tuple(quad.ravel()),
                                     Image.BILINEAR))
    alpha = out[..., 3] > 127
    if not alpha.any():
        return cut.pixels, mask
    rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.ascontiguousarray(out[box][..., :3]), alpha[box]


def _low_resolution(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Down to a long side of 48-400 px: a bottle far from the camera has few pixels."""
    side = int(rng.uniform(48, 400))
    h, w = canvas.shape[:2]
    if max(h, w) <= side:
        return canvas
    return _shrink(canvas, side)


def shelf_texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A wall or shelf back with a soft gradient and grain, and 0-2 bands of other bottles at its sides."""
    base = rng.uniform(40, 230, 3)
    ys = np.linspace(-0.5, 0.5, height)[:, None, None]
    image = base * (1 + rng.uniform(-0.3, 0.3) * ys) + rng.normal(0, rng.uniform(2, 10), (height, width, 3))
    for _ in range(int(rng.integers(0, 3))):
        band = max(1, int(width * rng.uniform(0.05, 0.25)))
        start = 0 if rng.uniform() < 0.5 else width - band
        image[:, start:start + band] = rng.uniform(20, 240, 3)
    return np.clip(image, 0, 255).astype(np.uint8)
