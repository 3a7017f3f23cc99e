"""The detector output layouts an ONNX export comes in, each turned into the TF Object Detection API form.

Pure numpy, so each is testable with arrays alone. Every decoder takes one batch of raw outputs (by
output name) and the model input's (height, width), and returns `detection_boxes` [B,N,4] normalized
[ymin, xmin, ymax, xmax] in the model-input frame, `detection_scores` [B,N], `detection_classes` [B,N]
and `num_detections` [B], N = max_detections, padded with zeros: what the Detect stage reads.

- "ultralytics": one output [B, 4+C, A], per anchor cx, cy, w, h in input pixels then C class scores
  (YOLOv5u/v8/11 `yolo export format=onnx`); no NMS inside, so NMS runs here.
- "rtdetr": boxes [B, N, 4] normalized cx, cy, w, h and class logits [B, N, C] (RT-DETR, D-FINE,
  Hugging Face `pred_boxes` / `logits`); the best N (query, class) pairs by sigmoid score, no NMS.
- "od_api": `detection_boxes`, `detection_scores`, `detection_classes`, optional `num_detections`
  (a TF Object Detection API model through tf2onnx; `--graphdef` exports name them `detection_boxes:0`...);
  passed through.
- "ultralytics_nms": one output [B, N, 6] of x0, y0, x1, y1 in input pixels, score, class: Ultralytics'
  NMS-free models (YOLOv10, YOLO26) and any export with `nms=True`; passed through.
- "ultralytics_rtdetr": one output [B, N, 4+C] of normalized cx, cy, w, h and C class probabilities
  (`yolo export model=rtdetr-l.pt`); read as "rtdetr", without the sigmoid.
"""
from __future__ import annotations

import ast
from typing import Mapping, NamedTuple, Sequence

import numpy as np

LAYOUTS = ("ultralytics", "rtdetr", "od_api", "ultralytics_nms", "ultralytics_rtdetr")
OD_API = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
MIN_SCORE = 0.001  # candidates below never reach any threshold a scan or an evaluation uses
NMS_IOU = 0.7  # Ultralytics' own default for prediction
MAX_DETECTIONS = 300
RTDETR_BOXES = ("pred_boxes", "boxes", "bboxes")
RTDETR_LOGITS = ("logits", "pred_logits", "scores")


class Output(NamedTuple):
    """One model output as ONNX Runtime describes it: its name and shape (str or None = dynamic)."""

    name: str
    shape: tuple


class Layout(NamedTuple):
    """Which layout a detector's outputs have, and the output names it reads, in the layout's order."""

    name: str
    outputs: tuple[str, ...]


def find_layout(outputs: Sequence[Output], class_count: int | None = None) -> Layout | None:
    """The layout of a detector with these outputs, or None when it has none of LAYOUTS.

    class_count: the number of class names the model's metadata gives, when it gives them.
    """
    od_api = {tensor_name(o.name): o.name for o in outputs}
    if all(name in od_api for name in OD_API[:3]):
        return Layout("od_api", tuple(od_api[name] for name in OD_API if name in od_api))
    boxes = [o for o in outputs if len(o.shape) == 3 and o.shape[2] == 4]
    rest = [o for o in outputs if len(o.shape) == 3 and o not in boxes]
    if boxes and rest:
        box = next((o for o in boxes if o.name in RTDETR_BOXES), boxes[0])
        logits = next((o for o in rest if o.name in RTDETR_LOGITS), rest[0])
        return Layout("rtdetr", (box.name, logits.name))
    first = outputs[0] if outputs else None
    if first is not None and len(first.shape) == 3 and first.shape[2] == 6 and len(outputs) == 1:
        return Layout("ultralytics_nms", (first.name,))
    if first is not None and len(first.shape) == 3 and class_count and first.shape[2] == 4 + class_count:
        return Layout("ultralytics_rtdetr", (first.name,))
    if first is not None and len(first.shape) == 3 and isinstance(first.shape[1], int) and first.shape[1] > 4:
        fits = first.shape[1] == 4 + class_count if class_count else not (
            isinstance(first.shape[2], int) and first.shape[2] <= first.shape[1])
        if fits:
            return Layout("ultralytics", (first.name,))
    return None


def decode(layout: Layout, raw: Mapping[str, np.ndarray], input_hw: tuple[int, int],
           nms_iou: float = NMS_IOU, max_detections: int = MAX_DETECTIONS) -> dict[str, np.ndarray]:
    """A batch of raw outputs in `layout` -> OD-API outputs (module docstring)."""
    if layout.name == "od_api":
        return {tensor_name(name): np.asarray(raw[name], np.float32) for name in layout.outputs}
    if layout.name == "rtdetr":
        per_image = [rtdetr_image(boxes, sigmoid(logits), max_detections)
                     for boxes, logits in zip(*(raw[n] for n in layout.outputs))]
    elif layout.name == "ultralytics_rtdetr":
        per_image = [rtdetr_image(p[:, :4], p[:, 4:], max_detections) for p in raw[layout.outputs[0]]]
    elif layout.name == "ultralytics_nms":
        per_image = [nms_rows(p, input_hw, max_detections) for p in raw[layout.outputs[0]]]
    else:
        per_image = [ultralytics_image(p, input_hw, nms_iou, max_detections) for p in raw[layout.outputs[0]]]
    return padded(per_image, max_detections)


