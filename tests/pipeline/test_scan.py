"""The whole scan through pipeline.run: every input accounted for, re-runs reproducible."""
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.run import run

pytestmark = pytest.mark.slow


def _rows(out: Path, table: str) -> list[dict]:
    """Every row of every scan, read as an analyst would: the whole folder, scan_id from the partition path."""
    if not (out / table).exists():
        return []
    return pq.read_table(out / table).to_pylist()


def _toy_args(toy_models, inputs, out, scan_id="t1", *extra):
    return ["--input", inputs, "--output", str(out), "--scan_id", scan_id, "--no_progress",
            "--detector", str(toy_models["detector"]), "--classifier", str(toy_models["classifier"]),
            "--segmenter", str(toy_models["segmenter"]), *extra]


@pytest.fixture()
def mixed_inputs(tmp_path):
    """The bad-input corpus plus a few good images the toy models find bottles in."""
    from tests.corpus import write_bad_corpus

    folder = tmp_path / "in"
    folder.mkdir()
    expected = write_bad_corpus(folder)
    for name, rgb in {"good_white.png": (255, 255, 255), "good_black.png": (0, 0, 0)}.items():
        Image.fromarray(np.full((200, 200, 3), rgb, np.uint8)).save(folder / name)
    return folder, expected


def _check_accounting(folder: Path, out: Path):
    inputs = {str(p) for p in folder.iterdir() if p.is_file()}
    summaries, failures = _rows(out, "summaries"), _rows(out, "failures")
    seen = [r["image_uri"] for r in summaries] + [r["image_uri"] for r in failures]
    assert sorted(seen) == sorted(inputs), "every input exactly once, in summaries or failures"
    return summaries, failures


def test_every_input_is_a_summary_or_a_failure(toy_models, mixed_inputs, tmp_path):
    folder, expected = mixed_inputs
    out = tmp_path / "out"
    report = run(_toy_args(toy_models, str(folder / "*"), out))
    summaries, failures = _check_accounting(folder, out)
    by_name = {Path(r["image_uri"]).name: r for r in failures}
    for name, error_type in expected.items():
        if error_type is not None:
            assert by_name[name]["error_type"] == error_type, name
            assert by_name[name]["message"]
    white = next(r for r in summaries if r["image_uri"].endswith("good_white.png"))
    assert (white["bottles"], white["target_bottles"]) == (2, 2)
    assert report.images == len(summaries) + len(failures)
    assert report.failures == len(failures)


def test_multi_processing_runner_accounts_the_same(toy_models, mixed_inputs, tmp_path):
    folder, _ = mixed_inputs
    out = tmp_path / "out"
    run(_toy_args(toy_models, str(folder / "*"), out, "mp", "--direct_running_mode=multi_processing",
                  "--direct_num_workers=2"))
    _check_accounting(folder, out)


def test_rerunning_a_scan_gives_the_same_rows(toy_models, mixed_inputs, tmp_path):
    folder, _ = mixed_inputs
    out = tmp_path / "out"

    def rows():
        got = {}
        for table in ("summaries", "failures"):
            for r in _rows(out, table):
                r.pop("processed_at")
                got[(table, r["image_uri"])] = r
        return got

    run(_toy_args(toy_models, str(folder / "*"), out, "same"))
    first = rows()
    run(_toy_args(toy_models, str(folder / "*"), out, "same"))
    assert rows() == first


