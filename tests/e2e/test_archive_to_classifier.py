"""A user's whole loop, as the README writes it: scan with --crops_output, label the crops in the browser,
train a classifier on them, scan again with it and write the visual report."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

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


def label_in_browser(page, url: str, truth: dict[str, str]) -> None:
    """Label every crop with the keyboard, as the person at the page would, one page at a time."""
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


def readme_loop() -> list[list[str]]:
    """The commands of the README's loop block, as a user copies them (comments dropped)."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- loop -->\n```\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.strip()]


def label_step(argv: list[str], cwd: Path, env: dict, page) -> str:
    """Run the label command as written, label in Chromium from the URL it prints, stop it with Ctrl-C."""
    server = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any("http://" in line for line in lines):
            line = server.stdout.readline()
            assert line, "models.label ended before printing its URL:\n" + "".join(lines)
            lines.append(line)
        url = re.search(r"http://127\.0\.0\.1:\d+/", "".join(lines)).group(0)
        crops_jsonl = cwd / argv[argv.index("models.label") + 1]
        truth = true_labels(crops_jsonl, cwd / "photos")
        assert set(truth.values()) == {"target", "other"}
        label_in_browser(page, url, truth)
        rows = map(json.loads, crops_jsonl.read_text().splitlines())
        on_disk = {r["uri"].rsplit("/", 1)[-1]: r["label"] for r in rows}
        assert on_disk == truth
    finally:
        server.send_signal(signal.SIGINT)
        said = server.communicate(timeout=60)[0]
    return said


def test_the_readme_loop_runs_as_written(tmp_path, page):
    """scan -> label -> train -> rescan -> report, each command copied from the README, in a fresh folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    said = {}
    for argv in readme_loop():
        assert argv[:2] == ["python", "-m"], argv
        argv = [sys.executable, *argv[1:]]
        command = argv[2]
        if command == "models.label":
            said[command] = label_step(argv, tmp_path, env, page)
            continue
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stderr[-3000:]}"
        said.setdefault(command, []).append(done.stdout)
    first, second = said["pipeline.run"]
    assert "python -m models.label out/crops/crops.jsonl --allow photos/images" in first  # the closing table
    assert "train with" in said["models.label"] and "--data out/crops/crops.jsonl" in said["models.label"]
    assert "--classifier my_classifier" in said["models.train_classifier"][0]
    assert "report      out/reports/second.html" in second
    rows = pq.read_table(tmp_path / "out" / "summaries").to_pandas()
    versions = rows.groupby("scan_id", observed=True)["classifier_version"].unique()
    assert len(versions["second"]) == 1 and set(versions["second"]) != set(versions["first"])
    page.goto((tmp_path / "out" / "reports" / "second.html").as_uri())
    assert page.locator(".banner").count() == 0  # our own classifier: no demo banner
    assert (tmp_path / "out" / "reports" / "second.csv").read_text().count("\n") == 1 + len(rows) // 2
