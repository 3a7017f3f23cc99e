"""The commit protocol under kills and races: a scan is always exactly one run's summaries and that
run's failures, for shelfscan readers at every instant, and for plain readers after `recover`."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.commit_log import COMMIT_STEPS, COMMITS, TABLES, begin_run, commit, committed_files, recover
from transforms.object_store import store_for
from transforms.scan_lease import LeaseBusy

REPO = Path(__file__).resolve().parents[2]
FILES_PER_TABLE = 2
SCAN = "s"


class _Died(RuntimeError):
    pass


def _parquet(uris: list[str]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"image_uri": uris}), sink)
    return sink.getvalue()


def stage(output: str, run: str) -> dict[str, list[str]]:
    """Run `run`'s staged files: FILES_PER_TABLE per table, rows named after the run and the table."""
    store, staged = store_for(output), {}
    begin_run(output, SCAN, run)
    for table in TABLES:
        staged[table] = []
        for i in range(FILES_PER_TABLE):
            path = store.join(output, "_staging", f"scan_id={SCAN}", run, table, f"part-{i:05d}-of-00002.parquet")
            store.create_new(path, _parquet([f"{run}/{table}/{i}"]))
            staged[table].append(path)
    return staged


def _runs(store, paths: list[str], table: str) -> list[str]:
    runs = []
    for path in paths:
        for uri in pq.read_table(io.BytesIO(store.read(path))).column("image_uri").to_pylist():
            run, row_table, _ = uri.split("/")
            assert row_table == table
            runs.append(run)
    return runs


def one_run(output: str) -> str:
    """The run the scan is, as shelfscan readers see it; fails unless both tables are that run's, whole."""
    store = store_for(output)
    seen = {t: _runs(store, committed_files(output, t, SCAN), t) for t in TABLES}
    assert seen["summaries"] == seen["failures"] and len(set(seen["summaries"])) == 1, seen
    assert len(seen["summaries"]) == FILES_PER_TABLE, seen
    return seen["summaries"][0]


def plain_run(output: str) -> str:
    """The run the scan is to a reader of the folders alone (pandas, DuckDB): every file there."""
    store = store_for(output)
    folders = {t: store.list(store.join(output, t, f"scan_id={SCAN}")) for t in TABLES}
    seen = {t: _runs(store, paths, t) for t, paths in folders.items()}
    assert seen["summaries"] == seen["failures"] and len(seen["summaries"]) == FILES_PER_TABLE, seen
    return seen["summaries"][0]


def child(output: str, run: str, staged: dict, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "tests.transforms.commit_child", output, SCAN, run,
                             json.dumps(staged), *flags], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)


def expected_after(step: str) -> str:
    return "new" if COMMIT_STEPS.index(step) >= COMMIT_STEPS.index("recorded") else "old"


def check_death_at(output: str, step: str, die) -> None:
    commit(output, SCAN, "old", stage(output, "old"))
    die(stage(output, "new"))
    assert one_run(output) == expected_after(step), "shelfscan readers, before any recovery"
    assert recover(output, SCAN, wait_s=60)  # a killed gs:// holder's lease must expire first
    assert plain_run(output) == one_run(output) == expected_after(step), "plain readers after recover"
    commit(output, SCAN, "next", stage(output, "next"))
    assert plain_run(output) == one_run(output) == "next"
    staged = store_for(output).list(store_for(output).join(output, "_staging"))
    assert not [p for p in staged if "/old/" in p or "/next/" in p], "committed runs' staging is cleared"
    # The killed run's may stay (a day): no commit can tell a killed run from one still writing.


@pytest.mark.parametrize("step", COMMIT_STEPS)
def test_an_exception_at_any_step_leaves_one_run(tmp_path, step):
    def die(staged):
        def raise_at(name):
            if name == step:
                raise _Died(name)
        with pytest.raises(_Died):
            commit(str(tmp_path), SCAN, "new", staged, on_step=raise_at)

    check_death_at(str(tmp_path), step, die)


def _killed_child(output: str, step: str):
    def die(staged):
        # A killed holder's gs:// lease lasts its TTL: short here, so the next commit need not wait long.
        process = child(output, "new", staged, "--kill", step, "--ttl", "3")
        assert process.wait(timeout=120) == 0, process.stderr.read()
    return die


@pytest.mark.slow
@pytest.mark.parametrize("step", COMMIT_STEPS)
def test_a_kill_at_any_step_leaves_one_run(tmp_path, step):
    check_death_at(str(tmp_path), step, _killed_child(str(tmp_path), step))


@pytest.mark.slow
@pytest.mark.parametrize("step", COMMIT_STEPS)
def test_a_kill_at_any_step_on_gcs_leaves_one_run(gcs_emulator, step):
    output = f"gs://{gcs_emulator.bucket}/commit-kill-{step}"
    check_death_at(output, step, _killed_child(output, step))


def race(output: str, barrier: Path) -> None:
    """Two runs of the scan commit at once, released together; both succeed, one after the other."""
    commit(output, SCAN, "old", stage(output, "old"))
    staged = {run: stage(output, run) for run in ("a", "b")}  # both staged before either commits
    processes = [child(output, run, staged[run], "--barrier", str(barrier), "2") for run in ("a", "b")]
    for process in processes:
        assert process.wait(timeout=180) == 0, process.stderr.read()
    winner = one_run(output)
    assert winner in ("a", "b") and plain_run(output) == winner
    store = store_for(output)
    records = [p for p in store.list(store.join(output, COMMITS, f"scan_id={SCAN}")) if p.endswith(".json")]
    assert [json.loads(store.read(p))["run"] for p in sorted(records)][-2:] == [
        "b" if winner == "a" else "a", winner], "the two commits came one after the other"


@pytest.mark.slow
def test_two_runs_at_once_leave_one_run(tmp_path):
    race(str(tmp_path / "out"), tmp_path)


@pytest.mark.slow
def test_two_runs_at_once_on_gcs_leave_one_run(gcs_emulator, tmp_path):
    race(f"gs://{gcs_emulator.bucket}/commit-race", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("on_gcs", [False, True])
def test_a_second_run_that_cannot_wait_stops_with_one_line(tmp_path, request, on_gcs):
    output = f"gs://{request.getfixturevalue('gcs_emulator').bucket}/commit-busy" if on_gcs else str(tmp_path / "out")
    commit(output, SCAN, "old", stage(output, "old"))
    first = child(output, "a", stage(output, "a"), "--pause", "moved_summaries", str(tmp_path))
    try:
        while not (tmp_path / "paused-a").exists():
            assert first.poll() is None, first.stderr.read()
        assert one_run(output) == "old", "a commit half done is invisible to shelfscan readers"
        with pytest.raises(LeaseBusy, match="is being committed by"):
            commit(output, SCAN, "b", stage(output, "b"), wait_s=0.5)
    finally:
        (tmp_path / "go").touch()
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert plain_run(output) == one_run(output) == "a"


def test_a_reader_skips_recovery_while_a_commit_holds_the_lease(tmp_path):
    output = str(tmp_path / "out")
    commit(output, SCAN, "old", stage(output, "old"))

    def read_midway(name):
        if name == "moved_failures":  # both tables hold two runs' files now; the record says "old"
            assert recover(output, SCAN) is False
            assert one_run(output) == "old"

    commit(output, SCAN, "new", stage(output, "new"), on_step=read_midway)
    assert plain_run(output) == one_run(output) == "new"
