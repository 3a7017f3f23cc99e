"""Write summary and failure rows as Parquet and commit them as the scan's result.

A run stages its files under OUTPUT/_staging/scan_id=ID/RUN/{summaries,failures}/, which readers never
look at. When both tables are written, one last step on the workers commits them through the scan's
commit log (transforms/commit_log.py, docs/COMMIT.md): under the scan's lease it moves them into
OUTPUT/{summaries,failures}/scan_id=ID/, creates the record that makes them the result, then deletes
the earlier run's files. A kill at any point leaves the scan one run's result for shelfscan readers,
and the next shelfscan command brings the folders in line for every other reader. Nothing here takes
a path as a glob.
"""
from __future__ import annotations

import re
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.commit_log import STAGING, TABLES, begin_run, check_scan_id, commit
from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, arrow_schema, parquet_fields

_GLOB_CHARS = re.compile(r"([*?\[])")


def check_output(output: str) -> str:
    """The Parquet output prefix if Beam's file sink can take it: that sink matches its own temp files
    with the prefix as a pattern, so * ? [ in it would reach other files."""
    if _GLOB_CHARS.search(output):
        raise ValueError(f"--output {output!r} holds * ? or [, which Beam's file writer reads as a "
                         "pattern; choose a directory name without them")
    return output


def staging_root(output: str, scan_id: str) -> str:
    """Where every run of this scan stages its files before they replace the scan's result."""
    return FileSystems.join(output.rstrip("/"), STAGING, f"scan_id={check_scan_id(scan_id)}")


def staged_dir(output: str, scan_id: str, run: str, table: str) -> str:
    """Where run `run` of the scan writes `table` before ReplaceScan moves it into place."""
    return FileSystems.join(staging_root(check_output(output), scan_id), check_scan_id(run), table)


class _Begin(beam.DoFn):
    """Mark this run live before it stages anything (see commit_log.begin_run)."""

    def __init__(self, output: str, scan_id: str, run: str):
        self._output, self._scan_id, self._run = output, scan_id, run

    def process(self, unused) -> Iterable[str]:
        begin_run(self._output, self._scan_id, self._run)
        yield self._run


class _Commit(beam.DoFn):
    def __init__(self, output: str, scan_id: str, run: str):
        self._output, self._scan_id, self._run = output, scan_id, run
        self._replaced = beam.metrics.Metrics.counter("shelfscan", "parquet_files_replaced")

    def process(self, unused, summaries: list[str], failures: list[str]) -> Iterable[str]:
        removed = commit(self._output, self._scan_id, self._run, {"summaries": summaries, "failures": failures})
        self._replaced.inc(removed)
        yield self._scan_id


def _after(row: dict, unused_begun: str) -> dict:
    """The row, once the side input (the run's staging marker) exists: orders the writes after it."""
    return row


class BeginRun(beam.PTransform):
    """Pipeline root -> this run's id, once its staging is marked live (see commit_log.begin_run)."""

    def __init__(self, output: str, scan_id: str, run: str):
        super().__init__()
        self._output, self._scan_id, self._run = check_output(output), check_scan_id(scan_id), check_scan_id(run)

    def expand(self, pbegin):
        return pbegin | "Once" >> beam.Create([None]) | "MarkLive" >> beam.ParDo(
            _Begin(self._output, self._scan_id, self._run))


class WriteParquet(beam.PTransform):
    """Row dicts -> Parquet files `part-SSSSS-of-NNNNN.parquet` under `prefix`; returns the file names.

    Args:
      prefix: a directory (local or gs://).
      table: "summaries" or "failures".
      begun: BeginRun's output; rows are written only once it exists.
    """

    def __init__(self, prefix: str, table: str, begun: beam.PCollection | None = None):
        super().__init__()
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self._prefix = FileSystems.join(prefix, "part")
        self._schema = arrow_schema(parquet_fields(SUMMARY_FIELDS if table == "summaries" else FAILURE_FIELDS))
        self._begun = begun

    def expand(self, rows):
        if self._begun is not None:
            rows = rows | "AfterBegin" >> beam.Map(_after, beam.pvalue.AsSingleton(self._begun))
        return rows | beam.io.WriteToParquet(
            self._prefix, self._schema, file_name_suffix=".parquet", codec="snappy")


class ReplaceScan(beam.PTransform):
    """Pipeline root -> the scan_id, once this run's files are committed as the scan's result.

    Args:
      output: directory prefix (local or gs://), taken literally.
      scan_id: the scan's partition (a safe name, see check_scan_id).
      run: names this run's staging directory and files (unique per run, see staged_dir).
      written: table -> the PCollection of file names its WriteParquet wrote under staged_dir.
    """

    def __init__(self, output: str, scan_id: str, run: str, written: dict[str, beam.PCollection]):
        super().__init__()
        self._output, self._scan_id, self._run = check_output(output), check_scan_id(scan_id), check_scan_id(run)
        self._written = written

    def expand(self, pbegin):
        # The side inputs hold back the commit until both tables are completely written.
        return (pbegin
                | "AfterWrites" >> beam.Create([None])
                | "Commit" >> beam.ParDo(_Commit(self._output, self._scan_id, self._run),
                                       beam.pvalue.AsList(self._written["summaries"]),
                                       beam.pvalue.AsList(self._written["failures"])))
