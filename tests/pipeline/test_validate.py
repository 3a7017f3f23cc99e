"""The command line is checked before any work: a bad one exits 2 with one line, and touches nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.report import ScanReport
from pipeline.run import failure_verdict, run
from pipeline.validate import OptionError

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.run", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow  # starts a process or builds many scenes
def test_a_mistyped_flag_exits_2_naming_it_and_the_closest_one(tmp_path):
    done = _cli("--ouput", str(tmp_path / "out"))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line == "shelfscan: unknown option --ouput: no scan or Beam option has that name; did you mean --output?"
    assert not (tmp_path / "out").exists() and not (REPO / "out" / "_staging").exists()


@pytest.mark.parametrize("argv, message", [
    (["--ouput=x"], "unknown option --ouput.*did you mean --output"),
    (["--input", "a.jpg", "b.jpg"], "unexpected argument 'b.jpg'.*quote it"),
    (["--classifier_threshold", "2"], "--classifier_threshold 2.0: must be between 0 and 1"),
    (["--detector_score_threshold", "-1"], "--detector_score_threshold -1.0: must be between 0 and 1"),
    (["--classifier_threshold", "nan"], "must be between 0 and 1"),
    (["--area_ratio_tolerance", "0.5"], "--area_ratio_tolerance 0.5: must be between 1 and 1000"),
    (["--model_copies", "-1"], "--model_copies -1: must be at least 1"),
    (["--detector_batch_size", "0"], "--detector_batch_size 0: must be at least 1"),
    (["--segmenter_batch_size", "100000"], "at most 4096"),
    (["--max_image_bytes", "0"], "--max_image_bytes 0: must be at least 1"),
    (["--slice_size", "10"], "--slice_size 10: must be 0 \\(no slicing\\) or at least 64 original pixels"),
    (["--slice_size", "-1"], "--slice_size -1: must be 0"),
    (["--slice_overlap", "1"], "--slice_overlap 1.0: must be at least 0 and below 1"),
    (["--slice_overlap", "-0.1"], "--slice_overlap -0.1: must be at least 0 and below 1"),
    (["--max_failure_rate", "1.5"], "--max_failure_rate 1.5: must be between 0 and 1"),
    (["--decode_bottle_share", "-0.1"], "--decode_bottle_share -0.1: must be between 0 and 1"),
    (["--decode_threads", "-1"], "--decode_threads -1: must be at least 0"),
    (["--scan_id", "a" * 300], "not a safe name"),
    (["--scan_id", "*"], "not a safe name"),
    (["--scan_id", "abc\n"], "not a safe name"),  # re.match's $ would let the newline through
    (["--detector_class_filter", "bottle"], "not comma-separated integers"),
    (["--modified_after", "yesterday"], "ISO 8601"),
    (["--output", "bq://p.ds.t"], "--temp_location is not set; add --temp_location=gs://"),
    (["--output", "bq://p.ds.t", "--temp_location=/tmp/x"], "--temp_location is /tmp/x"),
    (["--output", "bq://p.ds-x.t", "--temp_location=gs://b/t"], "not a BigQuery table"),
    (["--output", "p:ds.my-table"], "BigQuery loads files from Cloud Storage"),  # not silently Parquet
    (["--output", "out*"], "pattern"),
])
def test_bad_options_are_refused_before_any_work(argv, message):
    with pytest.raises(OptionError, match=message):
        run(argv)


@pytest.mark.parametrize("scan_id", ["*", "victim-?", "x/../../..", "store[12]"])
def test_hostile_scan_ids_touch_nothing(tmp_path, scan_id):
    out, outside = tmp_path / "out", tmp_path / "somedir"
    for folder in (out / "summaries" / "scan_id=victim-1", out / "summaries" / "scan_id=store1", outside):
        folder.mkdir(parents=True)
        (folder / "part-0.parquet").write_bytes(b"keep")
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(OptionError, match="not a safe name"):
        run(["--output", str(out), "--scan_id", scan_id])
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert all(p.read_bytes() == b"keep" for p in tmp_path.rglob("*.parquet"))


def test_an_output_that_cannot_take_a_file_is_refused_and_left_as_it_was(tmp_path):
    if not os.path.isdir("/sys"):
        pytest.skip("needs sysfs, which takes no new files even from root")
    with pytest.raises(OptionError, match="--output /sys/shelfscan/out is not writable"):
        run(["--output", "/sys/shelfscan/out"])
    run_output = tmp_path / "new" / "out"
    with pytest.raises(OptionError, match="no file or folder is named"):  # the output passed; inputs did not
        run(["--output", str(run_output), "--input", str(tmp_path / "missing.jpg")])
    assert not (tmp_path / "new").exists(), "the probe removes the folders it made"


def test_an_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(OptionError, match="is a file; give a directory"):
        run(["--output", str(tmp_path / "out")])


def test_exit_verdict_when_all_or_too_many_inputs_failed():
    def report(images, failures):
        return ScanReport("s", images, 0, 0, failures, 1.0, "out")

    assert failure_verdict(report(5, 5), None).startswith("every input failed (5 of 5)")
    assert failure_verdict(report(5, 4), None) is None
    assert "over --max_failure_rate 0.5" in failure_verdict(report(10, 6), 0.5)
    assert failure_verdict(report(10, 5), 0.5) is None
    assert failure_verdict(report(0, 0), 0.0) is None


@pytest.mark.slow
def test_a_scan_where_every_input_failed_exits_non_zero(toy_models, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not an image")
    (folder / "b.png").write_bytes(b"")
    done = _cli("--input", str(folder / "*"), "--output", str(tmp_path / "out"), "--no_progress",
                "--detector", str(toy_models["detector"]), "--classifier", str(toy_models["classifier"]),
                "--segmenter", str(toy_models["segmenter"]), timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "status  FAILED: every input failed (2 of 2); see the failures table"


def test_a_crops_output_holding_labels_is_never_written_over(tmp_path):
    from pipeline.validate import check_crops_output

    crops = tmp_path / "crops"
    crops.mkdir()
    index = crops / "crops.jsonl"
    index.write_text('{"uri": "a.jpg", "label": ""}\n{"uri": "b.jpg", "label": "target"}\nnot json\n')
    with pytest.raises(OptionError, match=r"holds .*crops.jsonl with 1 labels, which this scan would write over"):
        check_crops_output(str(crops))
    assert "target" in index.read_text()
    index.write_text('{"uri": "a.jpg", "label": ""}\n')
    check_crops_output(str(crops))  # nothing labeled yet: a new scan may replace the list
    check_crops_output(str(tmp_path / "new"))


def test_the_closing_table_says_where_crops_went_and_what_to_run_next():
    from pipeline.report import next_steps

    table = ScanReport("s1", 4, 9, 2, 0, 3.0, "out/x/", next_steps=next_steps(
        "out/crops", "out", "/photos/store 1", False)).table()
    assert "crops       out/crops/crops.jsonl: every detected bottle" in table
    assert "python -m models.label out/crops/crops.jsonl --allow '/photos/store 1'" in table
    assert "models.train_classifier --data out/crops/crops.jsonl" in table
    demo = ScanReport("s1", 4, 9, 2, 0, 3.0, "out/x/", next_steps=next_steps(None, "out", None, True)).table()
    assert "scan again with --crops_output out/crops" in demo
    assert next_steps(None, "out", None, False) == ()


def test_a_lease_refusal_is_one_line_however_the_runner_wraps_it():
    from pipeline.run import lease_refusal
    from transforms.scan_lease import LeaseBusy

    busy = LeaseBusy("scan 'a' under out is being committed by pid 7; re-run once that run is done")
    try:
        try:
            raise busy
        except LeaseBusy as e:
            raise RuntimeError("a DoFn failed") from e
    except RuntimeError as wrapped:
        assert lease_refusal(wrapped) == str(busy)
    as_text = RuntimeError("Error in stage Swap:\nLeaseBusy: scan 'a' is being committed\n  File ...")
    assert lease_refusal(as_text) == "scan 'a' is being committed"
    assert lease_refusal(ValueError("a bug")) is None
