"""The live progress line and the closing table, as a user sees them."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.progress import ProgressLine
from pipeline.report import ScanReport, report_hint
from transforms.progress import write_count

REPO = Path(__file__).resolve().parents[2]


def test_line_shows_done_of_listed_with_rate_and_eta_once_the_total_is_known():
    stream = io.StringIO()
    with ProgressLine(stream=stream) as line:
        assert line.update() == {}
        write_count(line.board, "inputs-1-a", 10)
        write_count(line.board, "detected-1-a", 3)
        write_count(line.board, "failures-2-b", 1)
        line.update()
        waiting = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
        assert waiting.startswith("scanning 3 images, still listing inputs") and "ETA" not in waiting
        write_count(line.board, "detected-2-b", 1)
        write_count(line.board, "listed-c", 12)
        assert line.update() == {"inputs": 10, "detected": 4, "failures": 1, "listed": 12}
        write_count(line.board, "inputs-1-a", 12)
        line.update()
        board = line.board
    last = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("scanning 4/12 images") and "img/s" in last and "ETA" in last and "1 failed" in last
    assert not os.path.exists(board)  # cleaned up


def test_status_speaks_in_place_on_a_terminal_and_in_lines_in_a_log():
    from pipeline.status import Status

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, tty = io.StringIO(), Terminal()
    for stream in (log, tty):
        status = Status(stream)
        status.say("checking options and inputs ...", transient=True)
        status.say("loading models ...")
        status.clear()
    assert log.getvalue() == "shelfscan: loading models ...\n"
    assert tty.getvalue() == ("\r\x1b[Kshelfscan: checking options and inputs ...\r\x1b[Kshelfscan: loading "
                              "models ...\r\x1b[K")


@pytest.mark.slow
def test_the_command_speaks_before_beam_loads():
    """The first line comes before any heavy import: pipeline.run's module imports neither Beam nor TF."""
    done = subprocess.run([sys.executable, "-c", "import sys, pipeline.run; print(sorted(m for m in sys.modules "
                           "if m.split('.')[0] in ('apache_beam', 'tensorflow')))"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_disabled_line_draws_nothing():
    stream = io.StringIO()
    with ProgressLine(enabled=False, stream=stream) as line:
        assert line.board is None
    assert stream.getvalue() == ""


def test_closing_table_names_failures_by_type_and_where_things_are():
    table = ScanReport("s1", 10, 30, 5, 3, 8.24, "out/{summaries,failures}/scan_id=s1/", 2.8,
                       {"decode/truncated": 2, "read/not_found": 1}, report="out/reports/s1.html").table()
    assert "failures    3: 2 decode/truncated, 1 read/not_found" in table
    assert "wall time   8.2 s, the whole command (the Beam job itself: 2.8 s)" in table
    assert "3.57 img/s while scanning" in table and "report      out/reports/s1.html" in table  # 10 in 2.8 s
    assert "report      not written: python -m pipeline.report out --scan_id s1" in ScanReport(
        "s1", 1, 1, 1, 0, 1.0, "out/x/", report=report_hint("out", "s1")).table()
    assert report_hint("bq://p.d.t", "s1") is None


@pytest.mark.slow
def test_a_scan_is_quiet_counts_right_and_writes_its_report(tmp_path):
    (tmp_path / "in").mkdir()
    sample = REPO / "pipeline" / "samples" / "images" / "000004.jpg"
    (tmp_path / "in" / "a.jpg").write_bytes(sample.read_bytes())
    (tmp_path / "in" / "broken.jpg").write_bytes(sample.read_bytes()[:300])
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "--input", str(tmp_path / "in" / "*"), "--output",
         str(tmp_path / "out"), "--scan_id", "q1", "--report", "--direct_num_workers=2",
         "--direct_running_mode=multi_processing"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    err = done.stderr.replace("\r", "\n")
    for noise in ("cuInit", "absl", "oneDNN", "cuda", "Discarding", "Resource module", "pkg_resources"):
        assert noise not in err, f"{noise!r} in stderr:\n{err}"
    assert "scanning 2/2 images" in err and "1 failed" in err
    assert "images      2 (1 summarized, 1 failed)" in done.stdout
    assert "failures    1: 1 decode/" in done.stdout
    assert (tmp_path / "out" / "reports" / "q1.html").exists()
    assert f"report      {tmp_path / 'out' / 'reports' / 'q1.html'}" in done.stdout


@pytest.mark.slow
def test_workers_never_discard_our_options(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "--input", str(REPO / "pipeline/samples/images/000002.jpg"),
         "--output", str(tmp_path), "--scan_id", "v1", "--verbose", "--no_progress", "--detector_batch_size=2",
         "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    discarded = [line for line in done.stderr.splitlines() if "Discarding unparseable args" in line]
    assert discarded or "Pipeline_options" in done.stderr or "INFO" in done.stderr  # verbose shows Beam's logs
    for line in discarded:
        for ours in ("detector_batch_size", "scan_id", "output", "input", "verbose"):
            assert f"--{ours}" not in line, line


@pytest.mark.slow
def test_the_board_moves_while_images_are_detected(tmp_path, monkeypatch):
    """Counts reach the board as images pass detection, not all at the end of the job."""
    import threading
    import time

    import pipeline.progress as progress
    from pipeline.run import run
    from transforms.progress import read_board

    for k in range(16):
        (tmp_path / f"{k}.jpg").write_bytes((REPO / "pipeline/samples/images" / f"00000{k % 5 + 1}.jpg").read_bytes())
    seen = []
    enter = progress.ProgressLine.__enter__

    def watched(self):
        def poll():
            while os.path.isdir(self.board):
                seen.append(dict(read_board(self.board)))
                time.sleep(0.05)
        threading.Thread(target=poll, daemon=True).start()
        return enter(self)

    monkeypatch.setattr(progress.ProgressLine, "__enter__", watched)
    report = run(["--input", str(tmp_path / "*.jpg"), "--output", str(tmp_path / "out"), "--scan_id", "m1"])
    assert report.images == 16
    # inputs may still be arriving (listing and detection overlap); what matters is detection seen midway
    partial = [s for s in seen if 0 < s.get("detected", 0) < 16]
    assert partial, f"the board never showed a scan half done: {seen[::10]}"
    assert not any(s.get("summaries") for s in partial)  # summaries come only at the end, as expected
    assert {s["listed"] for s in seen if "listed" in s} == {16}  # the total, once, before the end
