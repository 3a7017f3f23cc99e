"""Training from reference photos: products cut from their photos, shelf-like copies, photos held out whole,
unlabeled crops near a product left out of the negatives, and a result that says what it was trained from."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from models.train_classifier import augment as aug
from models.train_classifier.cli import run
from models.train_classifier.data import CropDataError
from models.train_classifier.references import near_references, split_photos
from models.train_classifier.shelf_copies import ShelfCopies, cut_out
from tests.models.train_classifier.conftest import PRODUCTS, TinyEmbedder, relabel


def _run(out, *extra):
    argv = ["--out", str(out), "--cache", "", "--no_export", "--no_report", "--reference_detector", "none",
            "--reference_copies", "3", *extra]
    return run(argv, embedder=TinyEmbedder())


def _iou(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def test_a_product_on_a_plain_backdrop_is_cut_out_and_a_busy_photo_kept_whole():
    from models.synth.bottles import BRANDS
    from models.synth.references import pack_shot

    brand = next(b for b in BRANDS if b.name == "cola_dark")
    rng = np.random.default_rng(0)
    backdrop = np.full((300, 200, 3), (235, 232, 228), np.float64) * np.linspace(1, 0.9, 300)[:, None, None]
    photo = np.clip(backdrop + rng.normal(0, 2, backdrop.shape), 0, 255).astype(np.uint8)
    image, mask = pack_shot(brand, 1, 1)
    bottle = np.asarray(image)[mask.any(axis=1)][:, mask.any(axis=0)][:200, :120]
    photo[60:60 + bottle.shape[0], 50:50 + bottle.shape[1]] = bottle
    cut = cut_out(photo)
    truth = (50, 60, 50 + bottle.shape[1], 60 + bottle.shape[0])
    assert cut.mask is not None and _iou(cut.box, truth) > 0.75 and cut.pixels.shape[:2] == cut.mask.shape
    busy = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    whole = cut_out(busy)
    assert whole.mask is None and whole.box is None and whole.pixels is busy


def test_shelf_copies_are_reproducible_and_follow_their_background_pool():
    rng = np.random.default_rng(1)
    product = cut_out(np.pad(rng.integers(0, 80, (120, 50, 3), dtype=np.uint8), ((20, 20), (30, 30), (0, 0)),
                             constant_values=240))
    pool = [rng.integers(0, 256, (90, 40, 3), dtype=np.uint8) for _ in range(3)]
    shelf = ShelfCopies(pool, ["a", "b", "c"], aug.AugmentParams(), seed=0)
    first = [shelf.make(product, "ab" * 32, k) for k in (1, 2, 3)]
    again = ShelfCopies(pool[::-1], ["c", "b", "a"], aug.AugmentParams(), seed=0)  # order does not matter
    assert all(np.array_equal(a, again.make(product, "ab" * 32, k)) for a, k in zip(first, (1, 2, 3)))
    assert not np.array_equal(first[0], first[1]) and all(c.dtype == np.uint8 and c.shape[2] == 3 for c in first)
    assert shelf.key == again.key != ShelfCopies(pool[:2], ["a", "b"], aug.AugmentParams(), 0).key
    assert shelf.key != ShelfCopies(pool, ["a", "b", "c"], aug.AugmentParams(), 1).key


def test_photos_are_held_out_whole_per_product():
    from models.train_classifier.data import LabeledCrop

    crops = [LabeledCrop(f"{p}/{i}.jpg", p, f"{p}/{i}", p, f"{i}", np.zeros((1, 1, 3), np.uint8), "reference")
             for p, n in (("a", 3), ("b", 5), ("c", 20)) for i in range(n)]
    sides = split_photos(crops, 0.15, 0.15, seed=0)
    for product, n in (("a", 3), ("b", 5), ("c", 20)):
        mine = [s for c, s in zip(crops, sides) if c.product == product]
        assert {s: mine.count(s) for s in set(mine)} == {"train": n - 2 * max(1, round(0.15 * n)),
                                                         "val": max(1, round(0.15 * n)),
                                                         "test": max(1, round(0.15 * n))}
    assert "test" not in split_photos(crops, 0.15, 0.0, seed=0)


def test_unlabeled_crops_near_a_product_are_left_out():
    rng = np.random.default_rng(0)
    centres = {"a": rng.normal(0, 1, 32), "b": rng.normal(0, 1, 32)}

    def around(name, n, spread=0.3):
        return centres[name] + rng.normal(0, spread, (n, 32))

    train = np.concatenate([around("a", 20), around("b", 20)])
    held = np.concatenate([around("a", 10), around("b", 10)])
    others = rng.normal(0, 1, (50, 32))
    unlabeled = np.concatenate([others, around("a", 5), around("b", 5)])
    drop, cutoffs = near_references(unlabeled, train, ["a"] * 20 + ["b"] * 20, held, ["a"] * 10 + ["b"] * 10)
    assert set(cutoffs) == {"a", "b"} and all(0 < c < 1 for c in cutoffs.values())
    assert drop[50:].all()  # every hidden product crop is caught
    assert drop[:50].mean() < 0.1  # and nearly every other crop stays a negative


def test_references_and_a_scans_unlabeled_crops_train_and_say_so(references, unlabeled, tmp_path, capsys):
    out = _run(tmp_path / "m", "--references", str(references), "--data", str(unlabeled))
    assert out["trained_from"] == "references" and out["products"] == list(PRODUCTS)
    refs = out["references"]
    assert refs["photos"] == {p: {"train": 2, "val": 1, "test": 1} for p in PRODUCTS}
    assert sum(refs["cut"].values()) == 12 and refs["cut"]["detector"] == 0
    near = refs["negatives"]
    assert near["from"] == "unlabeled crops" and set(near["cutoffs"]) == set(PRODUCTS)
    assert near["kept_as_other"] + near["dropped_as_near_a_product"] == near["unlabeled"] == 103
    rows = [json.loads(line) for line in (tmp_path / "m" / "examples.jsonl").read_text().splitlines()]
    assert sum(r["side"] == "dropped" for r in rows) == near["dropped_as_near_a_product"]
    assert sum(r.get("source") == "reference" for r in rows) == 12
    held_out = [r for r in rows if r.get("source") == "reference" and r["side"] == "test"]
    assert out["test"]["per_product"]["cola_dark"]["n_target"] == 8 * sum(r["product"] == "cola_dark" for r in held_out)
    printed = capsys.readouterr().out
    assert "TRAINED FROM REFERENCE PHOTOS ONLY" in printed and "held-out reference photos" in printed
    assert f"{near['kept_as_other']} of 103 unlabeled crops taken as other" in printed


def test_references_with_labels_use_the_labeled_other_crops(references, brand_crops, tmp_path):
    out = _run(tmp_path / "m", "--references", str(references), "--data", str(brand_crops), "--min_per_class", "5")
    assert out["trained_from"] == "references+labels"
    assert out["references"]["negatives"] == {"from": "crops labeled other"}


def test_references_without_negatives_or_with_too_few_photos_are_refused(references, synth_crops, tmp_path):
    with pytest.raises(CropDataError, match=r"--references needs negatives.*\(no --data\)"):
        _run(tmp_path / "m", "--references", str(references))
    products_only = tmp_path / "products.jsonl"
    rows = [json.loads(line) for line in relabel(synth_crops / "crops.jsonl", products_only).read_text().splitlines()]
    products_only.write_text("".join(json.dumps(r) + "\n" for r in rows if r["label"] != "other"))
    with pytest.raises(CropDataError, match="has no crops labeled 'other' and no unlabeled crops"):
        _run(tmp_path / "m", "--references", str(references), "--data", str(products_only))
    few = tmp_path / "few"
    shutil.copytree(references, few)
    for extra in sorted((few / "cola_dark").iterdir())[2:]:
        extra.unlink()
    with pytest.raises(CropDataError, match=r"few/cola_dark: 2 photos; each product needs at least 3"):
        _run(tmp_path / "m", "--references", str(few), "--data", str(products_only))
    (few / "cola_dark").rename(few / "Other")
    with pytest.raises(CropDataError, match="folder 'Other' cannot name a product"):
        _run(tmp_path / "m", "--references", str(few), "--data", str(products_only))
    assert not (tmp_path / "m").exists()


def test_a_reference_that_is_no_image_is_named(references, unlabeled, tmp_path):
    broken = tmp_path / "refs"
    shutil.copytree(references, broken)
    (broken / "cola_dark" / "099.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CropDataError, match=r"099.jpg cannot be read as an image .*replace or remove it"):
        _run(tmp_path / "m", "--references", str(broken), "--data", str(unlabeled))
    Image.new("RGB", (4, 4)).save(broken / "cola_dark" / "099.jpg")  # readable again: no error left
