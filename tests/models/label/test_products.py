"""Several products on the labeling store: their names, their order and its sidecar, suggestions, the CLI."""
import json

import pytest

from models.label.__main__ import main
from models.label.products import MAX_PRODUCTS, name_problem, sidecar_path
from models.label.store import Filter, LabelError, LabelStore, certainty_order
from tests.models.label.test_store import write_crops

HOSTILE_NAMES = ["", "other", "Other", "SKIP", "a b", "-lead", ".hidden", "_under", "x" * 65, "rose\n", "rose\r\n",
                 "<img src=x onerror=alert(1)>", "../etc", "a/b", "名前", "rose;drop", "\u202erose"]


def scan_rows(folder, rows):
    """A crops.jsonl as a scan with a multi-product classifier writes it: each row's `product` and
    `product_score` (and the chosen product's threshold); returns its path."""
    path = write_crops(folder, [row["product_score"] for row in rows])
    written = [json.loads(line) for line in path.read_text().splitlines()]
    for row, extra in zip(written, rows):
        row.update(extra, target_score=extra["product_score"])
        row.pop("uncertainty")
    path.write_text("".join(json.dumps(r) + "\n" for r in written))
    return path


def labels_on_disk(path):
    return [json.loads(line)["label"] for line in path.read_text().splitlines()]


def test_names_follow_the_classifiers_rule():
    for good in ("micellar_rose", "shampoo_leaf", "cola.dark-2", "A", "9", "x" * 64, "target", "others"):
        assert name_problem(good) is None, good
    for bad in [*HOSTILE_NAMES, None, 5, ["rose"]]:
        problem = name_problem(bad)
        assert problem and "\n" not in problem, bad
    assert "is reserved" in name_problem("Other")


def test_the_list_comes_from_the_sidecar_the_command_line_and_the_rows(tmp_path):
    path = scan_rows(tmp_path, [{"product": "cola_dark", "product_score": 0.9, "threshold": 0.6},
                                {"product": "other", "product_score": 0.3, "threshold": 0.5},
                                {"predicted": "shampoo_leaf", "product_score": 0.7, "threshold": 0.6}])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["label"] = "micellar_rose"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert LabelStore(str(path)).products == ("micellar_rose", "cola_dark", "shampoo_leaf")  # labels first
    assert LabelStore(str(path), products=["shampoo_leaf", "zest"]).products == (
        "shampoo_leaf", "zest", "micellar_rose", "cola_dark")
    (tmp_path / "crops.products.json").write_text('{"products": ["zest", "cola_dark"]}')
    assert LabelStore(str(path), products=["lime"]).products == ("zest", "cola_dark", "lime", "micellar_rose",
                                                                 "shampoo_leaf")  # the sidecar's order stays


def test_a_single_target_list_keeps_target_as_product_one(tmp_path):
    store = LabelStore(str(write_crops(tmp_path, [0.5, 0.9])))  # no product named anywhere
    assert store.products == ("target",)
    counts = store.label(0, "target")
    assert counts["labels"] == {"target": 1, "other": 0, "skip": 0} and counts["products"] == ["target"]


