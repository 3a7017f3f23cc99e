"""Classifier training data: grouped splits leak nothing, augmentation is reproducible, the embedding
cache is reused and invalidated by content. A cheap stand-in embedder keeps these fast."""
import json
import shutil

import numpy as np
import pytest

from models.train_classifier import augment as aug
from models.train_classifier import split
from models.train_classifier.cli import run
from models.train_classifier.data import CropDataError, load_crops
from models.train_classifier.embed_cache import EmbedItem, cache_key
from models.train_classifier.heads import choose_threshold
from tests.models.train_classifier.conftest import TinyEmbedder

SYNTH_SEED, SYNTH_SCENES = 3, 4  # 35 crops, 12 targets; every split side sees both classes


@pytest.fixture(scope="module")
def crops_dir(tmp_path_factory):
    from models.synth import generator

    out = tmp_path_factory.mktemp("crops")
    generator.generate(out, SYNTH_SCENES, SYNTH_SEED, crops=True, max_side=800)
    return out


def _run(data, out, cache, *extra):
    argv = ["--data", str(data), "--out", str(out), "--cache", str(cache), "--no_export", "--no_report", *extra]
    return run(argv, embedder=TinyEmbedder())


def test_split_keeps_groups_whole_and_both_classes_on_each_side():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 40, 400).astype(str)
    labels = rng.uniform(size=400) < 0.3
    sides = split.split_groups(groups, labels, 0.15, 0.15, seed=1)
    split.check_no_leak(groups, sides)
    for side in (split.TRAIN, split.VAL, split.TEST):
        assert set(labels[sides == side]) == {True, False}
    assert 0.08 < np.mean(sides == split.TEST) < 0.3
    folds = split.kfold_groups(groups, labels, 5, seed=1)
    for k in range(5):
        sides = split.fold_split(folds, k, 5)
        split.check_no_leak(groups, sides)
        assert (sides == split.TEST).sum() and (sides == split.VAL).sum()
    with pytest.raises(AssertionError, match="both"):
        split.check_no_leak(["a", "a"], ["train", "test"])


def test_split_leaks_nothing_and_augments_only_train(crops_dir, tmp_path):
    metrics = _run(crops_dir / "crops.jsonl", tmp_path / "m", tmp_path / "cache", "--augment", "2")
    rows = [json.loads(line) for line in (tmp_path / "m" / "examples.jsonl").read_text().splitlines()]
    originals = [r for r in rows if not r.get("augmented")]
    augmented = [r for r in rows if r.get("augmented")]
    side_of_group = {}
    for r in originals:
        assert side_of_group.setdefault(r["group"], r["side"]) == r["side"], r["group"]
    assert set(side_of_group.values()) == {"train", "val", "test"}
    train_uris = {r["uri"] for r in originals if r["side"] == "train"}
    assert {r["uri"] for r in augmented} == train_uris
    assert len(augmented) == 2 * len(train_uris)
    assert all(side_of_group[r["group"]] == "train" for r in augmented)
    assert metrics["model"]["train_examples"] == 3 * len(train_uris)
    assert metrics["data"]["split"]["test"]["crops"] == metrics["test"]["n"]


