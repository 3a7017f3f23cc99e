"""Incremental scans: the image URIs an earlier scan already summarized (the cut-off by time is
transforms/cutoff.py; ReadImages leaves both out)."""
from __future__ import annotations

import io
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.bigquery_table import parse_table
from transforms.commit_log import committed_files, scan_ids


def summary_files(output: str, scan_id: str) -> list[str]:
    """Committed summaries files of every scan but `scan_id` under a Parquet `output` (each scan's as
    its commit log names them: staged files, Beam temp shards and a half-done commit never count)."""
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
