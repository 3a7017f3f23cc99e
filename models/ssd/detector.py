"""The cut SSD as a detector slot's callable: a batch of uint8 images in, the OD-API outputs of the kept
classes out, as the whole graph would give them (models.ssd.postprocess does what the loops did).

Two runtimes carry the cut: TensorFlow runs the fp32 backbone straight from the frozen graph (`coco-fast`),
TFLite runs the int8 build of it (`coco-int8`, models.ssd.build).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from models.builtin import INT8_FILES
from models.ssd.postprocess import PostprocessSpec, detections

Raw = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # images -> box encodings, class logits
INT8_MODEL, INT8_ANCHORS, INT8_SPEC = INT8_FILES


def with_postprocess(raw: Raw, side: int, anchors: np.ndarray, spec: PostprocessSpec,
                     classes: tuple[int, ...]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The detector callable: `raw` on the batch, then the numpy post-processing for `classes`."""
    def fn(batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1:] != (side, side, 3):
            raise ValueError(f"the cut SSD takes uint8 [N, {side}, {side}, 3] images, not {batch.shape}: its graph "
                             f"resized to {side} inside the loop the cut removed; feed it at its input_size")
        encodings, logits = raw(batch)
        return detections(encodings, logits, anchors, spec, classes)

    return fn


def cut_detector(graph_def, classes: tuple[int, ...]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """`coco-fast`: the frozen graph cut before its post-processing, run by TensorFlow in fp32."""
    from models.frozen_graph import INPUT, prune_graph
    from models.ssd import graph_cut

    backbone = prune_graph(graph_cut.backbone_graph_def(graph_def), INPUT,
                           (graph_cut.BOX_ENCODINGS, graph_cut.CLASS_LOGITS))

    def raw(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = backbone(batch)
        return out[graph_cut.BOX_ENCODINGS], out[graph_cut.CLASS_LOGITS]

    return with_postprocess(raw, graph_cut.input_side(graph_def), graph_cut.anchors(graph_def),
                            graph_cut.postprocess_spec(graph_def), classes)


def int8_detector(directory: Path, classes: tuple[int, ...]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """`coco-int8`: the int8 build in `directory` (models.ssd.build, whose files models.builtin has found),
    run by TFLite one image at a time, as its converter fixed the batch to 1. ValueError when the files are
    not such a build."""
    stored, anchors, interpreter = _read_build(directory)
    (feed,) = interpreter.get_input_details()
    outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    try:
        constants = stored["postprocess"]
        spec = PostprocessSpec(**{**constants, "scale_factors": tuple(constants["scale_factors"])})
        encodings_at, logits_at = (outputs[name] for name in stored["outputs"])
        side = int(stored["input_side"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{directory / INT8_SPEC} is not what python -m models.ssd.build writes ({type(e).__name__}: "
                         f"{e}); build it again") from e

    def raw(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        encodings, logits = [], []
        for image in batch:
            interpreter.set_tensor(feed["index"], image[None].astype(feed["dtype"], copy=False))
            interpreter.invoke()
            encodings.append(interpreter.get_tensor(encodings_at)[0])
            logits.append(interpreter.get_tensor(logits_at)[0])
        return np.stack(encodings), np.stack(logits)

    return with_postprocess(raw, side, anchors, spec, classes)


def _read_build(directory: Path):
    """The build's stored settings, anchors and a ready TFLite interpreter; ValueError naming the bad file."""
    import tensorflow as tf

    reading = directory / INT8_SPEC
    try:
        stored = json.loads(reading.read_text())
        reading = directory / INT8_ANCHORS
        anchors = np.load(reading, allow_pickle=False)
        reading = directory / INT8_MODEL
        with warnings.catch_warnings():  # its successor, ai-edge-litert, is no requirement; TF 2.21 still has it
            warnings.filterwarnings("ignore", message=r"(?s).*tf.lite.Interpreter is deprecated")
            interpreter = tf.lite.Interpreter(model_path=str(reading), num_threads=int(stored.get("num_threads", 1)))
        interpreter.allocate_tensors()
    except (OSError, ValueError, RuntimeError, AttributeError) as e:  # JSON, numpy and TFLite say it each their way
        cause = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{reading} is not what python -m models.ssd.build writes ({cause}); build it again") from e
    return stored, anchors, interpreter
