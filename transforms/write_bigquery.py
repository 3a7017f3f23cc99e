"""Write summary and failure rows to BigQuery with FILE_LOADS, replacing an earlier run of the same scan.

Re-running a scan_id deletes that scan's rows, then loads the new ones (delete-then-insert), rather than
overwriting a partition. Tables are partitioned by day on `processed_at`, the time each row was
computed, so a partition is the wrong unit for a scan: a scan that runs across midnight spans two
partitions, a re-run on a later day lands in a different partition than the run it replaces, and one
day's partition holds every scan of that day (the nightly scan, ad-hoc re-scans). WRITE_TRUNCATE on
`table$YYYYMMDD` would therefore either miss the old rows or wipe other scans. `DELETE ... WHERE scan_id
= @scan_id` removes exactly the scan being replaced, and clustering on scan_id keeps it cheap.

The delete runs inside the pipeline, once, before any row reaches the load: the rows take the delete's
result as a side input, and Beam runs a side input's producer to completion before its consumer. Doing
it in the pipeline (not at graph construction, like the Parquet writer's clear_scan) means building a
Dataflow template never touches BigQuery, and the delete runs with the workers' credentials. The cost
is a window, between the delete and the load job, in which that scan has no rows; a failed load
leaves it empty until the scan is re-run. BigQuery cannot DELETE rows still in a streaming buffer;
FILE_LOADS never leaves any.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any, Iterable

import apache_beam as beam

from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, Field, bigquery_schema

PARTITION_FIELD = "processed_at"
CLUSTER_FIELDS = ("scan_id", "image_uri")
FAILURES_SUFFIX = "_failures"

# The same forms as pipeline.sinks.is_bigquery routes here.
_SPEC = re.compile(r"^(?:bq://(?P<p1>[\w.-]+)\.|(?P<p2>[\w.-]+):)(?P<dataset>\w+)\.(?P<table>\w+)$")


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One BigQuery table."""

    project: str
    dataset: str
    table: str

    @property
    def beam(self) -> str:
        """Beam's `PROJECT:DATASET.TABLE` form."""
        return f"{self.project}:{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The GoogleSQL identifier."""
        return f"`{self.project}.{self.dataset}.{self.table}`"

    def suffixed(self, suffix: str) -> "TableSpec":
        return dataclasses.replace(self, table=self.table + suffix)


def parse_table(output: str) -> TableSpec:
    """`bq://PROJECT.DATASET.TABLE` or `PROJECT:DATASET.TABLE` -> TableSpec."""
    m = _SPEC.match(output)
    if not m:
        raise ValueError(
            f"--output {output!r} is not a BigQuery table: write bq://PROJECT.DATASET.TABLE or "
            "PROJECT:DATASET.TABLE (or give a directory for Parquet)")
    return TableSpec(m.group("p1") or m.group("p2"), m.group("dataset"), m.group("table"))


def table_options(fields: tuple[Field, ...]) -> dict[str, Any]:
    """Partitioning and clustering, as both tables.insert and a load job's configuration take them."""
    names = {f.name: f.type for f in fields}
    if names.get(PARTITION_FIELD) != "TIMESTAMP":
        raise ValueError(f"partitioning needs a TIMESTAMP {PARTITION_FIELD!r} column; schema has {names}")
    return {"timePartitioning": {"type": "DAY", "field": PARTITION_FIELD},
            "clustering": {"fields": [f for f in CLUSTER_FIELDS if f in names]}}


def json_value(value: Any) -> Any:
    """A value as a BigQuery load file's JSON takes it: numpy scalars to Python, times to UTC text."""
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: rows must carry UTC times")
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    if hasattr(value, "item") and callable(value.item):  # numpy scalar (and 0-d array)
        return value.item()
    return value


class _ReplaceScan(beam.DoFn):
    """Create the table if needed (partitioned, clustered) and delete the scan's earlier rows."""

    def __init__(self, spec: TableSpec, fields: tuple[Field, ...], scan_id: str):
        self._spec, self._fields, self._scan_id = spec, fields, scan_id

    def process(self, unused) -> Iterable[int]:
        from google.cloud import bigquery

        client = bigquery.Client(project=self._spec.project)
        table = bigquery.Table.from_api_repr({
            "tableReference": {"projectId": self._spec.project, "datasetId": self._spec.dataset,
                               "tableId": self._spec.table},
            "schema": bigquery_schema(self._fields), **table_options(self._fields)})
        client.create_table(table, exists_ok=True)
        job = client.query(
            f"DELETE FROM {self._spec.sql} WHERE scan_id = @scan_id",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[bigquery.ScalarQueryParameter("scan_id", "STRING", self._scan_id)]))
        job.result()
        deleted = job.num_dml_affected_rows or 0
        beam.metrics.Metrics.counter("shelfscan", f"bigquery_replaced_rows_{self._spec.table}").inc(deleted)
        yield deleted


def _after(row: dict[str, Any], unused_deleted: int) -> dict[str, Any]:
    """The row, once the side input (the delete's result) exists: this orders the load after the delete."""
    return json_value(row)


class WriteTableToBigQuery(beam.PTransform):
    """Row dicts -> one BigQuery table, replacing this scan_id's earlier rows.

    Args:
      spec: the table.
      fields: its schema (transforms.schema).
      scan_id: the scan whose rows these are.
    """

    def __init__(self, spec: TableSpec, fields: tuple[Field, ...], scan_id: str):
        super().__init__()
        self._spec, self._fields, self._scan_id = spec, fields, scan_id
        self._options = table_options(fields)

    def expand(self, rows):
        deleted = (rows.pipeline
                   | "Once" >> beam.Create([None])
                   | "DeleteEarlierRows" >> beam.ParDo(_ReplaceScan(self._spec, self._fields, self._scan_id)))
        return (rows
                | "AfterDelete" >> beam.Map(_after, beam.pvalue.AsSingleton(deleted))
                | "Load" >> beam.io.WriteToBigQuery(
                    self._spec.beam,
                    schema=bigquery_schema(self._fields),
                    method=beam.io.WriteToBigQuery.Method.FILE_LOADS,
                    create_disposition=beam.io.BigQueryDisposition.CREATE_IF_NEEDED,
                    write_disposition=beam.io.BigQueryDisposition.WRITE_APPEND,
                    additional_bq_parameters=self._options))


class WriteSummariesToBigQuery(WriteTableToBigQuery):
    """Summary rows -> the table named by --output (bq://P.D.T or P:D.T)."""

    def __init__(self, output: str, scan_id: str):
        super().__init__(parse_table(output), SUMMARY_FIELDS, scan_id)


class WriteFailuresToBigQuery(WriteTableToBigQuery):
    """Failure rows -> `<table>_failures` beside the summaries."""

    def __init__(self, output: str, scan_id: str):
        super().__init__(parse_table(output).suffixed(FAILURES_SUFFIX), FAILURE_FIELDS, scan_id)
