"""pipeline.evaluate per product, on hand-made truth and contract-shaped rows whose answers are worked out
by hand: from truth.jsonl (brand = product) and from COCO (category name = product) alike."""
import json

import pytest

from models.evaluation.truth import read_truth
from pipeline.evaluate import main, row_products, score

THREE = ("micellar_rose", "shampoo_leaf", "cola_dark")


def _bottle(box, brand, area):
    return {"box": box, "brand": brand, "is_target": brand == "micellar_rose", "area_px": area}


TRUTH = [
    {"image": "images/000001.jpg", "width": 100, "height": 100, "bottles": [
        _bottle([0, 0, 10, 40], "micellar_rose", 400), _bottle([20, 0, 30, 40], "shampoo_leaf", 400),
        _bottle([40, 0, 50, 40], "cola_dark", 200), _bottle([60, 0, 70, 40], "rose_tonic", 200)]},
    {"image": "images/000002.jpg", "width": 100, "height": 100, "bottles": [
        _bottle([0, 0, 10, 40], "shampoo_leaf", 300), _bottle([20, 0, 30, 40], "aqua_spring", 100)]},
]


def _det(box, product, area):
    return {"box": box, "detection_score": 0.9, "target_score": 0.8, "is_target": product != "other",
            "product": product, "product_score": 0.8, "area_px": area, "area_source": "mask"}


def _products(**entries):
    """Row entries for every product, zeros for those not given: name=(bottles, share_count, share_area)."""
    return [{"product": p, "bottles": entries.get(p, (0, 0.0, 0.0))[0], "area_px": 0.0, "area_ratio": 0.0,
             "shelf_share_count": entries.get(p, (0, 0.0, 0.0))[1],
             "shelf_share_area": entries.get(p, (0, 0.0, 0.0))[2]} for p in THREE]


ROWS = [
    # right but for the shampoo taken for micellar_rose
    {"image_uri": "/scan/images/000001.jpg", "target_bottles": 3, "detections": [
        _det([0, 0, 10, 40], "micellar_rose", 400.0), _det([20, 0, 30, 40], "micellar_rose", 400.0),
        _det([40, 0, 50, 40], "cola_dark", 200.0), _det([60, 0, 70, 40], "other", None)],
     "products": _products(micellar_rose=(2, 0.5, 800 / 1200), cola_dark=(1, 0.25, 200 / 1200))},
    # the shampoo found, the other brand missed, and a cola where there is none
    {"image_uri": "/scan/images/000002.jpg", "target_bottles": 2, "detections": [
        _det([0, 0, 10, 40], "shampoo_leaf", 300.0), _det([50, 50, 60, 90], "cola_dark", 100.0)],
     "products": _products(shampoo_leaf=(1, 0.5, 0.75), cola_dark=(1, 0.5, 0.25))},
]

EXPECTED = {
    "micellar_rose": {"precision": 0.5, "recall": 1.0, "tp": 1, "fp": 1, "fn": 0, "true_bottles": 1,
                      "count_exact": 0.5, "share_count_mae": 0.125, "share_area_mae": 0.1667},
    "shampoo_leaf": {"precision": 1.0, "recall": 0.5, "tp": 1, "fp": 0, "fn": 1, "true_bottles": 2,
                     "count_exact": 0.5, "share_count_mae": 0.125, "share_area_mae": 0.1667},
    "cola_dark": {"precision": 0.5, "recall": 1.0, "tp": 1, "fp": 1, "fn": 0, "true_bottles": 1,
                  "count_exact": 0.5, "share_count_mae": 0.25, "share_area_mae": 0.125},
}


def test_products_come_from_the_rows_in_the_classifiers_order():
    assert row_products(ROWS) == THREE
    assert row_products([{"image_uri": "x", "detections": []}]) == ()


