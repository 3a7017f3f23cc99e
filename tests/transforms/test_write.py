"""Parquet replacement: a scan replaces only its own files, and only once its new files are complete."""
from __future__ import annotations

import datetime
import io
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.test_pipeline import TestPipeline

from pipeline.evaluate import read_summaries
from pipeline.sinks import write_rows
from transforms.beam_files import list_files
from transforms.commit_log import check_scan_id, is_result_file
from transforms.incremental import summary_files
from transforms.records import Failure
from transforms.rows import failure_row
from transforms.write import staged_dir

T0 = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)
HOSTILE = ["*", "victim-?", "x/../../..", "x/../../../../somedir", "store[12]", ".", "..", "", "a" * 129,
           "a b", "a\\b", "scan\n1"]


def failures(scan_id: str, names: list[str]) -> list[dict]:
    return [failure_row(Failure(n, "decode", "corrupt", "bad"), scan_id, T0) for n in names]


def write(out: str, scan_id: str, names: list[str], *, explode_after: int | None = None) -> None:
    """Write `names` as this scan's failures (no summaries); `explode_after` rows in, a DoFn raises."""

    def maybe_explode(row):
        if explode_after is not None and row["image_uri"] == names[explode_after]:
            raise RuntimeError("killed midway")
        return row

    with TestPipeline() as p:
        rows = (p | "Rows" >> beam.Create(failures(scan_id, names), reshuffle=False)
                | "Maybe" >> beam.Map(maybe_explode))
        write_rows({"summaries": p | "None" >> beam.Create([], reshuffle=False), "failures": rows}, out, scan_id)


def uris(out: Path, scan_id: str) -> list[str]:
    rows = []
    for f in sorted((out / "failures" / f"scan_id={scan_id}").iterdir()):
        rows += pq.read_table(f).column("image_uri").to_pylist()
    return sorted(rows)


def other_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("scan_id", HOSTILE)
def test_unsafe_scan_ids_are_refused(scan_id):
    with pytest.raises(ValueError, match="not a safe name"):
        check_scan_id(scan_id)
    with pytest.raises(ValueError, match="not a safe name"):
        staged_dir("out", scan_id, "run1", "summaries")


@pytest.mark.parametrize("scan_id", ["scan-20261124T120000Z", "store12_a.b", "a" * 128, "..a", "a.."])
def test_safe_scan_ids_pass(scan_id):
    assert check_scan_id(scan_id) == scan_id


