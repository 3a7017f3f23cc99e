"""COCO instances.json: mask codecs checked against pycocotools' own output, reading, and one-line errors."""
import json

import numpy as np
import pytest

from models.evaluation import coco

# Written by pycocotools 2.0.11 (mask.encode of a Fortran-order uint8 mask); kept as constants so the
# tests need no pycocotools.
PYCOCOTOOLS_RLE = [
    ([[0, 1, 1], [1, 1, 0]], "141"),
    ([[1, 1, 1], [1, 1, 1]], "06"),
    ([[0, 0], [0, 0]], "4"),
    ([[1], [0], [1], [1], [0], [0], [1]], "01111O"),
    ([[0, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1], [0, 1, 0, 0, 1, 0]], "1131O002O"),
]
# 300 x 400: a bar at x 100..119, y 50..249, and the single pixel x 10, y 10 (long runs, negative deltas)
PYCOCOTOOLS_BAR = "Rn21o\\j0W6UfUO0000000000000000000000000000000000000^oa2"


def _bar() -> np.ndarray:
    mask = np.zeros((300, 400), bool)
    mask[50:250, 100:120] = True
    mask[10, 10] = True
    return mask


@pytest.mark.parametrize("rows, counts", PYCOCOTOOLS_RLE)
def test_compressed_rle_matches_pycocotools(rows, counts):
    mask = np.array(rows, bool)
    h, w = mask.shape
    assert coco.rle_encode(mask)["counts"] == counts
    assert (coco.rle_mask({"size": [h, w], "counts": counts}, h, w) == mask).all()
    # pycocotools itself hands out bytes
    assert (coco.rle_mask({"size": [h, w], "counts": counts.encode()}, h, w) == mask).all()


def test_compressed_rle_with_long_runs():
    assert coco.rle_encode(_bar())["counts"] == PYCOCOTOOLS_BAR
    assert (coco.rle_mask({"size": [300, 400], "counts": PYCOCOTOOLS_BAR}, 300, 400) == _bar()).all()


def test_uncompressed_rle_is_column_major_and_starts_with_background():
    # 3 x 2, columns top to bottom: (0, 1, 1) then (1, 0, 0) -> runs 1 bg, 3 fg, 2 bg
    mask = coco.rle_mask({"size": [3, 2], "counts": [1, 3, 2]}, 3, 2)
    assert mask.tolist() == [[False, True], [True, False], [True, False]]
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = rng.random(tuple(rng.integers(1, 30, 2))) < rng.random()
        assert (coco.rle_mask(coco.rle_encode(m, compressed=False), *m.shape) == m).all()
        assert (coco.rle_mask(coco.rle_encode(m), *m.shape) == m).all()


def test_polygon_along_a_box_covers_exactly_its_pixels():
    mask = coco.polygon_mask([[2, 3, 12, 3, 12, 9, 2, 9]], 32, 32)
    expected = np.zeros((32, 32), bool)
    expected[3:9, 2:12] = True
    assert (mask == expected).all()  # pycocotools gives the same 60 pixels


def test_polygons_of_one_annotation_unite_and_follow_their_outline():
    two = coco.polygon_mask([[0, 0, 5, 0, 5, 5, 0, 5], [10, 10, 15, 10, 15, 20, 10, 20]], 32, 32)
    assert two.sum() == 25 + 50 and two[12, 12] and not two[7, 7]
    triangle = [1.3, 1.7, 30.2, 4.4, 12.8, 25.9]
    xs, ys = triangle[0::2], triangle[1::2]
    exact = 0.5 * abs(xs[0] * (ys[1] - ys[2]) + xs[1] * (ys[2] - ys[0]) + xs[2] * (ys[0] - ys[1]))
    area = coco.polygon_mask([triangle], 32, 32).sum()
    assert abs(area - exact) < 0.02 * exact  # pycocotools rasterizes it to 331 pixels, we to 335
    concave = coco.polygon_mask([[2, 2, 28, 2, 28, 28, 15, 10, 2, 28]], 32, 32)
    assert concave[5, 15] and not concave[20, 15] and concave[20, 4]
    clipped = coco.polygon_mask([[-5, -5, 40, -5, 40, 3, -5, 3]], 32, 32)  # past the image's edges
    assert clipped.sum() == 3 * 32


def _doc(annotations, categories=None, images=None) -> dict:
    return {"images": images or [{"id": 7, "file_name": "a.jpg", "width": 6, "height": 4}],
            "annotations": annotations,
            "categories": categories or [{"id": 44, "name": "bottle"}, {"id": 1, "name": "person"}]}


