"""Incremental scans: the cut-off time and the already-scanned join."""
import datetime

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.cutoff import modified_after, parse_modified_after
from transforms.incremental import ScannedUris
from transforms.read import DropScanned

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("text, hours_before", [("26h", 26), ("7d", 168), ("90m", 1.5), ("1.5h", 1.5)])
def test_ages_count_back_from_now(text, hours_before):
    assert parse_modified_after(text, NOW) == NOW.timestamp() - hours_before * 3600


def test_iso_times_default_to_utc():
    assert parse_modified_after("2026-11-01T00:00:00Z", NOW) == parse_modified_after("2026-11-01T00:00:00", NOW)
    assert parse_modified_after("2026-11-01T01:00:00+01:00", NOW) == parse_modified_after("2026-11-01", NOW)


def test_bad_times_say_what_is_expected():
    with pytest.raises(ValueError, match="ISO 8601.*26h"):
        parse_modified_after("yesterday", NOW)


def test_files_without_a_time_are_kept():
    cutoff = NOW.timestamp()
    assert modified_after(FileMetadata("a.jpg", 1, last_updated_in_seconds=cutoff + 1), cutoff)
    assert not modified_after(FileMetadata("a.jpg", 1, last_updated_in_seconds=cutoff - 1), cutoff)
    assert modified_after(FileMetadata("a.jpg", 1), cutoff)


def _summaries(output, scan_id, uris):
    folder = output / "summaries" / f"scan_id={scan_id}"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"image_uri": uris, "bottles": [1] * len(uris)}), folder / "part-0.parquet")


def test_images_summarized_by_any_earlier_scan_are_dropped(tmp_path):
    _summaries(tmp_path, "scan-1", ["a.jpg", "b.jpg"])
    _summaries(tmp_path, "scan-2", ["c.jpg"])
    with TestPipeline() as p:
        scanned = p | ScannedUris(str(tmp_path), "scan-3")
        candidates = p | beam.Create([(u, u.upper()) for u in ("a.jpg", "c.jpg", "d.jpg", "e.jpg")])
        assert_that(candidates | DropScanned(scanned), equal_to([("d.jpg", "D.JPG"), ("e.jpg", "E.JPG")]))


def test_a_rerun_scan_does_not_skip_its_own_images(tmp_path):
    _summaries(tmp_path, "scan-1", ["a.jpg"])
    _summaries(tmp_path, "scan-2", ["b.jpg"])
    with TestPipeline() as p:
        assert_that(p | ScannedUris(str(tmp_path), "scan-2"), equal_to(["a.jpg"]))


def test_a_first_scan_drops_nothing(tmp_path):
    with TestPipeline() as p:
        scanned = p | ScannedUris(str(tmp_path / "empty"), "scan-1")
        candidates = p | beam.Create([("a.jpg", 1)])
        assert_that(candidates | DropScanned(scanned), equal_to([("a.jpg", 1)]))
