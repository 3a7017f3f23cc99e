"""An ONNX model file (`.onnx`) in a slot, run by ONNX Runtime.

A detector may be an Ultralytics, RT-DETR-style or TF Object Detection API export (models.onnx.layouts);
its outputs are turned into the OD-API form, so the Detect stage, slicing and everything after cannot
tell it from a TensorFlow detector. What it needs to be fed right comes from the model itself (input
shape, Ultralytics' `names` and `imgsz` metadata); a `shelfscan.json` beside the file wins. A classifier
or segmenter file needs an output named `scores` or `masks`, as the TF slots do.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from models.onnx import layouts as onnx_layouts
from models.onnx.layouts import Layout, Output
from models.slots import (
    COCO_BOTTLE,
    REQUIRED_OUTPUTS,
    LoadedModel,
    ModelLoadError,
    ModelMeta,
    check_output_shapes,
    files_version,
    product_thresholds,
)

DEFAULT_INPUT_SIZE = 640  # what Ultralytics and RT-DETR export at unless told otherwise
_KNOWN_META = ("kind", "input_size", "resize", "threshold", "class_filter", "products", "thresholds")
_EXPECTED = ("an Ultralytics output0 [B, 4+C, anchors] (or [B, N, 6] after NMS, or [B, N, 4+C] from RT-DETR, "
             "with its names metadata), RT-DETR boxes [B, N, 4] with class logits [B, N, C], or TF Object "
             "Detection API detection_boxes, detection_scores and detection_classes")
_DTYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(float16)": np.float16}


def providers(available: list[str]) -> list[str]:
    """The execution providers to ask for, best first: CUDA where this onnxruntime build has it."""
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def open_session(slot: str, uri: str, path: Path):
    """An ONNX Runtime session for the file at `path`; ModelLoadError in one line if it is no ONNX model."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # its warnings about unused initializers are not the user's business
    # Idle pool threads that spin take the cores the scan's other models, decoding and Beam share: on 2 busy
    # cores the coco SSD ran 1.4x faster without (docs/BENCHMARKS.md, ONNX Runtime beside TensorFlow)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=providers(ort.get_available_providers()))
    except Exception as e:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail, NotImplemented...)
        cause = (str(e).splitlines() or [""])[0][:300]
        raise ModelLoadError(slot, uri, f"ONNX Runtime could not read {path.name} ({type(e).__name__}: {cause}); "
                                        "expected an ONNX model file, as `yolo export format=onnx` or "
                                        "torch.onnx.export write") from e


def load_onnx(slot: str, uri: str, path: Path, stored: Mapping[str, Any], overrides: Mapping[str, Any]) -> LoadedModel:
    """Fill `slot` with the ONNX model at local `path` (fetched from `uri`); `stored`: its shelfscan.json."""
    if not path.is_file():
        raise ModelLoadError(slot, uri, f"no such file {path}")
    session = open_session(slot, uri, path)
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        shown = [(i.name, i.shape) for i in inputs]
        raise ModelLoadError(slot, uri, f"expected one image input [B, 3, H, W] or [B, H, W, 3], it takes {shown}")
    outputs = [Output(o.name, tuple(o.shape)) for o in session.get_outputs()]
    props = session.get_modelmeta().custom_metadata_map
    if slot == "detector":
        layout, names = detector_layout(uri, outputs, props)
        defaults = detector_defaults(slot, uri, layout, names, inputs[0].shape, props, {**stored, **overrides})
    else:
        missing = [n for n in REQUIRED_OUTPUTS[slot] if n not in {o.name for o in outputs}]
        if missing:
            raise ModelLoadError(slot, uri, f"a {slot} model needs outputs {missing}; it has "
                                            f"{[o.name for o in outputs]}")
        layout, names = Layout("named", REQUIRED_OUTPUTS[slot]), None
        defaults = {"input_size": _fixed_side(inputs[0].shape), "resize": "letterbox", "threshold": 0.5,
                    "class_filter": []}
    meta = onnx_meta(slot, uri, path, layout, names, defaults, stored, overrides)
    model = LoadedModel(runner(session, layout, meta), meta)
    check_output_shapes(model)
    return model


def detector_layout(uri: str, outputs: list[Output], props: Mapping[str, str]) -> tuple[Layout, dict | None]:
    names = onnx_layouts.class_names(props.get("names"))
    layout = onnx_layouts.find_layout(outputs, len(names) if names else None)
    if layout is None:
        shown = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs)
        raise ModelLoadError("detector", uri, f"its outputs ({shown}) are none of the detector layouts shelfscan "
                                              f"reads; expected {_EXPECTED}")
    if names is None and layout.name in ("ultralytics", "rtdetr"):  # an unnamed 80-class export is a COCO one
        shape = next(o.shape for o in outputs if o.name == layout.outputs[-1])
        count = shape[1] - 4 if layout.name == "ultralytics" else shape[2]
        names = onnx_layouts.COCO80 if count == len(onnx_layouts.COCO80) else None
    return layout, names


