"""Write summary and failure rows as Parquet under OUTPUT/{summaries,failures}/scan_id=.../, replacing
the scan's earlier files only once the new ones are complete.

A scan writes to its own staging directory, OUTPUT/_staging/scan_id=ID/RUN/{summaries,failures}/, which
readers never look at. When both tables are written, a last step on the workers moves the new files
into the scan's directories, then deletes what was there before (an earlier run's files, and
`beam-temp-*` leftovers of a crashed one) and every staging directory of the scan. New files are moved
in before old ones go, so a reader never finds the scan empty: at worst, for the moment of the swap
(or after a crash inside it), old and new rows both. Nothing here takes a path as a glob.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, arrow_schema

_LOG = logging.getLogger(__name__)

TABLES = ("summaries", "failures")
STAGING = "_staging"
MAX_SCAN_ID = 128
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_GLOB_CHARS = re.compile(r"([*?\[])")


def check_scan_id(scan_id: str) -> str:
    """The scan_id if it is one safe path segment (letters, digits, - _ .); ValueError otherwise."""
    if not _SAFE_NAME.fullmatch(scan_id) or scan_id in (".", "..") or len(scan_id) > MAX_SCAN_ID:
        raise ValueError(
            f"--scan_id {scan_id[:140]!r} is not a safe name: use up to {MAX_SCAN_ID} letters, digits, "
            "'-', '_' or '.' (not '.' or '..'), e.g. store12-2026-11-24")
    return scan_id


def check_output(output: str) -> str:
    """The Parquet output prefix if Beam's file sink can take it: that sink matches its own temp files
    with the prefix as a pattern, so * ? [ in it would reach other files."""
    if _GLOB_CHARS.search(output):
        raise ValueError(f"--output {output!r} holds * ? or [, which Beam's file writer reads as a "
                         "pattern; choose a directory name without them")
    return output


def scan_prefix(output: str, table: str, scan_id: str) -> str:
    """Hive-style partition directory, so runs never overwrite each other."""
    return FileSystems.join(output.rstrip("/"), table, f"scan_id={check_scan_id(scan_id)}")


def staging_root(output: str, scan_id: str) -> str:
    """Where every run of this scan stages its files before they replace the scan's result."""
    return FileSystems.join(output.rstrip("/"), STAGING, f"scan_id={check_scan_id(scan_id)}")


def staged_dir(output: str, scan_id: str, run: str, table: str) -> str:
    """Where run `run` of the scan writes `table` before ReplaceScan moves it into place."""
    return FileSystems.join(staging_root(check_output(output), scan_id), check_scan_id(run), table)


def is_result_file(path: str) -> bool:
    """A finished Parquet file of a scan: not staged, not a Beam temp shard, not hidden."""
    parts = path.replace("\\", "/").split("/")
    return parts[-1].endswith(".parquet") and not any(
        part.startswith(("_", ".", "beam-temp-")) for part in parts if part)


def list_files(directory: str) -> list[FileMetadata]:
    """Every file under `directory` (recursively), the directory taken literally, never as a glob."""
    directory = directory.rstrip("/\\")
    escaped = _GLOB_CHARS.sub(r"[\1]", directory)  # Beam's patterns have no escape; a class quotes
    try:
        with warnings.catch_warnings():  # "[[]" reads to re as a possible nested set; it is not one
            warnings.simplefilter("ignore", FutureWarning)
            found = FileSystems.match([FileSystems.join(escaped, "**")])[0].metadata_list
    except beam.io.filesystem.BeamIOError as e:
        if "://" in directory or os.path.exists(directory):
            raise
        _LOG.debug("nothing under %s: %s", directory, e)
        return []
    inside = (directory + "/", directory + os.sep)
    return [m for m in found if m.path.startswith(inside)]  # exact prefix, whatever the pattern did


def _final_name(scan_dir: str, run: str, staged: str) -> str:
    """part-00000-of-00002.parquet of run R -> part-R-00000-of-00002.parquet in the scan's directory."""
    base = staged.replace("\\", "/").rsplit("/", 1)[-1]
    return FileSystems.join(scan_dir, f"part-{run}-{base.removeprefix('part-')}")


def _move_in(staged: list[str], targets: list[str]) -> None:
    """Move staged files to their targets; a retry finds some already moved and moves the rest."""
    pending = [(s, t) for s, t in zip(staged, targets) if FileSystems.exists(s)]
    missing = [t for s, t in zip(staged, targets) if not FileSystems.exists(s) and not FileSystems.exists(t)]
    if missing:
        raise OSError(f"staged files vanished before they replaced the scan ({missing[:3]}); re-run the scan")
    if pending:
        if "://" not in pending[0][1]:
            os.makedirs(os.path.dirname(pending[0][1]), exist_ok=True)
        FileSystems.rename([s for s, _ in pending], [t for _, t in pending])


def _delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)


