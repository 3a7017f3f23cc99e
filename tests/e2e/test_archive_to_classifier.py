"""A user's whole loop on synthetic scenes: scan with --crops_output, label the crops in the browser,
train a classifier on them, scan again with it and write the visual report."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from models.label.server import serve_in_background
from models.label.store import LabelStore
from pipeline.run import run

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def true_labels(crops_jsonl: Path, scenes: Path) -> dict[str, str]:
    """Crop file name -> the label a careful person would give it: the truth bottle it overlaps most."""
    from models.synth.truth import read_truth

    truth = {Path(t["image"]).name: t["bottles"] for t in read_truth(scenes / "truth.jsonl")}
    labels = {}
    for record in map(json.loads, crops_jsonl.read_text().splitlines()):
        bottles = truth[Path(record["image_uri"]).name]
        best = max(bottles, key=lambda b: iou(b["box"], record["box"]))
        labels[record["uri"].rsplit("/", 1)[-1]] = "target" if best["is_target"] else "other"
    return labels


def label_in_browser(page, crops_jsonl: Path, truth: dict[str, str]) -> None:
    """Label every crop with the keyboard, as the person at the page would, one page at a time."""
    server, url = serve_in_background(LabelStore(str(crops_jsonl)))
    try:
        page.goto(url)
        page.locator(".card.focus").wait_for()
        total = len(truth)
        for done in range(1, total + 1):
            name = page.evaluate("state.crops[state.focus].name")
            page.keyboard.press("T" if truth[name] == "target" else "O")
            page.wait_for_function(f"() => document.querySelector('#done').textContent.startsWith('{done} of {total}')")
            if done < total:  # on to the next crop; a finished page stays until N asks for the next
                if page.evaluate("state.crops.every(c => c.label)"):
                    page.keyboard.press("N")
                page.wait_for_function("() => state.crops[state.focus] && !state.crops[state.focus].label")
    finally:
        server.shutdown()
        server.server_close()


def test_scan_label_train_rescan_report(tmp_path, page):
    from models.synth import generator

    scenes = tmp_path / "scenes"
    generator.generate(scenes, 10, 77, max_side=800)
    images = str(scenes / "images" / "*.jpg")
    crops = tmp_path / "crops"
    first = run(["--input", images, "--output", str(tmp_path / "out"), "--scan_id", "first",
                 "--crops_output", str(crops), "--no_progress"])
    assert first.images == 10 and first.failures == 0
    crops_jsonl = crops / "crops.jsonl"
    truth = true_labels(crops_jsonl, scenes)
    assert set(truth.values()) == {"target", "other"}

    label_in_browser(page, crops_jsonl, truth)
    on_disk = {r["uri"].rsplit("/", 1)[-1]: r["label"] for r in map(json.loads, crops_jsonl.read_text().splitlines())}
    assert on_disk == truth

    model = tmp_path / "my_classifier"
    trained = subprocess.run(
        [sys.executable, "-m", "models.train_classifier", "--data", str(crops_jsonl), "--out", str(model),
         "--cache", str(tmp_path / "cache")],
        cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert f"--classifier {model}" in trained.stdout

    second = run(["--input", images, "--output", str(tmp_path / "out"), "--scan_id", "second",
                  "--classifier", str(model), "--report", "--no_progress"])
    assert second.images == 10 and second.report == str(tmp_path / "out" / "reports" / "second.html")
    rows = pq.read_table(tmp_path / "out" / "summaries" / "scan_id=second").to_pylist()
    versions = {r["classifier_version"] for r in rows}
    assert len(rows) == 10 and len(versions) == 1 and versions != {
        r["classifier_version"] for r in pq.read_table(tmp_path / "out" / "summaries" / "scan_id=first").to_pylist()}
    page.goto(Path(second.report).as_uri())
    assert "10\ninputs" in page.inner_text(".numbers")
    assert page.locator("svg.plot").count() == 5 and page.locator(".gallery img").count() >= 4