def _write(tmp_path, doc) -> str:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_reads_boxes_masks_and_crowds(tmp_path):
    rle = coco.rle_encode(np.pad(np.ones((2, 2), bool), ((1, 1), (1, 3))))
    path = _write(tmp_path, _doc([
        {"id": 1, "image_id": 7, "category_id": 44, "bbox": [1, 1, 2, 2], "segmentation": rle, "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 44, "bbox": [0.5, 0, 3, 4], "segmentation": [], "iscrowd": 1},
        {"id": 3, "image_id": 7, "category_id": 1, "bbox": [4, 0, 2, 4]},
    ]))
    found = coco.read_coco(path)
    (image,) = found.images
    assert (image.file_name, image.width, image.height) == ("a.jpg", 6, 4)
    first, crowd, person = image.objects
    assert first.box == (1, 1, 3, 3) and first.area_px == 4 and not first.iscrowd
    assert crowd.iscrowd and crowd.box == (0.5, 0, 3.5, 4) and crowd.area_px is None
    assert person.category_id == 1 and person.segmentation is None
    assert found.categories == {44: "bottle", 1: "person"}


def _error(tmp_path, doc_or_text) -> str:
    path = tmp_path / "instances.json"
    path.write_text(doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text))
    with pytest.raises(coco.CocoError) as e:
        coco.read_coco(path)
    message = str(e.value)
    assert message.startswith(str(path) + ": ") and "\n" not in message and "; " in message
    return message


def test_errors_name_the_file_the_cause_and_what_to_do(tmp_path):
    with pytest.raises(coco.CocoError, match="not found; give the instances.json"):
        coco.read_coco(tmp_path / "missing.json")
    assert "not JSON" in _error(tmp_path, "{'images': ")
    assert "no annotations, categories" in _error(tmp_path, {"images": []})
    bad = {"image_id": 7, "category_id": 44, "bbox": [0, 0, 1, 1]}
    assert "image_id 8" in _error(tmp_path, _doc([{**bad, "image_id": 8}]))
    assert "category ids [3]" in _error(tmp_path, _doc([{**bad, "category_id": 3}]))
    assert "negative width" in _error(tmp_path, _doc([{**bad, "bbox": [5, 5, -2, 1]}]))
    assert "no usable bbox" in _error(tmp_path, _doc([{**bad, "bbox": [0, 0, 1]}]))
    assert "add up to 5, not height x width = 24" in _error(
        tmp_path, _doc([{**bad, "segmentation": {"size": [4, 6], "counts": [2, 3]}}]))
    assert "RLE size [4, 5] differs" in _error(
        tmp_path, _doc([{**bad, "segmentation": {"size": [4, 5], "counts": [20]}}]))
    assert "at least 3 points" in _error(tmp_path, _doc([{**bad, "segmentation": [[0, 0, 1, 1]]}]))
    assert "lacks a usable 'width'" in _error(tmp_path, _doc([], images=[{"id": 1, "file_name": "x.jpg"}]))


def test_categories_by_name_or_id_and_the_bottle_default(tmp_path):
    found = coco.read_coco(_write(tmp_path, _doc([])))
    assert coco.default_bottle_categories(found) == {44}
    assert coco.resolve_categories(found, ["Person", "44"], "--target_category") == {1, 44}
    with pytest.raises(coco.CocoError, match=r"--target_category 'cup' is no category .*choose from person \(1\), "
                                             r"bottle \(44\)"):
        coco.resolve_categories(found, ["cup"], "--target_category")
    ours = coco.read_coco(_write(tmp_path, _doc([], categories=[
        {"id": 1, "name": "Bottle"}, {"id": 2, "name": "my_brand", "supercategory": "bottle"},
        {"id": 3, "name": "x"}])))
    assert coco.default_bottle_categories(ours) == {1, 2}
    with pytest.raises(coco.CocoError, match="no category is named 'bottle' and none has id 44; say which"):
        coco.default_bottle_categories(coco.read_coco(_write(tmp_path, _doc([], categories=[{"id": 3, "name": "x"}]))))


def test_mask_annotation_is_a_tight_box_with_pixel_area():
    mask = np.zeros((10, 12), bool)
    mask[2:7, 3:5] = True
    mask[8, 9] = True
    ann = coco.mask_annotation(5, 44, mask)
    assert ann["bbox"] == [3, 2, 7, 7] and ann["area"] == 11 and ann["image_id"] == 5
    assert (coco.rle_mask(ann["segmentation"], 10, 12) == mask).all()
