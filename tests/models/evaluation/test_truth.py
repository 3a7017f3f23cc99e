"""models.truth: models.synth truth and COCO instances.json read alike; a COCO file written from a synth
truth reads back with the same boxes, areas and masks."""
import json

import numpy as np
import pytest
from PIL import Image

from models.evaluation.truth import TruthError, iter_labeled, read_jsonl, read_truth
from models.synth import cli
from models.synth.bottles import TARGET_BRAND


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "s"
    cli.main(["--out", str(out), "--count", "4", "--seed", "5", "--max_side", "500", "--coco"])
    return out


def test_a_coco_file_written_from_synth_truth_agrees_with_truth_jsonl(scenes):
    jsonl = read_truth(scenes / "truth.jsonl")
    as_coco = read_truth(scenes / "instances.json", target_categories=[TARGET_BRAND])
    assert as_coco.has_targets and as_coco.root == scenes
    assert [i.image for i in as_coco.images] == [i.image for i in jsonl.images]
    bottles = 0
    for a, b in zip(iter_labeled(jsonl), iter_labeled(as_coco)):
        bottles += len(a.boxes)
        assert (a.pixels == b.pixels).all()
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.areas, b.areas)
        np.testing.assert_array_equal(a.is_target, b.is_target)
        np.testing.assert_array_equal(a.visible, b.visible)
        assert b.has_mask.all() and (a.instances.astype(np.int32) == b.instances).all()
        assert b.products == tuple(brand if brand == TARGET_BRAND else "bottle" for brand in a.products)
    assert bottles > 5


def test_truth_names_each_bottles_product_by_brand_or_by_coco_category(tmp_path):
    cli.main(["--out", str(tmp_path), "--count", "3", "--seed", "5", "--max_side", "500", "--coco",
              "--label_by", "brand"])
    brands = [b["brand"] for r in read_jsonl(tmp_path) for b in r["bottles"]]
    assert len(set(brands)) >= 3
    assert [b.product for i in read_truth(tmp_path).images for b in i.bottles] == brands
    as_coco = read_truth(tmp_path / "instances.json")  # a category per brand
    assert [b.product for i in as_coco.images for b in i.bottles] == brands
    assert [p for labeled in iter_labeled(as_coco) for p in labeled.products] == brands


def test_coco_categories_named_after_products_are_bottles_without_a_bottle_category(tmp_path):
    path = _coco(tmp_path, "ann", [{"id": 1, "image_id": 1, "category_id": 9, "bbox": [1, 1, 4, 10]},
                                   {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 30, 20]}],
                 categories=[{"id": 1, "name": "person"}, {"id": 9, "name": "ours"}])
    with pytest.raises(TruthError, match="no category is named 'bottle'"):
        read_truth(path)
    truth = read_truth(path, products=["ours", "theirs"])
    assert [(b.box, b.product) for b in truth.images[0].bottles] == [((1, 1, 5, 11), "ours")]
    assert "no category named after products theirs: none of them in this truth" in truth.notes


def test_coco_without_a_target_category_counts_every_bottle_and_says_targets_are_left_out(scenes):
    truth = read_truth(scenes / "instances.json")
    assert not truth.has_targets
    assert all(b.is_target is None for i in truth.images for b in i.bottles)
    assert sum(len(i.bottles) for i in truth.images) == sum(len(i.bottles) for i in read_truth(scenes).images)
    assert any("target metrics left out" in note for note in truth.notes)
    only_bottle = read_truth(scenes / "instances.json", bottle_categories=["bottle"])
    assert sum(len(i.bottles) for i in only_bottle.images) < sum(len(i.bottles) for i in truth.images)


def _coco(tmp_path, folder: str, annotations: list[dict], categories: list[dict] | None = None) -> str:
    """A one-image COCO export laid out as CVAT does: annotations/instances.json beside images/."""
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "images" / "p.jpg")
    (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / folder / "instances.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "p.jpg", "width": 30, "height": 20}],
        "annotations": annotations,
        "categories": categories or [{"id": 1, "name": "person"}, {"id": 44, "name": "bottle"},
                                     {"id": 9, "name": "ours"}]}))
    return str(path)


def test_coco_images_are_found_beside_the_file_crowds_are_ignored_and_masks_optional(tmp_path):
    path = _coco(tmp_path, "annotations", [
        {"id": 1, "image_id": 1, "category_id": 44, "bbox": [1, 1, 4, 10]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [10, 2, 5, 5], "segmentation": [[10, 2, 15, 2, 15, 7]]},
        {"id": 3, "image_id": 1, "category_id": 44, "bbox": [20, 0, 10, 20], "iscrowd": 1, "segmentation": []},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 0, 30, 20]}])
    truth = read_truth(path, target_categories=["ours"])
    assert truth.root == tmp_path / "images"
    (image,) = truth.images
    assert [b.box for b in image.bottles] == [(1, 1, 5, 11), (10, 2, 15, 7)]
    assert [b.is_target for b in image.bottles] == [False, True]
    assert image.ignore == ((20, 0, 30, 20),)
    (labeled,) = iter_labeled(truth)
    assert labeled.has_mask.tolist() == [False, True] and np.isnan(labeled.areas[0])
    assert labeled.areas[1] == (labeled.instances == 2).sum() > 0
    assert np.isnan(labeled.visible).all() and labeled.ignore.tolist() == [[20, 0, 30, 20]]


def test_truth_errors(tmp_path):
    path = _coco(tmp_path, "ann", [])
    with pytest.raises(TruthError, match=r"--bottle_category 'cups' is no category"):
        read_truth(path, bottle_categories=["cups"])
    with pytest.raises(TruthError, match="apply to COCO instances.json only"):
        read_truth(tmp_path / "truth.jsonl", target_categories=["x"])
    with pytest.raises(TruthError, match=r"truth.jsonl not found; generate scenes"):
        read_truth(tmp_path / "truth.jsonl")
    elsewhere = read_truth(path, images_dir=tmp_path / "nowhere")
    with pytest.raises(TruthError, match=r"image .*p.jpg not found; pass --images DIR"):
        list(iter_labeled(elsewhere))
