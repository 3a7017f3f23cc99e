"""Pick the sink from --output: a Parquet directory prefix, or a BigQuery table."""
from __future__ import annotations

import re

from transforms.write import WriteParquet, clear_scan

_BQ = re.compile(r"^(bq://[\w.-]+\.\w+\.\w+|[\w.-]+:\w+\.\w+)$")


def is_bigquery(output: str) -> bool:
    return bool(_BQ.match(output))


def write_rows(rows, output: str, scan_id: str) -> str:
    """Attach the writers for `rows` (summaries, failures); returns where the output goes."""
    if is_bigquery(output):
        from transforms.write_bigquery import WriteFailuresToBigQuery, WriteSummariesToBigQuery

        rows["summaries"] | "WriteSummaries" >> WriteSummariesToBigQuery(output, scan_id)
        rows["failures"] | "WriteFailures" >> WriteFailuresToBigQuery(output, scan_id)
        return output
    clear_scan(output, scan_id)
    rows["summaries"] | "WriteSummaries" >> WriteParquet(output, "summaries", scan_id)
    rows["failures"] | "WriteFailures" >> WriteParquet(output, "failures", scan_id)
    return f"{output.rstrip('/')}/{{summaries,failures}}/scan_id={scan_id}/"
