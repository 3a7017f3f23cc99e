"""Tiny ONNX detectors, built with onnx.helper, that box the red pixels they see, in each export layout.

Each finds the red pixels of its input (R > 200/255, G and B < 50/255) and reports their tight box, in
the layout's own form, beside decoys: the same box 1/4 px off with a lower score (NMS removes it where the
layout has no NMS), and a whole-input box of another class (the class filter drops it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SIDE = 64
OPSET = 17  # ReduceMax still takes its axes as an attribute
BOTTLE_40 = 39  # in the 40 names the Ultralytics test model carries, as in COCO-80


def _const(name: str, value) -> object:
    from onnx import helper, numpy_helper

    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def _red_box(node, pixels: str) -> list:
    """Nodes from float NCHW pixels in [0, 1] to `x0`, `y0`, `x1`, `y1` [B, 1], input pixels (x1/y1 exclusive)."""
    ramp_up = np.arange(1, SIDE + 1, dtype=np.float32)  # i + 1: the largest red one is x1
    ramp_down = SIDE - np.arange(SIDE, dtype=np.float32)  # SIDE - i: the largest red one is SIDE - x0
    nodes = [_const("c0", np.array([0], np.int64)), _const("c1", np.array([1], np.int64)),
             _const("c2", np.array([2], np.int64)), _const("hi", np.float32(200 / 255)),
             _const("lo", np.float32(50 / 255)), _const("up", ramp_up), _const("down", ramp_down),
             _const("side", np.float32(SIDE))]
    for i, channel in enumerate("rgb"):
        nodes.append(node("Gather", [pixels, f"c{i}"], [channel], axis=1))  # [B, 1, H, W]
    nodes += [node("Greater", ["r", "hi"], ["red"]), node("Less", ["g", "lo"], ["nog"]),
              node("Less", ["b", "lo"], ["nob"]), node("And", ["red", "nog"], ["rg"]),
              node("And", ["rg", "nob"], ["mask_b"]), node("Cast", ["mask_b"], ["mask"], to=1),
              node("ReduceMax", ["mask"], ["cols"], axes=[1, 2], keepdims=0),  # [B, W]
              node("ReduceMax", ["mask"], ["rows"], axes=[1, 3], keepdims=0)]  # [B, H]
    for axis, line in (("x", "cols"), ("y", "rows")):
        nodes += [node("Mul", [line, "up"], [f"{axis}up"]), node("Mul", [line, "down"], [f"{axis}down"]),
                  node("ReduceMax", [f"{axis}up"], [f"{axis}1"], axes=[1], keepdims=1),
                  node("ReduceMax", [f"{axis}down"], [f"{axis}d"], axes=[1], keepdims=1),
                  node("Sub", ["side", f"{axis}d"], [f"{axis}0"])]
    return nodes


def _save(path: Path, nodes: list, inputs: list, outputs: list, metadata: dict[str, str] | None = None) -> Path:
    from onnx import checker, helper, save

    graph = helper.make_graph(nodes, "red_box", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, str(path))
    return path


def _image_input(batch, nhwc_uint8: bool = False):
    from onnx import TensorProto, helper

    if nhwc_uint8:
        return helper.make_tensor_value_info("image_tensor", TensorProto.UINT8, [batch, SIDE, SIDE, 3])
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, SIDE, SIDE])


def _scores(node, name: str, row: np.ndarray) -> list:
    """[B, C] copies of `row`, B taken from x0 [B, 1]."""
    return [_const(f"{name}_row", row.astype(np.float32)[None]), node("Mul", ["x0", "zero"], [f"{name}_z"]),
            node("Add", [f"{name}_z", f"{name}_row"], [name])]


def ultralytics(path: Path, batch: int | str = "batch", classes: int = 40, names: dict | None = None) -> Path:
    """output0 [B, 4+C, 3]: the red box (bottle 0.9), it 1/4 px right (bottle 0.8), the whole input (class 0, 0.95);
    metadata as Ultralytics writes it (`names`: class 39 is "bottle" unless given)."""
    from onnx import TensorProto, helper

    node = helper.make_node
    nodes = _red_box(node, "images") + [_const("zero", np.float32(0)), _const("quarter", np.float32(0.25)),
                                        _const("half", np.float32(0.5))]
    nodes += [node("Add", ["x0", "x1"], ["sx"]), node("Mul", ["sx", "half"], ["cx"]),
              node("Add", ["y0", "y1"], ["sy"]), node("Mul", ["sy", "half"], ["cy"]),
              node("Sub", ["x1", "x0"], ["w"]), node("Sub", ["y1", "y0"], ["h"]),
              node("Add", ["cx", "quarter"], ["cx2"]), node("Mul", ["x0", "zero"], ["z"]),
              _const("mid", np.float32(SIDE / 2)), _const("full", np.float32(SIDE)),
              node("Add", ["z", "mid"], ["cmid"]), node("Add", ["z", "full"], ["wfull"])]
    bottle, other = np.zeros(classes), np.zeros(classes)
    nodes += _scores(node, "s_a", _with(bottle, BOTTLE_40 if classes == 40 else 39, 0.9))
    nodes += _scores(node, "s_b", _with(bottle, BOTTLE_40 if classes == 40 else 39, 0.8))
    nodes += _scores(node, "s_c", _with(other, 0, 0.95))
    for k, (cx, cy, w, h, scores) in enumerate((("cx", "cy", "w", "h", "s_a"), ("cx2", "cy", "w", "h", "s_b"),
                                                ("cmid", "cmid", "wfull", "wfull", "s_c"))):
        nodes += [node("Concat", [cx, cy, w, h, scores], [f"a{k}"], axis=1),
                  node("Unsqueeze", [f"a{k}", "c2"], [f"u{k}"])]
    nodes.append(node("Concat", ["u0", "u1", "u2"], ["output0"], axis=2))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 4 + classes, 3])
    names = names or {i: "bottle" if i == BOTTLE_40 else f"thing{i}" for i in range(classes)}
    metadata = {"names": repr(names), "imgsz": f"[{SIDE}, {SIDE}]", "task": "detect"}
    return _save(path, nodes, [_image_input(batch)], [out], metadata)


def _with(row: np.ndarray, index: int, value: float) -> np.ndarray:
    row = row.copy()
    row[index] = value
    return row


def rtdetr(path: Path, batch: int | str = "batch") -> Path:
    """pred_boxes [B, 2, 4] normalized cx, cy, w, h and logits [B, 2, 80]: the red box (bottle, logit 3) and
    the whole input (class 0, logit 4); no names, so COCO-80 (bottle 39)."""
    from onnx import TensorProto, helper

    node = helper.make_node
    nodes = _red_box(node, "images") + [_const("zero", np.float32(0)), _const("half", np.float32(0.5)),
                                        _const("inv", np.float32(1 / SIDE))]
    nodes += [node("Add", ["x0", "x1"], ["sx"]), node("Mul", ["sx", "half"], ["cxp"]),
              node("Add", ["y0", "y1"], ["sy"]), node("Mul", ["sy", "half"], ["cyp"]),
              node("Sub", ["x1", "x0"], ["wp"]), node("Sub", ["y1", "y0"], ["hp"]),
              node("Concat", ["cxp", "cyp", "wp", "hp"], ["boxp"], axis=1), node("Mul", ["boxp", "inv"], ["box0"]),
              node("Mul", ["x0", "zero"], ["z"]), _const("whole", np.array([[0.5, 0.5, 1, 1]], np.float32)),
              node("Add", ["z", "whole"], ["box1"]),
              node("Unsqueeze", ["box0", "c1"], ["b0"]), node("Unsqueeze", ["box1", "c1"], ["b1"]),
              node("Concat", ["b0", "b1"], ["pred_boxes"], axis=1)]
    nodes += _scores(node, "l0", _with(np.full(80, -10.0), 39, 3.0))
    nodes += _scores(node, "l1", _with(np.full(80, -10.0), 0, 4.0))
    nodes += [node("Unsqueeze", ["l0", "c1"], ["q0"]), node("Unsqueeze", ["l1", "c1"], ["q1"]),
              node("Concat", ["q0", "q1"], ["logits"], axis=1)]
    outs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 2, 80]),
            helper.make_tensor_value_info("pred_boxes", TensorProto.FLOAT, [batch, 2, 4])]
    return _save(path, nodes, [_image_input(batch)], outs)


def od_api(path: Path, batch: int | str = "batch", with_count: bool = True) -> Path:
    """uint8 NHWC in; detection_boxes [B, 2, 4] yxyx normalized: the red box (class 44, 0.9), the whole
    input (class 1, 0.95)."""
    from onnx import TensorProto, helper

    node = helper.make_node
    nodes = [node("Cast", ["image_tensor"], ["f"], to=1), _const("k255", np.float32(255)),
             node("Div", ["f", "k255"], ["f01"]), node("Transpose", ["f01"], ["nchw"], perm=[0, 3, 1, 2])]
    nodes += _red_box(node, "nchw") + [_const("zero", np.float32(0)), _const("inv", np.float32(1 / SIDE))]
    nodes += [node("Concat", ["y0", "x0", "y1", "x1"], ["boxp"], axis=1), node("Mul", ["boxp", "inv"], ["box0"]),
              node("Mul", ["x0", "zero"], ["z"]), _const("whole", np.array([[0, 0, 1, 1]], np.float32)),
              node("Add", ["z", "whole"], ["box1"]), node("Unsqueeze", ["box0", "c1"], ["b0"]),
              node("Unsqueeze", ["box1", "c1"], ["b1"]), node("Concat", ["b1", "b0"], ["detection_boxes"], axis=1),
              _const("sc", np.array([[0.95, 0.9]], np.float32)), node("Add", ["z", "sc"], ["detection_scores"]),
              _const("cl", np.array([[1, 44]], np.float32)), node("Add", ["z", "cl"], ["detection_classes"]),
              _const("n", np.array([2], np.float32)), node("Squeeze", ["z", "c1"], ["z1"]),
              node("Add", ["z1", "n"], ["num_detections"])]
    outs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in
            (("detection_boxes", [batch, 2, 4]), ("detection_scores", [batch, 2]),
             ("detection_classes", [batch, 2]), ("num_detections", [batch]))][:4 if with_count else 3]
    if not with_count:
        nodes = nodes[:-3]
    return _save(path, nodes, [_image_input(batch, nhwc_uint8=True)], outs)


def no_layout(path: Path) -> Path:
    """A model whose one output is its input again: an image model, but no detector."""
    from onnx import TensorProto, helper

    same = helper.make_tensor_value_info("same", TensorProto.FLOAT, ["batch", 3, SIDE, SIDE])
    return _save(path, [helper.make_node("Identity", ["images"], ["same"])], [_image_input("batch")], [same])


def blue_classifier(path: Path) -> Path:
    """scores [B] = the largest blue value / 255, of uint8 NHWC crops of SIDE px."""
    from onnx import TensorProto, helper

    node = helper.make_node
    nodes = [node("Cast", ["crops"], ["f"], to=1), _const("c2", np.array([2], np.int64)),
             node("Gather", ["f", "c2"], ["blue"], axis=3), _const("k255", np.float32(255)),
             node("ReduceMax", ["blue"], ["top"], axes=[1, 2, 3], keepdims=0), node("Div", ["top", "k255"], ["scores"])]
    crops = helper.make_tensor_value_info("crops", TensorProto.UINT8, ["batch", SIDE, SIDE, 3])
    return _save(path, nodes, [crops], [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch"])])


def reads_outside(path: Path, location: str) -> Path:
    """A model whose one weight is 4 bytes of the file `location`, stored as ONNX external data."""
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.UINT8, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    out = helper.make_tensor_value_info("out", TensorProto.UINT8, [4])
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["out"])], "reads", [], [out], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    path.write_bytes(model.SerializeToString())  # onnx.save would try to resolve the external data
    return path


def red_segmenter(path: Path) -> Path:
    """masks [B, 1, S, S] = the red channel / 255, of uint8 NHWC crops of SIDE px."""
    from onnx import TensorProto, helper

    node = helper.make_node
    nodes = [node("Cast", ["crops"], ["f"], to=1), _const("k255", np.float32(255)), node("Div", ["f", "k255"], ["f01"]),
             node("Transpose", ["f01"], ["nchw"], perm=[0, 3, 1, 2]), _const("c0", np.array([0], np.int64)),
             node("Gather", ["nchw", "c0"], ["masks"], axis=1)]
    crops = helper.make_tensor_value_info("crops", TensorProto.UINT8, ["batch", SIDE, SIDE, 3])
    masks = helper.make_tensor_value_info("masks", TensorProto.FLOAT, ["batch", 1, SIDE, SIDE])
    return _save(path, nodes, [crops], [masks])


def ultralytics_rows(path: Path, batch: int | str = "batch", rtdetr: bool = False) -> Path:
    """output0 [B, 2, 6] x0, y0, x1, y1 (input pixels), score, class, as NMS-free Ultralytics models give it:
    the red box (bottle 0.9) and the whole input (class 0, 0.95). `rtdetr`: [B, 2, 4+40] normalized cx, cy, w,
    h and 40 class probabilities instead, as Ultralytics' RT-DETR export gives it."""
    from onnx import TensorProto, helper

    node = helper.make_node
    nodes = _red_box(node, "images") + [_const("zero", np.float32(0)), _const("half", np.float32(0.5)),
                                        _const("inv", np.float32(1 / SIDE)), node("Mul", ["x0", "zero"], ["z"])]
    if rtdetr:
        nodes += [node("Add", ["x0", "x1"], ["sx"]), node("Mul", ["sx", "half"], ["cxp"]),
                  node("Add", ["y0", "y1"], ["sy"]), node("Mul", ["sy", "half"], ["cyp"]),
                  node("Sub", ["x1", "x0"], ["wp"]), node("Sub", ["y1", "y0"], ["hp"]),
                  node("Concat", ["cxp", "cyp", "wp", "hp"], ["boxp"], axis=1), node("Mul", ["boxp", "inv"], ["box0"]),
                  _const("whole", np.array([[0.5, 0.5, 1, 1]], np.float32)), node("Add", ["z", "whole"], ["box1"])]
        nodes += (_scores(node, "p0", _with(np.zeros(40), BOTTLE_40, 0.9))
                  + _scores(node, "p1", _with(np.zeros(40), 0, 0.95)))
        width = 44
    else:
        nodes += [node("Concat", ["x0", "y0", "x1", "y1"], ["box0"], axis=1),
                  _const("whole", np.array([[0, 0, SIDE, SIDE]], np.float32)), node("Add", ["z", "whole"], ["box1"])]
        nodes += _scores(node, "p0", np.array([0.9, BOTTLE_40])) + _scores(node, "p1", np.array([0.95, 0]))
        width = 6
    nodes += [node("Concat", ["box0", "p0"], ["r0"], axis=1), node("Concat", ["box1", "p1"], ["r1"], axis=1),
              node("Unsqueeze", ["r0", "c1"], ["q0"]), node("Unsqueeze", ["r1", "c1"], ["q1"]),
              node("Concat", ["q0", "q1"], ["output0"], axis=1)]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 2, width])
    names = {i: "bottle" if i == BOTTLE_40 else f"thing{i}" for i in range(40)}
    return _save(path, nodes, [_image_input(batch)], [out], {"names": repr(names), "imgsz": f"[{SIDE}, {SIDE}]"})