def detector_defaults(slot: str, uri: str, layout: Layout, names: dict | None, input_shape: list,
                      props: Mapping[str, str], given: Mapping[str, Any]) -> dict[str, Any]:
    """What a detector in `layout` is fed with and read by when its shelfscan.json and the options say nothing."""
    if layout.name == "od_api":
        side = _fixed_side(input_shape)
        return {"input_size": side, "resize": "stretch", "threshold": 0.5, "class_filter": [COCO_BOTTLE]}
    side = _fixed_side(input_shape) or onnx_layouts.image_size(props.get("imgsz")) or DEFAULT_INPUT_SIZE
    bottles = [k for k, v in (names or {}).items() if v.strip().lower() == "bottle"]
    if not bottles and not given.get("class_filter"):
        known = f"its {len(names)} class names include" if names else "its metadata names no classes, so"
        raise ModelLoadError(slot, uri, f"{known} no 'bottle'; pass --detector_class_filter with the class ids "
                                        "(0-based, as the model numbers them) that mean bottle")
    centred = layout.name in ("ultralytics", "ultralytics_nms")  # Ultralytics' RT-DETR predictor stretches
    return {"input_size": side, "resize": "letterbox_center" if centred else "stretch",
            "threshold": 0.25, "class_filter": bottles}


def _fixed_side(shape: list) -> int | None:
    """The square side of an image input [B,3,S,S] or [B,S,S,3] with fixed S; None when dynamic."""
    h, w = (shape[2], shape[3]) if shape[1] == 3 else (shape[1], shape[2])
    return h if isinstance(h, int) and h == w and h > 0 else None


def onnx_meta(slot: str, uri: str, path: Path, layout: Layout, names: dict | None, defaults: dict,
              stored: Mapping[str, Any], overrides: Mapping[str, Any]) -> ModelMeta:
    from transforms.letterbox import RESIZE_MODES

    values = {"kind": slot, **defaults, **{k: stored[k] for k in _KNOWN_META if k in stored}, **overrides}
    unknown = set(overrides) - set(_KNOWN_META) - {"signature"}
    if unknown:
        raise ValueError(f"unknown model overrides {sorted(unknown)}")
    allowed = RESIZE_MODES if slot == "detector" else RESIZE_MODES[:2]  # crops are read top-left
    if values["resize"] not in allowed:
        raise ModelLoadError(slot, uri, f"resize must be one of {allowed}, not {values['resize']!r}")
    extra = {k: v for k, v in stored.items() if k not in _KNOWN_META}
    extra.setdefault("layout", layout.name)
    if names:
        extra.setdefault("class_names", names)
    products, thresholds = product_thresholds(slot, uri, values, "threshold" in overrides)
    return ModelMeta(
        slot=slot, uri=uri, kind=values["kind"],
        input_size=int(values["input_size"]) if values["input_size"] else None,
        resize=values["resize"], threshold=float(values["threshold"]) if values["threshold"] is not None else None,
        class_filter=tuple(int(c) for c in values["class_filter"] or ()),
        version=files_version([path]), signature_style=f"onnx_{layout.name}", extra=extra,
        products=products, thresholds=thresholds)


def runner(session, layout: Layout, meta: ModelMeta):
    """uint8 [B,S,S,3] -> the slot's outputs; a model exported for a fixed batch runs in calls of that batch."""
    spec = session.get_inputs()[0]
    nchw = spec.shape[1] == 3 or (spec.shape[3] != 3 and layout.name != "od_api")
    dtype = _DTYPES.get(spec.type)
    if dtype is None:
        raise ModelLoadError(meta.slot, meta.uri, f"its input {spec.name!r} is {spec.type}; expected uint8 or float "
                                                  "pixels")
    fixed = spec.shape[0] if isinstance(spec.shape[0], int) and spec.shape[0] > 0 else None
    nms_iou = float(meta.extra.get("nms_iou", onnx_layouts.NMS_IOU))
    max_detections = int(meta.extra.get("max_detections", onnx_layouts.MAX_DETECTIONS))

    def feed(batch: np.ndarray) -> np.ndarray:
        x = batch.transpose(0, 3, 1, 2) if nchw else batch
        if dtype is not np.uint8:  # float NCHW is PyTorch's [0, 1]; float NHWC is TF's [0, 255]
            x = x.astype(dtype) / dtype(255) if nchw else x.astype(dtype)
        return np.ascontiguousarray(x)

    def call(batch: np.ndarray) -> dict[str, np.ndarray]:
        raw = dict(zip(layout.outputs, session.run(list(layout.outputs), {spec.name: feed(batch)})))
        if layout.name == "named":  # [B, 1] scores and [B, 1, S, S] masks as the slot contract has them
            return {name: value.squeeze(1) if value.ndim == {"scores": 2, "masks": 4}[name] and value.shape[1] == 1
                    else value for name, value in raw.items()}
        return onnx_layouts.decode(layout, raw, batch.shape[1:3], nms_iou, max_detections)

    def fn(batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(batch, np.uint8)
        step = fixed or len(batch)
        parts = []
        for start in range(0, len(batch), step):
            part = batch[start:start + step]
            short = step - len(part)  # the last call of a fixed-batch model is filled with blanks
            full = np.concatenate([part, np.zeros((short, *part.shape[1:]), np.uint8)]) if short else part
            parts.append({k: v[:len(part)] for k, v in call(full).items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    fn.session = session
    return fn
