"""Inputs are checked before any model loads: a mistake exits 2 with one line saying what to try."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.inputs import InputError, check_inputs

REPO = Path(__file__).resolve().parents[2]
# pipeline.run's __main__, then whether TensorFlow was imported: the check must come before it
MAIN_THEN_TF = ("import atexit, runpy, sys\n"
                "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules))\n"
                "runpy.run_module('pipeline.run', run_name='__main__', alter_sys=True)\n")


def _archive(root: Path) -> Path:
    """Photos only in subfolders, as an archive by store: root/store1/a.jpg, root/store2/2026/b.jpg."""
    for name in ("store1/a.jpg", "store2/2026/b.jpg"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"jpeg")
    (root / "store3").mkdir()
    return root


def _refused(patterns, input_list=None) -> str:
    with pytest.raises(InputError) as refused:
        check_inputs(patterns, input_list)
    (line,) = str(refused.value).splitlines()
    return line


def test_a_pattern_of_folders_only_suggests_the_recursive_one(tmp_path):
    root = _archive(tmp_path)
    assert _refused([f"{root}/*"]) == f"no files match {root}/*: it matches 3 folders; did you mean '{root}/**'?"
    assert "it matches 2 folders; did you mean" in _refused([f"{root}/store[12]"])


def test_a_star_that_misses_subfolders_says_how_to_look_there(tmp_path):
    root = _archive(tmp_path)
    assert _refused([f"{root}/*.jpg"]) == (f"no files match {root}/*.jpg: {root} has 3 subfolders that '*' does not "
                                           f"look into; to look there too: '{root}/**/*.jpg'")


def test_folders_and_patterns_that_match_are_accepted(tmp_path):
    root = _archive(tmp_path)
    for patterns in ([str(root)], [f"{root}/"], [f"{root}/**"], [f"{root}/*/*.jpg"], [f"{root}/store1/a.jpg"]):
        check_inputs(patterns, None)


def test_one_empty_pattern_among_matching_ones_is_left_to_the_failures_table(tmp_path):
    root = _archive(tmp_path)
    check_inputs([f"{root}/nothing/*.jpg", str(root)], None)


@pytest.mark.parametrize("pattern, says", [
    ("missing/x.jpg", "no file or folder is named {root}/missing/x.jpg; check the path"),
    ("missing", "no file or folder is named {root}/missing; check the path"),
    ("missing/*.jpg", "no files match {root}/missing/*.jpg: the folder {root}/missing does not exist"),
    ("store3", "no files under the folder {root}/store3: it holds none, at any depth"),
    ("**/*.png", "no files match {root}/**/*.png; check the path and the pattern"),
])
def test_inputs_that_match_nothing_say_what_was_looked_for(tmp_path, pattern, says):
    root = _archive(tmp_path)
    assert _refused([f"{root}/{pattern}"]).startswith(says.format(root=root))


def test_every_input_that_matches_nothing_is_named(tmp_path):
    root = _archive(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{root}/ghost.jpg\n")
    line = _refused([f"{root}/a", f"{root}/*.png"], str(listing))
    assert f"{root}/a;" in line and f"{root}/*.png:" in line
    assert line.endswith(f"none of the 1 names in --input_list {listing} exists (the first: {root}/ghost.jpg)")


def test_input_lists_that_cannot_be_read_or_name_nothing_are_refused(tmp_path):
    assert _refused([], str(tmp_path / "missing.txt")).startswith(
        f"--input_list {tmp_path / 'missing.txt'} cannot be read (FileNotFoundError")
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    assert _refused([], str(tmp_path / "empty.txt")) == f"--input_list {tmp_path / 'empty.txt'} names no files"
    root = _archive(tmp_path / "in")
    (tmp_path / "ok.txt").write_text(f"{root}/ghost.jpg\n{root}/store1/a.jpg\n")
    check_inputs([], str(tmp_path / "ok.txt"))


def test_unknown_schemes_are_refused_naming_the_known_ones(tmp_path):
    line = _refused(["nonsense://x/*.jpg"])
    assert line.startswith("--input nonsense://x/*.jpg: unknown scheme nonsense://; known here: ")
    assert "gs://" in line and line.endswith("and local paths")
    listing = tmp_path / "list.txt"
    listing.write_text("s4://bucket/a.jpg\n")
    assert _refused([], str(listing)).startswith(f"--input_list {listing} names s4://bucket/a.jpg: unknown scheme s4://")


def test_gs_without_credentials_is_one_line_saying_how_to_log_in(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # where gcloud keeps application-default credentials
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    assert _refused(["gs://shelfscan-photos/**"]) == (
        "cannot list gs://shelfscan-photos/**: no Google credentials (run `gcloud auth application-default login` "
        "or set GOOGLE_APPLICATION_CREDENTIALS)")
    # a Dataflow job lists its inputs on its workers, with their credentials: only the scheme is checked here
    check_inputs(["gs://shelfscan-photos/**"], None, listing=False)
    with pytest.raises(InputError, match="unknown scheme"):
        check_inputs(["nonsense://x"], None, listing=False)


def test_gs_patterns_are_listed_in_the_bucket(gcs_emulator, tmp_path):
    _archive(tmp_path / "photos")
    uri = gcs_emulator.upload_dir(tmp_path / "photos", "inputs-check")
    check_inputs([f"{uri}/**"], None)
    check_inputs([uri], None)  # no object has that name: a folder, everything under it
    assert _refused([f"{uri}/*.png"]).startswith(f"no files match {uri}/*.png; check the bucket and the path")


def _scan(*args: str, main: str | None = None) -> subprocess.CompletedProcess:
    command = ["-c", main] if main else ["-m", "pipeline.run"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *command, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("args, names", [
    (["--input", "{root}/*"], "did you mean '{root}/**'?"),
    (["--input", "{root}/missing"], "no file or folder is named {root}/missing"),
    (["--input", "{root}/store3"], "no files under the folder {root}/store3"),
    (["--input_list", "{root}/list.txt"], "--input_list {root}/list.txt cannot be read"),
    (["--input", "nonsense://x"], "unknown scheme nonsense://"),
    (["--output", "/sys/shelfscan-out"], "--output /sys/shelfscan-out is not writable"),
])
def test_each_mistake_exits_2_with_one_line_before_models_load(tmp_path, args, names):
    if "/sys/" in names and not os.path.isdir("/sys"):
        pytest.skip("needs sysfs, which takes no new files even from root")
    root = _archive(tmp_path)
    argv = [a.format(root=root) for a in args]
    done = _scan(*argv, "--no_progress", *([] if "--output" in argv else ["--output", str(tmp_path / "out")]))
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("shelfscan: ") and names.format(root=root) in lines[0]
    assert "loading" not in done.stdout.lower() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_check_comes_before_tensorflow_is_imported(tmp_path):
    done = _scan("--input", str(tmp_path / "missing"), "--no_progress", main=MAIN_THEN_TF)
    assert done.returncode == 2
    assert done.stdout.strip() == "tensorflow imported: False"
    assert done.stderr.strip() == f"shelfscan: no file or folder is named {tmp_path / 'missing'}; check the path"


@pytest.mark.slow
def test_a_gs_pattern_matching_nothing_exits_2_with_one_line(gcs_emulator, tmp_path):
    done = _scan("--input", f"gs://{gcs_emulator.bucket}/no-such-prefix/*.jpg", "--output", str(tmp_path / "out"),
                 "--no_progress")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == (f"shelfscan: no files match gs://{gcs_emulator.bucket}/no-such-prefix/*.jpg; "
                                   "check the bucket and the path ('*' stays in one folder, '**' looks below)")


@pytest.mark.slow
def test_a_folder_scan_reads_its_subfolders_and_the_table_says_why_they_failed(toy_models, tmp_path):
    root = tmp_path / "in"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "x.jpg").write_bytes(b"not an image")
    (root / "a" / "b" / "y.png").write_bytes(b"")
    done = _scan("--input", str(root), "--output", str(tmp_path / "out"), "--no_progress",
                 *(f"--{slot}={path}" for slot, path in toy_models.items()))
    assert done.returncode == 1, done.stderr[-2000:]
    table = [line.strip() for line in done.stdout.splitlines()]
    assert "images      2 (0 summarized, 2 failed)" in done.stdout
    assert f"decode/empty, e.g. {root}/a/b/y.png is an empty file (0 bytes); re-upload it" in table
    assert any(line.startswith(f"decode/not_an_image, e.g. {root}/a/x.jpg") for line in table), done.stdout
