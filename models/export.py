"""Write a serving function as a self-contained SavedModel with its shelfscan.json.

The function is frozen (variables become constants) and large weight tensors are stored as
float16, cast back to float32 inside the graph: the directory is about half the size of a plain
export and loads with `tf.saved_model.load(path).signatures["serving_default"]` without our code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

FP16_MIN_ELEMENTS = 1024  # smaller constants (BN statistics, biases) stay float32; they cost nothing


def _float16_constants(graph_def, min_elements: int):
    """A copy of `graph_def` whose big float32 constants are float16 constants followed by a Cast."""
    import tensorflow as tf

    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    f32, f16 = tf.float32.as_datatype_enum, tf.float16.as_datatype_enum
    for node in graph_def.node:
        if node.op == "Const" and node.attr["dtype"].type == f32:
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.size >= min_elements and np.all(np.abs(value) < 6e4):
                half = out.node.add()
                half.CopyFrom(node)
                half.name = node.name + "/float16"
                half.attr["dtype"].type = f16
                half.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value.astype(np.float16)))
                cast = out.node.add()
                cast.name, cast.op = node.name, "Cast"
                cast.input.append(half.name)
                cast.attr["SrcT"].type, cast.attr["DstT"].type = f16, f32
                cast.attr["Truncate"].b = False
                continue
        out.node.add().CopyFrom(node)
    return out


def save_serving(fn: Callable[..., Mapping[str, Any]], input_spec, out_dir: str | Path,
                 meta: Mapping[str, Any], float16: bool = True) -> Path:
    """Save `fn(input) -> dict of tensors` as signature "serving_default" plus shelfscan.json.

    Args:
      fn: a Python function closing over Keras models (run with training=False).
      input_spec: tf.TensorSpec of the single input; its name is the signature's input name.
      out_dir: the model directory (created, overwritten).
      meta: the shelfscan.json contents.
      float16: store big weights as float16 (cast to float32 at run time).
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(fn, input_signature=[input_spec]).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    if float16:
        graph_def = _float16_constants(graph_def, FP16_MIN_ELEMENTS)
    input_name = frozen.inputs[0].name
    output_names = [t.name for t in frozen.outputs]
    structure = concrete.structured_outputs

    def imported(x):
        return tf.graph_util.import_graph_def(
            graph_def, input_map={input_name: x}, return_elements=output_names, name="")

    module = tf.Module()
    module.graph = tf.compat.v1.wrap_function(imported, [input_spec])

    @tf.function(input_signature=[input_spec])
    def serve(x):
        return tf.nest.pack_sequence_as(structure, list(module.graph(x)))

    module.serve = serve
    out = Path(out_dir)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tf.saved_model.save(module, str(out), signatures={"serving_default": serve.get_concrete_function()})
    (out / "shelfscan.json").write_text(json.dumps(dict(meta), indent=2) + "\n")
    return out


def directory_bytes(path: str | Path) -> int:
    """Total size of the files under `path`."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
