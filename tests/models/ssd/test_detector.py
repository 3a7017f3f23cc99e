"""`coco-fast` gives what `coco` gives: the frozen graph cut before its post-processing loops, NMS in numpy,
on every view a scan makes of the sample photos and the real photos (the whole image and its slices)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models import builtin, model_ops
from models.frozen_graph import read_graph_def
from models.slots import ModelLoadError, load_model
from models.ssd import graph_cut
from models.ssd.postprocess import PostprocessSpec
from transforms.detection import detector_input
from transforms.records import DecodedImage
from transforms.slicing import DEFAULT_OVERLAP

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # the coco graph takes seconds to parse, each view a detector call
BOTTLE = 44


@pytest.fixture(scope="module")
def graph_def():
    return read_graph_def(builtin.lookup("detector", "coco").graph_path())


@pytest.fixture(scope="module")
def coco():
    return load_model("detector", "coco")


@pytest.fixture(scope="module")
def fast():
    return load_model("detector", "coco-fast")


def _views(paths: list[Path]) -> np.ndarray:
    """Every view a scan feeds the coco detector for these photos, stacked."""
    views = []
    for path in paths:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        views += detector_input(DecodedImage(str(path), pixels), 300, "stretch", 300, DEFAULT_OVERLAP).model_inputs
    return np.stack(views)


@pytest.fixture(scope="module")
def views(tmp_path_factory) -> np.ndarray:
    import models.realset as realset

    real = realset.assemble(tmp_path_factory.mktemp("real")).parent / "images"
    return _views(sorted((REPO / "pipeline" / "samples" / "images").glob("*.jpg")) + sorted(real.iterdir()))


def _kept(outputs: dict, i: int, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = int(outputs["num_detections"][i])
    keep = np.isin(outputs["detection_classes"][i][:n], classes)
    return tuple(outputs[name][i][:n][keep] for name in ("detection_boxes", "detection_scores", "detection_classes"))


def _assert_same(want: dict, got: dict, classes: tuple[int, ...]) -> int:
    """Same boxes within 1e-4, same scores, same order in every view; returns how many there were."""
    total = 0
    for i in range(len(want["num_detections"])):
        (wb, ws, wc), (gb, gs, gc) = _kept(want, i, classes), _kept(got, i, classes)
        assert len(gs) == len(ws), f"view {i}: {len(gs)} boxes, the whole graph {len(ws)}"
        np.testing.assert_allclose(gb, wb, atol=1e-4, err_msg=f"view {i}")
        np.testing.assert_allclose(gs, ws, atol=1e-6, err_msg=f"view {i}")
        assert gc.tolist() == wc.tolist()
        total += len(ws)
    return total


def test_coco_fast_finds_the_bottles_coco_finds_in_every_view(coco, fast, views):
    bottles = 0
    for start in range(0, len(views), 4):  # the scan's detector batch
        batch = views[start:start + 4]
        bottles += _assert_same(coco(batch), fast(batch), (BOTTLE,))
    assert len(views) >= 40 and bottles >= 20  # the comparison saw real work: slices, bottles


def test_other_class_filters_come_out_the_same_too(graph_def, coco, views):
    from models.ssd.detector import cut_detector

    several = (1, 44, 47, 62)  # person, bottle, cup, chair: the real photos hold them
    every = cut_detector(graph_def, ())
    batch = views[:8]
    want = coco(batch)
    assert _assert_same(want, cut_detector(graph_def, several)(batch), several) > 0
    assert _assert_same(want, every(batch), tuple(range(1, 91))) > _assert_same(want, every(batch), several)


def test_the_spec_is_the_zoo_configs_and_the_cut_has_no_loops(graph_def):
    assert graph_cut.postprocess_spec(graph_def) == PostprocessSpec(
        score_threshold=float(np.float32(0.3)), iou_threshold=float(np.float32(0.6)), max_per_class=100,
        max_total=100, scale_factors=(10.0, 10.0, 5.0, 5.0), logit_scale=1.0, num_classes=90)
    ops = model_ops.graph_def_ops(graph_cut.backbone_graph_def(graph_def))
    assert not ops & {"TensorArrayV3", "Enter", "Exit", "LoopCond", "NonMaxSuppressionV2", "ResizeBilinear"}
    assert {"Conv2D", "DepthwiseConv2dNative"} <= ops and model_ops.refusal(ops) is None
    anchors = graph_cut.anchors(graph_def)
    assert anchors.shape == (1917, 4) and (anchors[:, 2] > anchors[:, 0]).all()


def test_a_graph_of_another_layout_is_refused_naming_the_node():
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3], name="image_tensor")
    with pytest.raises(graph_cut.GraphCutError, match="it has no node 'Preprocessor/map/while/ResizeImage/stack'"):
        graph_cut.backbone_graph_def(graph.as_graph_def())


def test_coco_fast_is_coco_by_version_and_feeding(coco, fast):
    assert fast.meta.version == coco.meta.version  # the same weights, the same outputs
    assert (fast.meta.input_size, fast.meta.resize, fast.meta.threshold, fast.meta.class_filter,
            fast.meta.extra) == (300, "stretch", 0.3, (BOTTLE,), coco.meta.extra)


def test_an_input_size_the_cut_cannot_take_is_refused_at_load():
    with pytest.raises(ModelLoadError, match=r"coco-fast: it fails on a blank 2x400x400x3 uint8 batch: ValueError: "
                                             r"the cut SSD takes uint8 \[N, 300, 300, 3\] images"):
        load_model("detector", "coco-fast", input_size=400)