def test_skip_scanned_only_scans_new_images(toy_models, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(folder / "monday.png")
    run(_toy_args(toy_models, str(folder / "*"), out, "monday", "--skip_scanned"))
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(folder / "tuesday.png")
    report = run(_toy_args(toy_models, str(folder / "*"), out, "tuesday", "--skip_scanned"))
    tuesday = [r["image_uri"] for r in _rows(out, "summaries") if r["scan_id"] == "tuesday"]
    assert tuesday == [str(folder / "tuesday.png")]
    assert report.images == 1


def test_crops_output_lists_every_detected_crop_least_certain_first(toy_models, mixed_inputs, tmp_path):
    import json

    folder, _ = mixed_inputs
    crops = tmp_path / "crops"
    report = run(_toy_args(toy_models, str(folder / "*"), tmp_path / "out", "c1", "--crops_output", str(crops)))
    lines = [json.loads(line) for line in (crops / "crops.jsonl").read_text().splitlines()]
    assert len(lines) == report.bottles > 0
    assert [r["uncertainty"] for r in lines] == sorted((r["uncertainty"] for r in lines), reverse=True)
    for record in lines:
        with Image.open(crops / record["uri"]) as crop:
            x0, y0, x1, y1 = record["box"]
            assert abs(crop.width - (x1 - x0)) <= 1 and abs(crop.height - (y1 - y0)) <= 1
        assert record["label"] == "" and record["group"] == record["image_uri"]
        assert record["predicted"] == ("target" if record["target_score"] >= record["threshold"] else "other")


def test_a_model_that_cannot_load_stops_the_job_before_it_starts(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pipeline.run", "--classifier", str(tmp_path / "missing"),
                           "--output", str(tmp_path / "out")], cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("shelfscan: cannot load the classifier model from") and "no such directory" in last
    assert not (tmp_path / "out").exists()


def test_hostile_inputs_each_come_back_once_and_the_rest_is_summarized(toy_models, tmp_path):
    """A FIFO, /dev/zero behind an image name, a dangling link, an oversized file and a name that is not
    UTF-8: one failure row each, nothing read from them, the good images summarized."""
    import os

    from tests.corpus import corrupt_avif, corrupt_tiff, mistyped_exif_jpeg

    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "fifo.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "dangling.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "huge.png").write_bytes(b"\x89PNG" + b"\0" * 300_000)
    (folder / "exif.jpg").write_bytes(mistyped_exif_jpeg(0x0128))
    (folder / "corrupt.tif").write_bytes(corrupt_tiff())
    (folder / "corrupt.avif").write_bytes(corrupt_avif())
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(folder / "good_white.png")
    with open(os.fsencode(str(folder)) + b"/caf\xe9.png", "wb") as f:
        Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(f, "PNG")
    out = tmp_path / "out"
    report = run(_toy_args(toy_models, str(folder / "*"), out, "hostile", "--max_image_bytes", "100000"))
    summaries, failures = _rows(out, "summaries"), _rows(out, "failures")
    latin = f"file://{folder}/caf%E9.png"
    assert sorted(r["image_uri"] for r in summaries) == sorted([str(folder / "good_white.png"), latin,
                                                                str(folder / "exif.jpg")])
    assert {Path(r["image_uri"]).name: r["error_type"] for r in failures} == {
        "fifo.jpg": "not_a_file", "zero.jpg": "not_a_file", "dangling.jpg": "dangling_link",
        "huge.png": "too_large", "corrupt.tif": "corrupt", "corrupt.avif": "corrupt"}
    assert report.images == 9 and report.failures == 6


def test_the_readme_reads_every_scan_of_an_output_in_pandas_and_duckdb(toy_models, mixed_inputs, tmp_path,
                                                                      monkeypatch, capsys):
    """The README's example, run as written on two scans: one row per photo, scan_id from the folder."""
    import re

    folder, _ = mixed_inputs
    out = tmp_path / "out"
    for scan_id in ("monday", "tuesday"):
        run(_toy_args(toy_models, str(folder / "*"), out, scan_id))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"<!-- read-output -->\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the example names the output "out", as the quick start writes it
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    rows = namespace["rows"]
    per_scan = len(_rows(out, "summaries")) // 2
    assert per_scan > 0 and len(rows) == 2 * per_scan
    assert sorted(set(rows["scan_id"].astype(str))) == ["monday", "tuesday"]
    printed = capsys.readouterr().out
    assert "monday" in printed and "tuesday" in printed and "photos" in printed
