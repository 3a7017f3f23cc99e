"""pipeline.evaluate on hand-made truth and summaries with known answers, from truth.jsonl or COCO."""
import json
import shutil

import numpy as np
import pytest

from models.evaluation.truth import TruthImage, read_truth
from models.synth.bottles import TARGET_BRAND
from models.synth.truth import write_coco
from pipeline.evaluate import main, pair_rows, read_summaries, score
from pipeline.options import SAMPLES


def _det(box, target, area=None, score=0.9):
    return {"box": box, "detection_score": score, "target_score": 0.9 if target else 0.1,
            "is_target": target, "area_px": area, "area_source": "mask" if target else None}


TRUTH = [
    {"image": "images/000001.jpg", "bottles": [
        {"box": [0, 0, 10, 40], "is_target": True, "area_px": 300},
        {"box": [20, 0, 30, 40], "is_target": False, "area_px": 300}]},
    {"image": "images/000002.jpg", "bottles": [
        {"box": [0, 0, 10, 40], "is_target": True, "area_px": 200}]},
    {"image": "images/000003.jpg", "bottles": []},
]
ROWS = [
    {"image_uri": "gs://b/scenes/images/000001.jpg", "target_bottles": 1, "detections": [
        _det([0, 0, 10, 40], True, 330.0), _det([20, 0, 30, 40], False)]},
    # a missed target, and a false positive far from it
    {"image_uri": "gs://b/scenes/images/000002.jpg", "target_bottles": 1, "detections": [
        _det([50, 50, 60, 90], True, 100.0)]},
    {"image_uri": "gs://b/scenes/images/000003.jpg", "target_bottles": 0, "detections": []},
]


def test_pairs_by_relative_path_suffix():
    pairs = pair_rows([TruthImage.from_record(r) for r in TRUTH], ROWS[:2])
    assert [row["image_uri"] if row else None for _, row in pairs] == [
        "gs://b/scenes/images/000001.jpg", "gs://b/scenes/images/000002.jpg", None]


def test_scores():
    result = score(TRUTH, ROWS)
    assert result["images"] == 3
    assert result["detection_precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["detection_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["target_precision"] == pytest.approx(0.5)
    assert result["target_recall"] == pytest.approx(0.5)
    assert result["target_count_exact"] == pytest.approx(1.0)  # counts right, for the wrong reason on image 2
    assert result["area_median_rel_error"] == pytest.approx(0.1)
    assert result["matched_targets"] == 1
    assert 0 < result["detection_ap50"] < 1 and result["detection_ar100"] <= result["detection_recall"]


def _coco_truth(tmp_path, annotations, categories=({"id": 44, "name": "bottle"},)):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "images/000001.jpg", "width": 100, "height": 100},
                   {"id": 2, "file_name": "images/000002.jpg", "width": 100, "height": 100}],
        "annotations": annotations, "categories": list(categories)}))
    return path


def test_coco_truth_without_targets_scores_detection_only(tmp_path):
    truth = read_truth(_coco_truth(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 44, "bbox": [0, 0, 10, 40]},
        {"id": 2, "image_id": 1, "category_id": 44, "bbox": [20, 0, 10, 40]},
        {"id": 3, "image_id": 2, "category_id": 44, "bbox": [0, 0, 10, 40]}]))
    result = score(truth, ROWS[:2])
    assert (result["detection_tp"], result["detection_fp"], result["detection_fn"]) == (2, 1, 1)
    assert not [k for k in result if k.startswith(("target", "area"))]
    assert any("target metrics left out" in note for note in result["notes"])


def test_detections_in_a_crowd_region_count_neither_way(tmp_path):
    truth = read_truth(_coco_truth(tmp_path, [
        {"id": 1, "image_id": 2, "category_id": 44, "bbox": [0, 0, 10, 40]},
        {"id": 2, "image_id": 2, "category_id": 44, "bbox": [40, 40, 30, 60], "iscrowd": 1}]))
    result = score(truth, ROWS[1:2])  # image 2's only detection, [50, 50, 60, 90], lies in the crowd
    assert (result["detection_tp"], result["detection_fp"], result["detection_fn"]) == (0, 0, 1)
    assert result["images_without_summary"] == 1


