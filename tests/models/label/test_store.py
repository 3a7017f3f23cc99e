"""The label store and server without a browser: ordering, atomic saves, undo, folders, gs://, the command."""
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.label.server import serve_in_background
from models.label.store import Filter, LabelError, LabelStore, certainty_order
from tests.models.label.client import page_token, post


def write_crops(folder, scores, name="crops.jsonl"):
    """A crops.jsonl like pipeline.run --crops_output writes, with tiny JPEGs; returns its path."""
    (folder / "crops").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, score in enumerate(scores):
        shade = int(255 * score)
        Image.fromarray(np.full((40, 20, 3), shade, np.uint8)).save(folder / "crops" / f"c{i:04d}.jpg")
        rows.append({"uri": f"crops/c{i:04d}.jpg", "label": "", "group": f"img{i // 3}.jpg",
                     "target_score": score, "uncertainty": round(1 - abs(score - 0.5) / 0.5, 4)})
    path = folder / name
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return path


def test_least_certain_first():
    records = [{"target_score": 0.99}, {"target_score": 0.5}, {"target_score": 0.1}, {"target_score": 0.6}]
    assert certainty_order(records) == [1, 3, 2, 0]
    assert certainty_order([{"uncertainty": 0.1}, {"uncertainty": 0.9}]) == [1, 0]
    # by the row's threshold when it has one: 0.9 is the least certain crop at a threshold of 0.85
    rows = [{"target_score": 0.5, "threshold": 0.85}, {"target_score": 0.9, "threshold": 0.85}]
    assert certainty_order(rows) == [1, 0]


def test_label_saves_the_file_and_undo_restores_it(tmp_path):
    path = write_crops(tmp_path, [0.95, 0.5, 0.2])
    path.chmod(0o644)
    store = LabelStore(str(path))
    assert store.page(0, 10)[0]["score"] == 0.5  # least certain first
    counts = store.label(0, "target")
    assert (counts["labels"]["target"], counts["labeled"], counts["first_unlabeled"]) == (1, 1, 1)
    on_disk = {json.loads(line)["uri"]: json.loads(line)["label"] for line in path.read_text().splitlines()}
    assert on_disk == {"crops/c0000.jpg": "", "crops/c0001.jpg": "target", "crops/c0002.jpg": ""}
    store.label(2, "other")
    positions, counts = store.undo()
    assert positions == [2] and counts["labels"]["other"] == 0
    assert [json.loads(line)["label"] for line in path.read_text().splitlines()] == ["", "target", ""]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temp file left behind
    assert path.stat().st_mode & 0o777 == 0o644
    assert LabelStore(str(path)).counts()["labels"]["target"] == 1  # a new server reads what was saved


def test_unknown_label_and_missing_file(tmp_path):
    store = LabelStore(str(write_crops(tmp_path, [0.4])))
    with pytest.raises(LabelError, match="unknown label"):
        store.label(0, "maybe")
    with pytest.raises(LabelError, match="does not exist"):
        LabelStore(str(tmp_path / "nope.jsonl"))


def test_a_folder_of_images_gets_its_own_crops_jsonl(tmp_path):
    write_crops(tmp_path, [0.3, 0.7], name="other-name.jsonl")
    store = LabelStore(str(tmp_path / "crops"))
    assert store.counts()["total"] == 2
    store.label(1, "skip")
    saved = (tmp_path / "crops" / "crops.jsonl").read_text().splitlines()
    assert [json.loads(line)["label"] for line in saved] == ["", "skip"]
    assert store.image_uri(0).endswith("crops/c0000.jpg")


def test_gs_crops_are_labeled_in_place(tmp_path, gcs_emulator):
    write_crops(tmp_path, [0.5, 0.9])
    uri = gcs_emulator.upload_dir(tmp_path, "to-label")
    store = LabelStore(f"{uri}/crops.jsonl")
    store.label(0, "other")
    blob = gcs_emulator.client().bucket(gcs_emulator.bucket).blob("to-label/crops.jsonl")
    labels = [json.loads(line)["label"] for line in blob.download_as_text().splitlines()]
    assert labels == ["other", ""]
    assert store.image_uri(0) == f"{uri}/crops/c0000.jpg"
    server, url = serve_in_background(store)
    try:
        with urllib.request.urlopen(url + "crop/0.jpg", timeout=10) as image:
            assert image.read(2) == b"\xff\xd8"  # served from gs:// through Beam's filesystems
    finally:
        server.shutdown()
        server.server_close()
    folder = LabelStore(f"{uri}/crops")  # a gs:// folder of images without an index gets one
    assert folder.counts()["total"] == 2
    folder.label(1, "target")
    assert "to-label/crops/crops.jsonl" in gcs_emulator.names("to-label/crops/")


@pytest.mark.slow  # starts a process or builds many scenes
def test_the_command_prints_its_url_and_a_killed_server_loses_no_label(tmp_path):
    path = write_crops(tmp_path, [0.5, 0.9, 0.1])
    repo = Path(__file__).resolve().parents[3]
    server = subprocess.Popen([sys.executable, "-m", "models.label", str(path), "--port", "0"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline(), server.stdout.readline()]
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[1]).group(0)
        assert "labeling 3 crops (0 labeled)" in lines[0]
        status, counts = post(url, "/api/label", {"position": 0, "label": "target"}, page_token(url))
        assert status == 200 and counts["labels"]["target"] == 1
        with urllib.request.urlopen(url + "crop/0.jpg", timeout=10) as image:
            assert image.headers["Content-Type"] == "image/jpeg" and image.read(2) == b"\xff\xd8"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert [json.loads(line)["label"] for line in path.read_text().splitlines()] == ["target", "", ""]


def test_label_many_saves_once_and_undoes_as_one_step(tmp_path):
    path = write_crops(tmp_path, [0.5, 0.9, 0.1, 0.45])
    store = LabelStore(str(path))
    store.label(0, "target")
    counts = store.label_many([1, 2, 3], "other")
    assert (counts["labels"]["other"], counts["unlabeled"]) == (3, 0)
    assert sorted(labels for labels in (json.loads(line)["label"] for line in path.read_text().splitlines())) == [
        "other", "other", "other", "target"]
    positions, counts = store.undo()
    assert positions == [1, 2, 3] and (counts["labels"]["other"], counts["labels"]["target"]) == (0, 1)
    with pytest.raises(LabelError, match="no crop at position"):
        store.label_many([1, 99], "other")
    assert store.counts()["labels"]["other"] == 0  # nothing of a refused request is saved


def test_filters_select_unlabeled_predicted_and_score_range(tmp_path):
    path = write_crops(tmp_path, [0.1, 0.3, 0.5, 0.7, 0.9])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:  # a threshold of 0.6, as crops_output writes it, and no `predicted` on one row
        row["threshold"] = 0.6
        row["predicted"] = "target" if row["target_score"] >= 0.6 else "other"
    del rows[4]["predicted"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = LabelStore(str(path))
    scores = lambda positions: sorted(store.record(p)["target_score"] for p in positions)  # noqa: E731
    assert scores(store.select(Filter(predicted="target"))) == [0.7, 0.9]  # 0.9 by its score and threshold
    assert scores(store.select(Filter(min_score=0.3, max_score=0.7))) == [0.3, 0.5, 0.7]
    store.label(store.select(Filter(min_score=0.5, max_score=0.5))[0], "skip")
    assert scores(store.select(Filter(unlabeled=True, predicted="other"))) == [0.1, 0.3]
    assert store.crops([0])[0]["threshold"] == 0.6
