"""Match image patterns and read the files: (uri, bytes), with a failure for whatever matched nothing."""
from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from transforms.incremental import DropScanned, modified_after
from transforms.records import Failure

try:  # what GCS (and other Google storage clients) raise on 403/404/5xx: not an OSError
    from google.api_core.exceptions import GoogleAPIError as _CloudError
except ImportError:  # apache-beam without [gcp]
    _CloudError = OSError

FAILURES = "failures"
# A comment starts a line or follows whitespace, so object names like gs://b/shelf#2.jpg survive.
_COMMENT = re.compile(r"(^|\s)#.*")


def parse_input_list(text: str) -> list[str]:
    """URIs of an --input_list file: one per line; blank lines and # comments are ignored."""
    lines = (_COMMENT.sub("", line).strip() for line in text.splitlines())
    return [line for line in lines if line]


def read_input_list(path: str) -> list[str]:
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            return parse_input_list(f.read().decode("utf-8-sig"))
    except (OSError, _CloudError, beam.io.filesystem.BeamIOError) as e:
        raise OSError(f"--input_list {path} cannot be read ({type(e).__name__}: {e}); "
                      "check the path and your read access") from e


def _is_directory(metadata: FileMetadata) -> bool:
    path = metadata.path
    return path.endswith("/") or ("://" not in path and os.path.isdir(path))


class _Match(beam.DoFn):
    """Expands one pattern. fileio.MatchAll would drop an empty match silently (ALLOW) or fail the
    whole job (DISALLOW); a pattern or listed URI that finds nothing is a failure row here."""

    def __init__(self):
        self._matched = beam.metrics.Metrics.counter("shelfscan", "files_matched")

    def process(self, pattern: str) -> Iterable:
        try:
            found = [m for m in FileSystems.match([pattern])[0].metadata_list if not _is_directory(m)]
        except (OSError, ValueError, _CloudError, beam.io.filesystem.BeamIOError) as e:
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(
                pattern, "read", type(e).__name__,
                f"listing {pattern} failed ({e}); check the bucket/folder exists and your list access"))
            return
        if not found:
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(
                pattern, "read", "not_found",
                f"no files match {pattern}; check the path, the glob and your read access"))
        for metadata in found:
            self._matched.inc()
            yield metadata.path, metadata


class _Read(beam.DoFn):
    def __init__(self):
        self._read = beam.metrics.Metrics.counter("shelfscan", "images_read")
        self._failed = beam.metrics.Metrics.counter("shelfscan", "read_failures")

    def process(self, readable: fileio.ReadableFile) -> Iterable:
        uri = readable.metadata.path
        try:
            data = readable.read()
        except (OSError, _CloudError, beam.io.filesystem.BeamIOError) as e:  # vanished, permission, network
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(
                uri, "read", type(e).__name__,
                f"could not read {uri} ({e}); check it still exists and the workers may read it"))
            return
        self._read.inc()
        yield uri, data


class ReadImages(beam.PTransform):
    """Pipeline root -> {"images": (uri, bytes), "failures": Failure}.

    Args:
      patterns: globs on any Beam filesystem (local, gs://, ...).
      input_list: a text file of URIs (one per line), scanned as well.
      modified_after: epoch seconds; older files are left out (incremental scans).
      scanned: a PCollection of URIs to leave out (already summarized by an earlier scan).
    Each file is read once even when several patterns match it.
    """

    def __init__(self, patterns: Sequence[str], input_list: str | None = None,
                 modified_after: float | None = None, scanned: beam.PCollection | None = None):
        super().__init__()
        self._patterns = list(patterns)
        self._input_list = input_list
        self._modified_after = modified_after
        self._scanned = scanned

    def expand(self, pbegin):
        patterns = pbegin | "Patterns" >> beam.Create(self._patterns)
        if self._input_list:
            listed = (pbegin | "InputList" >> beam.Create([self._input_list])
                      | "ListedUris" >> beam.FlatMap(read_input_list))
            patterns = (patterns, listed) | "AllPatterns" >> beam.Flatten()
        matched = patterns | "Match" >> beam.ParDo(_Match()).with_outputs(FAILURES, main="files")
        files = (matched.files
                 | "GroupByUri" >> beam.GroupByKey()
                 | "Once" >> beam.Map(lambda kv: (kv[0], next(iter(kv[1])))))
        if self._modified_after is not None:
            cutoff = self._modified_after
            files = files | "ModifiedAfter" >> beam.Filter(lambda kv: modified_after(kv[1], cutoff))
        if self._scanned is not None:
            files = files | "SkipScanned" >> DropScanned(self._scanned)
        read = (files
                | "Metadata" >> beam.Values()
                | "FanOut" >> beam.Reshuffle()  # spread reading (and everything after) across workers
                | "Open" >> fileio.ReadMatches()
                | "Read" >> beam.ParDo(_Read()).with_outputs(FAILURES, main="images"))
        failures = (matched[FAILURES], read[FAILURES]) | "Failures" >> beam.Flatten()
        return {"images": read.images, FAILURES: failures}
