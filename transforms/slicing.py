"""Sliced inference, after SAHI: the windows a detector looks at, and one box per bottle out of them.

A detector with a 300- or 512-px input cannot see a 40-px bottle in a 4000-px photo. So it looks at
the whole image once and then at overlapping slices of it, each resized to its input; boxes are mapped
back to original pixels and merged. Pure functions on boxes; transforms/detection.py composes them.

SAHI merges by greedy NMM: boxes whose intersection covers half of the smaller one are one object,
and the merged box is their union. On shelves that fuses a bottle half hidden behind its neighbour
into the neighbour, and one loose low-resolution box widens every box it absorbs. Here instead
(`merge`): two boxes are compared only inside the region both windows saw; a box cut short by a
slice edge, or seen sharper, may lie inside the other rather than match it; a slice's view of a
bottle larger than the slice (a label, a shoulder) is a part, not a bottle; two bottles one view
told apart stay apart; and the box comes from the views that saw the bottle whole.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

# The scan's defaults (the --slice_* options), chosen by measurement: docs/BENCHMARKS.md "Slicing".
DEFAULT_SLICE_SIZE = 1024  # for a detector whose metadata recommends none (its `slice_size`)
DEFAULT_OVERLAP = 0.2
# Slices grow past slice_size on large images: at most this many across the long side before overlap.
# The coco detector's 300-px slices found the most bottles up to 4000-px scenes, but on 4032x3024 scenes
# slices of 1/4 of the long side found 0.51 of the bottles at 3.7 img/s, 300-px ones 0.35 at 0.33 img/s.
MAX_SLICES_ACROSS = 4
MIN_SLICES_ACROSS = 2  # one slice across would be the whole image again
# Measured with the coco detector on 64 phone scenes, 7 mosaics of 3x3 of them and the real photos
# (docs/BENCHMARKS.md): choosing the grid from the whole view at 60 px found more bottles than the 1/4 grid
# in fewer views (45 lost 0.014 recall on the mosaics, 90 saved nothing there); skipping slices with edges
# on less than 0.005 of their look lost no bottle, 0.01 lost 0.005 of them on the 1/4 grid.
DEFAULT_BOTTLE_PX = 60.0
DEFAULT_MIN_EDGES = 0.005
EDGE_STEP = 32  # grey levels between neighbouring pixels of the look that make an edge
LOOK_SIDE = 100  # the look at a slice: its detector input averaged down to about this many pixels across
MIN_SLICE_SIZE = 64  # a smaller slice holds no bottle a detector could tell apart

MATCH_IOU = 0.5  # two boxes are one bottle when, clipped to what both windows saw, their IoU reaches this
INSIDE = 0.7  # a cut-short or sharper-seen box lying this much inside another is the same bottle
CUT_TOLERANCE = 0.02  # a box side this close to an inner window edge (share of the window's side) was cut by it


def slice_size_for(asked: int | None, detector_extra: Mapping[str, Any]) -> int:
    """The slice size to use: the one asked for, else the detector's own recommendation (its metadata's
    `slice_size`, measured for it), else DEFAULT_SLICE_SIZE."""
    if asked is not None:
        return asked
    return int(detector_extra.get("slice_size", DEFAULT_SLICE_SIZE))


class Window(NamedTuple):
    """A rectangle of the original image in pixels; x1, y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


class View(NamedTuple):
    """How one model input was made: the window it shows, its input pixels per original pixel, and
    where in the input the window's top-left corner lies (a centred letterbox pads before it)."""

    window: Window
    scale_x: float
    scale_y: float
    left: float = 0.0
    top: float = 0.0


class WindowBoxes(NamedTuple):
    """A view's detections in original pixels: boxes (N, 4) as x0, y0, x1, y1 and scores (N,)."""

    view: View
    boxes: np.ndarray
    scores: np.ndarray


def spans(length: int, size: int, overlap: float) -> list[tuple[int, int]]:
    """[start, end) spans of `size` pixels covering 0..length, the first at 0 and the last flush with
    the end, spread evenly so that neighbours share at least `overlap` of `size` (to a pixel)."""
    if length <= size:
        return [(0, length)]
    most_step = size * (1 - overlap)
    count = math.ceil((length - size) / most_step) + 1
    return [(start, start + size) for start in (round(i * (length - size) / (count - 1)) for i in range(count))]


