"""Pick the sink from --output: a Parquet directory prefix, or a BigQuery table."""
from __future__ import annotations

import uuid

from transforms.bigquery_table import looks_like_bigquery, parse_table
from transforms.commit_log import TABLES
from transforms.write import BeginRun, ReplaceScan, WriteParquet, staged_dir


def new_run_id() -> str:
    """Names one run's staging files and tables: a re-run of a scan never reuses a crashed run's."""
    return uuid.uuid4().hex[:12]


def write_rows(rows, output: str, scan_id: str, run: str | None = None) -> str:
    """Attach the writers for `rows` (summaries, failures); returns where the output goes.

    Either way the scan's earlier result is replaced as the job's last step, once the new one is complete.
    """
    run = run or new_run_id()
    if looks_like_bigquery(output):
        from transforms.write_bigquery import WriteScanToBigQuery

        parse_table(output)  # a malformed table name fails here, before the graph is built
        rows | "WriteBigQuery" >> WriteScanToBigQuery(output, scan_id, run)
        return output
    p = rows["summaries"].pipeline
    begun = p | "BeginRun" >> BeginRun(output, scan_id, run)
    written = {table: rows[table] | f"Write{table.capitalize()}" >> WriteParquet(
        staged_dir(output, scan_id, run, table), table, begun) for table in TABLES}
    p | "ReplaceScan" >> ReplaceScan(output, scan_id, run, written)
    return f"{output.rstrip('/')}/{{summaries,failures}}/scan_id={scan_id}/"