def test_listing_takes_a_glob_like_output_literally(tmp_path):
    for folder in ("out[1]", "out1", "out*x", "outYx"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f.parquet").write_bytes(b"x")
    assert [m.path for m in list_files(str(tmp_path / "out[1]"))] == [str(tmp_path / "out[1]" / "f.parquet")]
    assert [m.path for m in list_files(str(tmp_path / "out*x"))] == [str(tmp_path / "out*x" / "f.parquet")]
    assert list_files(str(tmp_path / "missing")) == []


@pytest.mark.parametrize("output", ["out*", "gs://b/out?", "out[1]"])
def test_a_glob_like_output_is_refused(output):
    with pytest.raises(ValueError, match="pattern"):
        staged_dir(output, "s", "run1", "summaries")


def test_result_files_exclude_staged_temp_and_hidden():
    assert is_result_file("out/summaries/scan_id=a/part-r-00000-of-00001.parquet")
    assert not is_result_file("out/_staging/scan_id=a/r/summaries/part-00000-of-00001.parquet")
    assert not is_result_file("out/summaries/scan_id=a/beam-temp-part-1234/5678.parquet")
    assert not is_result_file("out/summaries/scan_id=a/.part.parquet")
    assert not is_result_file("out/summaries/scan_id=a/part.json")


@pytest.mark.slow
def test_a_scan_replaces_only_its_own_files(tmp_path):
    out = tmp_path / "scans"
    sibling = tmp_path / "scans-other"
    write(str(out), "victim-1", ["v1.jpg"])
    write(str(out), "victim-2", ["v2.jpg"])
    write(str(sibling), "store", ["s.jpg"])
    (tmp_path / "outside.txt").write_text("keep")
    before_victims = (other_files(out / "failures" / "scan_id=victim-1")
                      | other_files(out / "failures" / "scan_id=victim-2"))
    before_sibling, before_outside = other_files(sibling), (tmp_path / "outside.txt").read_text()

    write(str(out), "store", ["a.jpg", "b.jpg"])
    write(str(out), "store", ["c.jpg"])

    assert uris(out, "store") == ["c.jpg"]
    after = other_files(out / "failures" / "scan_id=victim-1") | other_files(out / "failures" / "scan_id=victim-2")
    assert after == before_victims
    assert other_files(sibling) == before_sibling and (tmp_path / "outside.txt").read_text() == before_outside
    assert not (out / "_staging").exists(), "staging is cleared once the scan is replaced"


@pytest.mark.slow
def test_a_rerun_killed_midway_leaves_the_earlier_result_whole(tmp_path):
    out = tmp_path / "out"
    write(str(out), "s", ["old1.jpg", "old2.jpg"])
    before = other_files(out / "failures")

    with pytest.raises(Exception, match="killed midway"):
        write(str(out), "s", [f"new{i}.jpg" for i in range(6)], explode_after=3)

    assert other_files(out / "failures") == before
    assert uris(out, "s") == ["old1.jpg", "old2.jpg"]
    summaries_reader = summary_files(str(out), "another")
    assert all(is_result_file(f) for f in summaries_reader)


@pytest.mark.slow
def test_a_completed_rerun_after_a_crash_leaves_no_stale_rows(tmp_path):
    out = tmp_path / "out"
    write(str(out), "s", ["old.jpg"])
    # What a crash of the old writer (which wrote in place) left: a beam-temp shard in the scan's folder,
    # and a staging folder of a crashed run of the new one.
    for table in ("summaries", "failures"):
        temp = out / table / "scan_id=s" / "beam-temp-part-0123abcd"
        temp.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(failures("s", ["stale.jpg"])), temp / "shard.parquet")
    crashed = out / "_staging" / "scan_id=s" / "deadbeef0000" / "failures"
    crashed.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(failures("s", ["staged.jpg"])), crashed / "part-00000-of-00001.parquet")
    # Readers never count a staged file or a temp shard.
    assert [r["image_uri"] for r in read_summaries(str(out / "failures"))] == ["old.jpg"]
    (listed,) = summary_files(str(out), "other")  # the scan's one (empty) summaries file
    assert Path(listed).parent == out / "summaries" / "scan_id=s" and Path(listed).name.startswith("part-")

    write(str(out), "s", ["new.jpg"])

    assert uris(out, "s") == ["new.jpg"]
    assert not list((out / "summaries" / "scan_id=s").glob("beam-temp-*"))
    assert not (out / "_staging").exists()
    assert read_summaries(str(out / "summaries")) == [], "no summaries in this scan"


@pytest.mark.slow
def test_gs_scan_replaces_only_its_own_objects(gcs_emulator):
    bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
    out = f"gs://{gcs_emulator.bucket}/replace-test"
    write(out, "victim-1", ["v.jpg"])
    bucket.blob("replace-test/failures/scan_id=victim-?/keep.parquet").upload_from_string(b"not ours")
    bucket.blob("replace-test/failures/scan_id=s/beam-temp-part-99/x.parquet").upload_from_string(b"stale")
    victims = [n for n in gcs_emulator.names("replace-test/") if "victim" in n]

    write(out, "s", ["a.jpg", "b.jpg"])
    with pytest.raises(Exception, match="killed midway"):
        write(out, "s", ["c.jpg", "d.jpg", "e.jpg"], explode_after=1)
    names = gcs_emulator.names("replace-test/failures/scan_id=s/")
    assert len(names) == 1 and "beam-temp" not in names[0]
    with FileSystems.open(f"gs://{gcs_emulator.bucket}/{names[0]}") as f:
        assert sorted(pq.read_table(io.BytesIO(f.read())).column("image_uri").to_pylist()) == ["a.jpg", "b.jpg"]

    write(out, "s", ["c.jpg"])
    assert [n for n in gcs_emulator.names("replace-test/") if "victim" in n] == victims
    # The killed run's staging holds only its liveness marker: no commit may tell a killed run from a
    # live one still writing, so that goes after a day (docs/COMMIT.md).
    assert [n.rsplit("/", 1)[-1] for n in gcs_emulator.names("replace-test/_staging/")] == ["_started.json"]
    (name,) = gcs_emulator.names("replace-test/failures/scan_id=s/")
    with FileSystems.open(f"gs://{gcs_emulator.bucket}/{name}") as f:
        assert pq.read_table(io.BytesIO(f.read())).column("image_uri").to_pylist() == ["c.jpg"]
