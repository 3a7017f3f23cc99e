"""Bottle areas in original pixels: from the mask, from the box, and which one to trust."""
from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_FILL = 0.75  # share of an upright bottle's box its silhouette covers, when no model says
MAX_OUTLINE_POINTS = 48  # enough to draw a bottle's silhouette; a row stays under 1 kB per target


def mask_area_px(mask: np.ndarray, content_hw: tuple[int, int], crop_hw: tuple[float, float],
                 threshold: float = 0.5) -> float:
    """Segmented pixels inside the letterboxed content, scaled to crop_hw: the crop's extent in original
    pixels."""
    h, w = content_hw
    count = float(np.count_nonzero(np.asarray(mask)[:h, :w] >= threshold))
    return count * (crop_hw[0] / h) * (crop_hw[1] / w)


def mask_outline(mask: np.ndarray, content_hw: tuple[int, int], crop_hw: tuple[float, float],
                 origin: tuple[float, float], threshold: float = 0.5,
                 max_points: int = MAX_OUTLINE_POINTS) -> tuple[float, ...]:
    """The outline of the mask's largest region as x0, y0, x1, y1, ... in original pixels (`origin`: the
    crop's top-left there), so a report or a query can draw it; () when nothing is segmented."""
    import contourpy

    h, w = content_hw
    padded = np.pad(np.asarray(mask, dtype=np.float64)[:h, :w], 1)  # zeros around: every outline closes
    lines = contourpy.contour_generator(z=padded, line_type="Separate").lines(threshold)
    if not lines:
        return ()
    line = max(lines, key=_enclosed_area)
    points = line[::max(1, -(-len(line) // max_points))]
    xs = origin[0] + (points[:, 0] - 0.5) * (crop_hw[1] / w)  # padded column c is the crop's pixel c - 1,
    ys = origin[1] + (points[:, 1] - 0.5) * (crop_hw[0] / h)  # whose centre lies at c - 0.5
    return tuple(float(round(v, 1)) for pair in zip(xs, ys) for v in pair)


def _enclosed_area(line: np.ndarray) -> float:
    x, y = line[:, 0], line[:, 1]
    return abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2


def expected_area_px(box: Sequence[float], aspect_bins: Sequence[float] = (),
                     fills: Sequence[float] = ()) -> float:
    """The area an upright bottle filling this box would cover.

    Fill depends on the box's aspect (height / width): tall boxes hold slim bottles that fill
    more of them, squat boxes hold shoulders and caps that leave corners empty. The table comes
    from the segmenter's metadata (fitted on synthetic ground truth); without it, a constant.
    """
    x0, y0, x1, y1 = box
    width, height = max(0.0, x1 - x0), max(0.0, y1 - y0)
    if width == 0 or height == 0:
        return 0.0
    fill = DEFAULT_FILL
    if len(aspect_bins) and len(aspect_bins) == len(fills):
        fill = float(np.interp(height / width, aspect_bins, fills))
    return fill * width * height


def choose_area(mask_area: float, expected_area: float, tolerance: float) -> tuple[float, str]:
    """Trust the mask unless it disagrees with the box by more than `tolerance` either way.

    Segmentation overestimates when several bottles share one crop and underestimates on
    glare; the box-derived estimate is coarse but never wildly off.
    """
    if expected_area <= 0:
        return mask_area, "mask"
    ratio = mask_area / expected_area
    if mask_area <= 0 or ratio > tolerance or ratio < 1.0 / tolerance:
        return expected_area, "expected"
    return mask_area, "mask"
