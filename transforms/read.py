"""Match image patterns and read the files: (uri, bytes), with a failure for whatever matched nothing."""
from __future__ import annotations

import dataclasses
import itertools
import os
import stat
import urllib.parse
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from transforms.cutoff import modified_after
from transforms.image_file import CloudError as _CloudError
from transforms.image_file import DecodeError, read_bytes
from transforms.listing import folder_pattern, has_wildcard, local_pattern, walk_pattern
from transforms.records import Failure, FileEntry

FAILURES = "failures"
LISTED = "listed"  # one int once every pattern is listed: the inputs the scan will see
# what listing a pattern may raise for a reason worth telling (a folder gone, access, an unknown scheme)
LIST_ERRORS = (OSError, ValueError, _CloudError, beam.io.filesystem.BeamIOError)


def file_uri(path: str) -> str:
    """The path itself, or for a local name that is not valid UTF-8 (Python holds its bytes as
    surrogate escapes) an RFC 8089 file:// URI of the raw bytes, percent-encoded: lossless, as
    urllib.parse.unquote_to_bytes gives the bytes back, and never the same as a plain path."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return "file://" + urllib.parse.quote(os.fsencode(os.path.abspath(path)), safe="/")


def parse_input_list(text: str) -> list[str]:
    """URIs of an --input_list file, each line taken literally (no glob, no trailing comment): blank
    lines and lines starting with # are skipped, and spaces around a line are dropped."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def read_input_list(path: str) -> list[str]:
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            return parse_input_list(f.read().decode("utf-8-sig"))
    except (OSError, _CloudError, beam.io.filesystem.BeamIOError) as e:
        raise OSError(f"--input_list {path} cannot be read ({type(e).__name__}: {e}); "
                      "check the path and your read access") from e


def local_entry(path: str) -> FileEntry | None:
    """What a local name is, from its metadata alone (never opened); None for a directory."""
    try:
        info = os.stat(path)
    except OSError:
        return FileEntry(file_uri(path), path, None, None, "dangling") if os.path.islink(path) else None
    if stat.S_ISDIR(info.st_mode):
        return None
    kind = "file" if stat.S_ISREG(info.st_mode) else "special"
    return FileEntry(file_uri(path), path, info.st_size, info.st_mtime, kind)


def match_local(pattern: str, limit: int | None = None) -> list[FileEntry]:
    """Beam's local match (same pattern language, walking only as deep as the pattern asks; see
    transforms.listing), keeping what Beam drops: dangling links and FIFOs. A folder means everything
    under it. With a limit, listing stops at that many entries."""
    pattern = local_pattern(pattern)
    if not has_wildcard(pattern):
        entry = local_entry(pattern) if os.path.lexists(pattern) else None
        return [entry] if entry else []
    found = (entry for entry in map(local_entry, walk_pattern(pattern)) if entry)
    return sorted(itertools.islice(found, limit), key=lambda e: e.path)


def _is_directory(metadata: FileMetadata) -> bool:
    return metadata.path.endswith("/")


def _match_remote(pattern: str, limit: int | None) -> list[FileEntry]:
    ask = limit
    while True:
        found = FileSystems.match([pattern], [ask])[0].metadata_list
        files = [FileEntry(m.path, m.path, m.size_in_bytes, m.last_updated_in_seconds)
                 for m in found if not _is_directory(m)]
        if ask is None or len(files) >= ask or len(found) < ask:
            return files
        # folder placeholders ("photos/", listed first) took the places: look further
        ask = ask * 100 if ask < 10_000 else None


def match_entries(pattern: str, limit: int | None = None) -> list[FileEntry]:
    """What a pattern matches (at most `limit` entries where the filesystem lists lazily). A name
    without wildcards that no object has is taken as a folder: object stores have no folders, only
    names sharing a prefix."""
    if "://" not in pattern:
        return match_local(pattern, limit)
    if pattern.endswith("/"):
        pattern = folder_pattern(pattern)
    found = _match_remote(pattern, limit)
    if not found and not has_wildcard(pattern):
        found = _match_remote(folder_pattern(pattern), limit)
    return found


def literal_entry(uri: str) -> list[FileEntry]:
    """A listed URI, taken as a name (never a glob): one entry, or none when nothing has that name."""
    if "://" not in uri:
        return [e for e in [local_entry(uri) if os.path.lexists(uri) else None] if e]
    filesystem = FileSystems.get_filesystem(uri)
    if not filesystem.exists(uri):
        return []
    m = filesystem.metadata(uri)
    return [FileEntry(m.path, m.path, m.size_in_bytes, m.last_updated_in_seconds)]


class _Match(beam.DoFn):
    """Expands one pattern (or, literal=True, one listed URI). fileio.MatchAll would drop an empty
    match silently (ALLOW) or fail the whole job (DISALLOW); what finds nothing is a failure row here."""

    def __init__(self, literal: bool = False):
        self._literal = literal
        self._matched = beam.metrics.Metrics.counter("shelfscan", "files_matched")

    def process(self, pattern: str) -> Iterable:
        try:
            found = literal_entry(pattern) if self._literal else match_entries(pattern)
        except LIST_ERRORS as e:
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(
                file_uri(pattern), "read", type(e).__name__,
                f"listing {file_uri(pattern)} failed ({e}); check the bucket/folder exists and your list access"))
            return
        if not found:
            what = "no file is named" if self._literal else "no files match"
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(
                file_uri(pattern), "read", "not_found",
                f"{what} {file_uri(pattern)}; check the path, the glob and your read access"))
        for entry in found:
            self._matched.inc()
            yield entry.uri, entry