def test_added_products_are_labeled_counted_and_survive_a_restart(tmp_path):
    path = write_crops(tmp_path, [0.5, 0.9, 0.1, 0.7])
    store = LabelStore(str(path))
    assert not (tmp_path / "crops.products.json").exists()  # opening a list writes nothing
    with pytest.raises(LabelError, match="add it as a product first"):
        store.label(0, "micellar_rose")
    counts = store.add_product("micellar_rose")
    assert counts["products"] == ["target", "micellar_rose"]
    assert json.loads((tmp_path / "crops.products.json").read_text()) == {"products": ["target", "micellar_rose"]}
    store.add_product("cola_dark")
    store.label(0, "cola_dark")
    counts = store.label_many([1, 2], "micellar_rose")
    assert counts["labels"] == {"target": 0, "micellar_rose": 2, "cola_dark": 1, "other": 0, "skip": 0}
    assert (counts["labeled"], counts["unlabeled"], counts["unknown"]) == (3, 1, 0)
    assert sorted(labels_on_disk(path)) == ["", "cola_dark", "micellar_rose", "micellar_rose"]
    store.undo()
    assert sorted(labels_on_disk(path)) == ["", "", "", "cola_dark"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    again = LabelStore(str(path), products=["zest"])  # a new server: the same keys, then the new product
    assert again.products == ("target", "micellar_rose", "cola_dark", "zest")
    assert again.counts()["labels"]["cola_dark"] == 1


def test_bad_duplicate_and_too_many_products_are_refused(tmp_path):
    path = write_crops(tmp_path, [0.5])
    store = LabelStore(str(path))
    for bad in HOSTILE_NAMES:
        with pytest.raises(LabelError) as refused:
            store.add_product(bad)
        assert "\n" not in str(refused.value), bad
    with pytest.raises(LabelError, match="already product 1"):
        store.add_product("target")
    for n in range(MAX_PRODUCTS - 1):
        store.add_product(f"p{n}")
    with pytest.raises(LabelError, match=f"at most {MAX_PRODUCTS} products"):
        store.add_product("one_more")
    assert len(LabelStore(str(path)).products) == MAX_PRODUCTS
    with pytest.raises(LabelError, match="--products"):
        LabelStore(str(path), products=["ok", "other"])


def test_a_broken_sidecar_or_row_is_one_line_naming_the_file(tmp_path):
    path = write_crops(tmp_path, [0.5])
    sidecar = tmp_path / "crops.products.json"
    for text in ("not json", '["rose"]', '{"products": "rose"}', '{"products": ["rose", "other"]}',
                 '{"products": ["<b>"]}'):
        sidecar.write_text(text)
        with pytest.raises(LabelError) as refused:
            LabelStore(str(path))
        assert str(sidecar) in str(refused.value) and "\n" not in str(refused.value), text
    sidecar.unlink()
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(LabelError, match=r"crops.jsonl:2: not JSON"):
        LabelStore(str(path))
    assert sidecar_path("gs://b/x/labels.jsonl") == "gs://b/x/labels.products.json"


def test_rows_labeled_with_something_else_count_apart(tmp_path):
    path = write_crops(tmp_path, [0.5, 0.9, 0.1])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["label"], rows[1]["label"] = "not a name!", "other"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = LabelStore(str(path)).counts()
    assert (counts["labeled"], counts["unknown"], counts["unlabeled"], counts["products"]) == (1, 1, 1, ["target"])


def test_suggestions_and_order_follow_the_predicted_products_score(tmp_path):
    rows = [{"product": "cola_dark", "product_score": 0.97, "threshold": 0.6},
            {"product": "micellar_rose", "product_score": 0.62, "threshold": 0.6},
            {"product": "other", "product_score": 0.2, "threshold": 0.5},
            {"product": "other", "product_score": 0.45, "threshold": 0.5}]
    path = scan_rows(tmp_path, rows)
    assert certainty_order(rows) == [1, 3, 2, 0]  # by the distance of product_score from its threshold
    store = LabelStore(str(path))
    shown = store.crops(range(4))
    assert [(c["predicted"], c["score"]) for c in shown] == [("micellar_rose", 0.62), ("other", 0.45),
                                                             ("other", 0.2), ("cola_dark", 0.97)]
    assert [store.record(p)["product_score"] for p in store.select(Filter(predicted="other"))] == [0.45, 0.2]
    assert store.select(Filter(min_score=0.6, max_score=0.7)) == [0]


def test_the_command_refuses_a_bad_product_in_one_line(tmp_path, capsys):
    path = write_crops(tmp_path, [0.5])
    with pytest.raises(SystemExit) as stopped:
        main([str(path), "--products", "micellar_rose,<script>", "--port", "0"])
    message = str(stopped.value.code)
    assert message.startswith("models.label: --products:") and "<script>" in message and "\n" not in message
    assert labels_on_disk(path) == [""] and not (tmp_path / "crops.products.json").exists()


@pytest.mark.slow  # starts a process or builds many scenes
def test_a_scan_of_several_products_opens_with_its_predictions(tmp_path, colour_box_detector, product_classifier,
                                                                toy_models):
    from pipeline.run import run
    from tests.pipeline.test_product_scan import _photo
    from tests.toy_models import PRODUCTS

    (tmp_path / "in").mkdir()
    _photo(tmp_path / "in" / "a.png", [((20, 30, 60, 130), (255, 0, 0)), ((100, 100, 140, 180), (0, 210, 0))])
    run(["--input", str(tmp_path / "in" / "*"), "--output", str(tmp_path / "out"), "--no_progress",
         "--detector", str(colour_box_detector), "--classifier", str(product_classifier),
         "--segmenter", str(toy_models["segmenter"]), "--crops_output", str(tmp_path / "crops")])
    path = tmp_path / "crops" / "crops.jsonl"
    assert LabelStore(str(path)).products == ("red",)  # the dim green is `other`: only red was predicted
    store = LabelStore(str(path), products=PRODUCTS)  # what the classifier knows, in its order
    assert store.products == tuple(PRODUCTS)
    first, second = store.crops([0, 1])
    assert (first["predicted"], second["predicted"]) == ("other", "red")  # the dim green is the least sure
    assert first["score"] == pytest.approx(210 / 255, abs=0.01) and first["threshold"] == 0.9
    store.label(0, "green")
    assert labels_on_disk(path).count("green") == 1
