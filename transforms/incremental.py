"""Incremental scans: leave out files older than a cut-off, or already summarized by an earlier scan."""
from __future__ import annotations

import datetime
import io
import re
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_modified_after(text: str, now: datetime.datetime) -> float:
    """Epoch seconds for an ISO 8601 time ("2026-11-01T00:00:00Z") or an age before `now` ("26h", "7d").

    A scheduled job passes the same age every night, so it scans what arrived since the last run,
    with a margin for late uploads.
    """
    age = _AGE.match(text)
    if age:
        return now.timestamp() - float(age.group(1)) * _SECONDS[age.group(2)]
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--modified_after {text!r}: expected ISO 8601 (2026-11-01T00:00:00Z) "
                         "or an age such as 26h or 7d") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def modified_after(metadata: FileMetadata, cutoff: float) -> bool:
    """True if the file changed after `cutoff`; files whose filesystem reports no time are kept."""
    updated = getattr(metadata, "last_updated_in_seconds", None)
    return not updated or updated > cutoff


def summary_files(output: str, scan_id: str) -> list[str]:
    """Committed summaries files of every scan but `scan_id` under a Parquet `output` (each scan's as
    its commit log names them: staged files, Beam temp shards and a half-done commit never count)."""
    from transforms.commit_log import committed_files, scan_ids

    return [f for other in scan_ids(output, "summaries") if other != scan_id
            for f in committed_files(output, "summaries", other)]


def image_uris(path: str) -> Iterable[str]:
    """The image_uri column of one summaries Parquet file."""
    import pyarrow.parquet as pq

    with FileSystems.open(path, compression_type="uncompressed") as f:
        table = pq.read_table(io.BytesIO(f.read()), columns=["image_uri"])
    yield from table.column("image_uri").to_pylist()


class _QueryScanned(beam.DoFn):
    """Distinct image URIs of a BigQuery summaries table, other scans only (none if it does not exist)."""

    def __init__(self, spec, scan_id: str):
        self._spec, self._scan_id = spec, scan_id

    def process(self, unused) -> Iterable[str]:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        client = bigquery.Client(project=self._spec.project)
        query = f"SELECT DISTINCT image_uri FROM {self._spec.sql} WHERE scan_id != @scan_id"
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("scan_id", "STRING", self._scan_id)])
        try:
            for row in client.query(query, job_config=config).result(page_size=10_000):
                yield row["image_uri"]
        except NotFound:  # a first scan: no table yet
            return


class ScannedUris(beam.PTransform):
    """Image URIs that already have a summary row in `output` from another scan than `scan_id`.

    `output` is a Parquet prefix or a BigQuery table (bq://P.D.T, P:D.T). Rows of `scan_id` itself do
    not count: re-running a scan replaces its rows, so it must rescan its own images.
    """

    def __init__(self, output: str, scan_id: str):
        super().__init__()
        self.output, self.scan_id = output, scan_id

    def expand(self, pbegin):
        from transforms.write_bigquery import parse_table

        try:
            spec = parse_table(self.output)
        except ValueError:
            spec = None
        if spec is not None:
            return (pbegin | "Once" >> beam.Create([None])
                    | "QueryScanned" >> beam.ParDo(_QueryScanned(spec, self.scan_id)))
        return (pbegin
                | "SummariesOf" >> beam.Create([self.output])
                | "ListSummaries" >> beam.FlatMap(summary_files, self.scan_id)
                | "Spread" >> beam.Reshuffle()
                | "ImageUris" >> beam.FlatMap(image_uris))


def _unscanned(joined) -> Iterable:
    uri, groups = joined
    if not list(groups["scanned"]):
        yield from ((uri, value) for value in groups["candidate"])


class DropScanned(beam.PTransform):
    """Keep the (uri, value) pairs whose uri is not in `scanned`: a join, so it scales to any archive."""

    def __init__(self, scanned: beam.PCollection):
        super().__init__()
        self.scanned = scanned

    def expand(self, candidates):
        scanned = self.scanned | "KeyScanned" >> beam.Map(lambda uri: (uri, None))
        return ({"candidate": candidates, "scanned": scanned}
                | "JoinScanned" >> beam.CoGroupByKey()
                | "Unscanned" >> beam.FlatMap(_unscanned))