def _refusal(entry: FileEntry, max_bytes: int) -> Failure | None:
    """Why an entry is not read at all, judged from its metadata."""
    if entry.kind == "special":
        return Failure(entry.uri, "read", "not_a_file", f"{entry.uri} is not a regular file (a FIFO, device "
                       "or socket) and was not read; remove it from the input")
    if entry.kind == "dangling":
        return Failure(entry.uri, "read", "dangling_link", f"{entry.uri} is a symbolic link to nothing; "
                       "fix or remove the link")
    if entry.size is not None and entry.size > max_bytes:
        return _too_large(entry.uri, f"{entry.size} bytes", max_bytes)
    return None


def _too_large(uri: str, size: str, max_bytes: int) -> Failure:
    return Failure(uri, "read", "too_large", f"{uri} is {size}, over --max_image_bytes {max_bytes}; "
                   "downscale it or raise --max_image_bytes")


def read_entry(entry: FileEntry, max_bytes: int) -> bytes | Failure:
    """The file's bytes, or the Failure saying why not; never more than max_bytes + 1 are read."""
    refused = _refusal(entry, max_bytes)
    if refused:
        return refused
    try:
        return read_bytes(entry.path, max_bytes)
    except DecodeError as e:  # rows name the entry's uri, which differs from its path for odd names
        if e.error_type == "not_a_file":  # it changed since it was listed
            return _refusal(dataclasses.replace(entry, kind="special"), max_bytes)
        return _too_large(entry.uri, f"over {max_bytes} bytes (it grew, or its size was not listed)", max_bytes)


class _Read(beam.DoFn):
    def __init__(self, max_bytes: int = 200_000_000):
        self._max_bytes = max_bytes
        self._read = beam.metrics.Metrics.counter("shelfscan", "images_read")
        self._failed = beam.metrics.Metrics.counter("shelfscan", "read_failures")

    def process(self, entry: FileEntry) -> Iterable:
        try:
            data = read_entry(entry, self._max_bytes)
        except (OSError, _CloudError, beam.io.filesystem.BeamIOError) as e:  # vanished, permission, network
            data = Failure(entry.uri, "read", type(e).__name__,
                           f"could not read {entry.uri} ({e}); check it still exists and the workers may read it")
        if isinstance(data, Failure):
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, data)
            return
        self._read.inc()
        yield entry.uri, data


def _unscanned(joined) -> Iterable:
    uri, groups = joined
    if not list(groups["scanned"]):
        yield from ((uri, value) for value in groups["candidate"])


class DropScanned(beam.PTransform):
    """Keep the (uri, value) pairs whose uri is not in `scanned`: a join, so it scales to any archive."""

    def __init__(self, scanned: beam.PCollection):
        super().__init__()
        self.scanned = scanned

    def expand(self, candidates):
        scanned = self.scanned | "KeyScanned" >> beam.Map(lambda uri: (uri, None))
        return ({"candidate": candidates, "scanned": scanned}
                | "JoinScanned" >> beam.CoGroupByKey()
                | "Unscanned" >> beam.FlatMap(_unscanned))


class ReadImages(beam.PTransform):
    """Pipeline root -> {"images": (uri, bytes), "failures": Failure, "listed": how many inputs in all}.

    Args:
      patterns: globs on any Beam filesystem (local, gs://, ...).
      input_list: a text file of URIs (one per line, each a name, not a glob), scanned as well.
      modified_after: epoch seconds; older files are left out (incremental scans).
      scanned: a PCollection of URIs to leave out (already summarized by an earlier scan).
      max_bytes: larger files are failures, judged from their size before reading and enforced while.
    Each file is read once even when several patterns match it. Only metadata crosses the shuffle
    that spreads the files over workers: held in memory, file contents would grow with the input.
    """

    def __init__(self, patterns: Sequence[str], input_list: str | None = None,
                 modified_after: float | None = None, scanned: beam.PCollection | None = None,
                 max_bytes: int = 200_000_000):
        super().__init__()
        self._patterns = list(patterns)
        self._input_list = input_list
        self._modified_after = modified_after
        self._scanned = scanned
        self._max_bytes = max_bytes

    def expand(self, pbegin):
        patterns = pbegin | "Patterns" >> beam.Create(self._patterns)
        matched = [patterns | "Match" >> beam.ParDo(_Match()).with_outputs(FAILURES, main="files")]
        if self._input_list:
            listed = (pbegin | "InputList" >> beam.Create([self._input_list])
                      | "ListedUris" >> beam.FlatMap(read_input_list))
            matched.append(listed | "MatchListed" >> beam.ParDo(_Match(literal=True)).with_outputs(
                FAILURES, main="files"))
        files = ([m.files for m in matched] | "AllFiles" >> beam.Flatten()
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
                | "Read" >> beam.ParDo(_Read(self._max_bytes)).with_outputs(FAILURES, main="images"))
        failures = ([m[FAILURES] for m in matched] + [read[FAILURES]]) | "Failures" >> beam.Flatten()
        counts = [m[FAILURES] | f"CountUnmatched{i}" >> beam.combiners.Count.Globally() for i, m in enumerate(matched)]
        listed = ((files | "CountFiles" >> beam.combiners.Count.Globally(), *counts) | "ListedParts" >> beam.Flatten()
                  | "Listed" >> beam.CombineGlobally(sum))
        return {"images": read.images, FAILURES: failures, LISTED: listed}
