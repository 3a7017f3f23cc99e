"""The default scan on real photographs (models.realset): the real bottle is found, photos without a
bottle report none, and the demo classifier calls no real bottle the user's product."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import models.realset as realset
from models.evaluation.metrics import box_iou
from models.evaluation.truth import read_truth
from pipeline.evaluate import read_summaries
from pipeline.run import run

pytestmark = pytest.mark.slow

CAR_WASH = "motorcycle_left.png"  # the yellow car-wash bottle on the garage shelf


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    instances = realset.assemble(tmp_path_factory.mktemp("real"))
    folder = instances.parent
    out = tmp_path_factory.mktemp("out")
    report = run(["--input", str(folder / "images" / "*"), "--output", str(out), "--scan_id", "real",
                  "--no_progress"])
    rows = {Path(r["image_uri"]).name: r for r in read_summaries(str(out / "summaries" / "scan_id=real"))}
    return read_truth(instances), rows, report


def test_every_photo_is_summarized(scanned):
    truth, rows, report = scanned
    assert sorted(rows) == sorted(Path(i.image).name for i in truth.images)
    assert report.failures == 0


def test_the_car_wash_bottle_is_found(scanned):
    truth, rows, _ = scanned
    (image,) = [i for i in truth.images if Path(i.image).name == CAR_WASH]
    car_wash = max(image.bottles, key=lambda b: (b.box[3] - b.box[1]) * (b.box[2] - b.box[0]))
    found = np.array([d["box"] for d in rows[CAR_WASH]["detections"]]).reshape(-1, 4)
    assert box_iou(found, np.array([car_wash.box], dtype=float)).max() >= 0.5


@pytest.mark.parametrize("name", ["coffee.png", "grace_hopper.jpg", "astronaut.png", "chelsea.png", "rocket.jpg"])
def test_a_photo_without_bottles_reports_none(scanned, name):
    _, rows, _ = scanned
    assert rows[name]["bottles"] == 0 and rows[name]["detections"] == []


def test_no_real_bottle_is_called_the_demo_brand(scanned):
    _, rows, report = scanned
    scores = [d["target_score"] for r in rows.values() for d in r["detections"]]
    assert scores and max(scores) < 0.5
    assert report.targets == 0 and "demo classifier knows only" in report.note
