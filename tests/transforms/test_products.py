"""Which product a bottle is, and each product's share of a photo's shelf."""
from __future__ import annotations

import numpy as np
import pytest

from transforms.products import OTHER, ProductRule, name_problem, product_entries
from transforms.records import BottleResult
from transforms.write_bigquery import widened_schema

RULE = ProductRule(("rose", "leaf", "cola"), (0.5, 0.9, 0.3))


@pytest.mark.parametrize("scores, want", [
    ((0.95, 0.1, 0.1), ("rose", 0.95, 0.5)),
    ((0.6, 0.85, 0.1), ("rose", 0.6, 0.5)),  # leaf scores higher, but under its own threshold
    ((0.6, 0.95, 0.1), ("leaf", 0.95, 0.9)),  # both pass: the higher score wins
    ((0.2, 0.8, 0.25), (OTHER, 0.8, 0.9)),  # none pass: other, with the nearest product's score and threshold
    ((0.0, 0.0, 0.3), ("cola", 0.3, 0.3)),  # a score equal to the threshold passes
])
def test_the_highest_product_at_or_above_its_threshold_wins(scores, want):
    assert RULE.decide(np.array(scores)) == want


def test_scores_come_from_product_scores_or_the_single_score():
    assert RULE.scores({"scores": np.float32(0.9), "product_scores": np.array([0.1, 0.9, 0.2])}).tolist() == \
        pytest.approx([0.1, 0.9, 0.2])
    assert ProductRule().scores({"scores": np.array([0.7])}).tolist() == pytest.approx([0.7])
    with pytest.raises(ValueError, match="2 values for 3 products"):
        RULE.scores({"scores": 0.5, "product_scores": np.array([0.1, 0.2])})


@pytest.mark.parametrize("name", ["other", "SKIP", "", "a b", "../x", "-lead", "x" * 65, 7])
def test_names_that_cannot_be_products(name):
    assert name_problem(name)
    with pytest.raises(ValueError):
        ProductRule((name,), (0.5,))


def test_a_rule_refuses_repeats_and_mismatched_thresholds():
    with pytest.raises(ValueError, match="repeat"):
        ProductRule(("a", "a"), (0.5, 0.5))
    with pytest.raises(ValueError, match="2 products but 1 thresholds"):
        ProductRule(("a", "b"), (0.5,))


def _bottle(index: int, product: str, area: float | None, expected: float) -> BottleResult:
    return BottleResult(index, (0.0, 0.0, 10.0, 10.0), 0.9, 0.8, product != OTHER, product, 0.8, expected,
                        area, area, "mask" if area else None)


def test_entries_share_the_shelf_by_count_and_by_area():
    bottles = [_bottle(0, "rose", 300.0, 250.0), _bottle(1, "rose", 100.0, 120.0), _bottle(2, "leaf", 200.0, 180.0),
               _bottle(3, OTHER, None, 400.0)]
    rose, leaf, cola = product_entries(bottles, RULE.names, image_px=10000.0)
    assert rose == {"product": "rose", "bottles": 2, "area_px": 400.0, "area_ratio": 0.04,
                    "shelf_share_count": 0.5, "shelf_share_area": pytest.approx(400 / 1000)}
    assert leaf["bottles"] == 1 and leaf["shelf_share_area"] == pytest.approx(0.2)
    assert cola == {"product": "cola", "bottles": 0, "area_px": 0.0, "area_ratio": 0.0,
                    "shelf_share_count": 0.0, "shelf_share_area": 0.0}  # a known product absent: zeros, not missing


def test_a_photo_without_bottles_has_zero_shares():
    assert [e["shelf_share_count"] for e in product_entries([], RULE.names, 100.0)] == [0.0, 0.0, 0.0]


def test_an_old_tables_schema_grows_by_the_fields_it_lacks_as_nullable():
    old = [{"name": "image_uri", "type": "STRING", "mode": "REQUIRED"},
           {"name": "detections", "type": "RECORD", "mode": "REPEATED",
            "fields": [{"name": "index", "type": "INTEGER", "mode": "REQUIRED"}]}]
    wanted = [*old[:1], {"name": "detections", "type": "RECORD", "mode": "REPEATED",
                         "fields": [{"name": "index", "type": "INTEGER", "mode": "REQUIRED"},
                                    {"name": "product", "type": "STRING", "mode": "REQUIRED"}]},
              {"name": "products", "type": "RECORD", "mode": "REPEATED",
               "fields": [{"name": "bottles", "type": "INTEGER", "mode": "REQUIRED"}]}]
    grown = widened_schema(old, wanted)
    assert [f["name"] for f in grown] == ["image_uri", "detections", "products"]
    assert grown[1]["fields"][1] == {"name": "product", "type": "STRING", "mode": "NULLABLE"}
    assert grown[2]["mode"] == "REPEATED" and grown[2]["fields"][0]["mode"] == "NULLABLE"
    assert widened_schema(grown, wanted) is None  # nothing left to add