def test_augmentation_is_reproducible_per_image_and_copy(crops_dir):
    crops, _ = load_crops(str(crops_dir / "crops.jsonl"), limit=3)
    params = aug.AugmentParams()
    a = [aug.model_input(c.pixels, c.sha256, k, params, seed=5) for c in crops for k in (1, 2)]
    b = [aug.model_input(c.pixels, c.sha256, k, params, seed=5) for c in reversed(crops) for k in (2, 1)][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # order-independent, bit for bit
    assert not np.array_equal(a[0], a[1])  # copies differ
    assert not np.array_equal(a[0], aug.model_input(crops[0].pixels, crops[0].sha256, 1, params, seed=6))
    original = aug.model_input(crops[0].pixels, crops[0].sha256, 0, params, seed=5)
    from transforms.letterbox import letterbox

    assert np.array_equal(original, letterbox(crops[0].pixels, 224)[0])  # copy 0 is what the scan sees
    assert a[0].shape == (224, 224, 3) and a[0].dtype == np.uint8
    assert params.key(5) != aug.AugmentParams(hflip=True).key(5) != params.key(6)


@pytest.mark.slow
def test_embedding_cache_is_reused_then_invalidated_by_changed_bytes(crops_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(crops_dir, data)
    cache = tmp_path / "cache"
    first = _run(data / "crops.jsonl", tmp_path / "m1", cache, "--augment", "2")["embedding_cache"]
    assert first["hits"] == 0 and first["misses"] > 0
    second = _run(data / "crops.jsonl", tmp_path / "m2", cache, "--augment", "2")["embedding_cache"]
    assert second == {**first, "hits": first["misses"], "misses": 0}

    rows = [json.loads(line) for line in (tmp_path / "m1" / "examples.jsonl").read_text().splitlines()]
    train_crop = next(r for r in rows if r.get("side") == "train" and not r.get("augmented"))
    from PIL import Image

    path = train_crop["uri"]  # absolute: crops.jsonl uris are resolved against its folder
    image = Image.open(path).convert("RGB")
    image.putpixel((0, 0), (255, 0, 255))
    image.save(path, quality=95)  # same name, new bytes
    third = _run(data / "crops.jsonl", tmp_path / "m3", cache, "--augment", "2")["embedding_cache"]
    assert third["misses"] == 3  # the changed crop and its two augmented copies
    assert third["hits"] == first["misses"] - 3


def test_cache_key_follows_content_backbone_and_augmentation():
    base = EmbedItem("ab" * 32, 1, "k1")
    keys = {cache_key(base, "b1", 224), cache_key(EmbedItem("cd" * 32, 1, "k1"), "b1", 224),
            cache_key(base, "b2", 224), cache_key(base, "b1", 256), cache_key(EmbedItem("ab" * 32, 2, "k1"), "b1", 224),
            cache_key(EmbedItem("ab" * 32, 1, "k2"), "b1", 224)}
    assert len(keys) == 6
    # originals do not depend on the augmentation recipe
    assert cache_key(EmbedItem("ab" * 32, 0, "k1"), "b1", 224) == cache_key(EmbedItem("ab" * 32, 0, ""), "b1", 224)


@pytest.mark.slow
def test_mixup_and_mlp_head_train(crops_dir, tmp_path):
    emb = _run(crops_dir / "crops.jsonl", tmp_path / "a", tmp_path / "c", "--augment", "1", "--mixup", "0.4")
    assert emb["model"]["mixup_examples"] == emb["model"]["train_examples"]
    img = _run(crops_dir / "crops.jsonl", tmp_path / "b", tmp_path / "c", "--augment", "1", "--mixup", "0.4",
               "--mixup_mode", "images", "--mixup_copies", "0.5", "--head", "mlp")
    assert img["model"]["mixup_examples"] == round(0.5 * img["model"]["train_examples"])
    assert img["model"]["head"]["head"] == "mlp"
    assert 0.0 <= img["test"]["auc"] <= 1.0


def test_threshold_by_f1_or_min_precision():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    t, rule = choose_threshold(y, p)
    assert 0.3 < t <= 0.4 and "F1" in rule
    t, rule = choose_threshold(y, p, min_precision=1.0)
    assert t == pytest.approx(0.6) and "precision" in rule


@pytest.mark.slow
def test_gs_data_and_out_through_beam_filesystems(crops_dir, gcs_emulator, tmp_path):
    uri = gcs_emulator.upload_dir(crops_dir, "labeled")
    local = _run(crops_dir / "crops.jsonl", tmp_path / "local", tmp_path / "c1")
    remote = _run(f"{uri}/crops.jsonl", "gs://shelfscan-test/model-out", tmp_path / "c2")
    assert remote["data"]["trained_on"] == local["data"]["trained_on"]  # same bytes, labels, groups
    assert remote["test"]["auc"] == local["test"]["auc"]
    assert {"model-out/metrics.json", "model-out/examples.jsonl"} <= set(gcs_emulator.names("model-out/"))
    folder = _run(f"{uri}/crops", tmp_path / "folder", tmp_path / "c2", "--group_pattern", r"^(\d+)_\d+$")
    assert folder["data"]["crops"] == local["data"]["crops"]
    assert sum(side["groups"] for side in folder["data"]["split"].values()) == SYNTH_SCENES


@pytest.mark.slow
def test_folder_of_label_subfolders_and_k_fold(crops_dir, tmp_path):
    # each crop its own group without --group_pattern; with it, the scene is the group
    folder = _run(crops_dir / "crops", tmp_path / "a", tmp_path / "c", "--folds", "3")
    cv = folder["cross_validation"]
    assert len(cv["folds"]) == 3 and sum(f["n"] for f in cv["folds"]) == folder["data"]["crops"]
    assert cv["auc_mean"] is not None
    with pytest.raises(SystemExit):
        _run(crops_dir / "crops", tmp_path / "b", tmp_path / "c", "--folds", "3", "--test_data", str(crops_dir))


def test_unlabeled_rows_are_left_out_not_counted_as_other(crops_dir, tmp_path):
    rows = [json.loads(line) for line in (crops_dir / "crops.jsonl").read_text().splitlines()]
    for r in rows[:5]:
        r["label"] = ""  # as pipeline.run --crops_output writes them before anyone labels
    (tmp_path / "crops.jsonl").write_text("".join(json.dumps({**r, "uri": str(crops_dir / r["uri"])}) + "\n"
                                                  for r in rows))
    crops, skipped = load_crops(str(tmp_path / "crops.jsonl"))
    assert len(crops) == len(rows) - 5
    path = tmp_path / "crops.jsonl"
    assert skipped == [f"5 rows have no label: label them with `python -m models.label {path}` "
                       "(T target, O other, S skip)"]


def test_skip_labels_are_left_out_and_an_unlabeled_file_says_how_to_label_it(crops_dir, tmp_path):
    rows = [json.loads(line) for line in (crops_dir / "crops.jsonl").read_text().splitlines()]
    path = tmp_path / "crops.jsonl"
    rows[0]["label"] = "skip"
    path.write_text("".join(json.dumps({**r, "uri": str(crops_dir / r["uri"])}) + "\n" for r in rows))
    crops, skipped = load_crops(str(path))
    assert len(crops) == len(rows) - 1 and "labeled 'skip'" in skipped[0]
    path.write_text("".join(json.dumps({**r, "label": "", "uri": str(crops_dir / r["uri"])}) + "\n" for r in rows))
    with pytest.raises(CropDataError, match=f"{len(rows)} rows have no label: label them with "
                                            f"`python -m models.label {path}`"):
        load_crops(str(path))


def test_a_small_test_split_says_so_with_intervals(crops_dir, tmp_path):
    out = _run(crops_dir / "crops.jsonl", tmp_path / "m", tmp_path / "c")
    test = out["test"]
    assert test["small_split"].startswith("SMALL TEST SPLIT") and f"{test['n']} crops" in test["small_split"]
    for key in ("accuracy", "precision", "recall"):
        lo, hi = test["intervals_95"][key]
        assert lo <= test[key] <= hi and hi - lo > 0.1  # a handful of crops cannot pin a metric down
    groups = test["per_group"]["groups"]
    for key in ("auc", "f1"):  # bootstrapped over source images: none from a single image
        assert (test["intervals_95"][key] is None) == (groups < 2), (key, groups)
    assert out["use"].startswith(f"python -m pipeline.run --classifier {tmp_path / 'm'}")


def test_too_few_labels_stop_training_with_what_to_label(crops_dir, tmp_path):
    rows = [json.loads(line) for line in (crops_dir / "crops.jsonl").read_text().splitlines()]
    few = [r for r in rows if r["label"] == "target"][:4] + [r for r in rows if r["label"] == "other"][:12]
    data = crops_dir / "few.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in few))
    with pytest.raises(CropDataError, match=r"label at least 6 more 'target' \(have 4\) before training"):
        _run(data, tmp_path / "m", tmp_path / "c")
    assert not (tmp_path / "m").exists()
    with pytest.raises(CropDataError, match="validation split has .* one class only"):  # past the minimum
        _run(data, tmp_path / "m", tmp_path / "c", "--min_per_class", "4")
