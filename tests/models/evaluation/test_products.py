"""Per-product scores on hand-made photos whose answers are worked out by hand."""
import pytest

from models.evaluation.products import (
    Bottle,
    ProductScores,
    Share,
    product_table,
    shares,
    shares_from_row,
    truth_product,
)

THREE = ("micellar_rose", "shampoo_leaf", "cola_dark")


def test_a_bottle_is_its_own_product_when_the_classifier_knows_it_else_other():
    assert truth_product("cola_dark", False, THREE) == "cola_dark"
    assert truth_product("rose_tonic", False, THREE) == "other"
    assert truth_product(None, None, THREE) == "other"
    assert truth_product("micellar_rose", True, ("target",)) == "target"  # a one-product classifier's product
    assert truth_product("rose_tonic", False, ("target",)) == "other"


def test_shares_by_count_and_area_and_zero_without_bottles():
    bottles = [Bottle((0, 0, 1, 1), "cola_dark", 300), Bottle((0, 0, 1, 1), "other", 100),
               Bottle((0, 0, 1, 1), "cola_dark", 100)]
    assert shares(bottles, ("cola_dark", "shampoo_leaf")) == {
        "cola_dark": Share(2, pytest.approx(2 / 3), pytest.approx(0.8)), "shampoo_leaf": Share(0, 0.0, 0.0)}
    assert shares([], ("cola_dark",)) == {"cola_dark": Share(0, 0.0, 0.0)}
    assert shares([Bottle((0, 0, 1, 1), "cola_dark", None)], ("cola_dark",))["cola_dark"].share_area is None


def test_a_row_without_an_entry_for_a_product_has_none_of_it():
    row = {"products": [{"product": "cola_dark", "bottles": 2, "shelf_share_count": 0.5, "shelf_share_area": 0.25}]}
    assert shares_from_row(row, ("cola_dark", "shampoo_leaf")) == {
        "cola_dark": Share(2, 0.5, 0.25), "shampoo_leaf": Share(0, 0.0, 0.0)}


def test_crops_classified_on_true_boxes():
    # the same boxes predicted as truth, as models.evaluation scores a classifier: one cola_dark taken for
    # micellar_rose, everything else right
    truth = [Bottle((0, 0, 10, 40), "micellar_rose", 100), Bottle((20, 0, 30, 40), "cola_dark", 100),
             Bottle((40, 0, 50, 40), "cola_dark", 200), Bottle((60, 0, 70, 40), "other", 100)]
    predicted = [b._replace(product=p) for b, p in zip(truth, ["micellar_rose", "micellar_rose", "cola_dark",
                                                                "other"])]
    scores = ProductScores(THREE)
    scores.add(truth, predicted)
    scores.add([], [])  # an empty shelf: every count right, every share 0
    result = scores.result()
    assert result["micellar_rose"] == {"precision": 0.5, "recall": 1.0, "tp": 1, "fp": 1, "fn": 0, "true_bottles": 1,
                                       "count_exact": 0.5, "share_count_mae": 0.125, "share_area_mae": 0.1}
    assert result["cola_dark"] == {"precision": 1.0, "recall": 0.5, "tp": 1, "fp": 0, "fn": 1, "true_bottles": 2,
                                   "count_exact": 0.5, "share_count_mae": 0.125, "share_area_mae": 0.1}
    assert result["shampoo_leaf"] == {"precision": 1.0, "recall": 1.0, "tp": 0, "fp": 0, "fn": 0, "true_bottles": 0,
                                      "count_exact": 1.0, "share_count_mae": 0.0, "share_area_mae": 0.0}


def test_the_table_has_a_line_per_product_and_a_dash_where_nothing_is_known():
    scores = ProductScores(("cola_dark",))
    scores.add([Bottle((0, 0, 10, 10), "cola_dark", None)], [Bottle((0, 0, 10, 10), "cola_dark", None)])
    lines = product_table(scores.result()).splitlines()
    assert lines[0].split()[:3] == ["product", "precision", "recall"]
    assert lines[1].split() == ["cola_dark", "1.0", "1.0", "1.0", "0.0", "-", "1"]
