"""pipeline.bench: its arithmetic on made-up runs, both sides on toy models agreeing on every count, and
--against another checkout."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.bench import main as bench_main
from pipeline.bench_report import against_table, summarize, summarize_against, table

MACHINE = {"cpus": 2, "load_avg_1m_at_end": 0.3}


def _run(side, job_s, stages, command_s=20.0, images=10, others=0.02, repeat=0):
    calls = {"detector model": 3, "classifier model": 2, "segmenter model": 1}
    return {"side": side, "job_s": job_s, "images": images, "failures": 1, "bottles": 40, "targets": 8,
            "stage_s": stages, "calls": calls, "peak_rss_mb": 1000, "command_s": command_s, "settings": {},
            "others_cpu_share": others, "repeat": repeat}


BARE = {"load models": 2.0, "decode": 1.0, "waiting for images": 0.5, "detector model": 3.0, "classifier model": 2.0,
        "segmenter model": 1.0}
SCAN = {"load models": 2.2, "decode": 1.1, "detector model": 3.1, "classifier model": 2.5, "segmenter model": 1.0}


def test_fastest_runs_overhead_and_ratios():
    runs = [_run("bare", 10.5, BARE), _run("scan", 12.5, SCAN), _run("scan", 20.0, SCAN, repeat=1),
            _run("bare", 10.0, BARE, repeat=1), _run("bare", 30.0, BARE, repeat=2)]
    result = summarize("x/*.jpg", runs, MACHINE)
    assert result["img_per_s"] == {"bare": 1.0, "scan": 0.8}  # fastest: 10.0 s and 12.5 s
    assert result["runs_img_per_s"]["bare"] == [0.952, 1.0, 0.333]
    assert result["scan_over_bare"] == 0.8
    assert result["scan_over_bare_each_repeat"] == [0.84, 0.5]  # repeat 2 has no scan run
    bare, scan = result["seconds_per_image"]["bare"], result["seconds_per_image"]["scan"]
    # decode ran in decode threads: the chain's wait for it counts, its busy time does not
    assert bare["loop glue"] == pytest.approx(1.0 - 0.85) and bare["total"] == 1.0
    assert scan["Beam overhead"] == pytest.approx(1.25 - 0.85)  # the scan's total minus the bare stage sums
    assert result["bare_over_model_calls"] == pytest.approx(1.0 / 0.6, abs=1e-3)
    assert result["bare_over_model_calls_after_loading"] == pytest.approx(0.8 / 0.6, abs=1e-3)
    assert result["mean_batch"]["bare"] == {"detector": 3.0, "classifier": 20.0, "segmenter": 8.0}
    assert result["bottles_per_image"] == 4.0 and not result["machine"]["busy"]
    text = table(result)
    assert "quiet enough" in text and "Beam overhead" in text and "scan / bare 0.800" in text


def test_a_shared_machine_is_said_and_disagreeing_sides_stop_the_benchmark():
    shared = table(summarize("x", [_run("bare", 10.0, BARE), _run("scan", 12.0, SCAN, others=0.4)], MACHINE))
    assert "up to 40% of the machine's CPU" in shared and "SHARED, treat every speed below as provisional" in shared
    other = _run("scan", 12.0, SCAN)
    other["bottles"] = 41
    with pytest.raises(SystemExit, match="disagree"):
        summarize("x", [_run("bare", 10.0, BARE), other], MACHINE)


@pytest.mark.slow
def test_both_sides_on_toy_models_find_the_same_bottles(toy_models, tmp_path):
    colours = {"red": (255, 0, 0), "white": (255, 255, 255), "black": (0, 0, 0), "magenta": (255, 0, 255)}
    folder = tmp_path / "images"
    folder.mkdir()
    for name, rgb in colours.items():
        Image.fromarray(np.full((120, 160, 3), rgb, np.uint8)).save(folder / f"{name}.jpg", quality=95)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.bench", "--images", str(folder), "--work", str(tmp_path / "work"),
         *[f"--{slot}={path}" for slot, path in toy_models.items()]],
        cwd=repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result, end = json.JSONDecoder().raw_decode(done.stdout)
    assert result["images"] == 5 and result["failures"] == 1
    # red: box A; white: A and B, both targets (blue); magenta: A, target; black: none -> 4 bottles, 2 targets
    # over 5 inputs (the broken one counts as an input with no bottles)
    assert result["bottles_per_image"] == 0.8 and result["targets_per_image"] == 0.6
    bare = result["seconds_per_image"]["bare"]
    assert all(v >= 0 for v in bare.values()) and bare["total"] > 0  # measured: structure, never sums of times
    assert {"decode", "detector model", "classifier model", "segmenter model", "load models"} <= set(
        result["seconds_per_image"]["scan"])
    assert result["img_per_s"]["scan"] > 0 and result["peak_rss_mb"]["scan"] > 100
    assert 0 <= result["machine"]["others_cpu_share_max"] <= 1
    # full batches on both sides: the 4 decoded images in one detector batch, 4 crops, 3 targets
    assert result["mean_batch"]["scan"] == result["mean_batch"]["bare"] == {
        "detector": 4.0, "classifier": 4.0, "segmenter": 3.0}
    assert "seconds per image" in done.stdout[end:] and "Beam overhead" in done.stdout[end:]


def _checkout_run(side, command_s, repeat=0, views=42, recall=0.5):
    return {"side": side, "code": f"/src/{side}", "commit": side[:4], "exit": 0, "job_s": command_s / 2,
            "summaries": 9, "failures": 1, "bottles": 27, "detector_views": views, "peak_rss_mb": 900 + repeat,
            "command_s": command_s, "others_cpu_share": 0.01, "repeat": repeat, "recall": recall, "precision": 0.9,
            "true_bottles": 40, "photos_without_summary": 0}


def test_against_compares_each_sides_fastest_run_and_says_what_each_found():
    runs = [_checkout_run("this", 10.0), _checkout_run("against", 20.0, views=None, recall=0.4),
            _checkout_run("against", 25.0, repeat=1, views=None, recall=0.4), _checkout_run("this", 12.5, repeat=1)]
    result = summarize_against("x/*.jpg", 10, runs, MACHINE)
    this, against = result["sides"]["this"], result["sides"]["against"]
    assert (this["img_per_s"], against["img_per_s"]) == (1.0, 0.5)
    assert result["this_over_against"] == 2.0 and result["this_over_against_each_repeat"] == [2.0, 2.0]
    assert result["this_over_against_job"] == 2.0 and this["runs_img_per_s"] == [1.0, 0.8]
    assert this["detector_views_per_photo"] == 4.67 and against["detector_views_per_photo"] is None
    assert (this["recall"], against["recall"], this["peak_rss_mb"]) == (0.5, 0.4, 901)
    text = against_table(result)
    assert "this / against img/s: 2.000" in text and "WARNING" not in text
    assert "detector views per photo" in text and "4.67" in text


def test_against_a_folder_that_is_no_checkout_says_so_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=f"--against {tmp_path}: no pipeline/run.py there; give the root of"):
        bench_main(["--against", str(tmp_path), "--synth", "small:2", "--work", str(tmp_path / "work")])
    assert not (tmp_path / "work").exists(), "stopped before generating anything"


@pytest.mark.slow
def test_against_the_same_checkout_on_two_synthetic_scenes(toy_models, tmp_path):
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.bench", "--against", str(repo), "--synth", "small:2", "--repeat", "1",
         "--work", str(tmp_path / "work"), *[f"--{slot}={path}" for slot, path in toy_models.items()]],
        cwd=repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result, end = json.JSONDecoder().raw_decode(done.stdout)
    assert set(result["sides"]) == {"this", "against"} and result["images"] == 2
    assert result["this_over_against"] > 0 and len(result["this_over_against_each_repeat"]) == 1
    for side in result["sides"].values():
        assert side["summaries"] == 2 and side["img_per_s"] > 0 and side["peak_rss_mb"] > 100
        assert 0 <= side["recall"] <= 1 and 0 <= side["precision"] <= 1 and side["true_bottles"] > 0
        assert side["detector_views_per_photo"] == 1.0  # the toy detector takes 64 px: no slices of a small scene
    assert result["sides"]["this"]["recall"] == result["sides"]["against"]["recall"], "the same code finds the same"
    assert "this / against img/s" in done.stdout[end:]