def slice_side(slice_size: int, long_side: int, across: int = MAX_SLICES_ACROSS) -> int:
    """The slice side for an image: `slice_size`, but at least 1/`across` of its long side, so a 12-MP
    photo is not cut into 300-px slices smaller than its bottles (0 stays 0: no slicing)."""
    if slice_size <= 0:
        return 0
    return max(slice_size, math.ceil(long_side / across))


def windows(height: int, width: int, slice_size: int, overlap: float,
            across: int = MAX_SLICES_ACROSS) -> tuple[Window, ...]:
    """The whole image, then slices of about `slice_side(slice_size, ..., across)` pixels row by row; the
    whole image alone when slicing is off (`slice_size` 0) or the image is not larger than a slice."""
    whole = Window(0, 0, width, height)
    slice_size = slice_side(slice_size, max(height, width), across)
    if slice_size <= 0 or max(height, width) <= slice_size:
        return (whole,)
    return (whole, *(Window(x0, y0, x1, y1) for y0, y1 in spans(height, slice_size, overlap)
                     for x0, x1 in spans(width, slice_size, overlap)))


@dataclasses.dataclass(frozen=True)
class SlicePlan:
    """Which views of an image the detector gets, as the --slice_* options chose.

    size: slices of at least this many original pixels (0: the whole image only).
    overlap: the share of a slice its neighbour also sees.
    max_across: the finest grid: slices of at least 1/max_across of the long side.
    bottle_px: choose the grid per image: the coarsest (from MIN_SLICES_ACROSS across) in which the
      smallest bottle the whole image showed spans this many detector input pixels; the finest when it
      showed none. 0: always the finest.
    min_edges: skip a slice whose look (`edge_share`) is below this; 0 keeps every slice.
    """

    size: int = 0
    overlap: float = DEFAULT_OVERLAP
    max_across: int = MAX_SLICES_ACROSS
    bottle_px: float = DEFAULT_BOTTLE_PX
    min_edges: float = DEFAULT_MIN_EDGES


WHOLE_IMAGES_ONLY = SlicePlan(0)


def edge_share(pixels: np.ndarray) -> float:
    """A cheap look at what a view shows: the share of neighbouring pixels whose grey differs by more
    than EDGE_STEP, on block means about LOOK_SIDE pixels across, so that sensor and JPEG noise, and a
    textured wall, count less than the outline of a bottle or a shelf edge."""
    grey = np.asarray(pixels, np.float32).reshape(pixels.shape[0], pixels.shape[1], -1).mean(axis=2)
    block = max(1, min(round(max(grey.shape) / LOOK_SIDE), *grey.shape))
    height, width = grey.shape[0] // block * block, grey.shape[1] // block * block
    look = grey[:height, :width].reshape(height // block, block, width // block, block).mean(axis=(1, 3))
    steps = [np.abs(np.diff(look, axis=axis)) > EDGE_STEP for axis in (0, 1) if look.shape[axis] > 1]
    if not steps:
        return 0.0
    return float(sum(step.sum() for step in steps) / sum(step.size for step in steps))


def to_original(boxes: np.ndarray, view: View, input_hw: tuple[int, int]) -> np.ndarray:
    """Normalized [ymin, xmin, ymax, xmax] boxes in a view's model input -> [x0, y0, x1, y1] original
    pixels, clipped to the view's window (what lies in letterbox padding clips away)."""
    in_h, in_w = input_hw
    w = view.window
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xs = np.clip(w.x0 + (boxes[:, [1, 3]] * in_w - view.left) / view.scale_x, w.x0, w.x1)
    ys = np.clip(w.y0 + (boxes[:, [0, 2]] * in_h - view.top) / view.scale_y, w.y0, w.y1)
    return np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)


