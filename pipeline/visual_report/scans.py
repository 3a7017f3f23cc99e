"""The scans one OUTPUT holds, newest first, for `pipeline.report OUTPUT` without --scan_id.

"Newest" is the scan whose rows were processed last: the largest `processed_at` in its Parquet
footers' statistics (no row is read). Folder times would not do: gs:// has no folders, and copying an
OUTPUT resets them. A scan's files are listed by `collect.parquet_files` alone.
"""
from __future__ import annotations

import dataclasses
import datetime

from pipeline.visual_report.collect import parquet_files
from transforms import commit_log
from transforms.commit_log import TABLES


@dataclasses.dataclass(frozen=True)
class ScanInfo:
    scan_id: str
    rows: int  # summaries and failures
    last_processed: datetime.datetime | None


def scan_ids(output: str) -> list[str]:
    """Every scan_id with a folder under OUTPUT/summaries or OUTPUT/failures."""
    return sorted({scan_id for table in TABLES for scan_id in commit_log.scan_ids(output, table)})


def _footer(path: str) -> tuple[int, datetime.datetime | None]:
    """Rows and the newest processed_at of one Parquet file, from its footer."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type="uncompressed") as f:
        meta = pq.ParquetFile(f).metadata
    column = meta.schema.names.index("processed_at") if "processed_at" in meta.schema.names else None
    newest = None
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics if column is not None else None
        if stats is not None and stats.has_min_max and (newest is None or stats.max > newest):
            newest = stats.max
    return meta.num_rows, newest


def scan_info(output: str, scan_id: str) -> ScanInfo:
    rows, newest = 0, None
    for table in TABLES:
        for path in parquet_files(output, table, scan_id):
            n, last = _footer(path)
            rows += n
            if last is not None and (newest is None or last > newest):
                newest = last
    return ScanInfo(scan_id, rows, newest)


def scans(output: str) -> list[ScanInfo]:
    """Every scan of OUTPUT, newest first (a scan without times last, then by name)."""
    from transforms.commit_log import check_scan_id

    infos = []
    for scan_id in scan_ids(output):
        try:
            check_scan_id(scan_id)
        except ValueError:  # a folder no scan wrote; nothing to report
            continue
        infos.append(scan_info(output, scan_id))
    oldest = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return sorted(infos, key=lambda s: (s.last_processed or oldest, s.scan_id), reverse=True)
