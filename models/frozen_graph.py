"""A TF1 Object Detection API frozen graph (`frozen_inference_graph.pb`) as a detector slot.

The TF1 model zoo ships its detectors as frozen GraphDefs, not SavedModels. Imported into a
`tf.compat.v1.wrap_function` and pruned from `image_tensor:0` to the four detection outputs, such a
graph is a TF2 concrete function with exactly the signature a TF Hub detector has, so the rest of the
scan cannot tell them apart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

INPUT = "image_tensor:0"  # uint8 [batch, height, width, 3]; the graph resizes internally
OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")


def read_graph_def(path: Path):
    """The OD-API frozen graph at `path` as a GraphDef, parsed but not imported: nothing of it has run.

    Raises ValueError with TensorFlow's reason when the file is not such a graph.
    """
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(path).read_bytes())
    except Exception as e:  # protobuf's DecodeError; its text names the byte offset
        raise ValueError(f"not a TensorFlow GraphDef: {e}") from e
    names = {node.name for node in graph_def.node}
    missing = [name for name in (INPUT.split(":")[0], *OUTPUTS) if name not in names]
    if missing:
        raise ValueError(f"not a TF Object Detection API graph: it lacks nodes {missing}")
    return graph_def


def load_builtin(named, class_filter: tuple[int, ...], check: Callable[[Any], None]):
    """The callable for a package's built-in detector (models.builtin.Builtin) as its `runtime` says, and the
    files its version hashes. `check(graph_def)` runs on the graph before any of it runs (the op check).
    FileNotFoundError or ValueError when the files are missing or are not what the runtime reads."""
    files = named.model_files()
    if named.runtime == "int8":  # a build of the checked graph; TFLite reads it without parsing the graph again
        from models.ssd.detector import int8_detector

        return int8_detector(named.built, class_filter), files
    graph_def = read_graph_def(files[0])
    check(graph_def)
    if named.runtime == "cut":
        from models.ssd.detector import cut_detector

        return cut_detector(graph_def, class_filter), files
    return load_detection_graph(graph_def), files


def load_detection_graph(graph_def):
    """A callable uint8 [N,H,W,3] -> {output name: array}, from an OD-API GraphDef (read_graph_def)."""
    return prune_graph(graph_def, INPUT, OUTPUTS)


def prune_graph(graph_def, feed: str, fetches: tuple[str, ...]):
    """A callable uint8 batch -> {fetch: array}: the part of `graph_def` from the tensor `feed` to the
    nodes `fetches` (their first outputs), as a TF2 function."""
    import tensorflow as tf

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    pruned = wrapped.prune(feeds=wrapped.graph.get_tensor_by_name(feed),
                           fetches={name: wrapped.graph.get_tensor_by_name(f"{name}:0") for name in fetches})

    def fn(batch: np.ndarray) -> dict[str, Any]:
        result = pruned(tf.constant(np.asarray(batch), dtype=tf.uint8))
        return {name: value.numpy() for name, value in result.items()}

    return fn