def tensor_name(name: str) -> str:
    """An output's name without TensorFlow's ':0', which tf2onnx keeps on a frozen graph's outputs."""
    return name.removesuffix(":0")


def ultralytics_image(prediction: np.ndarray, input_hw: tuple[int, int], nms_iou: float,
                      max_detections: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's [4+C, A] -> (boxes [K,4] normalized yxyx, scores [K], classes [K]) after NMS per class."""
    rows = np.asarray(prediction, np.float32).T
    class_scores = rows[:, 4:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), classes]
    keep = scores >= MIN_SCORE
    cx, cy, w, h = rows[keep, :4].T
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kept = nms(xyxy, scores[keep], classes[keep], nms_iou)[:max_detections]
    in_h, in_w = input_hw
    x0, y0, x1, y1 = (xyxy[kept] / [in_w, in_h, in_w, in_h]).T
    return np.stack([y0, x0, y1, x1], axis=1), scores[keep][kept], classes[keep][kept]


def nms_rows(rows: np.ndarray, input_hw: tuple[int, int], max_detections: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's [N, 6] rows (x0, y0, x1, y1 input pixels, score, class), best first, NMS done by the model."""
    rows = np.asarray(rows, np.float32)
    rows = rows[rows[:, 4] >= MIN_SCORE]
    rows = rows[np.argsort(-rows[:, 4], kind="stable")][:max_detections]
    in_h, in_w = input_hw
    x0, y0, x1, y1 = (rows[:, :4] / [in_w, in_h, in_w, in_h]).T
    return np.stack([y0, x0, y1, x1], axis=1), rows[:, 4], rows[:, 5]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(logits, np.float64)))


def rtdetr_image(boxes: np.ndarray, scores: np.ndarray, max_detections: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's boxes [N,4] cxcywh and class probabilities [N,C] -> the best (query, class) pairs, as
    HF's post_process_object_detection picks them."""
    flat = np.asarray(scores, np.float64).reshape(-1)
    best = np.argsort(-flat, kind="stable")[:min(max_detections, len(boxes))]
    best = best[flat[best] >= MIN_SCORE]
    query, classes = np.divmod(best, scores.shape[1])
    cx, cy, w, h = np.asarray(boxes, np.float32)[query].T
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1), flat[best], classes


def nms(xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS within each class, best first."""
    shifted = xyxy + (classes * (xyxy.max(initial=0) + 1))[:, None]  # boxes of different classes never meet
    area = (shifted[:, 2] - shifted[:, 0]).clip(0) * (shifted[:, 3] - shifted[:, 1]).clip(0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i, order = order[0], order[1:]
        keep.append(i)
        lo = np.maximum(shifted[i, :2], shifted[order, :2])
        hi = np.minimum(shifted[i, 2:], shifted[order, 2:])
        inter = (hi - lo).clip(0).prod(axis=1)
        order = order[inter < iou * (area[i] + area[order] - inter)]
    return np.array(keep, dtype=np.int64)


def padded(per_image: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int) -> dict[str, np.ndarray]:
    """Stack per-image (boxes, scores, classes) into OD-API arrays of `size` detections each."""
    out = {"detection_boxes": np.zeros((len(per_image), size, 4), np.float32),
           "detection_scores": np.zeros((len(per_image), size), np.float32),
           "detection_classes": np.zeros((len(per_image), size), np.float32),
           "num_detections": np.zeros(len(per_image), np.float32)}
    for i, (boxes, scores, classes) in enumerate(per_image):
        n = len(scores)
        out["detection_boxes"][i, :n], out["detection_scores"][i, :n] = boxes, scores
        out["detection_classes"][i, :n], out["num_detections"][i] = classes, n
    return out


def class_names(text: str | None) -> dict[int, str] | None:
    """Ultralytics' `names` metadata ("{0: 'person', 1: 'bicycle', ...}") as a dict; None if absent or unreadable."""
    try:
        names = ast.literal_eval(text) if text else None  # literals only: never evaluates code
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not all(isinstance(k, int) for k in names):
        return None
    return {k: str(v) for k, v in names.items()}


def image_size(text: str | None) -> int | None:
    """Ultralytics' `imgsz` metadata ("[640, 640]") as a square side; None if absent, unreadable or not square."""
    try:
        size = ast.literal_eval(text) if text else None
    except (ValueError, SyntaxError):
        return None
    if isinstance(size, int):
        return size
    if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1] and isinstance(size[0], int):
        return size[0]
    return None


# The 80 COCO classes in the order Ultralytics and Hugging Face RT-DETR number them (bottle = 39):
# an 80-class export that names none of its classes is read as these.
COCO80 = dict(enumerate(name.replace("_", " ") for name in """
person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign parking_meter
bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie suitcase frisbee
skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard tennis_racket bottle
wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake
chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave oven
toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush""".split()))
