"""Write summary and failure rows to BigQuery with FILE_LOADS, replacing an earlier run of the same scan.

Re-running a scan_id replaces that scan's rows, not a partition. Tables are partitioned by day on
`processed_at`, the time each row was computed, so a partition is the wrong unit for a scan: a scan that
runs across midnight spans two partitions, a re-run on a later day lands in a different partition than
the run it replaces, and one day's partition holds every scan of that day. WRITE_TRUNCATE on
`table$YYYYMMDD` would either miss the old rows or wipe other scans.

So the rows of both tables are first loaded into staging tables of this run
(`<table>__staging_<scan hash>_<run>`, expiring after a day by themselves), and only once every load job
of both has succeeded does one multi-statement transaction delete the scan's earlier rows and insert the
staged ones, summaries and failures together. A reader sees the old rows of both tables until the commit and
the new ones after it, never neither, never both, never new summaries beside old failures; a run that fails
or is killed before or during the commit changes nothing (its staging tables expire). Two runs of one scan
committing at once: BigQuery aborts one of the two conflicting transactions, which fails its run. After the
commit the run drops its staging tables and any a crashed run of the scan left. Everything happens in the
pipeline, on the workers: building a Dataflow template never touches BigQuery. BigQuery cannot DELETE rows
still in a streaming buffer; FILE_LOADS never leaves any.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Iterable, Sequence

import apache_beam as beam

from transforms.bigquery_table import TableSpec, parse_table
from transforms.commit_log import check_scan_id
from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, Field, bigquery_schema

PARTITION_FIELD = "processed_at"
CLUSTER_FIELDS = ("scan_id", "image_uri")
FAILURES_SUFFIX = "_failures"
STAGING_LIFETIME = datetime.timedelta(days=1)


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


def widened_schema(existing: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """`existing` (a table's schema fields, API form) with the fields of `wanted` it lacks appended, nested
    records included; None when it lacks none. A table created by an earlier shelfscan gets the columns added
    since, in place, so its old rows stay beside the new ones (as null there). BigQuery cannot add a REQUIRED
    field to a table that has rows, so added fields are NULLABLE (REPEATED stays REPEATED)."""
    have = {f["name"]: f for f in existing}
    out, changed = [], False
    for field in existing:
        want = next((w for w in wanted if w["name"] == field["name"]), None)
        if want and field.get("type") == "RECORD" and want.get("fields"):
            inner = widened_schema(field.get("fields", []), want["fields"])
            if inner is not None:
                field, changed = {**field, "fields": inner}, True
        out.append(field)
    for want in wanted:
        if want["name"] not in have:
            out.append(_relaxed(want))
            changed = True
    return out if changed else None


_SQL_TYPES = {"STRING": "STRING", "INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL",
              "TIMESTAMP": "TIMESTAMP", "DATETIME": "DATETIME"}


def sql_type(field: Field) -> str:
    """The GoogleSQL type of a column: records are STRUCTs, repeated fields ARRAYs."""
    inner = (f"STRUCT<{', '.join(f'{f.name} {sql_type(f)}' for f in field.fields)}>" if field.type == "RECORD"
             else _SQL_TYPES[field.type])
    return f"ARRAY<{inner}>" if field.mode == "REPEATED" else inner


def add_columns_sql(spec: TableSpec, fields: Sequence[Field]) -> str:
    """DDL adding top-level columns a table lacks (NULLABLE, or ARRAY when repeated)."""
    adds = ", ".join(f"ADD COLUMN IF NOT EXISTS `{f.name}` {sql_type(f)}" for f in fields)
    return f"ALTER TABLE {spec.sql} {adds}"


def _relaxed(field: dict[str, Any]) -> dict[str, Any]:
    out = {**field, "mode": "REPEATED" if field.get("mode") == "REPEATED" else "NULLABLE"}
    if field.get("fields"):
        out["fields"] = [_relaxed(f) for f in field["fields"]]
    return out


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
        table = client.create_table(bigquery.Table.from_api_repr(
            _table_resource(self._spec, self._fields, **table_options(self._fields))), exists_ok=True)
        # A table made by an earlier version grows, its rows stay: new columns by DDL, new fields of existing
        # records (which DDL cannot add) by a schema patch.
        have = {f.name for f in table.schema}
        missing = [f for f in self._fields if f.name not in have]
        if missing:
            client.query(add_columns_sql(self._spec, missing)).result()
            table = client.get_table(self._spec.api)
        wider = widened_schema([f.to_api_repr() for f in table.schema], bigquery_schema(self._fields)["fields"])
        if wider is not None:
            table.schema = [bigquery.SchemaField.from_api_repr(f) for f in wider]
            client.update_table(table, ["schema"])
        expires = datetime.datetime.now(datetime.timezone.utc) + STAGING_LIFETIME
        client.create_table(bigquery.Table.from_api_repr(_table_resource(
            self._staging, self._fields, expirationTime=str(int(expires.timestamp() * 1000)))), exists_ok=True)
        yield self._staging.api


@dataclasses.dataclass(frozen=True)
class Swap:
    """One table of a scan's commit: its rows out of `spec`, the staged rows in."""

    spec: TableSpec
    staging: TableSpec
    fields: tuple[Field, ...]


def commit_script(scan_id: str, swaps: list[Swap]) -> str:
    """One transaction for every table: the scan's earlier rows out, the staged rows in.

    The scan_id is inlined, not a query parameter, as not every engine takes parameters in scripts;
    check_scan_id allows only letters, digits and - _ . so it cannot leave the string literal.
    """
    lines = ["BEGIN TRANSACTION;"]
    for swap in swaps:
        names = ", ".join(f"`{f.name}`" for f in swap.fields)
        lines += [f"DELETE FROM {swap.spec.sql} WHERE scan_id = '{check_scan_id(scan_id)}';",
                  f"INSERT INTO {swap.spec.sql} ({names}) SELECT {names} FROM {swap.staging.sql};"]
    return "\n".join(lines + ["COMMIT TRANSACTION;"])


class _Commit(beam.DoFn):
    """Replace the scan's rows in every table at once, then drop the scan's staging tables."""

    def __init__(self, scan_id: str, swaps: list[Swap]):
        self._scan_id, self._swaps = scan_id, swaps

    def process(self, unused, *unused_load_jobs) -> Iterable[str]:
        from google.cloud import bigquery

        first = self._swaps[0].spec
        client = bigquery.Client(project=first.project)
        client.query(commit_script(self._scan_id, self._swaps)).result()
        prefixes = tuple(swap.spec.staging_prefix(self._scan_id) for swap in self._swaps)
        for swap in self._swaps:
            beam.metrics.Metrics.counter("shelfscan", f"bigquery_replaced_{swap.spec.table}").inc()
        for table in client.list_tables(f"{first.project}.{first.dataset}"):
            if table.table_id.startswith(prefixes):  # ours, and any a crashed run of this scan left
                client.delete_table(table.reference, not_found_ok=True)
        yield first.api


def _after(row: dict[str, Any], unused_ready: str) -> dict[str, Any]:
    """The row, once the side input (the staging table) exists: this orders the load after its creation."""
    return json_value(row)


class LoadStaging(beam.PTransform):
    """Row dicts -> this run's staging table of one BigQuery table; returns the load and copy job lists.

    Args:
      swap: the table, its staging table and its schema.
    """

    def __init__(self, swap: Swap):
        super().__init__()
        self._swap = swap

    def expand(self, rows):
        spec, staging, fields = self._swap.spec, self._swap.staging, self._swap.fields
        created = (rows.pipeline | "Once" >> beam.Create([None])
                   | "CreateTables" >> beam.ParDo(_CreateTables(spec, staging, fields)))
        loaded = (rows
                  | "AfterCreate" >> beam.Map(_after, beam.pvalue.AsSingleton(created))
                  | "LoadStaging" >> beam.io.WriteToBigQuery(
                      staging.beam,
                      schema=bigquery_schema(fields),
                      method=beam.io.WriteToBigQuery.Method.FILE_LOADS,
                      create_disposition=beam.io.BigQueryDisposition.CREATE_IF_NEEDED,
                      write_disposition=beam.io.BigQueryDisposition.WRITE_APPEND))
        return loaded.destination_load_jobid_pairs, loaded.destination_copy_jobid_pairs, created


class WriteScanToBigQuery(beam.PTransform):
    """{"summaries": rows, "failures": rows} -> the table named by --output and `<table>_failures`,
    replacing this scan_id's earlier rows in both in one transaction once every row of both is loaded.

    Args:
      output: bq://P.D.T or P:D.T.
      scan_id: the scan whose rows these are.
      run: names this run's staging tables.
    """

    def __init__(self, output: str, scan_id: str, run: str):
        super().__init__()
        spec, self._scan_id = parse_table(output), check_scan_id(scan_id)
        check_scan_id(run)
        self._swaps = {"summaries": Swap(spec, spec.staged(scan_id, run), SUMMARY_FIELDS)}
        failures = spec.suffixed(FAILURES_SUFFIX)
        self._swaps["failures"] = Swap(failures, failures.staged(scan_id, run), FAILURE_FIELDS)

    def expand(self, rows):
        waits = []
        for table, swap in self._swaps.items():
            waits += rows[table] | f"Load{table.capitalize()}" >> LoadStaging(swap)
        # The job lists are complete only when every load (and copy) job of both tables has succeeded.
        return (rows["summaries"].pipeline
                | "AfterLoads" >> beam.Create([None])
                | "Commit" >> beam.ParDo(_Commit(self._scan_id, list(self._swaps.values())),
                                         *(beam.pvalue.AsList(w) for w in waits)))
