"""The zoo SSD's frozen graph cut before its post-processing: a GraphDef from `image_tensor` to the raw box
encodings and class logits, the anchors, and the post-processing constants, all read from the graph.

The graph resizes each image inside a TensorArray while loop (`Preprocessor/map`) and post-processes
inside another (`Postprocessor`, NMS for 90 classes one by one): loops that TFLite cannot convert and ONNX
Runtime runs slowly. Fed images of its own input size the resize is the identity (bilinear, corners not
aligned, scale 1), so the cut feeds the cast image straight to the normalization, and the loops go.
"""
from __future__ import annotations

import re

import numpy as np

from models.frozen_graph import INPUT
from models.ssd.postprocess import PostprocessSpec

BOX_ENCODINGS = "Squeeze"  # [B, anchors, 4]: ty, tx, th, tw per anchor
CLASS_LOGITS = "concat_1"  # [B, anchors, 1 + classes]: background first
ANCHORS = "Concatenate/concat"  # [anchors, 4]: ymin, xmin, ymax, xmax, normalized
CAST = "ToFloat"  # image_tensor as float
NORMALIZE = "Preprocessor/mul"  # 2 / 255 * image; its image input comes out of the resize loop
RESIZE_SIZE = "Preprocessor/map/while/ResizeImage/stack"
NMS_SCOPE = "Postprocessor/BatchMultiClassNonMaxSuppression/map/while/MultiClassNonMaxSuppression/"


class GraphCutError(ValueError):
    """The graph is not the OD-API SSD layout this cut knows; the message names the node missing."""


def _node(graph_def, name: str):
    found = next((node for node in graph_def.node if node.name == name), None)
    if found is None:
        raise GraphCutError(f"not the TF1 OD-API SSD graph shelfscan cuts: it has no node {name!r}")
    return found


def _const(graph_def, name: str) -> np.ndarray:
    from tensorflow.python.framework import tensor_util

    node = _node(graph_def, name)
    if node.op != "Const":
        raise GraphCutError(f"not the TF1 OD-API SSD graph shelfscan cuts: {name!r} is a {node.op}, not a Const")
    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def input_side(graph_def) -> int:
    """The square side the graph resizes every image to (300 for the zoo's SSD MobileNet v2)."""
    height, width = (int(v) for v in _const(graph_def, RESIZE_SIZE))
    if height != width:
        raise GraphCutError(f"the graph resizes to {height}x{width}; the cut handles square inputs only")
    return height


def postprocess_spec(graph_def) -> PostprocessSpec:
    """The graph's own post-processing constants; every class must share them, as the zoo's config says."""
    nms_node = re.compile(re.escape(NMS_SCOPE) + r"non_max_suppression(_\d+)?/NonMaxSuppressionV2")
    num_classes = sum(1 for node in graph_def.node if nms_node.fullmatch(node.name))  # one NMS per class
    if not num_classes:
        raise GraphCutError(f"not the TF1 OD-API SSD graph shelfscan cuts: no NMS under {NMS_SCOPE}")

    def each(pattern: str) -> float:
        values = {float(_const(graph_def, NMS_SCOPE + pattern.format(f"_{k}" if k else "")))
                  for k in range(num_classes)}
        if len(values) != 1:
            raise GraphCutError(f"classes differ in {pattern.format('')} ({sorted(values)}); the cut needs one value")
        return values.pop()

    decode = tuple(float(_const(graph_def, f"Postprocessor/Decode/{name}/y"))
                   for name in ("div", "div_1", "div_2", "div_3"))
    return PostprocessSpec(score_threshold=each("FilterGreaterThan{}/Greater/y"),
                           iou_threshold=each("non_max_suppression{}/iou_threshold"),
                           max_per_class=int(each("Minimum{}/x")),
                           max_total=int(_const(graph_def, NMS_SCOPE + f"Minimum_{num_classes}/x")),
                           scale_factors=decode,  # type: ignore[arg-type]
                           logit_scale=float(_const(graph_def, "Postprocessor/scale_logits/y")),
                           num_classes=num_classes)


def backbone_graph_def(graph_def):
    """A new GraphDef of the graph's backbone and box predictor: `image_tensor` uint8 [B, side, side, 3]
    -> `Squeeze` (box encodings) and `concat_1` (class logits), without the resize and NMS loops."""
    import tensorflow as tf

    return tf.compat.v1.graph_util.extract_sub_graph(_without_resize_loop(graph_def), [BOX_ENCODINGS, CLASS_LOGITS])


def anchors(graph_def) -> np.ndarray:
    """The graph's anchors [anchors, 4], its anchor generator run once (it reads no image: the feature
    maps' sizes are constants of the graph)."""
    import tensorflow as tf

    generator = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [ANCHORS])
    fed = [node.name for node in generator.node if node.op == "Placeholder"]
    if fed:
        raise GraphCutError(f"its anchors depend on the input {fed}; the cut needs them fixed")
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(generator, name=""), [])
    return wrapped.prune([], wrapped.graph.get_tensor_by_name(f"{ANCHORS}:0"))().numpy().astype(np.float32)


def _without_resize_loop(graph_def):
    """A copy whose normalization reads the cast image instead of the resize loop's output, its input
    fixed to [B, side, side, 3]."""
    import tensorflow as tf
    from tensorflow.core.framework import tensor_shape_pb2

    side = input_side(graph_def)
    cut = tf.compat.v1.GraphDef()
    cut.CopyFrom(graph_def)
    normalize = _node(cut, NORMALIZE)
    loop_output = [i for i, name in enumerate(normalize.input) if name.startswith("Preprocessor/map/")]
    if len(loop_output) != 1:
        raise GraphCutError(f"{NORMALIZE} does not read the resize loop's output; inputs {list(normalize.input)}")
    normalize.input[loop_output[0]] = CAST
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in (-1, side, side, 3)]
    _node(cut, INPUT.split(":")[0]).attr["shape"].shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(dim=dims))
    return cut