def _prune_local_dirs(directory: str, keep_root: bool = True) -> None:
    """Remove empty directories (beam-temp-*, staging runs) left below a local directory."""
    if "://" in directory or not os.path.isdir(directory):
        return
    for root, _, _ in sorted(os.walk(directory), key=lambda w: -len(w[0])):
        if root != directory or not keep_root:
            try:
                os.rmdir(root)
            except OSError:
                pass  # not empty


def replace_scan(output: str, scan_id: str, run: str, written: dict[str, list[str]]) -> int:
    """Make this run's staged files the scan's result; returns how many earlier files were removed.

    `written` maps a table to the staged files this run wrote (Beam's final shard names).
    """
    removed = 0
    for table in TABLES:
        scan_dir = scan_prefix(output, table, scan_id)
        staged = sorted(written.get(table, ()))
        targets = [_final_name(scan_dir, run, s) for s in staged]
        ours = set(targets)
        _move_in(staged, targets)
        earlier = [m.path for m in list_files(scan_dir) if m.path not in ours]
        _delete(earlier)
        removed += len(earlier)
        _prune_local_dirs(scan_dir)
    root = staging_root(output, scan_id)
    _delete([m.path for m in list_files(root)])
    if "://" not in root:
        shutil.rmtree(root, ignore_errors=True)
        _prune_local_dirs(FileSystems.join(output.rstrip("/"), STAGING), keep_root=False)
    return removed


class _ReplaceScan(beam.DoFn):
    def __init__(self, output: str, scan_id: str, run: str):
        self._output, self._scan_id, self._run = output, scan_id, run
        self._replaced = beam.metrics.Metrics.counter("shelfscan", "parquet_files_replaced")

    def process(self, unused, summaries: list[str], failures: list[str]) -> Iterable[str]:
        removed = replace_scan(self._output, self._scan_id, self._run,
                               {"summaries": summaries, "failures": failures})
        self._replaced.inc(removed)
        yield self._scan_id


class WriteParquet(beam.PTransform):
    """Row dicts -> Parquet files `part-SSSSS-of-NNNNN.parquet` under `prefix`; returns the file names.

    Args:
      prefix: a directory (local or gs://).
      table: "summaries" or "failures".
    """

    def __init__(self, prefix: str, table: str):
        super().__init__()
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self._prefix = FileSystems.join(prefix, "part")
        self._schema = arrow_schema(SUMMARY_FIELDS if table == "summaries" else FAILURE_FIELDS)

    def expand(self, rows):
        return rows | beam.io.WriteToParquet(
            self._prefix, self._schema, file_name_suffix=".parquet", codec="snappy")


class ReplaceScan(beam.PTransform):
    """Pipeline root -> the scan_id, once this run's files have replaced the scan's earlier ones.

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
        # The side inputs hold back the swap until both tables are completely written.
        return (pbegin
                | "AfterWrites" >> beam.Create([None])
                | "Swap" >> beam.ParDo(_ReplaceScan(self._output, self._scan_id, self._run),
                                       beam.pvalue.AsList(self._written["summaries"]),
                                       beam.pvalue.AsList(self._written["failures"])))