def cut_sides(boxes: np.ndarray, window: Window, height: int, width: int) -> np.ndarray:
    """(N, 4) bool: which sides [x0, y0, x1, y1] of each box lie on an edge of `window` inside the
    image, where the window may have cut the bottle short. The whole image cuts nothing."""
    inner = np.array([window.x0 > 0, window.y0 > 0, window.x1 < width, window.y1 < height])
    tol_x, tol_y = CUT_TOLERANCE * window.width, CUT_TOLERANCE * window.height
    near = np.stack([boxes[:, 0] - window.x0 <= tol_x, boxes[:, 1] - window.y0 <= tol_y,
                     window.x1 - boxes[:, 2] <= tol_x, window.y1 - boxes[:, 3] <= tol_y], axis=1)
    return near & inner


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of [..., 4] boxes [x0, y0, x1, y1]; an empty or inverted box has 0."""
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The boxes both a and b cover, broadcast over leading axes (inverted where they do not meet)."""
    return np.concatenate([np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])], axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes [N,4] and [M,4], both [x0, y0, x1, y1] (x1/y1 exclusive) -> [N,M]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = box_area(intersect(a[:, None], b[None, :]))
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


class _Seen(NamedTuple):
    """Every box of every view, flat: where it is, through which window, how sharp, what was cut."""

    boxes: np.ndarray  # (N, 4)
    scores: np.ndarray  # (N,)
    view_of: np.ndarray  # (N,) index of the view
    frames: np.ndarray  # (N, 4) the view's window
    sharpness: np.ndarray  # (N,) the view's input pixels per original pixel (the lower of x and y)
    cut: np.ndarray  # (N, 4) bool, see cut_sides


def _seen(found: Sequence[WindowBoxes], height: int, width: int) -> _Seen:
    boxes = [f.boxes.reshape(-1, 4).astype(np.float64) for f in found]
    view_of = np.concatenate([np.full(len(b), k) for k, b in enumerate(boxes)]).astype(np.int64)
    frames = np.array([f.view.window for f in found], np.float64).reshape(-1, 4)
    sharpness = np.array([min(f.view.scale_x, f.view.scale_y) for f in found])
    cut = [cut_sides(b, f.view.window, height, width) for b, f in zip(boxes, found)]
    return _Seen(np.concatenate(boxes), np.concatenate([f.scores.reshape(-1) for f in found]).astype(np.float64),
                 view_of, frames[view_of], sharpness[view_of], np.concatenate(cut))


