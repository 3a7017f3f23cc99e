"""Write summary and failure rows to BigQuery with FILE_LOADS, replacing an earlier run of the same scan.

Re-running a scan_id replaces that scan's rows, not a partition. Tables are partitioned by day on
`processed_at`, the time each row was computed, so a partition is the wrong unit for a scan: a scan that
runs across midnight spans two partitions, a re-run on a later day lands in a different partition than
the run it replaces, and one day's partition holds every scan of that day. WRITE_TRUNCATE on
`table$YYYYMMDD` would either miss the old rows or wipe other scans.

So the rows are first loaded into a staging table of this run (`<table>__staging_<scan hash>_<run>`,
expiring after a day by itself), and only once every load job has succeeded does one multi-statement
transaction delete the scan's earlier rows and insert the staged ones. A reader sees the old rows until
the commit and the new ones after it, never neither and never both; a run that fails before the commit
changes nothing (its staging table expires). After the commit the run drops its staging table and
any a crashed run of the same scan left. Everything happens in the pipeline, on the workers: building a
Dataflow template never touches BigQuery. BigQuery cannot DELETE rows still in a streaming buffer;
FILE_LOADS never leaves any.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
from typing import Any, Iterable

import apache_beam as beam

from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, Field, bigquery_schema
from transforms.write import check_scan_id

PARTITION_FIELD = "processed_at"
CLUSTER_FIELDS = ("scan_id", "image_uri")
FAILURES_SUFFIX = "_failures"
STAGING_INFIX = "__staging_"
STAGING_LIFETIME = datetime.timedelta(days=1)

# Table names may hold dashes (BigQuery allows them); dataset names may not.
_SPEC = re.compile(r"^(?:bq://(?P<p1>[\w.-]+)\.|(?P<p2>[\w.-]+):)(?P<dataset>\w+)\.(?P<table>[\w-]+)$")
_TABLE_LIKE = re.compile(r"^[\w.-]+:[^/\\]")  # PROJECT:... and not a scheme:// or drive path


def looks_like_bigquery(output: str) -> bool:
    """Whether --output means a BigQuery table (bq://..., or PROJECT:...); parse_table says if it is one."""
    return output.startswith("bq://") or ("://" not in output and bool(_TABLE_LIKE.match(output)))


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

    @property
    def api(self) -> str:
        """The client library's `PROJECT.DATASET.TABLE` form."""
        return f"{self.project}.{self.dataset}.{self.table}"

    def suffixed(self, suffix: str) -> "TableSpec":
        return dataclasses.replace(self, table=self.table + suffix)

    def staging_prefix(self, scan_id: str) -> str:
        """Names of this scan's staging tables start with this (a hash: scan_ids may hold - and .)."""
        return f"{self.table}{STAGING_INFIX}{hashlib.sha256(scan_id.encode()).hexdigest()[:16]}_"

    def staged(self, scan_id: str, run: str) -> "TableSpec":
        return dataclasses.replace(self, table=self.staging_prefix(scan_id) + run)


def parse_table(output: str) -> TableSpec:
    """`bq://PROJECT.DATASET.TABLE` or `PROJECT:DATASET.TABLE` -> TableSpec."""
    m = _SPEC.match(output)
    if not m:
        raise ValueError(
            f"--output {output!r} is not a BigQuery table: write bq://PROJECT.DATASET.TABLE or "
            "PROJECT:DATASET.TABLE (dataset: letters, digits, _; table: also -), or give a directory "
            "for Parquet")
    return TableSpec(m.group("p1") or m.group("p2"), m.group("dataset"), m.group("table"))


def table_options(fields: tuple[Field, ...]) -> dict[str, Any]:
    """Partitioning and clustering, as both tables.insert and a load job's configuration take them."""
    names = {f.name: f.type for f in fields}
    if names.get(PARTITION_FIELD) != "TIMESTAMP":
        raise ValueError(f"partitioning needs a TIMESTAMP {PARTITION_FIELD!r} column; schema has {names}")
    return {"timePartitioning": {"type": "DAY", "field": PARTITION_FIELD},
            "clustering": {"fields": [f for f in CLUSTER_FIELDS if f in names]}}


def json_value(value: Any) -> Any:
    """A value as a BigQuery load file's JSON takes it: numpy scalars to Python, aware times to UTC text
    (TIMESTAMP), naive ones to civil time (DATETIME: captured_at, the camera's clock)."""
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    if hasattr(value, "item") and callable(value.item):  # numpy scalar (and 0-d array)
        return value.item()
    return value


def _table_resource(spec: TableSpec, fields: tuple[Field, ...], **extra: Any) -> dict[str, Any]:
    return {"tableReference": {"projectId": spec.project, "datasetId": spec.dataset, "tableId": spec.table},
            "schema": bigquery_schema(fields), **extra}


class _CreateTables(beam.DoFn):
    """Create the table if needed (partitioned, clustered) and this run's staging table (expiring)."""

    def __init__(self, spec: TableSpec, staging: TableSpec, fields: tuple[Field, ...]):
        self._spec, self._staging, self._fields = spec, staging, fields

    def process(self, unused) -> Iterable[str]:
        from google.cloud import bigquery

        client = bigquery.Client(project=self._spec.project)
        client.create_table(bigquery.Table.from_api_repr(
            _table_resource(self._spec, self._fields, **table_options(self._fields))), exists_ok=True)
        expires = datetime.datetime.now(datetime.timezone.utc) + STAGING_LIFETIME
        client.create_table(bigquery.Table.from_api_repr(_table_resource(
            self._staging, self._fields, expirationTime=str(int(expires.timestamp() * 1000)))), exists_ok=True)
        yield self._staging.api


def swap_script(spec: TableSpec, staging: TableSpec, scan_id: str, columns: list[str]) -> str:
    """One transaction: the scan's earlier rows out, the staged rows in.

    The scan_id is inlined, not a query parameter, as not every engine takes parameters in scripts;
    check_scan_id allows only letters, digits and - _ . so it cannot leave the string literal.
    """
    names = ", ".join(f"`{c}`" for c in columns)
    return (f"BEGIN TRANSACTION;\n"
            f"DELETE FROM {spec.sql} WHERE scan_id = '{check_scan_id(scan_id)}';\n"
            f"INSERT INTO {spec.sql} ({names}) SELECT {names} FROM {staging.sql};\n"
            f"COMMIT TRANSACTION;")


class _SwapIn(beam.DoFn):
    """Replace the scan's rows with the staged ones, then drop the scan's staging tables."""

    def __init__(self, spec: TableSpec, staging: TableSpec, fields: tuple[Field, ...], scan_id: str):
        self._spec, self._staging, self._fields, self._scan_id = spec, staging, fields, scan_id

    def process(self, unused, *unused_load_jobs) -> Iterable[str]:
        from google.cloud import bigquery

        client = bigquery.Client(project=self._spec.project)
        client.query(swap_script(self._spec, self._staging, self._scan_id,
                                 [f.name for f in self._fields])).result()
        prefix = self._spec.staging_prefix(self._scan_id)
        for table in client.list_tables(f"{self._spec.project}.{self._spec.dataset}"):
            if table.table_id.startswith(prefix):  # ours, and any a crashed run of this scan left
                client.delete_table(table.reference, not_found_ok=True)
        beam.metrics.Metrics.counter("shelfscan", f"bigquery_replaced_{self._spec.table}").inc()
        yield self._spec.api


def _after(row: dict[str, Any], unused_ready: str) -> dict[str, Any]:
    """The row, once the side input (the staging table) exists: this orders the load after its creation."""
    return json_value(row)


class WriteTableToBigQuery(beam.PTransform):
    """Row dicts -> one BigQuery table, replacing this scan_id's earlier rows once all are loaded.

    Args:
      spec: the table.
      fields: its schema (transforms.schema).
      scan_id: the scan whose rows these are.
      run: names this run's staging table.
    """

    def __init__(self, spec: TableSpec, fields: tuple[Field, ...], scan_id: str, run: str):
        super().__init__()
        self._spec, self._fields, self._scan_id = spec, fields, check_scan_id(scan_id)
        self._staging = spec.staged(scan_id, check_scan_id(run))

    def expand(self, rows):
        p = rows.pipeline
        created = (p | "Once" >> beam.Create([None])
                   | "CreateTables" >> beam.ParDo(_CreateTables(self._spec, self._staging, self._fields)))
        loaded = (rows
                  | "AfterCreate" >> beam.Map(_after, beam.pvalue.AsSingleton(created))
                  | "LoadStaging" >> beam.io.WriteToBigQuery(
                      self._staging.beam,
                      schema=bigquery_schema(self._fields),
                      method=beam.io.WriteToBigQuery.Method.FILE_LOADS,
                      create_disposition=beam.io.BigQueryDisposition.CREATE_IF_NEEDED,
                      write_disposition=beam.io.BigQueryDisposition.WRITE_APPEND))
        # Both job lists are complete only when every load (and copy) job has succeeded.
        return (p
                | "AfterLoads" >> beam.Create([None])
                | "SwapIn" >> beam.ParDo(
                    _SwapIn(self._spec, self._staging, self._fields, self._scan_id),
                    beam.pvalue.AsList(loaded.destination_load_jobid_pairs),
                    beam.pvalue.AsList(loaded.destination_copy_jobid_pairs),
                    beam.pvalue.AsSingleton(created)))


class WriteSummariesToBigQuery(WriteTableToBigQuery):
    """Summary rows -> the table named by --output (bq://P.D.T or P:D.T)."""

    def __init__(self, output: str, scan_id: str, run: str):
        super().__init__(parse_table(output), SUMMARY_FIELDS, scan_id, run)


class WriteFailuresToBigQuery(WriteTableToBigQuery):
    """Failure rows -> `<table>_failures` beside the summaries."""

    def __init__(self, output: str, scan_id: str, run: str):
        super().__init__(parse_table(output).suffixed(FAILURES_SUFFIX), FAILURE_FIELDS, scan_id, run)
