"""Write summary and failure rows as Parquet under OUTPUT/{summaries,failures}/scan_id=.../."""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, arrow_schema

_LOG = logging.getLogger(__name__)


def scan_prefix(output: str, table: str, scan_id: str) -> str:
    """Hive-style partition directory, so runs never overwrite each other."""
    return FileSystems.join(output.rstrip("/"), table, f"scan_id={scan_id}")


def clear_scan(output: str, scan_id: str) -> int:
    """Delete an earlier run's files of this scan_id: re-running a scan replaces it, never doubles it."""
    paths = []
    for table in ("summaries", "failures"):
        pattern = FileSystems.join(scan_prefix(output, table, scan_id), "*")
        for match in FileSystems.match([pattern])[0].metadata_list:
            paths.append(match.path)
    if paths:
        _LOG.info("replacing %d files of an earlier run of this scan", len(paths))
        FileSystems.delete(paths)
    return len(paths)


class WriteParquet(beam.PTransform):
    """Row dicts -> Parquet files `part-SSSSS-of-NNNNN.parquet` in the scan's directory.

    Args:
      output: directory prefix (local or gs://).
      table: "summaries" or "failures".
      scan_id: the scan's partition.
    """

    def __init__(self, output: str, table: str, scan_id: str):
        super().__init__()
        if table not in ("summaries", "failures"):
            raise ValueError(f"unknown table {table!r}")
        self._prefix = FileSystems.join(scan_prefix(output, table, scan_id), "part")
        self._schema = arrow_schema(SUMMARY_FIELDS if table == "summaries" else FAILURE_FIELDS)

    def expand(self, rows):
        return rows | beam.io.WriteToParquet(
            self._prefix, self._schema, file_name_suffix=".parquet", codec="snappy")