def test_per_product_scores_against_synthetic_truth():
    result = score(TRUTH, ROWS)
    assert result["products"] == EXPECTED
    assert list(result["products"]) == list(THREE)
    # the binary view stays: every product bottle is a target, in the scan and in the truth
    assert (result["target_tp"], result["target_fp"], result["target_fn"]) == (4, 1, 0)
    assert result["target_count_exact"] == 0.5


def test_rows_without_products_leave_the_per_product_scores_out_and_say_so():
    old = [{k: v for k, v in row.items() if k != "products"} for row in ROWS]
    result = score(TRUTH, old)
    assert "products" not in result and "target_precision" in result
    assert any("per-product metrics left out" in note for note in result["notes"])


def _coco(tmp_path, with_bottle: bool):
    """TRUTH as COCO: a category per product (ids 1-3) and, if asked, `bottle` for the other brands."""
    categories = [{"id": i, "name": name} for i, name in enumerate(THREE, start=1)]
    if with_bottle:
        categories.append({"id": 44, "name": "bottle"})
    ids = {c["name"]: c["id"] for c in categories}
    annotations = []
    for image_id, record in enumerate(TRUTH, start=1):
        for b in record["bottles"]:
            x0, y0, x1, y1 = b["box"]
            if b["brand"] in ids or with_bottle:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": ids.get(b["brand"], 44), "bbox": [x0, y0, x1 - x0, y1 - y0],
                                    "segmentation": {"size": [100, 100], "counts": [0, b["area_px"], 10000 - b[
                                        "area_px"]]}})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [{"id": i, "file_name": r["image"], "width": 100, "height": 100}
                                           for i, r in enumerate(TRUTH, start=1)],
                                "annotations": annotations, "categories": categories}))
    return path


def _summaries(tmp_path, rows) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "summaries"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")
    return str(folder)


def test_coco_category_names_are_the_products(tmp_path, capsys):
    summaries = _summaries(tmp_path, ROWS)
    main(["--truth", str(_coco(tmp_path, with_bottle=True)), "--summaries", summaries])
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0])["products"] == EXPECTED
    table = out.split("\n\n")[-1].splitlines()
    assert table[0].split()[0] == "product" and [line.split()[0] for line in table[1:]] == list(THREE)
    assert table[1].split()[1:3] == ["0.5", "1.0"]


def test_coco_with_product_categories_only_counts_them_as_bottles(tmp_path, capsys):
    path = _coco(tmp_path, with_bottle=False)  # no 'bottle' category: the other brands are not annotated
    main(["--truth", str(path), "--summaries", _summaries(tmp_path, ROWS)])
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    assert result["products"]["micellar_rose"]["recall"] == 1.0 and result["detection_fn"] == 0
    assert "bottles: COCO categories micellar_rose (1), shampoo_leaf (2), cola_dark (3)" in result["notes"]
    with pytest.raises(SystemExit, match="no category is named 'bottle'"):
        main(["--truth", str(path), "--summaries", _summaries(tmp_path / "old", [
            {k: v for k, v in row.items() if k != "products"} for row in ROWS])])


def test_a_one_product_scan_against_coco_without_a_target_category_leaves_products_out(tmp_path):
    rows = [{**row, "products": [{"product": "target", "bottles": 0, "area_px": 0.0, "area_ratio": 0.0,
                                  "shelf_share_count": 0.0, "shelf_share_area": 0.0}]} for row in ROWS]
    result = score(read_truth(_coco(tmp_path, with_bottle=True), products=("target",)), rows)
    assert "products" not in result
    assert any("one product is 'target'" in note for note in result["notes"])


def test_images_whose_rows_name_no_products_are_left_out_of_the_per_product_scores():
    old = {k: v for k, v in ROWS[1].items() if k != "products"}
    old["detections"] = [{k: v for k, v in d.items() if k not in ("product", "product_score")}
                         for d in old["detections"]]
    result = score(TRUTH, [ROWS[0], old])
    assert result["products"]["micellar_rose"]["count_exact"] == 0.0  # photo 1 only: two said, one there
    assert "per-product metrics over the 1 of 2 images whose rows name products" in result["notes"][0]
