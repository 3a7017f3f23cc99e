"""Model files may compute on tensors, never read or write files or reach the network (models.model_ops).

The malicious models are built here: each one really does what it is accused of once trusted, so a
refusal that leaves its target file unwritten shows the check ran before any of the model did.
"""
from __future__ import annotations

import pytest

from models import builtin, model_ops
from models.slots import ModelLoadError, UntrustedModelError, load_model

CLASSIFIER_META = {"kind": "classifier", "input_size": 32, "resize": "letterbox", "signature": "serving_default",
                   "threshold": 0.5}


def _graph(*nodes: tuple[str, str], functions: dict[str, list[str]] | None = None):
    """A GraphDef of (name, op) nodes, with library functions given as name -> op types of their nodes."""
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    for name, op in nodes:
        graph_def.node.add(name=name, op=op)
    for name, ops in (functions or {}).items():
        function = graph_def.library.function.add()
        function.signature.name = name
        for i, op in enumerate(ops):
            function.node_def.add(name=f"n{i}", op=op)
    return graph_def


def _message(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, "a refusal is one line"
    return message


def test_harmless_ops_pass_and_the_refusal_names_each_op_and_why():
    assert model_ops.refusal({"Conv2D", "Relu6", "StatefulPartitionedCall", "ResizeBilinear"}) is None
    assert model_ops.refusal({"Conv2D", "WriteFile"}) == (
        "its graph runs WriteFile, which reads or writes files; shelfscan refuses model files that touch files "
        "or the network — pass --trust_model_code if you trust this model")
    mixed = model_ops.refusal({"ReadFile", "WriteFile", "CollectiveReduceV2", "EncodeBase64", "Conv2D"})
    assert mixed.startswith("its graph runs ReadFile, WriteFile, which read or write files and CollectiveReduceV2, "
                            "which reaches the network and EncodeBase64, which shelfscan does not know to be "
                            "harmless; shelfscan runs only model files whose ops compute on tensors")
    many = model_ops.refusal({f"Unknown{i:02d}" for i in range(12)})
    assert "Unknown07 and 4 more" in many and "Unknown08" not in many


def test_the_lists_name_registered_ops_and_do_not_overlap():
    import tensorflow  # noqa: F401  (registers the ops)
    from tensorflow.python.framework import op_def_registry

    for name in ("ALLOWED_OPS", "CHECKPOINT_OPS", "FILE_OPS", "NETWORK_OPS"):
        unknown = sorted(op for op in getattr(model_ops, name) if op_def_registry.get(op) is None)
        assert not unknown, f"{name} names ops TensorFlow does not have: {unknown}"
    assert not model_ops.ALLOWED_OPS & (model_ops.FILE_OPS | model_ops.NETWORK_OPS | model_ops.CHECKPOINT_OPS)
    assert model_ops.CHECKPOINT_OPS <= model_ops.FILE_OPS


def test_ops_are_collected_through_every_kind_of_function_reference():
    graph_def = _graph(("call", "PartitionedCall"), ("loop", "While"), ("case", "Case"), ("direct", "inner"),
                       functions={"called": ["Identity", "ReadFile"], "body": ["PartitionedCall"],
                                  "nested": ["WriteFile"], "branch": ["RpcCall"], "inner": ["MatchingFiles"],
                                  "unreferenced": ["TFRecordDatasetV2"]})
    nodes = {node.name: node for node in graph_def.node}
    nodes["call"].attr["f"].func.name = "called"
    nodes["loop"].attr["body"].func.name = "body"
    nodes["loop"].attr["body"].func.attr["inner_fn"].func.name = "nested"  # a function inside a function's attrs
    nodes["case"].attr["branches"].list.func.add().name = "branch"
    body = next(f for f in graph_def.library.function if f.signature.name == "body")
    body.node_def[0].attr["f"].func.name = "PrintV2"  # names no function: TF runs the op itself
    ops = model_ops.graph_def_ops(graph_def)
    assert {"ReadFile", "WriteFile", "RpcCall", "MatchingFiles", "PrintV2", "TFRecordDatasetV2"} <= ops
    assert not {"called", "body", "nested", "branch", "inner"} & ops, "function names are followed, not listed"


def test_checkpoint_ops_pass_only_in_the_saver():
    graph_def = _graph(("saver_filename", "Placeholder"), ("save", "StatefulPartitionedCall"),
                       ("serve", "StatefulPartitionedCall"),
                       functions={"traced_save": ["SaveV2", "MergeV2Checkpoints", "ShardedFilename"],
                                  "serving": ["Conv2D"], "shared": ["RestoreV2"]})
    nodes = {node.name: node for node in graph_def.node}
    nodes["save"].input.append("saver_filename")
    nodes["save"].attr["f"].func.name = "traced_save"
    nodes["serve"].attr["f"].func.name = "serving"
    saver = frozenset({"save", "saver_filename"})
    assert model_ops.refusal(model_ops.graph_def_ops(graph_def, saver) - {"RestoreV2"}) is None
    assert "RestoreV2" in model_ops.graph_def_ops(graph_def, saver), "a function the saver does not call is model code"
    assert {"SaveV2", "MergeV2Checkpoints"} <= model_ops.graph_def_ops(graph_def), "outside the saver they count"
    serving = next(f for f in graph_def.library.function if f.signature.name == "serving")
    serving.node_def.add(name="call", op="PartitionedCall").attr["f"].func.name = "traced_save"
    assert "SaveV2" in model_ops.graph_def_ops(graph_def, saver), "a saver function that model code calls counts"


@pytest.mark.slow
@pytest.mark.parametrize("slot", ["detector", "classifier", "segmenter"])
def test_every_bundled_model_passes(slot):
    assert model_ops.refusal(model_ops.saved_model_ops(builtin.DEFAULTS_DIR / slot)) is None
    assert load_model(slot, str(builtin.DEFAULTS_DIR / slot)).meta.slot == slot


@pytest.mark.slow
def test_the_toy_models_pass(toy_models, colour_box_detector):
    for directory in (*toy_models.values(), colour_box_detector):
        assert model_ops.refusal(model_ops.saved_model_ops(directory)) is None, directory


def _classifier(tmp_path, name: str, side_effect=None, extra_child=None):
    """A classifier (score = max blue / 255) whose signature first runs `side_effect()`, and that carries
    `extra_child` (a trackable saved with it)."""
    import tensorflow as tf

    from tests.toy_models import _save

    class Classifier(tf.Module):
        @tf.function
        def classify(self, crops):
            scores = tf.reduce_max(tf.cast(crops[..., 2], tf.float32), axis=[1, 2]) / 255.0
            return {"scores": side_effect(scores) if side_effect else scores}

    module = Classifier()
    if extra_child is not None:
        module.child = extra_child
    return _save(module, module.classify, tf.TensorSpec([None, 32, 32, 3], tf.uint8, name="crops"),
                 tmp_path / name, CLASSIFIER_META)


@pytest.mark.slow
def test_a_classifier_copying_a_file_is_refused_before_it_runs(tmp_path):
    from tests.toy_models import build_file_copying_classifier

    secret, copy = tmp_path / "hostname", tmp_path / "copied"
    secret.write_text("build-host-7\n")
    model_dir = build_file_copying_classifier(tmp_path / "copier", secret, copy)
    with pytest.raises(UntrustedModelError) as error:
        load_model("classifier", str(model_dir))
    assert _message(error) == (
        f"cannot load the classifier model from {model_dir}: its graph runs ReadFile, WriteFile, which read or "
        "write files; shelfscan refuses model files that touch files or the network — pass --trust_model_code "
        "if you trust this model")
    assert not copy.exists(), "the blank-batch check must not have run"
    trusted = load_model("classifier", str(model_dir), trust_model_code=True)  # the blank batch copies it
    assert copy.read_text() == "build-host-7\n" and trusted.meta.threshold == 0.5


@pytest.mark.slow
def test_a_model_writing_while_tensorflow_loads_it_is_refused_before_loading(tmp_path):
    """TensorFlow runs a resource's initializer inside tf.saved_model.load, before any signature."""
    import tensorflow as tf

    target = tmp_path / "written_at_load"

    class Resource(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[])

        def _initialize(self):
            tf.io.write_file(str(target), "pwned")

    model_dir = _classifier(tmp_path, "initializer", extra_child=Resource())
    with pytest.raises(UntrustedModelError, match=r"classifier model from .*initializer: its graph runs WriteFile,"):
        load_model("classifier", str(model_dir))
    assert not target.exists()
    tf.saved_model.load(str(model_dir))
    assert target.read_text() == "pwned", "the model really writes at load: the check is what stopped it"


@pytest.mark.slow
@pytest.mark.parametrize("case, op, why", [
    ("collective", "CollectiveReduceV2", "which reaches the network"),
    ("restore", "RestoreV2", "which reads or writes files"),  # checkpoint I/O outside the saver
    ("unknown", "EncodeBase64", "which shelfscan does not know to be harmless"),
])
def test_network_checkpoint_and_unknown_ops_are_refused(tmp_path, case, op, why):
    import tensorflow as tf

    side_effects = {
        "collective": lambda s: tf.raw_ops.CollectiveReduceV2(
            input=s, group_size=1, group_key=1, instance_key=1, ordering_token=[], merge_op="Add", final_op="Id"),
        "restore": lambda s: s + 0 * tf.raw_ops.RestoreV2(prefix=str(tmp_path / "ckpt"), tensor_names=["x"],
                                                          shape_and_slices=[""], dtypes=[tf.float32])[0],
        "unknown": lambda s: s + 0 * tf.cast(tf.equal(tf.io.encode_base64("x"), "eA"), tf.float32),
    }
    model_dir = _classifier(tmp_path, case, side_effects[case])
    with pytest.raises(UntrustedModelError) as error:
        load_model("classifier", str(model_dir))
    assert f"its graph runs {op}, {why};" in _message(error) and "--trust_model_code" in _message(error)


@pytest.mark.slow
def test_an_unreadable_graph_is_a_load_error_not_a_pass(toy_models, tmp_path):
    import shutil

    model_dir = shutil.copytree(toy_models["classifier"], tmp_path / "garbled")
    (model_dir / "saved_model.pb").write_bytes(b"\x0a\xff\xff" * 50)
    with pytest.raises(ModelLoadError, match="classifier.*garbled: its graph could not be read to check its ops"):
        load_model("classifier", str(model_dir))
