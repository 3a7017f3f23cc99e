"""The detector's pure pre- and post-processing: an image (and its slices) in as model inputs, OD-API
outputs back as one box per bottle in original pixels. The Detect stage (transforms/detect.py) composes
these; evaluation calls them without a pipeline."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from transforms.letterbox import fit, offset
from transforms.records import DecodedImage, Detection, DetectTask
from transforms.slicing import View, Window, WindowBoxes, merge, to_original, windows


def fit_window(pixels: np.ndarray, input_size: int | None, resize: str
               ) -> tuple[np.ndarray, float, float, int, int]:
    """The model input for `pixels`, its input pixels per pixel of `pixels` across and down, and the
    input pixel (left, top) where `pixels` begin.

    Models taking any size get the pixels as they are; "stretch" scales x and y each to the input side;
    "letterbox_center" pads evenly around.
    """
    if input_size is None:
        return np.ascontiguousarray(pixels), 1.0, 1.0, 0, 0
    model_input, _ = fit(pixels, input_size, resize)
    height, width = pixels.shape[:2]
    if resize == "stretch":
        return model_input, input_size / width, input_size / height, 0, 0
    scale = input_size / max(height, width)  # letterbox's own scale
    top, left = offset(height, width, input_size) if resize == "letterbox_center" else (0, 0)
    return model_input, scale, scale, left, top


def detector_input(image: DecodedImage, input_size: int | None, resize: str = "letterbox",
                   slice_size: int = 0, slice_overlap: float = 0.0) -> DetectTask:
    """The detector's inputs for `image`: the whole image, plus slices when it is larger than one."""
    views, inputs = [], []
    for window in windows(image.height, image.width, slice_size, slice_overlap):
        model_input, scale_x, scale_y, left, top = fit_window(window_pixels(image, window), input_size, resize)
        views.append(View(window, scale_x * image.scale_x, scale_y * image.scale_y, left, top))  # per original px
        inputs.append(model_input)
    return DetectTask(image, tuple(views), tuple(inputs))


def window_pixels(image: DecodedImage, window: Window) -> np.ndarray:
    """The pixels as decoded (maybe fewer than the original's) that show `window` (original pixels)."""
    x0, x1 = round(window.x0 * image.scale_x), round(window.x1 * image.scale_x)
    y0, y1 = round(window.y0 * image.scale_y), round(window.y1 * image.scale_y)
    return image.pixels[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]


def window_boxes(view: View, input_hw: tuple[int, int], outputs: Mapping[str, np.ndarray],
                 score_threshold: float, class_filter: tuple[int, ...]) -> WindowBoxes:
    """One view's OD-API outputs -> its bottle boxes in original pixels.

    Boxes come normalized to the model input frame; Beam's own example stops there, but our areas
    need original pixels, so undo the resize and the slice offset.
    """
    scores = np.asarray(outputs["detection_scores"], dtype=np.float64).reshape(-1)
    count = len(scores)
    if "num_detections" in outputs:
        count = min(count, int(np.asarray(outputs["num_detections"]).reshape(-1)[0]))
    keep = scores[:count] >= score_threshold
    if class_filter and "detection_classes" in outputs:
        classes = np.asarray(outputs["detection_classes"]).reshape(-1)[:count].astype(np.int64)
        keep &= np.isin(classes, class_filter)
    boxes = to_original(np.asarray(outputs["detection_boxes"]).reshape(-1, 4)[:count][keep], view, input_hw)
    big_enough = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
    return WindowBoxes(view, boxes[big_enough], scores[:count][keep][big_enough])


def to_detections(
    task: DetectTask,
    outputs: Sequence[Mapping[str, np.ndarray]],
    score_threshold: float,
    class_filter: tuple[int, ...],
) -> tuple[Detection, ...]:
    """Turn one image's OD-API outputs, one per view, into one box per bottle in original pixels,
    best first."""
    found = [window_boxes(view, model_input.shape[:2], out, score_threshold, class_filter)
             for view, model_input, out in zip(task.views, task.model_inputs, outputs)]
    return tuple(Detection(box, score) for box, score in merge(found, task.image.height, task.image.width))