def _summaries(tmp_path, rows) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "summaries"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")
    return str(folder)


def test_the_command_takes_coco_and_gives_the_same_numbers_as_truth_jsonl(tmp_path, capsys):
    scenes = tmp_path / "samples"
    shutil.copytree(SAMPLES, scenes)
    write_coco(scenes)
    rng = np.random.default_rng(0)
    rows = []
    for image in read_truth(scenes).images:  # a scan that finds most bottles, a little off, plus a stray box
        dets = [_det(list(np.add(b.box, rng.uniform(-4, 4, 4))), b.is_target, b.area_px * 1.05)
                for b in image.bottles[:-1]] + [_det([0, 0, 30, 30], False)]
        targets = sum(d["is_target"] for d in dets)
        share = targets / len(dets)  # a one-product scan's entry for its product, 'target'
        rows.append({"image_uri": f"/data/{image.image}", "target_bottles": targets, "detections": [
            {**d, "product": "target" if d["is_target"] else "other", "product_score": d["target_score"]}
            for d in dets], "products": [{"product": "target", "bottles": targets, "area_px": 0.0, "area_ratio": 0.0,
                                          "shelf_share_count": share, "shelf_share_area": share}]})
    summaries = _summaries(tmp_path, rows)

    def evaluate(*truth_args):
        main([*truth_args, "--summaries", summaries])
        out = capsys.readouterr().out
        assert "detection_precision" in out.split("\n\n", 1)[1]  # the table follows the JSON
        return json.loads(out.splitlines()[0])

    from_jsonl = evaluate("--truth", str(scenes / "truth.jsonl"))
    from_coco = evaluate("--truth", str(scenes / "instances.json"), "--target_category", TARGET_BRAND)
    notes = from_coco.pop("notes")
    assert from_coco == from_jsonl and from_jsonl["matched_targets"] > 0
    assert from_jsonl["products"]["target"]["tp"] == from_jsonl["target_tp"] > 0
    assert notes == ["bottles: COCO categories bottle (44), micellar_rose (1000)", "targets: micellar_rose (1000)"]
    detection_only = evaluate("--truth", str(scenes / "instances.json"))
    assert detection_only["detection_recall"] == from_jsonl["detection_recall"]
    assert "target_recall" not in detection_only


def test_a_truth_it_cannot_use_ends_the_command_with_one_line(tmp_path, capsys):
    path = _coco_truth(tmp_path, [])
    with pytest.raises(SystemExit) as e:
        main(["--truth", str(path), "--target_category", "mine", "--summaries", str(tmp_path)])
    assert str(e.value).startswith(f"pipeline.evaluate: {path}: --target_category 'mine' is no category")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("summaries, cause", [
    ("{tmp}/out/summaries/scan_id=typo", "no Parquet summaries there"),  # absolute, matching nothing
    ("{tmp}/out/*/scan_id=none*", "no Parquet summaries there"),
    ("{tmp}/bad.parquet", "not readable as Parquet")])
def test_summaries_it_cannot_read_end_the_command_with_one_line(tmp_path, summaries, cause):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    path = _coco_truth(tmp_path, [])
    named = summaries.format(tmp=tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--truth", str(path), "--summaries", named])
    message = str(e.value)
    assert message.startswith("pipeline.evaluate: --summaries ") and cause in message and "\n" not in message


def test_summaries_found_by_an_absolute_glob_are_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "scan").mkdir()
    pq.write_table(pa.table({"image_uri": ["a.jpg"]}), tmp_path / "scan" / "part-0.parquet")
    assert read_summaries(str(tmp_path / "*" / "*.parquet")) == [{"image_uri": "a.jpg"}]