def _fits(boxes: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Whether each box lies within its frame, give or take CUT_TOLERANCE of the frame's side."""
    margin = CUT_TOLERANCE * (frames[..., 2:] - frames[..., :2])
    return (np.all(frames[..., :2] - margin <= boxes[..., :2], axis=-1)
            & np.all(boxes[..., 2:] <= frames[..., 2:] + margin, axis=-1))


def agreement(seen: _Seen, i: int, others: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How well box `i` and each of boxes `others` describe one bottle (0: not at all); whether `i`
    is only a part of each other box; whether each is only a part of `i`.

    Both boxes are clipped to the region both windows saw. They agree by their IoU there, or, where
    one was cut short by a window edge or seen sharper (a coarse view's box is often loose around the
    bottle a slice sees tightly), by the share of it inside the other, from INSIDE up. That one is a
    part when the other box does not fit its window: a slice shows a label or a shoulder of a bottle
    larger than the slice, often several, as bottles.
    """
    shared = intersect(seen.frames[i], seen.frames[others])
    mine, theirs = intersect(seen.boxes[i], shared), intersect(seen.boxes[others], shared)
    inter = box_area(intersect(mine, theirs))
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.nan_to_num(inter / (box_area(mine) + box_area(theirs) - inter))
        share_mine, share_theirs = np.nan_to_num(inter / box_area(mine)), np.nan_to_num(inter / box_area(theirs))
    mine_inside = (share_mine >= INSIDE) & (seen.cut[i].any() | (seen.sharpness[i] > seen.sharpness[others]))
    theirs_inside = (share_theirs >= INSIDE) & (seen.cut[others].any(axis=1)
                                                | (seen.sharpness[others] > seen.sharpness[i]))
    inside = np.where(mine_inside | theirs_inside, np.maximum(share_mine, share_theirs), 0.0)
    return (np.where(iou >= MATCH_IOU, iou, inside), mine_inside & ~_fits(seen.boxes[others], seen.frames[i]),
            theirs_inside & ~_fits(seen.boxes[i], seen.frames[others]))


def _weighted_box(seen: _Seen, members: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Each side the score-weighted mean over the members `use` (M, 4) allows; else the outermost."""
    union = np.concatenate([seen.boxes[members, :2].min(axis=0), seen.boxes[members, 2:].max(axis=0)])
    weights = seen.scores[members, None] * use
    with np.errstate(divide="ignore", invalid="ignore"):
        box = np.where(use.any(axis=0), (weights * seen.boxes[members]).sum(axis=0) / weights.sum(axis=0), union)
    return box if box[2] > box[0] and box[3] > box[1] else union  # sides of members that barely agree


def _group_box(seen: _Seen, members: np.ndarray) -> np.ndarray:
    """The bottle's box from the members whose window held all of it, leaving out parts: what a slice
    makes of a part of a bottle (a label, a shoulder) is no edge of the bottle. Where no window held
    it all, each side comes from the members that saw that side whole."""
    box = _weighted_box(seen, members, ~seen.cut[members])
    held = _fits(box, seen.frames[members]) & ~seen.cut[members].any(axis=1)
    return _weighted_box(seen, members, np.repeat(held[:, None], 4, axis=1)) if held.any() else box


def one_per_duplicate(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the boxes kept when, of boxes overlapping by IoU >= MATCH_IOU, only the best is (NMS)."""
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        inter = box_area(intersect(boxes[i], boxes[keep]))
        if not keep or (inter / (box_area(boxes[i]) + box_area(boxes[keep]) - inter)).max() < MATCH_IOU:
            keep.append(int(i))
    return np.array(sorted(keep), dtype=np.int64)


def merge(found: Sequence[WindowBoxes], height: int, width: int) -> list[tuple[tuple[float, ...], float]]:
    """One (box, score) per bottle out of every view's boxes, best first.

    With one view (no slicing) every box comes out as it went in. With several, each view first
    keeps one of the boxes it found overlapping (`one_per_duplicate`): a detector looking at a slice
    sees bottles at scales it rarely saw whole, and its duplicates there would each come out. Then,
    greedy by score, each box joins the group of boxes it agrees with best (`agreement`), but not a
    group already holding a box of its own view unless it is a part: two bottles one view told apart
    stay apart, even under one loose low-resolution box. Else it starts a group. A group scores its
    best box that is no part.
    """
    if len(found) > 1:
        found = [WindowBoxes(f.view, f.boxes[kept], f.scores[kept])
                 for f in found for kept in [one_per_duplicate(f.boxes.reshape(-1, 4), f.scores.reshape(-1))]]
    if not found:
        return []
    seen = _seen(found, height, width)
    group_of = np.full(len(seen.scores), -1)
    is_part = np.zeros(len(seen.scores), dtype=bool)
    holds = np.zeros((len(seen.scores), len(found)), dtype=bool)  # group -> views it has a box from
    groups = 0
    for i in np.argsort(-seen.scores, kind="stable"):
        placed = np.flatnonzero(group_of >= 0)
        fit, mine_part, theirs_part = agreement(seen, i, placed)
        fit[holds[group_of[placed], seen.view_of[i]] & ~mine_part] = 0.0
        if fit.size and fit.max() > 0:
            best = int(np.argmax(fit))
            group = group_of[placed[best]]
            is_part[i] |= mine_part[best]
            is_part[placed[best]] |= theirs_part[best]
        else:
            group, groups = groups, groups + 1
        group_of[i] = group
        holds[group, seen.view_of[i]] = True

    merged = []
    for group in range(groups):
        members = np.flatnonzero(group_of == group)
        whole = members[~is_part[members]]
        members = whole if len(whole) else members
        merged.append((tuple(float(v) for v in _group_box(seen, members)), float(seen.scores[members].max())))
    merged.sort(key=lambda item: -item[1])
    return merged


def add_slice_options(add: Callable[..., Any]) -> None:
    """The --slice_* options, worded once for the scan, models.evaluation and pipeline.bench_views; `add`
    is an argparse parser's (or group's) add_argument."""
    add("--slice_size", type=int, default=None,
        help="Besides the whole image, show the detector overlapping slices of about this many original "
             "pixels, so small bottles in large photos are found; images not larger than a slice are not "
             f"sliced. 0 turns slicing off; else at least {MIN_SLICE_SIZE}. Default: the detector's own "
             f"(coco: 300), else {DEFAULT_SLICE_SIZE}.")
    add("--slice_overlap", type=float, default=DEFAULT_OVERLAP,
        help="Share of a slice that its neighbour also sees (at least 0, below 1), so a bottle on a slice "
             "border is seen whole by one of them.")
    add("--slice_max_across", type=int, default=MAX_SLICES_ACROSS,
        help="Slices are at least 1/N of the photo's long side, so a 12-MP photo is cut into a few large "
             f"slices rather than hundreds of small ones; at least {MIN_SLICES_ACROSS}.")
    add("--slice_bottle_px", type=float, default=DEFAULT_BOTTLE_PX,
        help="Choose each photo's slices from what its whole view showed: the largest slices (from 1/2 of "
             "the long side down to 1/--slice_max_across) in which the smallest bottle found in the whole view "
             "spans this many detector input pixels; the smallest when none was found. Fewer views where "
             "bottles are large. 0: always the smallest.")
    add("--slice_min_edges", type=float, default=DEFAULT_MIN_EDGES,
        help="Skip a slice that shows almost nothing (a wall, the floor, the sky): one whose edges, "
             f"neighbouring pixels differing by more than {EDGE_STEP} grey levels in its detector input "
             f"averaged to about {LOOK_SIDE} px across, cover less than this share of it. 0 keeps every slice.")


def slice_options_problem(options: Any) -> str | None:
    """One line saying which --slice_* option (parsed, as attributes of `options`) is out of range and what
    to give instead; None when all are fine."""
    size, overlap = options.slice_size, options.slice_overlap
    if size is not None and size != 0 and size < MIN_SLICE_SIZE:
        return (f"--slice_size {size}: must be 0 (no slicing) or at least {MIN_SLICE_SIZE} original pixels; "
                f"a smaller slice holds no bottle to find, try {DEFAULT_SLICE_SIZE}")
    if not (math.isfinite(overlap) and 0 <= overlap < 1):
        return f"--slice_overlap {overlap}: must be at least 0 and below 1 (a share of the slice); use e.g. 0.2"
    if not MIN_SLICES_ACROSS <= options.slice_max_across <= 64:
        return (f"--slice_max_across {options.slice_max_across}: must be between {MIN_SLICES_ACROSS} and 64 "
                f"(slices of 1/N of the long side); the default is {MAX_SLICES_ACROSS}, --slice_size 0 turns "
                "slicing off")
    if not (math.isfinite(options.slice_bottle_px) and options.slice_bottle_px >= 0):
        return (f"--slice_bottle_px {options.slice_bottle_px}: must be at least 0 (detector input pixels); "
                f"use e.g. {DEFAULT_BOTTLE_PX:g}, or 0 for the smallest slices everywhere")
    if not (math.isfinite(options.slice_min_edges) and 0 <= options.slice_min_edges <= 1):
        return (f"--slice_min_edges {options.slice_min_edges}: must be between 0 and 1 (a share of the slice); "
                f"use e.g. {DEFAULT_MIN_EDGES:g}, or 0 to keep every slice")
    return None


def slice_plan(options: Any, detector_extra: Mapping[str, Any]) -> SlicePlan:
    """The SlicePlan the --slice_* options (parsed, as attributes of `options`) ask for; the slice size
    defaults to the detector's own (`slice_size_for`)."""
    return SlicePlan(slice_size_for(options.slice_size, detector_extra), options.slice_overlap,
                     options.slice_max_across, options.slice_bottle_px, options.slice_min_edges)
