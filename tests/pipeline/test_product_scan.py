"""A scan with a classifier of several products: each bottle's product, each photo's share of shelf, and
outputs written before products existed read beside new ones."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.run import run
from tests.toy_models import PRODUCTS
from transforms.schema import SUMMARY_FIELDS, read_schema

pytestmark = pytest.mark.slow

BACKGROUND = (40, 40, 40)


def _photo(path: Path, rects: list[tuple[tuple[int, int, int, int], tuple[int, int, int]]]) -> None:
    pixels = np.full((200, 200, 3), BACKGROUND, np.uint8)
    for (x0, y0, x1, y1), rgb in rects:
        pixels[y0:y1, x0:x1] = rgb
    Image.fromarray(pixels).save(path)


@pytest.fixture()
def shelf(tmp_path):
    """Three photos. The toy detector finds the red and the green rectangle; the toy classifier names a bottle by
    its brightest channel: pure red is `red`, pure green `green`, a dim green under green's 0.9 threshold `other`."""
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "a.png", [((20, 30, 60, 130), (255, 0, 0)), ((100, 50, 120, 100), (0, 255, 0))])
    _photo(folder / "b.png", [((10, 10, 30, 30), (255, 0, 0)), ((100, 100, 140, 180), (0, 210, 0))])
    _photo(folder / "c.png", [])
    return folder


def _scan(shelf, out, colour_box_detector, product_classifier, toy_models, scan_id="p1", *extra):
    return run(["--input", str(shelf / "*"), "--output", str(out), "--scan_id", scan_id, "--no_progress",
                "--detector", str(colour_box_detector), "--classifier", str(product_classifier),
                "--segmenter", str(toy_models["segmenter"]), *extra])


def _by_image(out: Path) -> dict[str, dict]:
    return {Path(r["image_uri"]).name: r for r in pq.read_table(out / "summaries").to_pylist()}


def test_each_bottle_is_named_and_each_photo_shares_its_shelf(shelf, tmp_path, colour_box_detector,
                                                               product_classifier, toy_models):
    crops = tmp_path / "crops"
    _scan(shelf, tmp_path / "out", colour_box_detector, product_classifier, toy_models, "p1",
          "--crops_output", str(crops))
    rows = _by_image(tmp_path / "out")

    a, b, c = rows["a.png"], rows["b.png"], rows["c.png"]
    assert [e["product"] for e in a["products"]] == list(PRODUCTS)  # every known product, in the model's order
    red, green, blue = a["products"]
    assert (red["bottles"], green["bottles"], blue["bottles"]) == (1, 1, 0)
    assert red["shelf_share_count"] == green["shelf_share_count"] == 0.5
    assert red["shelf_share_area"] == pytest.approx(4000 / 5000, abs=0.02)  # 40x100 against 20x50
    assert red["area_ratio"] == pytest.approx(red["area_px"] / (200 * 200))
    assert blue == {"product": "blue", "bottles": 0, "area_px": 0.0, "area_ratio": 0.0,
                    "shelf_share_count": 0.0, "shelf_share_area": 0.0}
    # target_* stay the sums over products, so queries written for one target keep working.
    assert a["target_bottles"] == 2 and a["target_area_px"] == pytest.approx(red["area_px"] + green["area_px"])

    dim = next(d for d in b["detections"] if d["product"] == "other")
    assert dim["is_target"] is False and dim["product_score"] == pytest.approx(210 / 255, abs=0.01)
    assert dim["area_px"] is None and dim["expected_area_px"] > 0
    red_b = b["products"][0]
    assert (red_b["bottles"], b["products"][1]["bottles"], b["target_bottles"]) == (1, 0, 1)
    assert red_b["shelf_share_count"] == 0.5
    assert red_b["shelf_share_area"] == pytest.approx(red_b["area_px"] / (red_b["area_px"] + dim["expected_area_px"]))
    assert c["bottles"] == 0 and [e["shelf_share_count"] for e in c["products"]] == [0.0, 0.0, 0.0]

    records = [json.loads(line) for line in (crops / "crops.jsonl").read_text().splitlines()]
    assert sorted(r["product"] for r in records) == ["green", "other", "red", "red"]
    assert json.loads((crops / "crops.products.json").read_text()) == {"products": list(PRODUCTS)}  # blue too
    dim_record = next(r for r in records if r["product"] == "other")
    assert dim_record["threshold"] == 0.9  # held against the nearest product's own threshold
    assert records[0] is dim_record or records[0]["uncertainty"] >= dim_record["uncertainty"]


def test_the_schema_docs_share_of_shelf_query_runs_as_written(shelf, tmp_path, monkeypatch, colour_box_detector,
                                                             product_classifier, toy_models):
    import re

    _scan(shelf, tmp_path / "out", colour_box_detector, product_classifier, toy_models, "s1")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "SCHEMA.md").read_text()
    sql = re.search(r"<!-- share-sql -->\n```sql\n(.*?)```", doc, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    shares = dict(duckdb.sql(sql).fetchall())
    assert shares == {"red": 2 / 4, "green": 1 / 4, "blue": 0}  # 4 bottles in all, one of them other


def _old_style(out: Path) -> None:
    """Rewrite a scan's summaries as a version without products wrote them: no `products`, and detections
    without `product` and `product_score`."""
    for path in (out / "summaries").rglob("*.parquet"):
        table = pq.read_table(path, partitioning=None)
        detections = pa.array([[{k: v for k, v in d.items() if k not in ("product", "product_score")} for d in ds]
                               for ds in table.column("detections").to_pylist()])
        table = table.drop_columns(["products"]).set_column(table.schema.get_field_index("detections"),
                                                             "detections", detections)
        pq.write_table(table, path)


def test_scans_from_before_products_read_beside_new_ones(shelf, tmp_path, colour_box_detector,
                                                          product_classifier, toy_models):
    out = tmp_path / "out"
    _scan(shelf, out, colour_box_detector, product_classifier, toy_models, "a_old")
    _old_style(out)
    _scan(shelf, out, colour_box_detector, product_classifier, toy_models, "b_new")

    got = duckdb.sql(f"""
        SELECT scan_id, sum(target_bottles) AS targets, sum(len(products)) AS entries
        FROM read_parquet('{out}/summaries/*/*.parquet', hive_partitioning = true, union_by_name = true)
        GROUP BY ALL ORDER BY scan_id""").fetchall()
    assert got == [("a_old", 3, None), ("b_new", 3, 9)]

    rows = pd.read_parquet(out / "summaries", schema=read_schema(SUMMARY_FIELDS))
    assert sorted(rows["scan_id"]) == ["a_old"] * 3 + ["b_new"] * 3
    assert rows.set_index("scan_id")["products"].isna().groupby(level=0).all().to_dict() == {"a_old": True,
                                                                                               "b_new": False}
