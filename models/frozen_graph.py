"""A TF1 Object Detection API frozen graph (`frozen_inference_graph.pb`) as a detector slot.

The TF1 model zoo ships its detectors as frozen GraphDefs, not SavedModels. Imported into a
`tf.compat.v1.wrap_function` and pruned from `image_tensor:0` to the four detection outputs, such a
graph is a TF2 concrete function with exactly the signature a TF Hub detector has, so the rest of the
scan cannot tell them apart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

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


def load_detection_graph(graph_def):
    """A callable uint8 [N,H,W,3] -> {output name: array}, from an OD-API GraphDef (read_graph_def)."""
    import tensorflow as tf

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    pruned = wrapped.prune(feeds=wrapped.graph.get_tensor_by_name(INPUT),
                           fetches={name: wrapped.graph.get_tensor_by_name(f"{name}:0") for name in OUTPUTS})

    def fn(batch: np.ndarray) -> dict[str, Any]:
        result = pruned(tf.constant(np.asarray(batch), dtype=tf.uint8))
        return {name: value.numpy() for name, value in result.items()}

    return fn
