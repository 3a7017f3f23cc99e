"""The detector's pure pre- and post-processing: an image (and its slices) in as model inputs, OD-API
outputs back as one box per bottle in original pixels, and the views chosen in two passes
(`ViewChooser`). The Detect stage (transforms/detect.py) composes these; evaluation calls them without
a pipeline."""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np

from transforms.letterbox import fit, offset
from transforms.records import DecodedImage, Detection, DetectTask
from transforms.slicing import (
    MIN_SLICES_ACROSS,
    SlicePlan,
    View,
    Window,
    WindowBoxes,
    edge_share,
    merge,
    slice_side,
    to_original,
    windows,
)

Outputs = Sequence[Mapping[str, np.ndarray]]  # a task's OD-API outputs, one per view
Runner = Callable[[Sequence[DetectTask]], Sequence[Outputs]]  # the detector over tasks, e.g. models.slots.run_tasks


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
    """Every view at once, as SAHI slices: the whole image, plus the finest grid of slices when it is
    larger than one (`ViewChooser` chooses among them instead)."""
    return views_input(image, windows(image.height, image.width, slice_size, slice_overlap), input_size, resize)


def views_input(image: DecodedImage, chosen: Sequence[Window], input_size: int | None,
                resize: str = "letterbox") -> DetectTask:
    """The detector's inputs for the `chosen` windows of `image`."""
    views, inputs = [], []
    for window in chosen:
        model_input, scale_x, scale_y, left, top = fit_window(window_pixels(image, window), input_size, resize)
        views.append(View(window, scale_x * image.scale_x, scale_y * image.scale_y, left, top))  # per original px
        inputs.append(model_input)
    return DetectTask(image, tuple(views), tuple(inputs))


def shown(model_input: np.ndarray, view: View) -> np.ndarray:
    """The part of a view's model input that shows its window, without letterbox padding."""
    x1 = round(view.left + view.window.width * view.scale_x)
    y1 = round(view.top + view.window.height * view.scale_y)
    return model_input[int(view.top):max(y1, int(view.top) + 1), int(view.left):max(x1, int(view.left) + 1)]


@dataclasses.dataclass(frozen=True)
class ViewChooser:
    """Chooses each image's detector views in two passes: the whole image first; then the slices, as
    large as the smallest bottle the whole image showed allows (`SlicePlan.bottle_px`), leaving out
    those that show almost nothing (`SlicePlan.min_edges`).

    input_size, resize: how the detector takes a view (input_size None: any size).
    threshold, class_filter: which of the whole view's boxes are bottles.
    """

    input_size: int | None
    resize: str
    threshold: float
    class_filter: tuple[int, ...]
    plan: SlicePlan

    def whole(self, image: DecodedImage) -> DetectTask:
        """The first pass: the whole image's input alone."""
        return views_input(image, (Window(0, 0, image.width, image.height),), self.input_size, self.resize)

    def across(self, image: DecodedImage, whole: WindowBoxes) -> int:
        """Slices across the long side: the fewest from MIN_SLICES_ACROSS up in which the smallest bottle
        of the whole view spans plan.bottle_px input pixels; the most when it showed none."""
        most = self.plan.max_across
        if self.plan.bottle_px <= 0 or not len(whole.boxes):
            return most
        smallest = np.maximum(whole.boxes[:, 2] - whole.boxes[:, 0], whole.boxes[:, 3] - whole.boxes[:, 1]).min()
        long_side = max(image.height, image.width)
        for across in range(MIN_SLICES_ACROSS, most):
            side = slice_side(self.plan.size, long_side, across)
            # input pixels per original pixel in such a slice; a detector of any size sees it as decoded
            zoom = self.input_size / side if self.input_size else min(image.scale_x, image.scale_y)
            if smallest * zoom >= self.plan.bottle_px:
                return across
        return most

    def slices(self, whole: DetectTask, outputs: Mapping[str, np.ndarray]) -> DetectTask:
        """The second pass: the slices worth a look, given the whole view's outputs (maybe none)."""
        image, plan = whole.image, self.plan
        if plan.size <= 0:
            return DetectTask(image, (), ())
        found = window_boxes(whole.views[0], whole.model_inputs[0].shape[:2], outputs, self.threshold,
                             self.class_filter)
        grid = windows(image.height, image.width, plan.size, plan.overlap, self.across(image, found))[1:]
        task = views_input(image, grid, self.input_size, self.resize)
        if plan.min_edges <= 0:
            return task
        keep = [k for k, (view, model_input) in enumerate(zip(task.views, task.model_inputs))
                if edge_share(shown(model_input, view)) >= plan.min_edges]
        return DetectTask(image, tuple(task.views[k] for k in keep), tuple(task.model_inputs[k] for k in keep))

    def run(self, tasks: Sequence[DetectTask], run: Runner) -> list[tuple[DetectTask, tuple]]:
        """Both passes over first-pass `tasks` (from `whole`), each one call of `run` over all of them;
        per image the task holding every view it got and their outputs, the whole image's first."""
        first = run(tasks)
        more = [self.slices(task, outputs[0]) for task, outputs in zip(tasks, first)]
        sliced = [task for task in more if task.views]
        return self.join(tasks, first, more, run(sliced) if sliced else [])

    @staticmethod
    def join(tasks: Sequence[DetectTask], first: Sequence[Outputs], more: Sequence[DetectTask],
             sliced: Sequence[Outputs]) -> list[tuple[DetectTask, tuple]]:
        """Each image's whole-view task and outputs together with its slices' (`sliced`: one per task of
        `more` that has views, in order)."""
        rest = iter(sliced)
        return [(DetectTask(task.image, task.views + extra.views, task.model_inputs + extra.model_inputs),
                 tuple(outputs) + (tuple(next(rest)) if extra.views else ()))
                for task, outputs, extra in zip(tasks, first, more)]


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
