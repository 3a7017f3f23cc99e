"""The ONNX detector layouts as pure functions: NMS, decoding, metadata parsing, layout recognition."""
import numpy as np

from models.onnx.layouts import COCO80, Layout, Output, class_names, decode, find_layout, image_size, nms


def test_nms_keeps_the_best_of_overlapping_boxes_per_class_only():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    classes = np.array([1, 1, 2, 1])
    assert nms(boxes, scores, classes, 0.7).tolist() == [0, 2, 3]  # box 2 overlaps box 0 but is another class


def test_ultralytics_rows_become_normalized_yxyx_after_nms():
    # anchors: cx, cy, w, h (input pixels of a 100 x 200 input), then 2 class scores
    pred = np.array([[50, 51, 150], [20, 20, 80], [40, 40, 10], [20, 20, 10],
                     [0.9, 0.85, 0.0], [0.0, 0.0, 0.0005]], np.float32)[None]
    out = decode(Layout("ultralytics", ("output0",)), {"output0": pred}, (100, 200), max_detections=5)
    assert out["num_detections"].tolist() == [1.0]  # the second anchor is a duplicate, the third below MIN_SCORE
    np.testing.assert_allclose(out["detection_boxes"][0, 0], [0.1, 0.15, 0.3, 0.35], rtol=1e-6)
    assert out["detection_boxes"].shape == (1, 5, 4) and out["detection_classes"][0, 0] == 0


def test_rtdetr_picks_the_best_query_class_pairs_by_sigmoid():
    boxes = np.array([[[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.1, 0.1]]], np.float32)
    logits = np.array([[[0.0, 2.0], [-20.0, -20.0]]], np.float32)
    out = decode(Layout("rtdetr", ("pred_boxes", "logits")), {"pred_boxes": boxes, "logits": logits}, (10, 10))
    assert out["num_detections"].tolist() == [2.0]  # query 0 as class 1 and as class 0; query 1 is below MIN_SCORE
    assert out["detection_classes"][0, :2].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(out["detection_scores"][0, :2], [1 / (1 + np.exp(-2)), 0.5], rtol=1e-6)
    np.testing.assert_allclose(out["detection_boxes"][0, 0], [0.3, 0.4, 0.7, 0.6])


def test_layouts_are_recognised_by_names_and_shapes():
    od = [Output(n, ("b", 100, 4) if n == "detection_boxes" else ("b", 100))
          for n in ("detection_boxes", "detection_scores", "detection_classes")]
    assert find_layout(od).name == "od_api"
    assert find_layout([Output("logits", (1, 300, 80)), Output("pred_boxes", (1, 300, 4))]) == \
        Layout("rtdetr", ("pred_boxes", "logits"))
    assert find_layout([Output("output0", (1, 84, 8400))]).name == "ultralytics"
    assert find_layout([Output("output0", (1, 84, 8400))], class_count=80).name == "ultralytics"
    assert find_layout([Output("output0", (1, 116, 8400))], class_count=80) is None  # a segmentation export
    assert find_layout([Output("same", ("b", 3, 64, 64))]) is None
    assert find_layout([Output("output0", (1, 300, 6))], class_count=80).name == "ultralytics_nms"
    assert find_layout([Output("output0", (1, 300, 84))], class_count=80).name == "ultralytics_rtdetr"
    assert find_layout([Output("output0", (1, 300, 84))]) is None  # without names: which dimension is which?


def test_rows_after_nms_pass_through_best_first_and_normalized():
    rows = np.array([[[10, 20, 30, 60, 0.5, 3], [0, 0, 100, 200, 0.9, 1], [0, 0, 1, 1, 0.0, 0]]], np.float32)
    out = decode(Layout("ultralytics_nms", ("output0",)), {"output0": rows}, (200, 100), max_detections=4)
    assert out["num_detections"].tolist() == [2.0] and out["detection_classes"][0, :2].tolist() == [1.0, 3.0]
    np.testing.assert_allclose(out["detection_boxes"][0, 1], [0.1, 0.1, 0.3, 0.3], rtol=1e-6)


def test_ultralytics_metadata_is_read_as_literals_only():
    assert class_names("{0: 'person', 39: 'bottle'}") == {0: "person", 39: "bottle"}
    assert class_names("__import__('os').system('true')") is None
    assert class_names(None) is None
    assert image_size("[640, 640]") == 640 and image_size("640") == 640
    assert image_size("[480, 640]") is None
    assert COCO80[39] == "bottle" and len(COCO80) == 80


def test_a_frozen_graph_export_keeps_tensorflow_names_and_reads_as_od_api():
    names = ("detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0")
    layout = find_layout([Output(n, ("b", 100, 4) if "boxes" in n else ("b", 100) if "num" not in n else ("b",))
                          for n in names])
    assert layout == Layout("od_api", names)
    raw = {names[0]: np.ones((1, 2, 4)), names[1]: np.array([[0.9, 0.1]]), names[2]: np.array([[44, 1]]),
           names[3]: np.array([2])}
    out = decode(layout, raw, (300, 300))
    assert sorted(out) == sorted(n[:-2] for n in names)
    np.testing.assert_allclose(out["detection_scores"], [[0.9, 0.1]], rtol=1e-6)
